"""A notebook's kernel and the grading worker end with the process that started them, even while busy in C
(which holds the lock that ipykernel's own parent poller needs)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's parent-death signal")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (ended, not yet reaped) is not running
        return open(f"/proc/{pid}/stat").read().split()[2] != "Z"
    except OSError:
        return False


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def parent_of(child_code: str, env: dict) -> tuple[subprocess.Popen, int]:
    """A parent process (as papermill is to its kernel) that starts `child_code` and prints the child's pid."""
    code = textwrap.dedent(f"""
        import os, subprocess, sys, time
        env = dict(os.environ, **{env!r})
        env = {{k: v.replace("SELF", str(os.getpid())) for k, v in env.items()}}
        child = subprocess.Popen([sys.executable, "-c", {child_code!r}], env=env, start_new_session=True)
        print(child.pid, flush=True)
        time.sleep(120)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    return parent, int(parent.stdout.readline())


def ends_with_its_parent(child: int, parent: subprocess.Popen, busy_after: float) -> bool:
    """Whether `child`, alive and busy after `busy_after` seconds, is gone within 10 s of `parent`'s SIGKILL (it is
    killed here either way)."""
    try:
        time.sleep(busy_after)
        assert alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        return gone_within(child, 10)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


BUSY_IN_C = "import ttc, time; time.sleep(3); x = 9 ** (9 ** 9)"  # minutes of one C call holding the GIL


def test_a_kernel_busy_in_c_ends_when_its_parent_is_killed():
    parent, kernel = parent_of(BUSY_IN_C, {"JPY_PARENT_PID": "SELF"})
    assert ends_with_its_parent(kernel, parent, busy_after=5)  # by then in the C call


def test_a_process_that_only_inherited_the_variable_is_left_alone():
    # a Ray worker or a kernel's own subprocess: JPY_PARENT_PID names another process than its parent
    out = subprocess.run([sys.executable, "-c", "import ttc.core.lifetime as L; print(L.kernel_dies_with_its_parent())"],
                         env=os.environ | {"JPY_PARENT_PID": "1"}, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_a_grading_worker_stuck_in_c_ends_with_the_study_that_started_it():
    code = ("import ttc, threading\n"
            "from ttc.world import math_grading as G\n"
            "threading.Thread(target=G.judge, args=('1', '100000000!', 600), daemon=True).start()\n"
            "import time\n"
            "while G._worker.process is None: time.sleep(0.05)\n"
            "print(G._worker.process.pid, flush=True)\n"
            "time.sleep(600)\n")
    study = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    worker = int(study.stdout.readline())
    assert ends_with_its_parent(worker, study, busy_after=4)  # by then computing the factorial in C
