"""What the two commands cost is measured, recorded with the machine, and rendered; nothing is typed."""

import re
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
    assert re.fullmatch(r"([0-9a-f]{40}(\+changes)?)?", entry["commit"])
    assert timings.measure([sys.executable, "-c", "raise SystemExit(3)"])["status"] == 3
    path = tmp_path / "timings.json"
    timings.record("test", entry, path)
    assert timings.load(path)["test"] == entry


def test_only_a_finished_measurement_is_rendered():
    machine = {"processor": "P", "cores": 2, "memory_gb": 23.5, "python": "3.11.7", "pinned": True}
    done = {"status": 0, "seconds": 600.0, "peak_memory_gb": 0.8, "data_gb": None, "machine": machine}
    line = readme_costs({"test": done, "reproduce": done | {"status": 1}})
    assert "`make test` 10 min (peak memory 0.8 GB), on P with 2 cores" in line
    assert ("the virtual environment (`make setup`, from nothing), `make reproduce` (the full study, from nothing) "
            "not measured yet") in line
    assert readme_costs({}) == "- **Time**: not measured yet on a committed record (`make timings`)."


def test_each_machine_is_named_after_the_commands_measured_on_it():
    laptop = {"processor": "P", "cores": 2, "memory_gb": 23.5, "python": "3.11.7", "pinned": True}
    server = laptop | {"processor": "Q", "cores": 16}
    test = {"status": 0, "seconds": 600.0, "peak_memory_gb": 0.8, "data_gb": None, "machine": laptop}
    study = {"status": 0, "seconds": 3900.0, "peak_memory_gb": 2.0, "data_gb": 1.5, "machine": laptop}
    setup = {"status": 0, "seconds": 120.0, "peak_memory_gb": 0.3, "data_gb": 2.1, "machine": laptop}
    assert readme_costs({"test": test, "reproduce": study, "setup": setup}) == (
        "- **Time**: the virtual environment (`make setup`, from nothing) 2 min (peak memory 0.3 GB, disk 2.10 GB); "
        "`make reproduce` (the full study, from nothing) 65 min (peak memory 2.0 GB, data 1.50 GB); "
        "`make test` 10 min (peak memory 0.8 GB), on P with 2 cores and 24 GB of memory, Python 3.11.7.")
    line = readme_costs({"test": test, "reproduce": study | {"machine": server}})
    assert "`make test` 10 min (peak memory 0.8 GB), on P with 2 cores" in line
    assert "data 1.50 GB), on Q with 16 cores" in line


def test_the_folder_measured_for_disk_can_be_named_and_the_setup_renders_its_disk(tmp_path, monkeypatch):
    monkeypatch.delenv("TTC_DATA_ROOT", raising=False)
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "lib.so").write_bytes(b"0" * 2000)
    assert timings.measure([sys.executable, "-c", "pass"])["data_gb"] is None
    path = tmp_path / "timings.json"
    monkeypatch.setattr(timings, "RECORD", path)
    assert timings.main(["run", "setup", "--disk", str(venv), "--", sys.executable, "-c", "pass"]) == 0
    entry = timings.load()["setup"]
    assert entry["data_gb"] == round(2000 / 2**30, 3) and entry["status"] == 0
    assert timings.main(["run", "setup", "--disk", str(venv)]) == 2  # no command: the usage
    line = readme_costs({"setup": entry | {"data_gb": 2.1}})
    assert "the virtual environment (`make setup`, from nothing) 0 min (peak memory" in line and "disk 2.10 GB)" in line
