"""Compute accounting, in one place: what a model processes, and what pretraining costs.

The study's rules (the paper's): a forward pass costs 2 x parameters FLOPs per
token processed, read or generated (`processing_flops`); pretraining costs
6 x parameters x tokens (`pretraining_flops`). A `Ledger` counts what a step
spent as it spends it: generations, prompt, generated and verifier tokens,
and FLOPs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


def processing_flops(n_parameters: int, tokens: float) -> float:
    """The study's FLOPs rule: 2 x parameters per token a model processes (read or generated)."""
    return 2.0 * n_parameters * tokens


@dataclass
class Ledger:
    """Compute spent, counted as it is spent. FLOPs follow `processing_flops`."""

    generations: int = 0  # sequences started (one sample, or one step continuation)
    prompt_tokens: int = 0  # prompt tokens processed before sampling
    generated_tokens: int = 0  # tokens sampled, stop tokens included
    verifier_tokens: int = 0  # tokens a verifier read
    flops: float = 0.0

    def __iadd__(self, other: "Ledger") -> "Ledger":
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def as_dict(self) -> dict:
        return asdict(self)


def pretraining_flops(n_parameters: int, tokens: int) -> int:
    """The paper's pretraining FLOPs, 6 N D."""
    return 6 * n_parameters * tokens
