"""The text format: answer extraction, lines, rendering and revision contexts."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttc.world import text as T


@given(st.text())
@settings(max_examples=300)
def test_extract_answer_never_raises(text):
    answer = T.extract_answer(text)
    assert answer is T.NO_ANSWER or (answer.isascii() and answer.isdigit())


@given(st.lists(st.text(alphabet="0123456789+-*= ", max_size=12), max_size=6), st.integers(0, 10**9))
def test_extract_answer_finds_the_answer_line(steps, answer):
    assert T.extract_answer(T.solution_text(steps, str(answer))) == str(answer)


@given(st.text(alphabet="0123456789+-*=AQ: \n").filter(lambda t: not any(l.startswith("A:") for l in t.split("\n"))))
def test_no_answer_line_means_no_answer(text):
    assert T.extract_answer(text) is T.NO_ANSWER


@pytest.mark.parametrize("bad", [None, 3, b"A: 1", ["A: 1"]])
def test_extract_answer_on_non_text(bad):
    assert T.extract_answer(bad) is T.NO_ANSWER


def test_malformed_answer_lines_are_no_answer():
    for text in ["A:", "A: 12x", "A: -3", "A: 1 2", "steps\nA: \nA: 5"]:
        assert T.extract_answer(text) is T.NO_ANSWER


@pytest.mark.parametrize("digits", ["\u0661\u0662", "\uff11\uff12", "1\u0662", "\u09e7"])
def test_only_ascii_digits_are_an_answer(digits):
    # Arabic-Indic, full-width and Bengali digits are digits to Python's `\d` and `int`, not to a grader.
    assert T.extract_answer(f"A: {digits}") is T.NO_ANSWER


def test_solution_lines_and_render_round_trip():
    assert T.solution_lines("1+2=3\nA: 3") == ["1+2=3", "A: 3"]
    assert T.solution_lines("1+2=3\n") == ["1+2=3"]
    assert T.solution_lines("") == []
    assert T.render("Q: 1+2\n", ["1+2+0=3", "A: 3"]) == "Q: 1+2\n1+2+0=3\nA: 3\n"
    assert T.prompt("1+2") == "Q: 1+2\n"
    assert T.has_answer_line(["1+2=3", "A: 3"]) and not T.has_answer_line(["1+2=3"])


@given(st.lists(st.lists(st.text(alphabet="0123456789+=", min_size=1, max_size=8), max_size=4), min_size=1, max_size=5),
       st.integers(0, 99))
def test_a_revision_context_reads_the_newest_attempt_only(attempts, answer):
    texts = [T.solution_text(steps, str(i)) for i, steps in enumerate(attempts)]
    context = T.attempts_context("1+2", texts[:-1])
    assert context.startswith(T.prompt("1+2"))
    completion = context[len(T.prompt("1+2")):] + texts[-1]
    assert T.split_attempts(completion) == texts
    assert T.extract_answer(T.newest_attempt(completion)) == str(len(attempts) - 1)
    # An older attempt's answer line comes first in the text, and is never the chain's answer.
    if len(attempts) > 1:
        assert T.extract_answer(completion) == "0"
