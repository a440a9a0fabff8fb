"""The study's one artifact mechanism: every file or folder it computes, written and read here.

An artifact is a file (a table, a JSON record, a figure) or a folder (a
model, the world's splits) under `data/<profile>/` or `figures/`. It is
written atomically (to a temporary name, then renamed) with a manifest
beside it, `<name>.artifact.json` (inside a folder: `artifact.json`), that
records the settings that made it and the size and SHA-256 of every file.
The manifest is written last: an artifact without one was never finished.

Reading checks the manifest: a missing, unfinished or damaged artifact (its
bytes no longer match) raises `MissingArtifact` / `CorruptArtifact`, one made
with other settings `StaleArtifact`; each message names the path and what to
do. `cached_table` (and `ttc.core.executors.build_in_chunks`) rebuild what is missing or damaged
and refuse what is stale. Every artifact a process reads or writes is
remembered, so that a notebook can list what it depends on
(`write_run_record`) and `python -m ttc.core.store check` can tell `make` which
executed notebooks must run again after an artifact was deleted or damaged.

Use: `write_table(path, table, settings)`, `read_table(path, settings)`,
`cached_table(path, settings, build)`, `write_dir(path, fill, settings)`,
`check_artifact(path, settings)`.

A manifest also records what its artifact was built from: the content hash of every artifact the process had
read or written before it. One whose input has changed since (a damaged input rebuilt with other bytes) is
`OutdatedArtifact`: rebuilt where it is cached, and its notebook rerun by `make reproduce`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import warnings
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import yaml

from ttc.core import determinism
from ttc.core.config import ROOT, ConfigError, check_profile

ANY = object()
"""Pass as `settings` to check an artifact's bytes but not the settings that made it."""


class ArtifactError(ConfigError):
    """An artifact that cannot be used as it is; the message names it and says what to do."""


class MissingArtifact(ArtifactError):
    pass


class CorruptArtifact(ArtifactError):
    pass


class StaleArtifact(ArtifactError):
    pass


class OutdatedArtifact(StaleArtifact):
    """Made with these settings, but from an input whose content has changed since (it was rebuilt)."""


# --------------------------------------------------------------------------
# Where things go


def _root(variable: str, default: Path) -> Path:
    # The tests point these at a temporary folder, so that they never touch the study's data.
    return Path(os.environ.get(variable, default))


def data_root() -> Path:
    """Where every profile's data folder is: data/, or TTC_DATA_ROOT."""
    return _root("TTC_DATA_ROOT", ROOT / "data")


def data_dir(profile: str) -> Path:
    return data_root() / check_profile(profile)


def figures_dir(profile: str) -> Path:
    """The full profile's figures are the study's (committed); others go to an ignored subfolder."""
    check_profile(profile)
    figures = _root("TTC_FIGURES_ROOT", ROOT / "figures")
    return figures if profile == "full" else figures / profile


# --------------------------------------------------------------------------
# Settings


