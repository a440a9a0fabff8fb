"""The step-by-step protocol every world speaks: how a problem is prompted, how a completion splits into steps
and is rendered back, when a solution is finished, and how its answer is read and graded.

Search, the pool and the verifiers' callers go through a world, so the same code runs on the synthetic world
(`SyntheticWorld`: one step per line, an `A:` answer line, exact grading, and a truth for every step) and on
MATH (`MathWorld`: steps separated by blank lines, the answer in the last `\\boxed{}`, graded by math-verify,
and no per-step truth, so analyses that need one say so and are skipped).

Use: `world = SyntheticWorld()` (the default everywhere) or `MathWorld(tokenizer)`; then `world.prompt(p)`,
`world.steps(text)`, `world.render(prompt, steps)`, `world.finished(steps)`, `world.answer(text)`,
`world.correct(problem, answer)` (`world.verdict`: with whether it was decided); the sampler stops a step at `world.separator`.
"""

from __future__ import annotations

from typing import Protocol

from ttc.world import math500 as M
from ttc.world import synthetic as W
from ttc.world import text as T
from ttc.world.math_grading import Verdict


class World(Protocol):
    name: str
    separator: str  # what ends a step: the sampler's stop string for `until="step"`
    has_step_truth: bool  # whether every step's correctness is known (the synthetic world's checker)
    grades_by_equality: bool  # whether an answer is right exactly when it equals the gold answer as written

    def prompt(self, problem) -> str: ...

    def question(self, problem) -> str:
        """What a verifier reads before the steps (the project's verifiers read the policy's prompt; a real
        PRM reads the bare problem and applies its own template)."""

    def steps(self, text: str) -> list[str]: ...

    def render(self, prompt: str, steps: list[str] | tuple[str, ...]) -> str: ...

    def finished(self, steps: list[str] | tuple[str, ...]) -> bool: ...

    def answer(self, text: str) -> str | None: ...

    def correct(self, problem, answer: str | None) -> bool: ...

    def verdict(self, problem, answer: str | None) -> Verdict:
        """`correct`, with whether it was decided and why not (`ttc.world.math_grading.Verdict`)."""


def grading_record(world: World, verdict: Verdict) -> dict:
    """What a table row records of a grade beyond `correct`: nothing where grading is exact, and where it is not
    (MATH) the `grading` note, empty for a decided grade, else why it was left undecided."""
    return {} if world.grades_by_equality else {"grading": verdict.note}


class SyntheticWorld:
    """The synthetic world of `ttc.world.synthetic`, in the study's text format (`ttc.world.text`)."""

    name = "synthetic"
    separator = "\n"
    has_step_truth = True
    grades_by_equality = True

    def prompt(self, problem: W.Problem) -> str:
        return W.prompt(problem)

    def question(self, problem: W.Problem) -> str:
        return W.prompt(problem)

    def steps(self, text: str) -> list[str]:
        return T.solution_lines(text)

    def render(self, prompt: str, steps) -> str:
        return T.render(prompt, steps)

    def finished(self, steps) -> bool:
        return T.has_answer_line(steps)

    def answer(self, text: str) -> str | None:
        return T.extract_answer(text)

    def correct(self, problem: W.Problem, answer: str | None) -> bool:
        return answer is not None and answer == problem.answer

    def verdict(self, problem: W.Problem, answer: str | None) -> Verdict:
        return Verdict(self.correct(problem, answer), True, "no answer" if answer is None else "")


class MathWorld:
    """MATH-style problems (`ttc.world.math500`): the step-by-step prompt (the tokenizer's chat template when it has
    one), steps separated by a blank line, finished at the first step that holds a `\\boxed{}` answer, graded
    by math-verify. Answers are compared as written when votes are counted (best-of-N weighted, majority), as
    search-and-learn does; only grading treats `\\frac{1}{2}` and 0.5 as equal."""

    name = "math500"
    separator = "\n\n"
    has_step_truth = False
    grades_by_equality = False

    def __init__(self, tokenizer=None):
        self.tokenizer = tokenizer

    def prompt(self, problem: M.MathProblem) -> str:
        return M.prompt(problem, self.tokenizer)

    def question(self, problem: M.MathProblem) -> str:
        return problem.problem

    def steps(self, text: str) -> list[str]:
        return [s.strip() for s in text.split(self.separator) if s.strip()]

    def render(self, prompt: str, steps) -> str:
        return prompt + "".join(f"{s}{self.separator}" for s in steps)

    def finished(self, steps) -> bool:
        return any(M.last_boxed(s) is not None for s in steps)

    def answer(self, text: str) -> str | None:
        return M.last_boxed(text)

    def correct(self, problem: M.MathProblem, answer: str | None) -> bool:
        return M.equivalent(problem.answer, answer)

    def verdict(self, problem: M.MathProblem, answer: str | None) -> Verdict:
        return M.verdict(problem.answer, answer)


SYNTHETIC = SyntheticWorld()
WORLDS = ("synthetic", "math500")
