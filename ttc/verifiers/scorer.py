"""What search, selection and the studies ask of a verifier: the protocol every scorer implements.

A scorer reads (question prompt, solution lines) pairs and gives one score in [0, 1] per line; it counts what
it reads in its ledger. The project's trained PRM and ORM (`trained.Verifier`), a ladder model's likelihood and
the world's truth (`reference`), the probability PRM and the real PRMs (`prm_adapters`) all implement it, and
tests/test_reference_verifiers.py checks that each does.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ttc.core.compute import Ledger


@runtime_checkable
class Scorer(Protocol):
    ledger: Ledger  # what it read: verifier tokens and their FLOPs (2N per token; 0 for the world's truth)
    n_parameters: int  # the parameters it reads with (0 for the world's truth)

    def score(self, prompts: list[str], lines: list[list[str]]) -> list[list[float]]:
        """Per pair, one score per line: the chance that the solution is still right up to that line."""
        ...

    def score_and_count(self, prompts: list[str], lines: list[list[str]]) -> tuple[list[list[float]], list[int]]:
        """`score`, plus the tokens read for each pair (0 for a repeat of a pair read before in the call)."""
        ...
