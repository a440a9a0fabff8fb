"""Mistaken attempts: worked solutions with one wrong step, carried through to a wrong answer.

A model of this world errs by writing one step's result wrong (a table entry it does not hold, a carry it
drops) and then computing on, correctly, from the wrong value. `mistaken_solution` writes such an attempt:
the steps before a random step as they are, that step with a wrong result (`Family.misstep`), and every
later step right given the ones before it (`Family.expected_step`), so the world's own checker marks the
attempt right up to the slip and off track from it (`check_steps`, `on_track`).

Retry documents (`ttc.models.pretrain`, `PretrainConfig.retry_share`) put one to four of them before a
question's worked solution, in the revision model's prompt format (`ttc.world.text.attempts_context`): a base
pretrained on them has read earlier attempts before writing a solution, as a revision model must
(Physics of Language Models 2.2, arXiv 2408.16293: data with mistakes and their corrections in pretraining).

Use: `mistaken_solution(problem, random.Random(seed))` -> the attempt's text, or None.
"""

from __future__ import annotations

import random

from ttc.world import synthetic as W
from ttc.world import text as T

TRIES = 16
"""Draws of (step, wrong value) before giving up on a problem: a wrong value can reach the right answer (x*0 and
x*5 mod 10 forget it), and an attempt in a retry document must be wrong."""


def mistaken_steps(problem: W.Problem, rng: random.Random) -> tuple[list[str], str] | None:
    """(steps, answer) of an attempt at `problem` with one wrong step and a wrong answer, or None when `TRIES`
    draws all reached the right answer."""
    if not problem.steps:
        return None
    family = W.FAMILIES[problem.family]
    parsed = family.parse_question(problem.question)
    for _ in range(TRIES):
        at = rng.randrange(len(problem.steps))
        steps = list(problem.steps[:at]) + [family.misstep(problem.steps[at], parsed, rng)]
        while (step := family.expected_step(parsed, steps)) is not None:
            steps.append(step)
        answer = family.answer(parsed, steps)
        if answer != problem.answer:
            return steps, answer
    return None


def mistaken_solution(problem: W.Problem, rng: random.Random) -> str | None:
    """An attempt's text (`ttc.world.text.solution_text`) with one wrong step and a wrong answer, or None."""
    drawn = mistaken_steps(problem, rng)
    return None if drawn is None else T.solution_text(*drawn)
