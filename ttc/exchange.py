"""Pretraining against test-time compute (Sec. 7, Fig. 9; notebook 07): the paper's FLOPs-matched exchange, and
an exchange rate over the whole ladder (Jones 2021, arXiv 2104.03113).

- The paper's FLOPs model: pretraining X = 6 N D_pretrain, inference Y = 2 N D_inference. A model M times larger
  costs, over its life, 6 M N D_pretrain + 2 M N D_inference; the smaller model may spend the difference at test
  time, which multiplies its inference compute by M + 3 (D_pretrain / D_inference) (M - 1)
  (`inference_multiplier`, with R = D_inference / D_pretrain).
- `match_budget`: the largest budget that was run within a FLOPs-matched target, and whether the target lies
  beyond what was run.
- `exchange_rate`: the slope of log test-time FLOPs against log pretraining FLOPs at equal accuracy, as the
  test-time FLOPs that 10x more pretraining FLOPs saves, with a 90% interval.

Use: `inference_multiplier(14, 0.16)`; `match_budget(257.75, [1, 4, 16, 64, 256])`;
`exchange_rate(pretrain_flops, test_time_flops)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ttc.config import ConfigError

PAPER_RATIOS = (0.16, 0.79, 22.0)
"""The paper's R = D_inference / D_pretrain: few, balanced and many inference tokens."""
JONES_EXCHANGE_RATE = 15.0
"""Jones (2021), Hex: 10x more training compute replaces about 15x the test-time compute."""


def inference_multiplier(m: float, ratio: float) -> float:
    """How many times its inference compute a model may spend at test time for the lifetime FLOPs of a model `m`
    times larger, at R = D_inference / D_pretrain = `ratio`: M + 3 (M - 1) / R."""
    if not m >= 1:
        raise ConfigError(f"m={m} must be at least 1: the larger model's size over the smaller's")
    if not ratio > 0:
        raise ConfigError(f"ratio={ratio} must be positive: R = D_inference / D_pretrain")
    return m + 3.0 * (m - 1.0) / ratio


@dataclass(frozen=True)
class MatchedBudget:
    target: float  # the FLOPs-matched budget (generations, or any unit the run budgets share)
    budget: int  # the largest run budget at most the target (the smallest run one if none is)
    beyond_run: bool  # the target exceeds every budget that was run: the largest stands in for it
    below_run: bool  # the target is below every budget that was run: the smallest costs more than matched


def match_budget(target: float, budgets: list[int]) -> MatchedBudget:
    """The budget to compare at, for a FLOPs-matched `target`, among the budgets that were run."""
    if not budgets:
        raise ConfigError("no budgets were run: a FLOPs-matched comparison needs at least one")
    if not target > 0:
        raise ConfigError(f"target={target} must be a positive budget")
    ordered = sorted(budgets)
    within = [b for b in ordered if b <= target]
    return MatchedBudget(float(target), within[-1] if within else ordered[0], target > ordered[-1], not within)


@dataclass(frozen=True)
class ExchangeRate:
    slope: float  # d log(test-time FLOPs) / d log(pretraining FLOPs) at equal accuracy (negative: a trade)
    slope_lo: float  # 90% bootstrap interval of the slope, over the points
    slope_hi: float
    points: int

    @property
    def rate(self) -> float:
        """Test-time FLOPs that 10x more pretraining FLOPs replaces: 10 ** -slope."""
        return float(10.0 ** -self.slope)

    @property
    def rate_interval(self) -> tuple[float, float]:
        return float(10.0 ** -self.slope_hi), float(10.0 ** -self.slope_lo)


def exchange_rate(pretrain_flops, test_time_flops, n_boot: int = 1000, seed: int = 0) -> ExchangeRate:
    """Fit log10 test-time FLOPs = a + slope log10 pretraining FLOPs (least squares) over the points at which the
    models reach one accuracy target, with a 90% bootstrap interval over the points."""
    x, y = np.log10(np.asarray(pretrain_flops, dtype=float)), np.log10(np.asarray(test_time_flops, dtype=float))
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or len(np.unique(x)) < 2:
        raise ConfigError(f"an exchange rate needs at least 3 points at 2 or more pretraining budgets; got {len(x)}")
    slope = float(np.polyfit(x, y, 1)[0])
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        i = rng.integers(len(x), size=len(x))
        if len(np.unique(x[i])) > 1:  # a resample at one pretraining budget has no slope
            draws.append(np.polyfit(x[i], y[i], 1)[0])
    lo, hi = np.quantile(draws, [0.05, 0.95])
    return ExchangeRate(slope, float(lo), float(hi), len(x))


def llama_parameters(config) -> int:
    """A Llama-architecture model's parameters, counted from its config alone (the paper's N): the embedding
    (tied to the output head unless the config unties it), per layer the attention's query, key, value and
    output projections and the gated MLP's three matrices and two norms, and the final norm."""
    h, layers, vocab = config.hidden_size, config.num_hidden_layers, config.vocab_size
    head_dim = getattr(config, "head_dim", None) or h // config.num_attention_heads
    q, kv = config.num_attention_heads * head_dim, config.num_key_value_heads * head_dim
    attention = h * q + 2 * h * kv + q * h
    mlp = 3 * h * config.intermediate_size
    embedding = vocab * h * (1 if config.tie_word_embeddings else 2)
    return embedding + layers * (attention + mlp + 2 * h) + h


def lifetime_flops(n_parameters: int, pretrain_tokens: float, ratio: float, multiplier: float = 1.0) -> float:
    """Pretraining (6 N D) plus inference (2 N R D, times how many times its greedy compute it spends at test
    time) of a model over its life, for R = D_inference / D_pretrain."""
    return 6.0 * n_parameters * pretrain_tokens + 2.0 * n_parameters * ratio * pretrain_tokens * multiplier
