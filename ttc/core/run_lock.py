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
    # The run is its own process group, and a signal to this process (a `kill`, the terminal's Ctrl-C) goes to the
    # whole group: a `make` that gets SIGTERM ends its recipe's shell but not what that shell started, which would
    # go on holding the lock. A signal that comes before the group exists is passed on once it does.
    child, pending = None, []

    def forward(signum, frame):
        if child is None:
            pending.append(signum)
            return
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:  # the group has ended
            pass

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, forward)
    child = subprocess.Popen(command, pass_fds=(fd,), process_group=0)
    for signum in pending:
        forward(signum, None)
    status = child.wait()
    return 128 - status if status < 0 else status  # killed by signal N: the shell's 128 + N


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
