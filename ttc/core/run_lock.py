"""One run at a time in a profile's data folder: `python -m ttc.core.run_lock FOLDER -- COMMAND...`.

Two `make reproduce` runs on one folder would build the same chunks and remove each other's partial folders
(issue 34: the second failed in notebook 02 on a chunk the first had just removed). So `make` runs its notebooks
under this lock: the first run holds it, and a second one stops at once with one line naming the first (its
process, command and start) and exits with `BUSY`.

The lock is `flock` on `FOLDER/.run.lock`, held by an open file that the command and everything it starts inherit:
it lasts while any process of the run lives, and the kernel drops it when the last one ends, however it ended. A
lock file left by a killed run is therefore stale by construction: the next run takes the lock and writes itself
into the file. Held locks are never broken by hand.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

BUSY = 75  # EX_TEMPFAIL: try again when the other run has ended
LOCK_NAME = ".run.lock"


class FolderBusy(RuntimeError):
    """Another run holds the folder's lock; the message names it."""


def _holder(lock: Path) -> str:
    try:
        record = json.loads(lock.read_text())
        return (f"process {record['pid']} (`{record['command']}`, started {record['since']}) is running in it; "
                f"wait for it to end, or stop it")
    except (OSError, ValueError, KeyError, TypeError):
        return "another run holds its lock (it has not said which yet); wait for it to end, or stop it"


def acquire(folder: Path, command: str) -> int:
    """Take `folder`'s lock for this process and what it starts (an inheritable file descriptor, returned), or
    raise FolderBusy naming the holder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FolderBusy(f"{folder} is busy: {_holder(lock)}") from None
    since = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "command": command, "since": since}).encode())
    os.set_inheritable(fd, True)
    return fd


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m ttc.core.run_lock FOLDER -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    folder, command = Path(argv[0]), argv[2:]
    shown = os.environ.get("TTC_RUN_COMMAND") or " ".join(command)
    try:
        fd = acquire(folder, shown)
    except FolderBusy as e:
        print(e, file=sys.stderr)
        return BUSY
    child = subprocess.Popen(command, pass_fds=(fd,))
    # A signal to this process alone (a `kill`, not the terminal's Ctrl-C, which reaches the whole group) is
    # passed on, so that the run it guards stops with it.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: child.send_signal(signum))
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:  # the child got it too; wait for it to end
            continue


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
