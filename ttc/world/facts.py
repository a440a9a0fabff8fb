"""The facts of the synthetic world: the entries of the letter operators' random tables.

A letter operator (`ModChain`, `WorldConfig.modchain_operators`) is a fixed random table that nothing
computes: a model knows `a <op> b` only by having memorised it. Each step of a worked solution that applies a
letter operator shows one such fact; `fact_steps` lists them, so that notebook 01 can ask of each fact how often
a model was shown it and whether the model holds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ttc.world import synthetic as W

OPERATOR_RANK = {name: i for i, name in enumerate(W.OPERATOR_NAMES)}
"""Each letter operator's frequency rank (0: the most frequent: the world draws the i-th with weight 1/(i+1)^zipf)."""


@dataclass(frozen=True)
class Fact:
    op: str  # a letter operator's name (`OPERATOR_NAMES`)
    a: int
    b: int


@dataclass(frozen=True)
class FactStep:
    """A step of a worked solution that shows a fact: the `step`-th line (0-based) writes `a <op> b = value`."""

    fact: Fact
    value: int
    step: int


def fact_steps(problem: W.Problem) -> list[FactStep]:
    """The steps of `problem`'s worked solution that apply a letter operator, in order (none outside modchain)."""
    if problem.family != "modchain":
        return []
    family = W.FAMILIES["modchain"]
    value, chain, modulus = family.parse_question(problem.question)
    out = []
    for i, (op, b) in enumerate(chain):
        new = family.apply(op, value, b, modulus)
        if op in OPERATOR_RANK:
            out.append(FactStep(Fact(op, value, b), new, i))
        value = new
    return out
