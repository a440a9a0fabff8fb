"""The golden record: the SHA-256 of every results table a profile's study wrote and of every model's
weights, committed in `tests/golden/<profile>.json` with the processor it was written on.

The tests rerun the tiny study and compare (`compare`), naming what moved; since the same settings give the
same bits on any x86-64 machine (ttc.core.determinism, ttc.core.ordered), a record written on one processor must
match on every other. A change that moves results on purpose rewrites it, in its own commit that says why:

    make golden                        # reruns the tiny study in a fresh folder and writes the record
    python -m ttc.checks.golden check tiny    # compares the tiny study in data/ (or $TTC_DATA_ROOT) with it
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from ttc.core import determinism
from ttc.core.config import ROOT
from ttc.core.store import data_dir, file_sha256

GOLDEN_DIR = ROOT / "tests" / "golden"


def golden_path(profile: str) -> Path:
    return GOLDEN_DIR / f"{profile}.json"


TIMING_COLUMNS = ("wall_s",)  # how long this machine took: measured, not a result, so left out of a table's hash


def content_sha256(path: Path) -> str:
    """A model's file as it is; a table by its content (every value's bits, in Arrow's stream format, without
    the timing columns or the writer's metadata), so that the record does not depend on parquet's layout."""
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        table = table.drop_columns([c for c in table.column_names if c in TIMING_COLUMNS]).replace_schema_metadata(None)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table.combine_chunks())
        return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
    return file_sha256(path)


def recorded_files(profile: str, root: Path | None = None) -> dict[str, Path]:
    """What the record holds, by path under the profile's data folder: every results table and every
    model's weights (the ladder's, the verifiers', the revision model's)."""
    base = Path(root) / profile if root is not None else data_dir(profile)
    found = sorted((base / "results").rglob("*.parquet")) + sorted((base / "models").rglob("model.safetensors"))
    return {p.relative_to(base).as_posix(): p for p in found if ".partial" not in p.as_posix()}


def record(profile: str, root: Path | None = None) -> dict[str, str]:
    return {name: content_sha256(path) for name, path in recorded_files(profile, root).items()}


def write(profile: str, root: Path | None = None) -> Path:
    files = record(profile, root)
    if not files:
        raise SystemExit(f"no results of the {profile} profile under {root or data_dir(profile)}: run it first")
    out = golden_path(profile)
    out.parent.mkdir(parents=True, exist_ok=True)
    # The processor and libraries that made it (not the writer's thread count: the study's may differ).
    written_on = {k: v for k, v in determinism.describe().items() if k != "threads"}
    out.write_text(json.dumps({"profile": profile, "written_on": written_on, "files": files},
                              indent=1, sort_keys=True) + "\n")
    return out


@dataclass(frozen=True)
class Difference:
    name: str
    golden: str | None  # None: not in the record
    now: str | None  # None: not written by this run

    def __str__(self) -> str:
        if self.golden is None:
            return f"{self.name}: not in the golden record (a new table? rewrite the record)"
        if self.now is None:
            return f"{self.name}: in the golden record, not written by this run"
        return f"{self.name}: moved (golden {self.golden[:12]}, now {self.now[:12]})"


def _differences(golden: dict[str, str], now: dict[str, str]) -> list[Difference]:
    return [Difference(name, golden.get(name), now.get(name))
            for name in sorted(golden.keys() | now.keys()) if golden.get(name) != now.get(name)]


def compare(profile: str, root: Path | None = None) -> list[Difference]:
    """Every file whose hash differs from the committed record's, or that only one side has."""
    return _differences(json.loads(golden_path(profile).read_text())["files"], record(profile, root))


def report(profile: str, root: Path | None = None) -> str:
    """The comparison as a reader wants it: what moved, and on which processors the two runs were."""
    golden = json.loads(golden_path(profile).read_text())
    now = record(profile, root)  # hashed once: every table and model of the study
    differences = _differences(golden["files"], now)
    written_on, here = golden["written_on"], determinism.describe()
    lines = [f"golden record {golden_path(profile).name}: written on {written_on['processor']} "
             f"(AVX-512: {written_on['avx512']}), checked on {here['processor']} (AVX-512: {here['avx512']})"]
    lines += [f"  {d}" for d in differences] or [f"  all {len(now)} files identical"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ttc.checks.golden", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["write", "check"])
    parser.add_argument("profile", nargs="?", default="tiny")
    parser.add_argument("--root", type=Path, default=None, help="the data root (default: $TTC_DATA_ROOT or data/)")
    args = parser.parse_args(argv)
    if args.action == "write":
        print(f"wrote {write(args.profile, args.root)}")
        return
    text = report(args.profile, args.root)
    print(text)
    sys.exit(0 if text.endswith("files identical") else 1)


if __name__ == "__main__":
    main()
