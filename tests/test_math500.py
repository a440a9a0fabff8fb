"""MATH-style problems from a local file, the last boxed answer, and grading with math-verify (no network)."""

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttc.core.config import ConfigError
from ttc.world.math500 import MissingResource, equivalent, grade, last_boxed, load_problems, prompt
from conftest import offline_error

FIXTURE = [  # (problem, gold answer, a completion, whether it is right)
    ("What is 1/2 as a decimal?", "0.5", "One half.\n\nSo \\boxed{\\frac{1}{2}}", True),
    ("What is sin 45 degrees?", "\\frac{\\sqrt2}{2}", "A known value.\n\n\\boxed{\\sqrt{2}/2}", True),
    ("What is 2 + 3?", "5", "2 + 3 = 6.\n\n\\boxed{6}", False),
    ("Solve x^2 = 4 for x > 0.", "2", "x = 2, but no box", False),
    ("What is 10/4?", "\\frac{5}{2}", "First \\boxed{3}, then again.\n\n\\boxed{2.5}", True),
]


@pytest.fixture
def math_file(tmp_path):
    path = tmp_path / "math.parquet"
    pd.DataFrame([{"problem": q, "solution": c, "answer": a, "level": f"Level {1 + i % 5}", "subject": "Algebra",
                   "unique_id": f"test/algebra/{i}.json"} for i, (q, a, c, _) in enumerate(FIXTURE)]).to_parquet(path)
    return path


def test_a_local_math_file_is_read_and_graded_through_math_verify(math_file):
    problems = load_problems(str(math_file))
    assert [p.level for p in problems] == [1, 2, 3, 4, 5] and problems[0].id == "test/algebra/0.json"
    # equal only after normalisation: 1/2 and 0.5, sqrt(2)/2 and \frac{\sqrt2}{2}, 2.5 and 5/2
    assert [grade(p, c) for p, (_, _, c, _) in zip(problems, FIXTURE)] == [right for *_, right in FIXTURE]
    assert "\\boxed{answer}" in prompt(problems[0]) and problems[0].problem in prompt(problems[0])


def test_json_lines_and_missing_columns(tmp_path):
    path = tmp_path / "math.jsonl"
    pd.DataFrame([{"problem": "1+1?", "solution": "2", "answer": "2", "level": 1, "subject": "Prealgebra"}]).to_json(
        path, orient="records", lines=True)
    assert load_problems(str(path))[0].id == "math-0"
    pd.DataFrame([{"problem": "1+1?", "answer": "2"}]).to_json(path, orient="records", lines=True)
    with pytest.raises(ConfigError, match=r"lacks the columns \['solution', 'level', 'subject'\]"):
        load_problems(str(path))
    with pytest.raises(MissingResource, match="no such file"):
        load_problems(str(tmp_path / "absent.parquet"))


def test_the_last_boxed_answer():
    assert last_boxed("\\boxed{1} and \\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
    assert last_boxed("\\fbox{7}") == "7" and last_boxed("no box") is None
    assert last_boxed("\\boxed{\\frac{1}{2}") is None  # never closed
    assert not equivalent("5", None)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("\\boxed{}fba 12/^_$")), max_size=40) | st.text(max_size=40))
def test_extraction_never_raises_and_returns_balanced_contents(text):
    found = last_boxed(text)
    assert found is None or (found.count("{") == found.count("}") and found in text)


def test_offline_a_missing_data_set_is_one_clear_error():
    out = offline_error("from ttc.world.math500 import load_problems\n"
                        "try:\n"
                        "    load_problems('nobody/no-such-math-set')\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    assert out.startswith("MissingResource") and "nobody/no-such-math-set" in out
    assert "HF_HUB_OFFLINE=1 (now '1')" in out and "HF_HOME" in out and "local parquet or JSON" in out


def rows(n=3, **change):
    base = [{"problem": f"{i}+1?", "solution": "s", "answer": str(i + 1), "level": 1, "subject": "Algebra",
             "unique_id": f"t/{i}"} for i in range(n)]
    for i, fields in change.items():
        base[int(i.removeprefix("row"))].update(fields)
    return base


@pytest.mark.parametrize("answer", [None, float("nan"), "", "  "])
def test_a_null_or_empty_gold_answer_is_refused_naming_its_row(tmp_path, answer):
    path = tmp_path / "math.parquet"
    pd.DataFrame(rows(row1={"answer": answer})).to_parquet(path)
    with pytest.raises(ConfigError, match=r"math.parquet', row 1 \(id 't/1'\): its answer is .* gold answer"):
        load_problems(str(path))
    path = tmp_path / "math.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows(row2={"answer": None})))
    with pytest.raises(ConfigError, match=r"row 2 \(id 't/2'\): its answer is null"):
        load_problems(str(path))


@pytest.mark.parametrize("name, data, message", [
    ("math.parquet", b"", r"math.parquet is not a readable parquet file"),
    ("math.parquet", b"PAR1garbage", r"math.parquet is not a readable parquet file"),
    ("math.json", b"", r"math.json is not JSON"),
    ("math.json", b'{"a": 1', r"math.json is not JSON"),
    ("math.json", b'"text"', r"math.json holds a JSON str"),
    ("math.jsonl", b'{"problem": "a"}\n{"problem": "b", "answer": "\xff\xfe"}\n', r"math.jsonl: line 2 is not UTF-8"),
    ("math.jsonl", b'{"problem": "a"}\n{"problem": "b", "ans', r"math.jsonl: line 2 is not JSON"),
    ("math.jsonl", b'{"problem": "a"}\n\n[1, 2]\n', r"math.jsonl: line 3 is a JSON list"),
    ("math.jsonl", b"", r"has no problems \(0 rows\)"),
])
def test_a_bad_data_file_is_named_with_its_line(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=message):
        load_problems(str(path))


def test_a_zero_row_file_is_refused_before_any_model_loads(tmp_path):
    path = tmp_path / "math.parquet"
    pd.DataFrame(rows()).iloc[:0].to_parquet(path)
    with pytest.raises(ConfigError, match=r"has no problems \(0 rows\)"):
        load_problems(str(path))
    path = tmp_path / "math.json"
    pd.DataFrame(rows()).to_json(path)  # pandas' own JSON (columns) reads back
    assert [p.answer for p in load_problems(str(path))] == ["1", "2", "3"]
