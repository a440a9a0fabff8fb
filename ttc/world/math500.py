"""MATH-500 (or any MATH-style set): its problems, a step-by-step prompt, the last `\\boxed{}` answer, and grading
with `math-verify` (issue 17, first part: the real world's data and grading, before its models).

MATH has no per-step truth: analyses that need it (the verifier ladder's cell AUC, the perfect checker) cannot
run on it and must say so. Its `level` (1-5) is the nominal difficulty notebook 02 compares the oracle bins with.

Use: `problems = load_problems("HuggingFaceH4/MATH-500")` (or a local parquet / JSON path with the same
columns); `prompt(problem, tokenizer)`; `grade(problem, completion)`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ttc.core.config import ConfigError
from ttc.world.math_grading import Verdict, judge

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


class BadDataFile(ConfigError):
    """A local data set that cannot be read as it is: the message names the file (and line, where there is one)."""


def _json_records(path: Path, data: bytes) -> list:
    """A .json file's records (a list of objects, or columns as pandas writes them) or a .jsonl file's, one
    object a line; what cannot be read is named by its line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise BadDataFile(f"{path}: line {line} is not UTF-8 text") from None
    if path.suffix == ".json":
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise BadDataFile(f"{path} is not JSON ({first_line(e)})") from None
        if isinstance(obj, dict) and all(isinstance(v, (dict, list)) for v in obj.values()):
            import pandas as pd

            return pd.DataFrame(obj).to_dict("records")  # columns, as DataFrame.to_json writes them
        if not isinstance(obj, list):
            raise BadDataFile(f"{path} holds a JSON {type(obj).__name__}: give a list of problems (objects)")
        return obj
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError as e:
            raise BadDataFile(f"{path}: line {number} is not JSON ({first_line(e)})") from None
        if not isinstance(records[-1], dict):
            raise BadDataFile(f"{path}: line {number} is a JSON {type(records[-1]).__name__}, not a problem (an object)")
    return records


def _read_local(path: Path):
    import pandas as pd

    if path.suffix not in (".parquet", ".json", ".jsonl"):
        raise ConfigError(f"{str(path)!r} is neither .parquet, .json nor .jsonl: give the data set in one of those "
                          "forms")
    if path.suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except Exception as e:  # pyarrow's errors for a damaged or empty file differ by version
            raise BadDataFile(f"{path} is not a readable parquet file ({first_line(e)})") from None
    records = _json_records(path, path.read_bytes())
    if not all(isinstance(r, dict) for r in records):
        raise BadDataFile(f"{path}: every problem must be a JSON object")
    return pd.DataFrame.from_records(records)


def _blank(value) -> bool:
    """A value that holds nothing: null (None, NaN, pandas' NA) or empty text."""
    try:
        import pandas as pd

        if pd.isna(value):
            return True
    except (TypeError, ValueError):  # a list or an array is not one missing value
        return False
    return isinstance(value, str) and not value.strip()


def _problems(table, source: str) -> list[MathProblem]:
    """The table's rows as problems, each row checked: no null or empty problem or gold answer, a MATH level."""
    if len(table) == 0:
        raise BadDataFile(f"the data set {source!r} has no problems (0 rows)")
    ids = table["unique_id"].astype(str) if "unique_id" in table.columns else [f"math-{i}" for i in range(len(table))]
    out = []
    for row, (i, r) in enumerate(zip(ids, table.itertuples())):
        where = f"the data set {source!r}, row {row} (id {i!r})"
        for column in ("problem", "answer"):
            value = getattr(r, column)
            if _blank(value):
                shown = repr(value) if isinstance(value, str) else "null"
                raise BadDataFile(f"{where}: its {column} is {shown}; every problem needs a problem and a gold "
                                  f"answer (fix or drop the row)")
        try:
            level = _level(r.level)
        except ConfigError as e:
            raise BadDataFile(f"{where}: {e}") from None
        out.append(MathProblem(str(i), str(r.problem), str(r.solution), str(r.answer), level, str(r.subject)))
    return out


def load_problems(source: str = HUB_NAME, split: str = "test") -> list[MathProblem]:
    """The problems of a MATH-style data set: a local parquet / JSON / JSON-lines file, or a hub name loaded
    with `datasets.load_dataset` (from the cache when offline). Checked whole before any work starts: a missing
    data set or column, a file that cannot be read (named with its line, where there is one), or a row without a
    problem or gold answer is one clear error, not a traceback from inside a library."""
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
    if missing and len(table):
        raise ConfigError(f"the data set {source!r} lacks the columns {missing}; a MATH-style set has {list(COLUMNS)}")
    return _problems(table, source)


def prompt(problem: MathProblem, tokenizer=None) -> str:
    """The step-by-step prompt: the tokenizer's chat template when it has one, else plain text."""
    text = f"{INSTRUCTION}\n\nProblem: {problem.problem}"
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                             add_generation_prompt=True)
    return f"{text}\n\nSolution:\n"


def last_boxed(text) -> str | None:
    """The contents of the last `\\boxed{...}` (or `\\fbox{...}`) in `text`, braces balanced; None when there is
    none, the last one never closes, or `text` is not a string. Never raises."""
    if not isinstance(text, str):
        return None
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


def verdict(gold, answer) -> Verdict:
    """Whether `answer` equals `gold` as mathematics (math-verify: `\\frac{1}{2}` equals 0.5), decided within a
    bound or said to be undecided (`ttc.world.math_grading`); never raises."""
    return judge(gold, answer)


def equivalent(gold, answer) -> bool:
    """`verdict(...).correct`: an undecided grade counts as not correct."""
    return judge(gold, answer).correct


def grade(problem: MathProblem, completion) -> bool:
    """Is the completion's last boxed answer right? Never raises."""
    return equivalent(problem.answer, last_boxed(completion))
