"""Grading MATH answers within a bound (issue 34): 50 nasty inputs, each graded without an exception and without
passing its bound, and never with a confident wrong verdict; what cannot be decided says so."""

import concurrent.futures
import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttc.world.math_grading import MAX_BITS, Verdict, exact_value, judge
from ttc.world.math500 import grade, last_boxed, MathProblem


def frac_tower(n):
    return "\\frac{1}{" * n + "1" + "}" * n

T, F = True, False
CASES = [  # (gold, answer, truth, must be decided)
    ("1", r"10^{10^{10^{10}}}", F, F),
    ("1", r"9^{9^{9}}", F, F),
    (r"9^{9^{9}}", r"9^{9^{9}}", T, T),
    ("1", "{" * 10000 + "1" + "}" * 10000, T, F),
    ("x", "x+" * 300000 + "x", F, F),
    ("1", "(" * 5000 + "1" + ")" * 5000, T, F),
    (r"2^{2^{16}}", r"2^{65536}", T, T),
    (r"2^{2^{2^{2^{2}}}}", r"2^{65536}", T, T),
    ("1", frac_tower(200), T, F),
    ("1", frac_tower(100), T, F),
    ("1", frac_tower(10), T, T),
    ("5", None, F, T),
    ("5", b"5", T, F),
    (None, "5", F, F),
    ("5", 5, T, F),
    ("\\frac{1}{2}", "0.5", T, T),
    ("0.5", "\\frac{1}{2}", T, T),
    ("5", "\\frac{1}{", F, F),
    ("3", "", F, F),
    ("3", " ", F, F),
    ("3", "\x00", F, F),
    ("3", "\\", F, F),
    ("3", "}{", F, F),
    ("3", "$$$", F, F),
    ("-3", "3", F, T),
    ("3", "-(-3)", T, T),
    ("2^{10}", "1024", T, T),
    ("10^{100}", "10^{100}+1", F, T),
    ("10^{1000}", "10^{999}\\cdot 10", T, T),
    ("1", "1^{10^{10^{10}}}", T, F),
    ("1", "(-1)^{10^{10}}", T, T),
    ("-1", "(-1)^{10^{10}+1}", T, T),
    ("\\infty", "\\infty", T, T),
    ("x^2+1", "1+x^2", T, F),
    ("(1,2)", "(1, 2)", T, T),
    ("5", "\\frac{10}{2}", T, T),
    ("5", "\\frac{10}{0}", F, F),
    ("5", "10/0", F, F),
    ("2", "2" + " " * 100000, T, T),
    ("7", "7" * 5000, F, F),
    ("x", "\\left(" * 60 + "x" + "\\right)" * 60, T, F),
    ("3", "3.0", T, F),
    ("0", "2^{-10^{10}}", F, F),
    ("x", "x^{9^{9^{9}}}", F, F),
    ("\\frac{5}{2}", "2.5", T, T),
    ("\\sqrt{2}/2", "\\frac{\\sqrt2}{2}", T, F),
    ("12", "\\dfrac{24}{2}", T, T),
    ("12", "\\left(12\\right)", T, T),
    ("2", "\\boxed{2}", T, F),
    ("3", "\udcff", F, F),
    ("1", "100000000!", F, F),  # math-verify computes it in C: the worker is stopped at its deadline
    ("1", "\\sqrt{2}^{2^{40}}", F, F),
]
TIMEOUT = 3.0  # math-verify's deadline here; a grade's bound is that plus starting a worker
GUARD = TIMEOUT + 60  # the harness's wall clock: a grade past it has hung


def judged(gold, answer) -> tuple[Verdict, float]:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        start = time.monotonic()
        verdict = pool.submit(judge, gold, answer, TIMEOUT).result(timeout=GUARD)
        return verdict, time.monotonic() - start


def test_fifty_nasty_inputs_are_graded_within_the_bound_and_never_confidently_wrong():
    assert len(CASES) >= 40
    slow = []
    for gold, answer, truth, must_decide in CASES:
        verdict, seconds = judged(gold, answer)
        case = f"{str(gold)[:30]!r} vs {str(answer)[:30]!r}: {verdict}"
        assert not verdict.decided or verdict.correct == truth, case
        assert verdict.decided or (verdict.note and not verdict.correct), case
        assert verdict.decided or not must_decide, case
        if seconds > TIMEOUT + 1:
            slow.append(case)
    assert len(slow) <= 2, slow  # at most the worker starts (once at first, once after each stopped grade)
    # after a stopped worker, the next grade starts a new one and is decided
    assert judged("\\frac{1}{2}", "0.5")[0] == Verdict(True)


def test_power_towers_are_decided_exactly_or_said_too_large():
    assert exact_value("2^{2^{2^{2^{2}}}}") == 2 ** 65536 == exact_value("2^{65536}")
    assert exact_value("\\frac{1}{\\frac{1}{3}} - (-1)^{3}") == 4
    assert judge("1", "9^{9^{9}}").note.endswith(f"too large to compare (over {MAX_BITS} bits)")
    assert judge("1", "(-1)^{10^{10}}") == Verdict(True)
    # every result is bounded, not only a power's: a sum of fractions each within the bound would pass it
    near = MAX_BITS - 1
    terms = "+".join(f"\\frac{{1}}{{{p}^{{{int(near / math.log2(p))}}}}}" for p in (2, 3, 5, 7, 11, 13, 17, 19))
    assert judge("1", terms).note.endswith(f"too large to compare (over {MAX_BITS} bits)")


def test_a_missing_or_foreign_answer_is_graded_not_raised():
    problem = MathProblem("p", "1+1?", "", "2", 1, "Algebra")
    assert not grade(problem, None) and last_boxed(None) is None and last_boxed(b"\\boxed{2}") is None
    assert grade(problem, "so \\boxed{2}") and not grade(problem, b"\\boxed{2}")
    assert judge("2", None) == Verdict(False, True, "no answer")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789+-*/^(){}\\frac \\cdot")), max_size=30))
def test_arithmetic_read_exactly_agrees_with_itself_written_twice(text):
    # whatever the text, a grade is a verdict; a text equals itself, decided
    assert judge(text, text) == Verdict(True)
    verdict = judge("0", text, timeout=TIMEOUT)
    assert isinstance(verdict, Verdict) and (verdict.decided or verdict.note)


def test_a_worker_that_ended_is_replaced_and_one_that_ends_mid_grade_says_so(monkeypatch):
    from ttc.world import math_grading as G

    assert judge("\\frac{1}{2}", "0.5") == Verdict(True)  # a worker is running
    G._worker.process.kill()
    G._worker.process.wait()
    assert judge("\\frac{1}{2}", "0.5") == Verdict(True)  # replaced before the grade
    worker = G._worker.process

    def dies_instead_of_answering(timeout):
        worker.kill()
        worker.wait()
        return ""

    monkeypatch.setattr(G._worker, "_line", dies_instead_of_answering)
    assert judge("\\frac{1}{2}", "0.5").note == "math-verify failed (its worker ended)"
    monkeypatch.undo()
    assert judge("\\frac{1}{2}", "0.5") == Verdict(True)