def _plain(obj):
    if is_dataclass(obj):
        return asdict(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def plain(settings: Any) -> Any:
    """Settings as JSON gives them back (dataclasses as dicts, tuples as lists), so that what was
    written and what is wanted compare equal exactly when they are the same settings."""
    return json.loads(json.dumps(settings, sort_keys=True, default=_plain))


def run_id(*configs) -> str:
    """A short hash of every setting that affects a result, to name and trace artifacts."""
    blob = json.dumps([_plain(c) if is_dataclass(c) else c for c in configs], sort_keys=True, default=_plain)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def _differing(saved: Any, wanted: Any) -> list[str]:
    if isinstance(saved, dict) and isinstance(wanted, dict):
        return sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
    return ["(the whole record)"]


# --------------------------------------------------------------------------
# Manifests


def manifest_path(path: Path) -> Path:
    path = Path(path)
    return path / "artifact.json" if path.is_dir() else path.with_name(path.name + ".artifact.json")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(path: Path) -> dict[str, dict]:
    """Size and hash of the artifact's file, or of every file in its folder but the manifest."""
    if path.is_file():
        return {path.name: {"bytes": path.stat().st_size, "sha256": file_sha256(path)}}
    return {str(f.relative_to(path)): {"bytes": f.stat().st_size, "sha256": file_sha256(f)}
            for f in sorted(path.rglob("*")) if f.is_file() and f.name != "artifact.json"}


def _write_bytes(path: Path, data: bytes) -> None:
    """The one temp-file-then-rename in the project: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# Everything read or written in this process, for the run record of a notebook and the inputs of what it writes.
_touched: dict[str, str] = {}


class DamagedRecord(ValueError):
    """A manifest or run record that is not what the study writes: not JSON, or JSON of another shape."""


def _is_file_entry(entry: Any) -> bool:
    return isinstance(entry, dict) and set(entry) == {"bytes", "sha256"}


def read_manifest(path: Path) -> dict:
    """An artifact's manifest, checked for the shape `_manifest_bytes` writes: an object whose `files` maps
    names to sizes and hashes, with `settings`, and `inputs` (when there) mapping names to hashes. Anything else
    (other JSON, text, bytes) raises DamagedRecord, which says what is wrong; a missing file raises OSError."""
    manifest = manifest_path(path)
    try:
        record = json.loads(manifest.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise DamagedRecord(f"not JSON ({e})") from None
    if not isinstance(record, dict):
        raise DamagedRecord(f"a JSON {type(record).__name__}, not an object")
    missing = {"files", "settings"} - set(record)
    if missing:
        raise DamagedRecord(f"no {' or '.join(sorted(missing))} key")
    files, inputs = record["files"], record.get("inputs") or {}
    if not isinstance(files, dict) or not all(_is_file_entry(v) for v in files.values()):
        raise DamagedRecord("its files are not names with sizes and hashes")
    if not isinstance(inputs, dict) or not all(isinstance(v, str) for v in inputs.values()):
        raise DamagedRecord("its inputs are not names with hashes")
    return record


def read_run_record(path: Path) -> dict[str, str]:
    """A notebook's run record (`write_run_record`): the paths it read or wrote, checked for that shape."""
    try:
        record = json.loads(Path(path).read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise DamagedRecord(f"not JSON ({e})") from None
    artifacts = record.get("artifacts") if isinstance(record, dict) else None
    if not isinstance(artifacts, dict) or not all(isinstance(v, str) for v in artifacts.values()):
        raise DamagedRecord("not an object whose artifacts map paths to roles")
    return artifacts


def _digest(path: Path) -> str | None:
    """The content hash of a finished artifact: of the sizes and SHA-256s its manifest records (None without one,
    or with a damaged one)."""
    try:
        files = read_manifest(path)["files"]
    except (OSError, DamagedRecord):
        return None
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def _name(path: Path) -> str:
    """An artifact's path as a manifest records it: under the data root when it is there, else absolute."""
    root = data_root().resolve()
    path = Path(path).resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _from_name(name: str) -> Path:
    return Path(name) if Path(name).is_absolute() else data_root() / name


def _inputs(path: Path) -> dict[str, str]:
    """What an artifact written now was built from: the content hash of every finished artifact this process
    read or wrote before it (a superset of its true inputs), the pieces of chunked builds left out."""
    own = Path(path).resolve()
    out = {}
    for key in _touched:
        p = Path(key)
        if p == own or own in p.parents or ".partial" in key:
            continue
        digest = _digest(p)
        if digest is not None:
            out[_name(p)] = digest
    return out


def _changed_inputs(record: dict) -> list[str]:
    """The inputs a manifest records whose content has changed since (one no longer there is not counted)."""
    return [name for name, digest in (record.get("inputs") or {}).items()
            if _digest(_from_name(name)) not in (None, digest)]


def _manifest_bytes(files: dict, settings: Any, inputs: dict[str, str]) -> bytes:
    record = {"settings": plain(settings), "files": files, "numerics": determinism.numerics(), "inputs": inputs}
    return json.dumps(record, indent=1, sort_keys=True).encode()


def _remember(path: Path, role: str) -> None:
    key = str(Path(path).resolve())
    _touched[key] = "wrote" if role == "wrote" or _touched.get(key) == "wrote" else role


def write_file(path: Path, write: Callable[[Path], None], settings: Any = None, manifest: bool = True) -> Path:
    """Write a file artifact: `write(tmp)` fills a temporary file, which is then renamed into place
    and recorded with `settings`. An old manifest goes first, so a crash in between leaves an
    artifact without a manifest (unfinished, rebuilt), never a manifest that vouches for other bytes.
    `manifest=False` is for files that readers open and nothing reads back (the committed figures
    and summaries, which carry their settings inside)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")
    write(tmp)
    manifest_path(path).unlink(missing_ok=True)
    os.replace(tmp, path)
    if manifest:
        _write_bytes(manifest_path(path), _manifest_bytes(_files(path), settings, _inputs(path)))
        _remember(path, "wrote")
    return path


def write_dir(path: Path, fill: Callable[[Path], None], settings: Any = None) -> Path:
    """Write a folder artifact: `fill(tmp)` writes its files into a temporary folder, which gets its
    manifest and then replaces `path` whole."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fill(tmp)
    (tmp / "artifact.json").write_bytes(_manifest_bytes(_files(tmp), settings, _inputs(path)))
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)
    _remember(path, "wrote")
    return path


def _make_hint(path: Path, made_by: str) -> str:
    """The make command that runs the notebooks up to `made_by` ("notebook 01") for the profile, or the variant,
    that `path` belongs to, when both can be read off (a path under the data root, a numbered notebook)."""
    import re

    try:
        parts = Path(path).resolve().relative_to(data_root().resolve()).parts
    except ValueError:
        return ""
    if not re.fullmatch(r"notebook \d\d", made_by) or not parts:
        return ""
    params = ""
    if len(parts) > 2 and parts[1] == "variants":  # a variant's: the parameters that make it, as papermill takes them
        differs = read_variant_record(data_root() / parts[0] / "variants" / parts[2])
        if differs is None:
            return ""
        flow = yaml.safe_dump(differs, default_flow_style=True, width=10**6).strip()
        params = f" PARAMS=\"-y '{flow}'\""
    return f": `make reproduce PROFILE={parts[0]}{params}` runs it and the notebooks before it"


def check_artifact(path: Path, settings: Any = ANY, what: str = "artifact", made_by: str = "") -> dict:
    """The settings an artifact was made with, after checking it is whole and (unless `settings` is
    ANY) made with `settings`. `made_by` names the notebook or step that makes it, for the message."""
    path = Path(path)
    how = f"run {made_by} for this profile{_make_hint(path, made_by)}" if made_by else "run the step that makes it"
    manifest = manifest_path(path)
    if not path.exists():
        raise MissingArtifact(f"{what} {path} does not exist: {how} (make reproduce runs the notebooks in order)")
    if not manifest.exists():
        raise MissingArtifact(f"{what} {path} has no manifest ({manifest.name}): it was never finished; "
                              f"remove it and {how}")
    try:
        record = read_manifest(path)
    except DamagedRecord as e:
        raise CorruptArtifact(f"{what} {path}: its manifest {manifest} is damaged ({e}); remove {path} and "
                              f"{how}") from None
    if _files(path) != record["files"]:
        raise CorruptArtifact(f"{what} {path} is damaged: its files no longer match the sizes and SHA-256 "
                              f"recorded when it was written; remove it and {how}")
    if settings is not ANY and record.get("numerics") != determinism.numerics():
        made = record.get("numerics", "before the study was pinned")
        raise StaleArtifact(f"{what} {path} was made with other numerics ({made}; this process: "
                            f"{determinism.numerics()}), so its bits are not this study's; remove it to recompute it")
    if settings is not ANY and record["settings"] != plain(settings):
        raise StaleArtifact(f"{what} {path} was made with other settings (differing: "
                            f"{_differing(record['settings'], plain(settings))}); remove it to recompute it, or "
                            f"restore the settings it was made with")
    if settings is not ANY:
        changed = _changed_inputs(record)
        if changed:
            raise OutdatedArtifact(f"{what} {path} was built from {changed[0]}, which has changed since "
                                   f"({len(changed)} such input{'s' if len(changed) > 1 else ''}); {how} again")
    _remember(path, "read")
    return record["settings"]


def artifact_status(path: Path) -> str:
    """"ok", "missing" (absent or unfinished), "corrupt" or "out of date" (an input changed since), without
    raising."""
    try:
        check_artifact(path)  # whole: its files hashed once
    except CorruptArtifact:
        return "corrupt"
    except MissingArtifact:
        return "missing"
    return "out of date" if _changed_inputs(read_manifest(path)) else "ok"


def remove_artifact(path: Path) -> None:
    path = Path(path)
    if path.is_dir():
        shutil.rmtree(path)
    else:
        manifest_path(path).unlink(missing_ok=True)
        path.unlink(missing_ok=True)


def reusable(path: Path, settings: Any, what: str) -> bool:
    """Whether a finished artifact with these settings is there. A damaged or unfinished one is
    removed (it will be rebuilt) and one made with other settings refused (StaleArtifact)."""
    try:
        check_artifact(path, settings, what)
        return True
    except (MissingArtifact, CorruptArtifact, OutdatedArtifact) as e:
        if Path(path).exists():
            warnings.warn(f"rebuilding it: {e}", stacklevel=3)
            remove_artifact(path)
        return False


# --------------------------------------------------------------------------
# Kinds of artifact


def write_json(path: Path, obj: Any, settings: Any = None, manifest: bool = True) -> Path:
    data = json.dumps(obj, indent=1, sort_keys=True, default=_plain).encode()
    return write_file(path, lambda tmp: tmp.write_bytes(data), settings, manifest)


def read_json(path: Path, settings: Any = ANY, what: str = "record", made_by: str = "") -> Any:
    check_artifact(path, settings, what, made_by)
    return json.loads(Path(path).read_text())


def write_table(path: Path, table: pd.DataFrame, settings: Any = None) -> Path:
    return write_file(path, lambda tmp: table.to_parquet(tmp, index=False), settings)


def read_table(path: Path, settings: Any = ANY, what: str = "table", made_by: str = "") -> pd.DataFrame:
    """A table, checked whole and (unless `settings` is ANY) made with `settings`."""
    check_artifact(path, settings, what, made_by)
    return pd.read_parquet(path)


def cached_table(path: Path, settings: Any, build: Callable[[], pd.DataFrame], what: str = "table") -> pd.DataFrame:
    """The table at `path` if it was made with `settings`; otherwise `build()`, written there."""
    if reusable(path, settings, what):
        return pd.read_parquet(path)
    table = build()
    write_table(path, table, settings)
    return table


def save_figure(fig, folder: Path, name: str, settings: Any = None, contents: Any = None) -> list[str]:
    """PNG and PDF of a matplotlib figure, the settings behind it (and, given, a description of what it
    draws) written into each file's metadata (figures are for readers, so they get no manifest beside them in
    the committed folder). `figure_metadata` reads them back."""
    described = json.dumps(plain(settings), sort_keys=True)
    drawn = json.dumps(plain(contents), sort_keys=True)
    paths = []
    for ext in ("png", "pdf"):
        # Fixed metadata so that a rerun with the same results writes the same PDF bytes.
        meta = ({"Description": described, "Comment": drawn} if ext == "png"
                else {"Subject": described, "Keywords": drawn, "CreationDate": None})
        path = write_file(Path(folder) / f"{name}.{ext}",
                          lambda tmp, ext=ext, meta=meta: fig.savefig(tmp, format=ext, bbox_inches="tight",
                                                                      metadata=meta), manifest=False)
        paths.append(str(path))
    return paths


def figure_metadata(path: Path) -> tuple[Any, Any]:
    """(settings, contents) written into a PNG by `save_figure`."""
    from PIL import Image

    with Image.open(path) as image:
        text = image.text
    return json.loads(text.get("Description", "null")), json.loads(text.get("Comment", "null"))


# --------------------------------------------------------------------------
# Chunked builds


def slug(name: str) -> str:
    """A display name (a verifier's, say) as a file-name part: letters, digits, '.', '+' and '-', the rest '_'."""
    import re

    return re.sub(r"[^A-Za-z0-9.+-]+", "_", name).strip("_")


def partial_dir(path: Path, settings: Any) -> Path:
    """Where the pieces of an unfinished build of `path` with `settings` wait. Keyed by the
    settings, so an interrupted build resumes only with its own settings, and a build that failed
    (say, on a bad setting) never blocks a corrected rerun."""
    path = Path(path)
    return path.with_name(path.name + ".partial") / run_id(plain(settings))


# --------------------------------------------------------------------------
# Run records, and the check `make reproduce` runs first


def write_run_record(path: Path) -> Path:
    """The artifacts this process read and wrote (what a notebook's results depend on), as JSON."""
    record = {p: role for p, role in sorted(_touched.items()) if Path(p).exists()}
    data = json.dumps({"artifacts": record}, indent=1).encode()
    _write_bytes(Path(path), data)
    return Path(path)


def write_variant_record(folder: Path, values: dict) -> None:
    """`variant.json` in a variant's folder: the parameters, whole, that differ there from the profile's."""
    path = Path(folder) / "variant.json"
    data = json.dumps({"differs": values}, indent=1, sort_keys=True, default=_plain).encode()
    if not path.exists() or path.read_bytes() != data:
        _write_bytes(path, data)


def folder_bytes(folder: Path) -> int:
    """The bytes of every file under `folder` (0 when it does not exist)."""
    folder = Path(folder)
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.exists() else 0


def read_variant_record(folder: Path) -> dict | None:
    """What differs in a variant's folder, from its `variant.json`; None when the record is missing or is not a
    JSON object whose `differs` is an object (damaged by hand: the listing says so rather than stopping)."""
    try:
        differs = json.loads((Path(folder) / "variant.json").read_text())["differs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return differs if isinstance(differs, dict) else None


def stale_notebooks(folder: Path) -> list[tuple[Path, str]]:
    """Executed notebooks under `folder` (a profile's data folder, its variants' included) whose run record lists
    an artifact now missing, damaged or out of date."""
    out = []
    for record in sorted(Path(folder).rglob("*.artifacts.json")):
        try:
            artifacts = read_run_record(record)
        except DamagedRecord as e:
            out.append((record, f"its run record is damaged ({e})"))
            continue
        for p in artifacts:
            status = artifact_status(Path(p))
            if status != "ok":
                out.append((record, f"{p} is {status}"))
                break
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "check":
        print("usage: python -m ttc.core.store check data/<profile>", file=sys.stderr)
        return 2
    for record, why in stale_notebooks(Path(argv[1])):
        notebook = record.with_name(record.name.removesuffix(".artifacts.json") + ".ipynb")
        print(f"{notebook.name} runs again: {why}")
        notebook.unlink(missing_ok=True)
        record.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
