"""Artifacts on disk: where each profile writes, atomic writes, and run ids.

Everything a notebook computes lands under `data/<profile>/` and is written
atomically (to a temporary name, then renamed), so an interrupted run never
leaves a half-written file that a rerun would take as done.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, is_dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ttc.config import ROOT, ConfigError, check_profile


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


def check_settings(path: Path, saved: dict, wanted: dict, what: str) -> None:
    """Refuse to reuse `what` at `path` when the settings it was made with are not `wanted`."""
    if saved != wanted:
        changed = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
        raise ConfigError(f"{what} in {path} was made with other settings (differing: {changed}); "
                          f"remove {path} to recompute it, or restore the settings it was made with")


def write_table(path: Path, table: pd.DataFrame) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    table.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def read_table(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def build_in_chunks(path: Path, settings: dict, n_chunks: int, make_chunk, desc: str = "",
                    progress: bool = True) -> pd.DataFrame:
    """The table at `path`, built as `n_chunks` pieces `make_chunk(i)` unless it is there.

    Each piece is written to `<path>.partial/` as it finishes, so an
    interrupted build resumes with the next piece; `settings` (everything that
    affects the table) is checked against what made the pieces or the table,
    so nothing made with other settings is ever mixed in.
    """
    path = Path(path)
    settings = json.loads(json.dumps(settings, default=_plain))
    settings_path = path.with_name(path.stem + ".settings.json")
    if path.exists():
        if not settings_path.exists() or read_json(settings_path) != settings:
            raise ConfigError(f"{path} was made with other settings; remove it to compute it again, "
                              "or restore the settings it was made with")
        return read_table(path)
    partial = path.with_name(path.name + ".partial")
    if (partial / "settings.json").exists() and read_json(partial / "settings.json") != settings:
        raise ConfigError(f"the interrupted build in {partial} was made with other settings; remove it to "
                          "start afresh, or restore the settings it was made with")
    write_json(partial / "settings.json", settings)
    pieces = []
    for i in tqdm(range(n_chunks), desc=desc, disable=not progress, unit="chunk"):
        piece = partial / f"chunk-{i:05d}.parquet"
        if not piece.exists():
            write_table(piece, make_chunk(i))
        pieces.append(read_table(piece))
    table = pd.concat(pieces, ignore_index=True)
    write_json(settings_path, settings)  # before the table: a table without its settings would be refused
    write_table(path, table)
    shutil.rmtree(partial, ignore_errors=True)
    return table


def chunk_seed(seed: int, chunk: int) -> int:
    """The seed of piece `chunk` of a chunked computation: a function of (seed, chunk) alone."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1)[0])
