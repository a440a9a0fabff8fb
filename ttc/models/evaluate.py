"""Accuracy of a model on a problem set: greedy accuracy and sampled pass@1, graded exactly.

Use: `evaluate(model, tokenizer, problems, n_samples=64, config=EvalConfig())`
returns one row per problem, with the sample counts that later notebooks
need for unbiased pass@k.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ttc.core.compute import Ledger
from ttc.core.config import check_fields, check_range
from ttc.models.sampling import Sampler
from ttc.world import synthetic as W


@dataclass(frozen=True)
class EvalConfig:
    n_samples_policy: int = 64  # samples per problem for the policy (its pass@1 spread matters most)
    n_samples_other: int = 16  # samples per problem for the other ladder sizes
    temperature: float = 1.0
    batch_size: int = 256
    max_new_tokens: int = 224
    seed: int = 0

    def __post_init__(self):
        check_fields(self)
        check_range(self, "n_samples_policy", 1)
        check_range(self, "n_samples_other", 1)
        check_range(self, "temperature", 0.0, 10.0)
        check_range(self, "batch_size", 1)
        check_range(self, "max_new_tokens", 1)


def evaluate(model, tokenizer, problems: list[W.Problem], n_samples: int, config: EvalConfig,
             ledger: Ledger | None = None) -> pd.DataFrame:
    sampler = Sampler(model, tokenizer, batch_size=config.batch_size, max_new_tokens=config.max_new_tokens,
                      ledger=ledger)
    prompts = [W.prompt(p) for p in problems]
    greedy = sampler.sample(prompts, n=1, temperature=0.0)
    sampled = sampler.sample(prompts, n=n_samples, temperature=config.temperature, seed=config.seed)
    prompt_tokens = [len(ids) for ids in tokenizer(prompts)["input_ids"]]
    rows = []
    for p, g, s, t in zip(problems, greedy, sampled, prompt_tokens):
        correct = sum(W.grade(p, c.text) for c in s)
        rows.append({
            "problem_id": p.id, "family": p.family, "level": p.level, "n_steps": len(p.steps),
            "greedy_correct": W.grade(p, g[0].text), "greedy_prompt_tokens": t, "greedy_tokens": g[0].n_tokens,
            "n_samples": n_samples, "n_correct": correct,
            "pass1": correct / n_samples, "mean_tokens": sum(c.n_tokens for c in s) / n_samples,
        })
    return pd.DataFrame(rows)
