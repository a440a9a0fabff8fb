"""What the two commands cost is measured, recorded with the machine, and rendered; nothing is typed."""

import sys

from ttc.report import timings
from ttc.report.findings import readme_costs


def test_a_command_is_measured_with_its_status_and_the_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("TTC_DATA_ROOT", str(tmp_path))
    (tmp_path / "x.bin").write_bytes(b"0" * 1000)
    entry = timings.measure([sys.executable, "-c", "import time; time.sleep(0.2)"])
    assert entry["status"] == 0 and entry["seconds"] >= 0.2 and entry["peak_memory_gb"] > 0
    assert entry["machine"]["cores"] >= 1 and entry["machine"]["processor"]
    assert entry["data_gb"] == round(1000 / 2**30, 3)
    assert timings.measure([sys.executable, "-c", "raise SystemExit(3)"])["status"] == 3
    path = tmp_path / "timings.json"
    timings.record("test", entry, path)
    assert timings.load(path)["test"] == entry


def test_only_a_finished_measurement_is_rendered():
    machine = {"processor": "P", "cores": 2, "memory_gb": 23.5, "python": "3.11.7", "pinned": True}
    done = {"status": 0, "seconds": 600.0, "peak_memory_gb": 0.8, "data_gb": None, "machine": machine}
    line = readme_costs({"test": done, "reproduce": done | {"status": 1}})
    assert "`make test` 10 min (peak memory 0.8 GB), on P with 2 cores" in line
    assert "`make reproduce` (the full study, from nothing) not measured yet" in line
    assert readme_costs({}) == "- **Time**: not measured yet on a committed record (`make timings`)."
