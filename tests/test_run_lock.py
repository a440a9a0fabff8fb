"""One run at a time in a profile's folder: a second run stops at once naming the first; a killed run's lock
never blocks the next; the lock lasts while anything the run started lives."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ttc.core import run_lock as L
from ttc.core.config import ROOT

LOCK = [sys.executable, "-m", "ttc.core.run_lock"]


def wait_for_holder(folder, pid_of=None, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            record = json.loads((folder / L.LOCK_NAME).read_text())
            if pid_of is None or record["pid"] == pid_of:
                return record
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError("the run never took its lock")


def wait_for_pid(path):
    while not path.exists() or not path.read_text().strip():
        time.sleep(0.05)
    return int(path.read_text())


def acquire_once_free(folder, command, why, timeout=30):
    """The lock, taken as soon as the run that held it has ended; fails with `why` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return L.acquire(folder, command)
        except L.FolderBusy:
            assert time.monotonic() < deadline, why
            time.sleep(0.05)


def test_a_second_run_stops_at_once_with_one_line_naming_the_first(tmp_path):
    first = subprocess.Popen(LOCK + [str(tmp_path), "--", "sleep", "30"])
    try:
        wait_for_holder(tmp_path, first.pid)
        second = subprocess.run(LOCK + [str(tmp_path), "--", "touch", str(tmp_path / "ran")], capture_output=True,
                                text=True, timeout=30)
        assert second.returncode == L.BUSY
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and f"process {first.pid} (`sleep 30`, started 20" in lines[0]
        assert str(tmp_path) in lines[0] and not (tmp_path / "ran").exists()
        with pytest.raises(L.FolderBusy, match="busy"):
            L.acquire(tmp_path, "here")
    finally:
        first.kill()
        first.wait()


def test_a_killed_runs_lock_is_stale_and_the_next_run_takes_it(tmp_path):
    child_pid = tmp_path / "child.pid"
    first = subprocess.Popen(LOCK + [str(tmp_path), "--", "sh", "-c", f"echo $$ > {child_pid}; exec sleep 30"])
    wait_for_holder(tmp_path, first.pid)
    child = wait_for_pid(child_pid)
    first.send_signal(signal.SIGKILL)
    first.wait()
    # its child still holds the lock: the run is not over while anything it started lives
    with pytest.raises(L.FolderBusy):
        L.acquire(tmp_path, "here")
    os.kill(child, signal.SIGKILL)
    os.close(acquire_once_free(tmp_path, "next run", "the killed run's lock was never released"))
    assert json.loads((tmp_path / L.LOCK_NAME).read_text())["command"] == "next run"
    ok = subprocess.run(LOCK + [str(tmp_path), "--", "true"], timeout=30)
    assert ok.returncode == 0


def test_the_command_exit_status_is_the_runs(tmp_path):
    assert subprocess.run(LOCK + [str(tmp_path), "--", "sh", "-c", "exit 3"], timeout=30).returncode == 3
    assert subprocess.run(LOCK + [str(tmp_path)], capture_output=True, timeout=30).returncode == 2


def test_a_signal_to_the_run_stops_everything_it_started_and_frees_the_folder(tmp_path):
    # sh starts a grandchild and waits: a SIGTERM to sh alone would leave the grandchild holding the lock
    grandchild = tmp_path / "grandchild.pid"
    run = subprocess.Popen(LOCK + [str(tmp_path), "--", "sh", "-c", f"sleep 60 & echo $! > {grandchild}; wait"])
    wait_for_holder(tmp_path, run.pid)
    pid = wait_for_pid(grandchild)
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=30) == 128 + signal.SIGTERM
    os.close(acquire_once_free(tmp_path, "next run", "something the run started outlived it, holding the lock"))
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().split(") ")[1][0] == "Z"  # gone, or a zombie nobody reaped yet


def test_make_reproduce_refuses_a_folder_another_run_holds(tmp_path):
    folder = tmp_path / "data" / "tiny"
    fd = L.acquire(folder, "make reproduce PROFILE=tiny (the first)")
    try:
        out = subprocess.run(["make", "--no-print-directory", "reproduce", "PROFILE=tiny"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120,
                             env=os.environ | {"TTC_DATA_ROOT": str(tmp_path / "data"),
                                               "TTC_FIGURES_ROOT": str(tmp_path / "figures")})
    finally:
        os.close(fd)
    assert out.returncode != 0
    assert f"{folder} is busy: process {os.getpid()} (`make reproduce PROFILE=tiny (the first)`" in out.stderr
    assert not (folder / "notebooks").exists()


@pytest.mark.parametrize("target", [["clean-profile"], ["remove-variant", "VARIANT=seed-1"]])
def test_nothing_is_removed_under_a_running_study(tmp_path, target):
    folder = tmp_path / "data" / "tiny"
    (folder / "variants" / "seed-1").mkdir(parents=True)
    fd = L.acquire(folder, "make reproduce PROFILE=tiny (running)")
    try:
        out = subprocess.run(["make", "--no-print-directory", *target, "PROFILE=tiny"], cwd=ROOT, capture_output=True,
                             text=True, timeout=120, env=os.environ | {"TTC_DATA_ROOT": str(tmp_path / "data")})
    finally:
        os.close(fd)
    assert out.returncode != 0 and f"{folder} is busy" in out.stderr
    assert (folder / "variants" / "seed-1").is_dir()
