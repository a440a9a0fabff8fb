"""Pretraining against test-time compute (Sec. 7, Fig. 9; notebook 07): the paper's FLOPs-matched exchange, and
an exchange rate over the whole ladder (Jones 2021, arXiv 2104.03113).

- The paper's FLOPs model: pretraining X = 6 N D_pretrain, inference Y = 2 N D_inference. A model M times larger
  costs, over its life, 6 M N D_pretrain + 2 M N D_inference; the smaller model may spend the difference at test
  time, which multiplies its inference compute by M + 3 (D_pretrain / D_inference) (M - 1)
  (`inference_multiplier`, with R = D_inference / D_pretrain).
- `match_budget`: the largest budget that was run within a FLOPs-matched target, and whether the target lies
  beyond what was run.
- The same exchange in the ledger's exact FLOPs (`matched_flops`): at R, a model answers
  Q = R D_pretrain / t queries of t tokens over its life (`queries`); the smaller model may spend per query the
  larger model's inference FLOPs plus its extra pretraining FLOPs spread over those queries.
- `exchange_rate`: the slope of log test-time FLOPs against log pretraining FLOPs at equal accuracy, as the
  test-time FLOPs that 10x more pretraining FLOPs saves, with a 90% interval; `pooled_slope` fits one slope
  over many accuracy targets at once (each target its own intercept).
- `frontier` and `cost_to_reach`: the cheapest way a model reaches an accuracy, among the strategies it ran.

Use: `inference_multiplier(14, 0.16)`; `match_budget(257.75, [1, 4, 16, 64, 256])`;
`exchange_rate(pretrain_flops, test_time_flops)`; `cost_to_reach(flops, accuracy, 0.8)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ttc.core.config import ConfigError, as_tuple, check_fields, check_range

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


def match_budget(target: float, budgets: list[int], costs: list[float] | None = None) -> MatchedBudget:
    """The budget to compare at, for a FLOPs-matched `target`, among the budgets that were run: the largest
    whose cost is at most the target. The cost of a budget is the budget itself (generations), or `costs`
    (e.g. its mean ledger FLOPs per query, with `target` in FLOPs). A target of 0 or less (the smaller side has
    already spent more pretraining FLOPs than the larger model's whole life costs, as when its verifier is the larger
    model itself) lies below every budget: the smallest stands in, marked `below_run`."""
    if not budgets:
        raise ConfigError("no budgets were run: a FLOPs-matched comparison needs at least one")
    if not np.isfinite(target):
        raise ConfigError(f"target={target} must be a finite budget")
    costs = list(budgets) if costs is None else list(costs)
    if len(costs) != len(budgets):
        raise ConfigError(f"{len(costs)} costs for {len(budgets)} budgets: give one cost per budget")
    ordered = sorted(zip(costs, budgets))
    within = [b for c, b in ordered if c <= target]
    return MatchedBudget(float(target), within[-1] if within else ordered[0][1], target > ordered[-1][0], not within)


def queries(ratio: float, pretrain_tokens: float, query_tokens: float) -> float:
    """Queries a model answers over its life at R = D_inference / D_pretrain = `ratio`, when one query (read and
    answered greedily) is `query_tokens` tokens: R D_pretrain / t."""
    if not query_tokens > 0:
        raise ConfigError(f"query_tokens={query_tokens} must be positive")
    inference_multiplier(1, ratio)  # a positive ratio
    return ratio * pretrain_tokens / query_tokens


def matched_flops(larger_query_flops: float, larger_pretrain_flops: float, smaller_pretrain_flops: float,
                  n_queries: float) -> float:
    """Test-time FLOPs per query the smaller side may spend for the larger model's lifetime FLOPs, over
    `n_queries` queries: the larger model's per-query FLOPs plus the pretraining FLOPs it costs beyond the
    smaller side's (which holds everything that side pretrained: the policy, and a verifier of its own)."""
    if not n_queries > 0:
        raise ConfigError(f"n_queries={n_queries} must be positive")
    return larger_query_flops + (larger_pretrain_flops - smaller_pretrain_flops) / n_queries


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


def pooled_slope(target, log_pretrain, log_test_time) -> float:
    """One least-squares slope of log test-time FLOPs against log pretraining FLOPs over points at several
    accuracy targets, each target with its own intercept (the within-target fit); nan when no target has two
    pretraining budgets."""
    frame = np.stack([np.asarray(log_pretrain, float), np.asarray(log_test_time, float)], axis=1)
    target = np.asarray(target)
    sxy = sxx = 0.0
    for t in np.unique(target):
        x, y = frame[target == t, 0], frame[target == t, 1]
        sxy += float(((x - x.mean()) * (y - y.mean())).sum())
        sxx += float(((x - x.mean()) ** 2).sum())
    return sxy / sxx if sxx > 0 else float("nan")


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


