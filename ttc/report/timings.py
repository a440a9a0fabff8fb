"""What the two commands cost, measured: `make timings` runs them from nothing and records each in docs/timings.json.

`python -m ttc.report.timings run NAME -- COMMAND...` runs COMMAND, then records under NAME its wall time, the peak
resident memory of its largest process, the disk its data root holds afterwards (`TTC_DATA_ROOT`, when set) and
the machine (processor, cores, memory, Python). The README's glance renders the record; nothing in it is typed.
A command that fails is recorded as failed, with its exit status, and the record says so.

Use: `make timings` (both commands, from nothing, in build/timings/; over an hour at the full profile),
`make timings WHAT=test` (the tests alone).
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

RECORD = ROOT / "docs" / "timings.json"


def machine() -> dict:
    """The processor, its cores and memory, and the Python that ran the command."""
    from ttc.core import determinism

    info = determinism.describe()
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {"processor": info["processor"], "cores": os.cpu_count(), "memory_gb": round(pages / 2**30, 1),
            "python": info["python"], "pinned": info["pinned"]}


def disk_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file()) if Path(folder).exists() else 0


def measure(command: list[str]) -> dict:
    """Run `command`; its exit status, wall seconds and the peak resident memory of its largest process."""
    start = time.monotonic()
    status = subprocess.run(command).returncode
    seconds = time.monotonic() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: kilobytes
    data = os.environ.get("TTC_DATA_ROOT")
    return {"command": " ".join(command), "status": status, "seconds": round(seconds, 1),
            "peak_memory_gb": round(peak_kb / 2**20, 2), "data_gb": round(disk_bytes(Path(data)) / 2**30, 3) if data
            else None, "date": datetime.date.today().isoformat(), "machine": machine()}


def record(name: str, entry: dict, path: Path = RECORD) -> None:
    from ttc.core.store import write_json

    records = json.loads(path.read_text()) if path.exists() else {}
    records[name] = entry
    write_json(path, records, manifest=False)


def load(path: Path = RECORD) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[0] != "run" or argv[2] != "--":
        print("usage: python -m ttc.report.timings run NAME -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    entry = measure(argv[3:])
    record(argv[1], entry)
    print(f"{argv[1]}: {entry['seconds'] / 60:.1f} min, peak memory {entry['peak_memory_gb']} GB, status "
          f"{entry['status']}; recorded in {RECORD}")
    return entry["status"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
