"""A reader's path through JupyterLab, in a real headless Chromium (issue 19; `make test-browser`, which `.ci/run`
calls): an executed tiny-profile notebook shows its figure and its results table; a notebook re-parameterised to
the tiny profile in its parameters cell runs to the end through the UI and writes its tiny figure. A screenshot of
each step is saved under build/browser/ (ignored), for a person to look at what a reader sees.

The server runs on a copy of the notebooks in a temporary folder (so that nothing the browser does touches the
repository), with the study's data and figures there too (TTC_DATA_ROOT, TTC_FIGURES_ROOT).
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ttc.core.config import ROOT
from conftest import run_notebook

pytestmark = pytest.mark.browser

SCREENSHOTS = ROOT / "build" / "browser"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000",
                  # machines without internet: nothing phones home
                  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
NOTEBOOK = "01_base_models"  # the one notebook whose inputs are its own (every other reads notebook 01's)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on a free port with a token, serving a copy of the notebooks and an executed tiny-profile copy
    of notebook 01 (as `make reproduce PROFILE=tiny` leaves it); stopped, with its kernels, whatever happens."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    roots = {"TTC_DATA_ROOT": str(root / "data"), "TTC_FIGURES_ROOT": str(root / "figures")}
    executed = root / "data" / "tiny" / "notebooks" / f"{NOTEBOOK}.ipynb"
    executed.parent.mkdir(parents=True)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in roots.items():
            mp.setenv(k, v)
        run_notebook(NOTEBOOK, executed, kernel_name="ttc")  # on the project's kernel, as make reproduce does
    env = os.environ | roots
    # no "get notified about Jupyter news?" pop-up over the notebook (this machine is offline anyway)
    notification = root / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = free_port(), secrets.token_hex(16)
    command = [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={root / 'settings'}",
               f"--LabApp.workspaces_dir={root / 'workspaces'}",
               "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"] + (["--allow-root"] if os.geteuid() == 0 else [])
    log = open(root / "jupyter.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def up():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return server.poll() is not None and pytest.fail((root / "jupyter.log").read_text())
        wait_for(up, 60, "JupyterLab starting")
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "root": root, "executed": executed}
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the kernels it started
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail("Chromium and its driver are not installed: `make test-browser` installs Debian's chromium "
                    "and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    try:
        yield session
    finally:
        session.quit()


def shoot(browser, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    browser.save_screenshot(str(path))
    return path


def open_notebook(browser, lab, relative: str):
    from selenium.webdriver.common.by import By

    browser.get(f"{lab['url']}/lab/tree/{relative}?token={lab['token']}")
    # the restored workspace shows the notebook opened before for a moment (notebooks/ and data/tiny/notebooks/
    # hold files of the same name): wait until the current tab is this path, whose caption JupyterLab sets once
    # the document has loaded
    wait_for(lambda: [t for t in browser.find_elements(By.CSS_SELECTOR, "#jp-main-dock-panel li.lm-TabBar-tab.lm-mod-current")
                      if f"Path: {relative}\n" in (t.get_attribute("title") or "")], 90, f"{relative} opening")
    wait_for(lambda: (shown := panel(browser)) and shown.find_elements(By.CSS_SELECTOR, ".jp-Cell"), 30,
             f"{relative} showing its cells")
    # the kernel: the notebook's own ("Python (ttc)"), started without asking
    wait_for(lambda: "Python (ttc)" in browser.find_element(By.CSS_SELECTOR, ".jp-Toolbar-kernelName").text, 60,
             "the kernel name in the toolbar")
    wait_for(lambda: kernel_idle(browser), 90, "the kernel starting")


def panel(browser):
    """The notebook on screen (a restored layout may hold others, hidden)."""
    from selenium.webdriver.common.by import By

    shown = [p for p in browser.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel") if p.is_displayed()]
    return shown[0] if shown else None


def kernel_idle(browser) -> bool:
    from selenium.webdriver.common.by import By

    status = browser.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator")
    return bool(status) and status[0].get_attribute("data-status") == "idle"


def scrolled_to(browser, find, what: str, timeout: float = 60):
    """Scroll the notebook down, as a reader does, until `find()` returns something (JupyterLab renders the
    cells it shows)."""
    def step():
        found = find()
        if not found:
            browser.execute_script("document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer')"
                                   ".scrollBy(0, 600)")
        return found
    return wait_for(step, timeout, what)


def test_an_executed_notebook_shows_its_figure_and_its_results_table(lab, browser):
    from selenium.webdriver.common.by import By

    open_notebook(browser, lab, f"data/tiny/notebooks/{NOTEBOOK}.ipynb")
    images = scrolled_to(browser, lambda: [i for i in browser.find_elements(By.CSS_SELECTOR, ".jp-RenderedImage img")
                                           if i.get_attribute("naturalWidth") not in (None, "0")],
                         "the figure rendering")
    browser.execute_script("arguments[0].scrollIntoView()", images[0])
    shoot(browser, "1-executed-notebook")

    def ladder_table():  # the ladder's results table, with the tiny profile's sizes
        return [t for t in browser.find_elements(By.CSS_SELECTOR, ".jp-RenderedHTMLCommon table")
                if "d16-l1" in t.text and "d48-l3" in t.text]
    browser.execute_script("document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer').scrollTo(0, 0)")
    tables = scrolled_to(browser, ladder_table, "the results table rendering")
    browser.execute_script("arguments[0].scrollIntoView()", tables[0])
    shoot(browser, "1b-executed-notebook-table")


def test_a_reader_sets_the_tiny_profile_and_runs_every_cell(lab, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    figure = lab["root"] / "figures" / "tiny" / f"{NOTEBOOK}.png"
    before = figure.stat().st_mtime_ns
    open_notebook(browser, lab, f"notebooks/{NOTEBOOK}.ipynb")

    def prompts():  # every code cell's prompt in the open notebook, on screen or not
        return [p.get_attribute("textContent").strip() for p in
                panel(browser).find_elements(By.CSS_SELECTOR, ".jp-CodeCell .jp-InputPrompt")]
    assert not any(p.strip("[ ]:") for p in prompts()), f"not the committed, unexecuted notebook: {prompts()}"
    parameters = panel(browser).find_elements(By.CSS_SELECTOR, ".jp-CodeCell")[0]
    editor = parameters.find_element(By.CSS_SELECTOR, ".cm-content")
    browser.execute_script("arguments[0].scrollIntoView()", editor)
    editor.click()
    # the parameters cell: two comment lines, then `profile = "full"`; the reader changes that line only
    line = next(i for i, t in enumerate(editor.text.split("\n")) if t.startswith("profile ="))
    keys = ActionChains(browser).key_down(Keys.CONTROL).send_keys(Keys.HOME).key_up(Keys.CONTROL)
    for _ in range(line):
        keys = keys.send_keys(Keys.DOWN)
    keys.send_keys(Keys.HOME).key_down(Keys.SHIFT).send_keys(Keys.END).key_up(Keys.SHIFT).send_keys(
        'profile = "tiny"').perform()
    assert 'profile = "tiny"' in editor.text and 'profile = "full"' not in editor.text
    shoot(browser, "2-parameters-set-to-tiny")
    browser.find_element(By.XPATH, "//li[contains(@class, 'lm-MenuBar-item')][.//div[text()='Run']]").click()
    # Run > Run All Cells (the menu's own command: runmenu:run-all)
    wait_for(lambda: [e for e in browser.find_elements(By.CSS_SELECTOR, "li.lm-Menu-item[data-command='runmenu:run-all']")
                      if e.is_displayed() and "Run All Cells" in e.text], 10, "the Run menu opening")[0].click()

    def finished():
        now = prompts()
        return now and all(p.startswith("[") and p[1:-2].isdigit() for p in now) and kernel_idle(browser)
    try:
        wait_for(finished, 300, "every cell running to the end", every=1.0)
    except TimeoutError:
        shoot(browser, "3-run-all-timed-out")
        raise AssertionError(f"Run All did not finish: the cells' prompts {prompts()}, kernel idle: "
                             f"{kernel_idle(browser)} (screenshot in {SCREENSHOTS})") from None
    outputs = panel(browser).get_attribute("textContent")
    assert "Traceback" not in outputs and "Error:" not in outputs
    assert "profile tiny: writing to" in outputs  # the first cell ran the tiny profile's settings
    assert figure.stat().st_mtime_ns > before  # and the tiny profile's figure was written again
    last = panel(browser).find_elements(By.CSS_SELECTOR, ".jp-CodeCell")[-1]
    browser.execute_script("arguments[0].scrollIntoView()", last)
    shoot(browser, "3-run-all-finished")
    with open(SCREENSHOTS / "steps.json", "w") as f:  # what each screenshot shows, for the person looking
        json.dump({"1-executed-notebook": "the executed tiny copy of notebook 01: its figure and results table",
                   "2-parameters-set-to-tiny": "the parameters cell with profile = \"tiny\"",
                   "3-run-all-finished": "notebook 01 after Run All Cells: its last cell's findings"}, f, indent=1)
