"""A study's parameters as the user wrote them.

`params/full.yaml` holds every parameter; another profile, `params/<name>.yaml`, is named by its file and lists
only what it changes from the full profile. What a user gives always wins over the profile, equal to a default
or not: a value papermill injects (`-p name value`, `-f file.yaml`, `make reproduce PARAMS=...`) or one set in a
notebook's parameters cell (where every value starts as None: the profile's). A name that is not a parameter is
refused, with the closest one suggested, before any work starts.

Use, in a notebook: `Study.from_namespace(globals())` (which calls `notebook_parameters`); elsewhere
`profile_params("quick")`.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass, field
from typing import Any

import yaml

from ttc.core.config import ROOT, ConfigError, check_profile

FULL = "full"
PARAMS_DIR = ROOT / "params"

CELL_HEADER = "# Parameters"
"""The first line of every notebook's parameters cell, and of the cell papermill injects after it: how the
parameters a user gave are told from the notebook's other variables."""


def _read(profile: str) -> dict[str, Any]:
    path = PARAMS_DIR / f"{profile}.yaml"
    params = yaml.safe_load(path.read_text()) or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{path} must be a mapping of parameter names to values, not {type(params).__name__}")
    return params


PARAMETERS: tuple[str, ...] = tuple(_read(FULL))
"""Every parameter of a study: the keys of params/full.yaml. `profile` is not one of them: it names the file."""


def suggest(name: str) -> str:
    """' (did you mean X?)' for the parameter closest to `name`, or '' when none is close."""
    close = difflib.get_close_matches(name, PARAMETERS, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown(name: str, value: Any, where: str) -> ConfigError:
    return ConfigError(f"{name}={value!r} ({where}) is not a parameter of the study{suggest(name)}; every "
                       f"parameter is in params/{FULL}.yaml")


def profile_params(profile: object) -> dict[str, Any]:
    """`profile` and every parameter of it: params/full.yaml, overridden by params/<profile>.yaml."""
    profile = check_profile(profile)
    params = {"profile": profile} | _read(FULL)
    if profile == FULL:
        return params
    overrides = _read(profile)
    for name, value in overrides.items():
        if name == "profile":
            raise ConfigError(f"params/{profile}.yaml sets profile={value!r}: a profile is named by its file "
                              f"({profile!r}); remove the key")
        if name not in params:
            raise unknown(name, value, f"in params/{profile}.yaml")
    return params | overrides


@dataclass(frozen=True)
class Given:
    """What a notebook was given: its profile, and the parameters set over it (by papermill or in its cell)."""

    profile: str = FULL
    values: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        return profile_params(self.profile) | self.values

    def __str__(self) -> str:
        given = ", ".join(f"{k}={v!r}" for k, v in sorted(self.values.items()))
        return f"profile {self.profile}" + (f"; given: {given}" if given else "; nothing given over it")


def _assigned(source: str) -> list[str]:
    """The names a cell's top-level assignments bind."""
    names = []
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AnnAssign, ast.AugAssign)) else []
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def parameter_cells(history: list[str]) -> list[str]:
    """From IPython's input history (`In`), the last run of the notebook's own parameters cell and of the one
    papermill injected: each is recognised by its first line (`CELL_HEADER`; papermill's is exactly it)."""
    own = [s for s in history if s.startswith(CELL_HEADER) and s.split("\n", 1)[0] != CELL_HEADER]
    injected = [s for s in history if s.split("\n", 1)[0] == CELL_HEADER]
    return own[-1:] + injected[-1:]


def notebook_parameters(namespace: dict[str, Any]) -> Given:
    """What a notebook was given, from its variables: every name its parameters cells bind (the notebook's own,
    and papermill's) must be `profile` or a parameter; those not None are given. Without IPython's history
    (a plain dict), every parameter name in `namespace` that is not None."""
    history = namespace.get("In")
    if isinstance(history, list):
        names = [n for cell in parameter_cells(history) for n in _assigned(cell)]
        for name in names:
            if name != "profile" and name not in PARAMETERS:
                raise unknown(name, namespace.get(name), "in the parameters cell, or given by papermill -p")
    else:
        names = [n for n in namespace if n == "profile" or n in PARAMETERS]
    values = {n: namespace[n] for n in dict.fromkeys(names) if namespace.get(n) is not None}
    profile = values.pop("profile", FULL)
    return Given(check_profile(profile), values)
