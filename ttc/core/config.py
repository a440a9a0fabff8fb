"""Validation shared by every config dataclass, and the study's profiles.

Each config calls `check_fields(self)` in `__post_init__`, so a wrong type or
an out-of-range value fails at construction, with a message naming the field,
the value and what is allowed, before any work starts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # ttc/core/config.py: the repository is two folders up


def profiles() -> tuple[str, ...]:
    """The profiles, one per file params/<profile>.yaml: full (the study as published in figures/),
    quick (a small run in minutes), tiny (the smallest run, used by the tests)."""
    return tuple(sorted(p.stem for p in (ROOT / "params").glob("*.yaml")))


class ConfigError(ValueError):
    """A setting that cannot work; the message says what would."""

    def _render_traceback_(self) -> list[str]:
        # IPython (so JupyterLab and papermill's copies) shows this instead of the traceback: the message says
        # what to change or run, and the library frames that raised it are not the reader's to fix.
        return [f"{type(self).__name__}: {self}"]


def check_profile(profile: object) -> str:
    if profile not in profiles():
        raise ConfigError(f"profile={profile!r} is not a known profile; use one of {', '.join(profiles())} "
                          f"(each is a file params/<profile>.yaml)")
    return typing.cast(str, profile)


def _matches(value: object, annotation: object) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is typing.Any:
        return True
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(annotation))
    if origin in (tuple, list):
        args = typing.get_args(annotation)
        if not isinstance(value, origin):
            return False
        if not args:
            return True
        item = args[0]
        return all(_matches(v, item) for v in value)
    if annotation is type(None):
        return value is None
    if annotation is float:
        # An int is a fine float (YAML writes 1 for 1.0); a bool is not.
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def check_fields(config: object) -> None:
    """Raise ConfigError for any field whose value does not match its annotation."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):  # type: ignore[arg-type]
        value = getattr(config, field.name)
        annotation = hints[field.name]
        if not _matches(value, annotation):
            allowed = typing.get_args(annotation) if typing.get_origin(annotation) is typing.Literal else annotation
            name = getattr(allowed, "__name__", str(allowed))
            raise ConfigError(f"{type(config).__name__}.{field.name}={value!r} "
                              f"({type(value).__name__}) is not allowed; expected {name}")


def check_range(config: object, name: str, low: float | None = None, high: float | None = None) -> None:
    """Raise ConfigError unless low <= config.name <= high (either bound optional)."""
    value = getattr(config, name)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = {(True, True): f"between {low} and {high}", (True, False): f"at least {low}",
                  (False, True): f"at most {high}"}[(low is not None, high is not None)]
        raise ConfigError(f"{type(config).__name__}.{name}={value!r} is out of range; it must be {bounds}")


def as_tuple(value: object) -> object:
    """Papermill and YAML hand lists; configs keep tuples so they stay hashable."""
    return tuple(value) if isinstance(value, list) else value
