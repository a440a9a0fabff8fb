"""What the two commands cost, measured: `make timings` runs them from nothing and records each in docs/timings.json.

`python -m ttc.report.timings run NAME [--disk FOLDER] -- COMMAND...` runs COMMAND, then records under NAME its wall
time, the peak resident memory of its largest process, the disk FOLDER holds afterwards (by default the data root,
`TTC_DATA_ROOT`, when set), the commit measured and the machine (processor, cores, memory, Python). The README's
glance renders the record; nothing in it is typed. A command that fails is recorded as failed, with its exit
status, and the glance leaves it out.

Use: `make timings` (the virtual environment, the tests and the full study, each from nothing, in build/timings/;
over an hour at the full profile), `make timings WHAT=test` (the tests alone; WHAT=setup, WHAT=reproduce).
"""

from __future__ import annotations

import datetime
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from ttc.core.config import ROOT
from ttc.core.store import folder_bytes, write_json

RECORD = ROOT / "docs" / "timings.json"


def machine() -> dict:
    """The processor, its cores and memory, and the Python that ran the command."""
    from ttc.core import determinism

    info = determinism.describe()
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {"processor": info["processor"], "cores": os.cpu_count(), "memory_gb": round(pages / 2**30, 1),
            "python": info["python"], "pinned": info["pinned"]}


def commit() -> str:
    """The commit measured, with "+changes" when the working tree differed from it; "" outside a git clone."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        changes = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                 capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head.stdout.strip() + ("+changes" if changes.stdout.strip() else "")


def measure(command: list[str], disk: Path | None = None) -> dict:
    """Run `command`; its exit status, wall seconds, the peak resident memory of its largest process and the disk
    `disk` holds afterwards (by default the data root, when `TTC_DATA_ROOT` is set)."""
    measured = commit()  # before the command, which may commit nothing but does write files
    start = time.monotonic()
    status = subprocess.run(command).returncode
    seconds = time.monotonic() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: kilobytes
    folder = disk or (Path(os.environ["TTC_DATA_ROOT"]) if os.environ.get("TTC_DATA_ROOT") else None)
    return {"command": " ".join(command), "status": status, "seconds": round(seconds, 1),
            "peak_memory_gb": round(peak_kb / 2**20, 2),
            "data_gb": round(folder_bytes(folder) / 2**30, 3) if folder else None,
            "date": datetime.date.today().isoformat(), "commit": measured, "machine": machine()}


def record(name: str, entry: dict, path: Path | None = None) -> None:
    """`entry` under `name` in the record (docs/timings.json unless `path`), the other entries kept."""
    path = path or RECORD
    write_json(path, load(path) | {name: entry}, manifest=False)


def load(path: Path | None = None) -> dict:
    path = path or RECORD
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv: list[str]) -> int:
    disk = None
    if len(argv) > 3 and argv[2] == "--disk":
        disk, argv = Path(argv[3]), argv[:2] + argv[4:]
    if len(argv) < 4 or argv[0] != "run" or argv[2] != "--":
        print("usage: python -m ttc.report.timings run NAME [--disk FOLDER] -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    entry = measure(argv[3:], disk)
    record(argv[1], entry)
    print(f"{argv[1]}: {entry['seconds'] / 60:.1f} min, peak memory {entry['peak_memory_gb']} GB, status "
          f"{entry['status']}; recorded in {RECORD}")
    return entry["status"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
