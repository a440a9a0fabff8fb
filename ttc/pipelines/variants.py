"""Variants on disk, and what `make` runs for a set of parameters.

    python -m ttc.pipelines.variants list PROFILE            the variants of a profile on disk, with what differs
    python -m ttc.pipelines.variants remove PROFILE NAME     remove one: its folder and its figures
    python -m ttc.pipelines.variants rules PROFILE reproduce|seed_study FOLDER -- PAPERMILL_ARGS
                                                             make's rules (FOLDER/rules.mk): each notebook's executed
                                                             copy, in its stage's folder for these parameters, after
                                                             those it reads, with what it was given (FOLDER/*.yaml)

`make variants PROFILE=...` and `make remove-variant PROFILE=... VARIANT=...` call the first two; `make reproduce`
the third, so that `make reproduce PARAMS="-p demo_budget 16"` runs notebook 05 again beside the study (its
figures named `..--demo_budget-16.png`) and reuses everything else. A parameter that is not one, or a bad value,
is refused here, before any notebook runs.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from ttc.core.config import ConfigError
from ttc.core.store import data_dir, figures_dir, folder_bytes, read_variant_record
from ttc.pipelines.parameters import PARAMETERS, profile_params, unknown
from ttc.pipelines.stages import NEUTRAL, STAGES, closure, stage_folder, upstream


def _value(text: str) -> Any:
    """A `-p` value as papermill reads it: an int, a float, a bool, None, else the string."""
    from papermill.cli import _resolve_type

    return _resolve_type(text)


def papermill_parameters(args: list[str]) -> dict[str, Any]:
    """The parameters papermill's own arguments give (`-p name value`, `-r name value`, `-y yaml`, `-f file`)."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        flag = args[i]
        if flag in ("-p", "--parameters", "-r", "--parameters_raw"):
            if i + 2 >= len(args):
                raise ConfigError(f"PARAMS: {flag} needs a name and a value (-p name value)")
            name, text = args[i + 1], args[i + 2]
            out[name] = text if flag in ("-r", "--parameters_raw") else _value(text)
            i += 3
        elif flag in ("-y", "--parameters_yaml", "-f", "--parameters_file"):
            if i + 1 >= len(args):
                raise ConfigError(f"PARAMS: {flag} needs a value")
            source = f"the file {args[i + 1]!r}" if flag in ("-f", "--parameters_file") else repr(args[i + 1])
            try:
                text = Path(args[i + 1]).read_text() if flag in ("-f", "--parameters_file") else args[i + 1]
                given = yaml.safe_load(text) or {}
            except OSError as e:
                raise ConfigError(f"PARAMS: {flag} {source} cannot be read ({e.strerror})") from None
            except (yaml.YAMLError, UnicodeDecodeError) as e:
                where = getattr(e, "problem_mark", None)
                at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
                problem = getattr(e, "problem", None) or type(e).__name__
                raise ConfigError(f"PARAMS: {flag} {source} is not YAML{at} ({problem})") from None
            if not isinstance(given, dict):
                raise ConfigError(f"PARAMS: {flag} {args[i + 1]!r} must give a mapping of parameter names to values")
            out.update(given)
            i += 2
        else:
            raise ConfigError(f"PARAMS: cannot read {flag!r}; give parameters as -p name value (or -r, -y, -f)")
    return out


def given_in(args: list[str]) -> dict[str, Any]:
    """The parameters papermill's arguments give over the profile (`profile` is make's, not theirs)."""
    given = papermill_parameters(args)
    given.pop("profile", None)
    return given


def study_for(profile: str, given: dict[str, Any]):
    """The study `make` runs for a profile and the parameters given, every parameter checked first."""
    from ttc.pipelines.study import Study

    for name, value in given.items():
        if name not in PARAMETERS:
            raise unknown(name, value, "given in PARAMS")
    return Study.from_params(profile_params(profile) | given)