def frontier_index(costs, accuracies) -> np.ndarray:
    """The positions of the points no cheaper point matches, by cost (ties: the most accurate), each strictly
    more accurate than every cheaper one."""
    costs, accuracies = np.asarray(costs, dtype=float), np.asarray(accuracies, dtype=float)
    keep, best = [], -np.inf
    for i in np.lexsort((-accuracies, costs)):
        if accuracies[i] > best:
            keep.append(int(i))
            best = accuracies[i]
    return np.array(keep, dtype=int)


def frontier(costs, accuracies) -> tuple[np.ndarray, np.ndarray]:
    """The frontier's (cost, accuracy) points, cheapest first (`frontier_index`)."""
    keep = frontier_index(costs, accuracies)
    return np.asarray(costs, dtype=float)[keep], np.asarray(accuracies, dtype=float)[keep]


@dataclass(frozen=True)
class Reach:
    cost: float  # the cost at which the frontier first reaches the target (nan: never)
    interior: bool  # reached between two points run: the cost is measured, not bounded
    # when not interior and reached: the cheapest strategy run is already at the target, so the cost is at most
    # `cost` (a bound, not a measurement)


def cost_to_reach(costs, accuracies, target: float) -> Reach:
    """The cheapest cost at which a model's strategies (one cost and accuracy each) reach `target`: on their
    frontier, interpolated linearly in log cost between the last point below and the first at or above it."""
    from ttc.methods.compute_optimal import match

    c, a = frontier(costs, accuracies)
    if not len(c):
        raise ConfigError("no strategies: a model needs at least one (cost, accuracy) point")
    reached = match(c, a, target)
    # on the frontier (increasing accuracy), reached and not a bound is exactly a[0] < target <= a[-1]
    return Reach(reached.budget, bool(np.isfinite(reached.budget) and not reached.bound))


@dataclass(frozen=True)
class ExchangeConfig:
    """Notebook 07: the FLOPs-matched comparison against a larger ladder model, and the exchange rate over the
    ladder from a pool of samples of every model on common test problems (drawn with notebook 02's pool
    settings)."""

    ratios: tuple[float, ...] = PAPER_RATIOS  # R = D_inference / D_pretrain
    larger: str = "d80-l5"  # the ladder model the policy with test-time compute is compared against (~14x)
    n_problems: int = 200  # common test problems, an equal share of each oracle bin
    samples: tuple[int, ...] = (256, 64, 64, 64)  # pool samples per problem of each ladder model, in ladder order
    n_targets: int = 12  # accuracy targets of the exchange rate, evenly spaced over the ladder's range
    n_repeats: int = 8  # random N-subsets per problem and budget
    n_boot: int = 1000  # bootstrap resamples of problems, for the exchange rate's interval
    seed: int = 0

    def __post_init__(self):
        for name in ("ratios", "samples"):
            if not isinstance(getattr(self, name), (list, tuple)):
                raise ConfigError(f"exchange_{name}={getattr(self, name)!r} must be a list, e.g. "
                                  f"{list(getattr(ExchangeConfig, name))}")
            object.__setattr__(self, name, as_tuple(getattr(self, name)))
        object.__setattr__(self, "ratios", tuple(float(r) for r in self.ratios))
        check_fields(self)
        if not self.ratios or any(not r > 0 for r in self.ratios):
            raise ConfigError(f"exchange_ratios={list(self.ratios)} must be positive ratios D_inference / D_pretrain, "
                              f"e.g. the paper's {list(PAPER_RATIOS)}")
        if not self.samples or any(n < 1 for n in self.samples):
            raise ConfigError(f"exchange_samples={list(self.samples)} must be one count >= 1 per ladder model")
        for name in ("n_problems", "n_targets", "n_repeats", "n_boot"):
            check_range(self, name, 1)


def check_exchange(ex: ExchangeConfig, ladder: tuple[str, ...], policy: str, pool_samples: int, n_test: int) -> None:
    """Notebook 07's settings against the ladder, the pool's samples per problem and the test split, before any
    work starts (not on construction, so that a ladder changed for another notebook need not change these)."""
    names = list(ladder)
    if ex.larger not in names or names.index(ex.larger) <= names.index(policy):
        raise ConfigError(f"exchange_larger={ex.larger!r} must be a ladder model larger than the policy "
                          f"{policy!r}: one of {names[names.index(policy) + 1:]}")
    if len(ex.samples) != len(names):
        raise ConfigError(f"exchange_samples={list(ex.samples)} must give one sample count per ladder model "
                          f"{names} ({len(names)} counts)")
    if ex.samples[names.index(policy)] > pool_samples:
        raise ConfigError(f"exchange_samples gives the policy {ex.samples[names.index(policy)]} samples, more than "
                          f"the pool's {pool_samples} (n_pool): its samples are the pool's")
    if ex.n_problems > n_test:
        raise ConfigError(f"n_exchange_problems={ex.n_problems} exceeds the {n_test} test problems (n_test)")
