"""MATH-style problems from a local file, the last boxed answer, and grading with math-verify (no network)."""

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
