"""Turning N scored samples into one answer: step aggregation and answer selection (App. E, Sec. 5.1).

A verifier gives one score per step of a sample; `aggregate` folds them into
the sample's score (the paper's default is the last step's). Selection then
picks one answer among the N samples' answers: majority vote, best-of-N (the
single highest score) or best-of-N weighted (the highest summed score over
samples that share an answer). A sample without an answer (None) is never
picked while some sample has one.

Use: `select("weighted", answers, scores)`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Callable, Literal, Sequence

from ttc.core.config import ConfigError

Aggregation = Literal["last", "min", "prod"]
SelectionRule = Literal["majority", "best_of_n", "weighted"]
AGGREGATIONS: tuple[str, ...] = ("last", "min", "prod")
SELECTION_RULES: tuple[str, ...] = ("majority", "best_of_n", "weighted")


def aggregate(step_scores: Sequence[float], how: Aggregation = "last") -> float:
    """One score for a sample from its per-step scores; a sample with no steps scores 0."""
    if how not in AGGREGATIONS:
        raise ConfigError(f"aggregation {how!r} is not known; use one of {AGGREGATIONS}")
    if len(step_scores) == 0:
        return 0.0
    if how == "last":
        return float(step_scores[-1])
    if how == "min":
        return float(min(step_scores))
    return float(math.prod(step_scores))


def _first_best(totals: dict[str, float], order: list[str]) -> str:
    # Ties go to the answer seen first, so that selection is deterministic given the sample order.
    best = max(totals.values())
    return next(a for a in order if totals[a] == best)


def majority(answers: Sequence[str | None], scores: Sequence[float] | None = None) -> str | None:
    counts: dict[str, float] = defaultdict(float)
    order = []
    for a in answers:
        if a is not None:
            if a not in counts:
                order.append(a)
            counts[a] += 1
    return _first_best(counts, order) if counts else None


def best_of_n(answers: Sequence[str | None], scores: Sequence[float]) -> str | None:
    best, best_score = None, -math.inf
    for a, s in zip(answers, scores, strict=True):
        if a is not None and s > best_score:
            best, best_score = a, s
    return best


def weighted(answers: Sequence[str | None], scores: Sequence[float]) -> str | None:
    totals: dict[str, float] = defaultdict(float)
    order = []
    for a, s in zip(answers, scores, strict=True):
        if a is not None:
            if a not in totals:
                order.append(a)
            totals[a] += s
    return _first_best(totals, order) if totals else None


RULES: dict[str, Callable[..., str | None]] = {"majority": majority, "best_of_n": best_of_n, "weighted": weighted}


def select(rule: SelectionRule, answers: Sequence[str | None], scores: Sequence[float] | None = None) -> str | None:
    if rule not in RULES:
        raise ConfigError(f"selection rule {rule!r} is not known; use one of {SELECTION_RULES}")
    if rule != "majority" and scores is None:
        raise ConfigError(f"selection rule {rule!r} needs a score per sample")
    return RULES[rule](answers, scores)