def rules(profile: str, target: str, args: list[str], folder: Path) -> str:
    """make's rules: `notebooks`, the executed copies `target` needs ("reproduce": notebooks 01-07;
    "seed_study"), each after the stages it reads, at paths under $(DATA)/$(PROFILE)/; and each one's
    `NOTEBOOK_PARAMS`: a parameters file in `folder` with what was given that it depends on (and where builds
    run), so that a notebook the variant does not change runs, if it must, exactly as the profile's."""
    given = given_in(args)
    study = study_for(profile, given)
    stages = [s for s in STAGES if s[0].isdigit()] if target == "reproduce" else upstream(target)

    def path(stage: str) -> str:
        folder = stage_folder(Path("$(DATA)/$(PROFILE)"), study.variant(stage).name)
        return (folder / "notebooks" / f"{STAGES[stage].notebook}.ipynb").as_posix()

    lines = [f"notebooks: {' '.join(path(s) for s in stages)}"]
    for s in stages:
        own = {k: v for k, v in given.items() if k in closure(s) or k in NEUTRAL}
        parameters = Path(folder) / f"{STAGES[s].notebook}.yaml"
        parameters.write_text(yaml.safe_dump(own, sort_keys=True))
        lines.append(f"{path(s)}: NOTEBOOK_PARAMS = -f {parameters}")
        if STAGES[s].reads:
            lines.append(f"{path(s)}: {' '.join(path(r) for r in STAGES[s].reads)}")
    return "\n".join(lines) + "\n"


def where(profile: str, args: list[str]) -> str:
    """Where `make reproduce` with these arguments leaves its figures and tables."""
    study = study_for(profile, given_in(args))
    names = sorted({study.variant(s).name for s in STAGES if s[0].isdigit()} - {""})
    figures = figures_dir(profile)
    if not names:
        return f"done: figures in {figures}/, tables in {study.data}/results/"
    return (f"done: the variant's figures in {figures}/ (named ...--<variant>.png), its tables in "
            f"{study.data}/variants/<variant>/results/ ({', '.join(names)}); the profile's own are untouched "
            f"where the variant shares them")


def variants_on_disk(profile: str) -> dict[str, dict]:
    """Each variant folder of a profile: what differs there, and its size in bytes."""
    out = {}
    for folder in sorted((data_dir(profile) / "variants").glob("*/")):
        differs = read_variant_record(folder)
        out[folder.name] = {"differs": differs, "bytes": folder_bytes(folder)}
    return out


def variant_figures(profile: str, name: str) -> list[Path]:
    return sorted(figures_dir(profile).glob(f"*--{name}.*"))


def remove(profile: str, name: str) -> list[Path]:
    """Remove one variant of a profile: its data folder and its figures; the paths removed."""
    folder = data_dir(profile) / "variants" / name
    if not name or "/" in name or not folder.is_dir():
        known = list(variants_on_disk(profile))
        raise ConfigError(f"VARIANT={name!r} is not a variant of the {profile} profile on disk: one of {known}")
    removed = [folder, *variant_figures(profile, name)]
    shutil.rmtree(folder)
    for figure in removed[1:]:
        figure.unlink()
    return removed


def main(argv: list[str]) -> int:
    args, papermill = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    try:
        if args[:1] == ["list"] and len(args) == 2:
            found = variants_on_disk(args[1])
            for name, v in found.items():
                figures = len(variant_figures(args[1], name))
                differs = "unknown (its variant.json is missing or damaged)" if v["differs"] is None else v["differs"]
                print(f"{name}\n    differs: {differs}\n    {v['bytes'] / 1e6:.1f} MB, {figures} figure files")
            print(f"{len(found)} variant(s) of the {args[1]} profile under {data_dir(args[1]) / 'variants'}")
        elif args[:1] == ["remove"] and len(args) == 3:
            for path in remove(args[1], args[2]):
                print(f"removed {path}")
        elif args[:1] == ["rules"] and len(args) == 4:
            (Path(args[3]) / "rules.mk").write_text(rules(args[1], args[2], papermill, Path(args[3])))
        elif args[:1] == ["where"] and len(args) == 2:
            print(where(args[1], papermill))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
