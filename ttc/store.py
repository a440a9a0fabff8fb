"""Artifacts on disk: where each profile writes, atomic writes, and run ids.

Everything a notebook computes lands under `data/<profile>/` and is written
atomically (to a temporary name, then renamed), so an interrupted run never
leaves a half-written file that a rerun would take as done.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path

import pandas as pd

from ttc.config import ROOT, check_profile


def _root(variable: str, default: Path) -> Path:
    # The tests point these at a temporary folder, so that they never touch the study's data.
    return Path(os.environ.get(variable, default))


def data_dir(profile: str) -> Path:
    return _root("TTC_DATA_ROOT", ROOT / "data") / check_profile(profile)


def figures_dir(profile: str) -> Path:
    """The full profile's figures are the study's (committed); others go to an ignored subfolder."""
    check_profile(profile)
    figures = _root("TTC_FIGURES_ROOT", ROOT / "figures")
    return figures if profile == "full" else figures / profile


def _plain(obj):
    if is_dataclass(obj):
        return asdict(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def run_id(*configs) -> str:
    """A short hash of every setting that affects a result, to name and trace artifacts."""
    blob = json.dumps([_plain(c) if is_dataclass(c) else c for c in configs], sort_keys=True, default=_plain)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=1, sort_keys=True, default=_plain).encode())


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def write_table(path: Path, table: pd.DataFrame) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    table.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def read_table(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)
