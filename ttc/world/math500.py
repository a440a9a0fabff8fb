"""MATH-500 (or any MATH-style set): its problems, a step-by-step prompt, the last `\\boxed{}` answer, and grading
with `math-verify` (issue 17, first part: the real world's data and grading, before its models).

MATH has no per-step truth: analyses that need it (the verifier ladder's cell AUC, the perfect checker) cannot
run on it and must say so. Its `level` (1-5) is the nominal difficulty notebook 02 compares the oracle bins with.

Use: `problems = load_problems("HuggingFaceH4/MATH-500")` (or a local parquet / JSON path with the same
columns); `prompt(problem, tokenizer)`; `grade(problem, completion)`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ttc.core.config import ConfigError

HUB_NAME = "HuggingFaceH4/MATH-500"
COLUMNS = ("problem", "solution", "answer", "level", "subject")
INSTRUCTION = ("Solve the problem step by step. Separate the steps with a blank line, and give the final answer "
               "as \\boxed{answer}.")


class MissingResource(ConfigError):
    """A model or data set that is not on this machine and cannot be downloaded: the message says how to give it."""


@dataclass(frozen=True)
class MathProblem:
    id: str
    problem: str
    solution: str
    answer: str
    level: int  # 1 (easiest) to 5
    subject: str

    @property
    def family(self) -> str:
        """The synthetic world's families are MATH's subjects (notebook 02's breakdown)."""
        return self.subject


def _level(value) -> int:
    """MATH writes levels as "Level 3" (MATH-500 as 3); "Level ?" and anything else unreadable is an error."""
    text = str(value).removeprefix("Level").strip()
    if not text.isdigit() or not 1 <= int(text) <= 5:
        raise ConfigError(f"level {value!r} is not a MATH level: expected 1-5 or 'Level 1' ... 'Level 5'")
    return int(text)


def missing(what: str, name: str, why: str, give: str) -> MissingResource:
    """The one error for a model or data set that is not here: what it is, why, and how to provide it."""
    return MissingResource(
        f"the {what} {name!r} is not available here ({why}). Give {give}, or a Hugging Face hub name that is in the "
        f"local cache (HF_HOME, now {os.environ.get('HF_HOME', '~/.cache/huggingface')!r}); with HF_HUB_OFFLINE=1 "
        f"(now {os.environ.get('HF_HUB_OFFLINE', 'unset')!r}) nothing is downloaded, so the cache must already hold it")


def first_line(error: Exception) -> str:
    """A library's error as one line for `missing`'s `why`: its type and the first line of its message."""
    text = str(error)
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


def _missing(source: str, why: str) -> MissingResource:
    return missing("data set", source, why, f"a local parquet or JSON file with the columns {list(COLUMNS)}")


def _read_local(path: Path):
    import pandas as pd

    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix in (".json", ".jsonl"):
        return pd.read_json(path, lines=path.suffix == ".jsonl")
    raise ConfigError(f"{str(path)!r} is neither .parquet, .json nor .jsonl: give the data set in one of those forms")


def load_problems(source: str = HUB_NAME, split: str = "test") -> list[MathProblem]:
    """The problems of a MATH-style data set: a local parquet / JSON / JSON-lines file, or a hub name loaded
    with `datasets.load_dataset` (from the cache when offline). Checked before any work starts: a missing data
    set or column is one clear error, not a traceback from inside a library."""
    path = Path(source).expanduser()
    if path.exists():
        table = _read_local(path)
    else:
        if source.endswith((".parquet", ".json", ".jsonl")) or source.startswith((".", "/", "~")):
            raise _missing(source, "no such file")
        try:
            import datasets

            table = datasets.load_dataset(source, split=split).to_pandas()
        except Exception as e:  # the hub's errors differ by version and network state: all mean "not here"
            raise _missing(source, first_line(e)) from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ConfigError(f"the data set {source!r} lacks the columns {missing}; a MATH-style set has {list(COLUMNS)}")
    ids = table["unique_id"].astype(str) if "unique_id" in table.columns else [f"math-{i}" for i in range(len(table))]
    return [MathProblem(str(i), str(r.problem), str(r.solution), str(r.answer), _level(r.level), str(r.subject))
            for i, r in zip(ids, table.itertuples())]


def prompt(problem: MathProblem, tokenizer=None) -> str:
    """The step-by-step prompt: the tokenizer's chat template when it has one, else plain text."""
    text = f"{INSTRUCTION}\n\nProblem: {problem.problem}"
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                             add_generation_prompt=True)
    return f"{text}\n\nSolution:\n"


def last_boxed(text: str) -> str | None:
    """The contents of the last `\\boxed{...}` (or `\\fbox{...}`) in `text`, braces balanced; None when there is
    none or the last one never closes. Never raises."""
    best = None
    for command in ("\\boxed", "\\fbox"):
        start = text.rfind(command + "{")
        if start > (best[0] if best else -1):
            best = (start, start + len(command) + 1)
    if best is None:
        return None
    depth, begin = 1, best[1]
    for i in range(begin, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[begin:i].strip()
    return None


def equivalent(gold: str, answer: str | None) -> bool:
    """Whether `answer` equals `gold` as mathematics (math-verify: `\\frac{1}{2}` equals 0.5). Timeouts are off
    (math-verify's use signals, which only the main thread may set); a parse failure is a wrong answer."""
    from math_verify import parse, verify

    # math-verify warns at every call that timeouts are off: they are, on purpose (above)
    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if answer is None:
        return False
    try:
        return bool(verify(parse(f"${gold}$", parsing_timeout=None), parse(f"${answer}$", parsing_timeout=None),
                           timeout_seconds=None))
    except Exception:  # math-verify raises on some malformed LaTeX despite raise_on_error=False
        return False


def grade(problem: MathProblem, completion: str) -> bool:
    """Is the completion's last boxed answer right?"""
    return equivalent(problem.answer, last_boxed(completion))
