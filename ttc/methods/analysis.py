"""Statistics the notebooks share: unbiased pass@k, difficulty bins, bootstrap intervals.

Difficulty follows the paper (Sec. 3.2): a problem's difficulty is the
policy's pass@1 on it (oracle) or the mean verifier score of its samples
(predicted), cut into 5 quantile bins, bin 1 the easiest.

Use: `difficulty_bins(pass1, seed=0)`, `pass_at_k(n, c, k)`,
`bootstrap_interval(values, seed=0)`.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from ttc.core.config import ConfigError

N_BINS = 5


def pass_at_k(n: np.ndarray | int, c: np.ndarray | int, k: int) -> np.ndarray:
    """The unbiased estimator of pass@k from n samples of which c are correct (Chen et al., 2021):
    1 - C(n-c, k) / C(n, k), computed as a stable product."""
    n, c = np.asarray(n, dtype=np.int64), np.asarray(c, dtype=np.int64)
    if k < 1 or np.any(n < k):
        raise ConfigError(f"pass@k needs 1 <= k <= n for every problem, got k={k} and smallest n={int(n.min())}")
    if np.any((c < 0) | (c > n)):
        raise ConfigError("pass@k needs 0 <= c <= n correct samples for every problem")
    shape = np.broadcast(n, c).shape
    # C(n-c, k) / C(n, k) = prod_{i=0}^{k-1} (n-c-i) / (n-i), zero once n-c < k.
    fail, nn = np.broadcast_to(n - c, shape), np.broadcast_to(n, shape)
    possible = fail >= k
    ratio = np.ones(shape)
    for i in range(k):
        ratio = np.where(possible, ratio * (fail - i) / (nn - i), 0.0)
    return 1.0 - ratio


def difficulty_bins(values: pd.Series, n_bins: int = N_BINS, seed: int = 0,
                    higher_is_easier: bool = True) -> pd.Series:
    """Quantile bins 1 (easiest) .. n_bins (hardest) of equal size, indexed like `values`.

    Many problems share a pass@1 of exactly 0 or 1, so value quantiles are not
    unique: problems are ranked by value with ties broken in a seeded random
    order, and the ranking is cut into equal parts (the paper's quantile bins).
    """
    if n_bins < 1 or len(values) < n_bins:
        raise ConfigError(f"difficulty_bins needs at least n_bins={n_bins} problems, got {len(values)}")
    if values.isna().any():
        raise ConfigError("difficulty_bins got missing values; every problem needs a difficulty estimate")
    rng = np.random.default_rng(seed)
    tiebreak = rng.permutation(len(values))
    key = -values.to_numpy(dtype=float) if higher_is_easier else values.to_numpy(dtype=float)
    order = np.lexsort((tiebreak, key))  # easiest first
    bins = np.empty(len(values), dtype=np.int64)
    bins[order] = np.arange(len(values)) * n_bins // len(values) + 1
    return pd.Series(bins, index=values.index, name="bin")


def bin_edges(values: pd.Series, bins: pd.Series) -> list[float]:
    """The value at each boundary between adjacent bins: the midpoint of their nearest values."""
    edges = []
    for b in range(1, int(bins.max())):
        this, other = values[bins == b], values[bins == b + 1]
        descending = this.mean() >= other.mean()
        edges.append(float((this.min() + other.max()) / 2 if descending else (this.max() + other.min()) / 2))
    return edges


def bootstrap_interval(values: np.ndarray, n_boot: int = 1000, seed: int = 0,
                       level: float = 0.9) -> tuple[float, float, float]:
    """Mean of per-problem values with a percentile bootstrap interval over problems."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(values.size, size=(n_boot, values.size))].mean(axis=1)
    tail = (1 - level) / 2
    return float(values.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def coverage(stats: pd.DataFrame, bins: pd.Series, ks: list[int]) -> pd.DataFrame:
    """Mean unbiased pass@k per difficulty bin (and over all problems, bin "all") for each k."""
    rows = []
    for k in ks:
        values = pd.Series(pass_at_k(stats["n"].to_numpy(), stats["c"].to_numpy(), k), index=stats.index)
        rows += [{"bin": str(b), "k": k, "pass_at_k": float(values[bins == b].mean())} for b in sorted(bins.unique())]
        rows.append({"bin": "all", "k": k, "pass_at_k": float(values.mean())})
    return pd.DataFrame(rows)


def budgets_up_to(n: int) -> list[int]:
    """Powers of two from 1 to n (the paper's generation budgets), n itself last."""
    out = [2 ** i for i in range(int(np.log2(n)) + 1)]
    return out if out[-1] == n else out + [n]


def answers_of(column: pd.Series) -> list[str | None]:
    """A table's answer column as Python values, missing answers as None (parquet gives NaN or None)."""
    return [a if isinstance(a, str) else None for a in column]


def accuracy_vs_n(pool: pd.DataFrame, answers: dict[str, str] | None, rule: str, budgets: list[int],
                  score: str | None = None, n_repeats: int = 8, seed: int = 0) -> pd.DataFrame:
    """Per problem and budget N: the fraction of `n_repeats` random N-subsets of the pool for which
    `rule` (see `ttc.verifiers.selection`) picks the right answer. Each repeat takes the first N of one
    random order, so budgets nest; problems keep their seeds whatever the rule or score.

    The right answer is `answers[problem]`; with `answers=None`, a picked answer is right when the pool's
    samples that wrote it were graded right (its `correct` column: MATH's grading is math-verify's, not
    string equality)."""
    from ttc.verifiers.selection import select

    rows = []
    for pid, group in pool.groupby("problem_id", sort=True):
        ans = answers_of(group["answer"])
        right = (answers[pid].__eq__ if answers is not None else
                 {a: bool(c) for a, c in zip(ans, group["correct"]) if a is not None}.get)
        sc = group[score].to_numpy(dtype=float) if score else None
        if budgets[-1] > len(ans):
            raise ConfigError(f"budget {budgets[-1]} exceeds the pool's {len(ans)} samples of {pid}")
        rng = np.random.default_rng([seed, zlib.crc32(pid.encode())])
        hits = np.zeros(len(budgets))
        for _ in range(n_repeats):
            order = rng.permutation(len(ans))
            for j, n in enumerate(budgets):
                idx = order[:n]
                picked = select(rule, [ans[i] for i in idx], None if sc is None else sc[idx].tolist())
                hits[j] += bool(right(picked)) if picked is not None else False
        rows += [{"problem_id": pid, "budget": n, "accuracy": h / n_repeats} for n, h in zip(budgets, hits)]
    return pd.DataFrame(rows)


def curve_with_intervals(per_problem: pd.DataFrame, by: list[str], n_boot: int = 1000,
                         seed: int = 0) -> pd.DataFrame:
    """Mean accuracy with a bootstrap interval over problems, for each group of `by`."""
    rows = []
    for key, g in per_problem.groupby(by, sort=True):
        mean, lo, hi = bootstrap_interval(g["accuracy"].to_numpy(), n_boot=n_boot, seed=seed)
        rows.append(dict(zip(by, key if isinstance(key, tuple) else (key,))) | {"accuracy": mean, "lo": lo, "hi": hi,
                                                                                "n_problems": len(g)})
    return pd.DataFrame(rows)


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive outscores a random negative
    (ties count half)."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def calibration(scores: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Mean score and observed frequency of the label in equal-width score bins."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=float)
    which = np.minimum((scores * n_bins).astype(int), n_bins - 1)
    table = pd.DataFrame({"bin": which, "score": scores, "label": labels})
    out = table.groupby("bin").agg(score=("score", "mean"), observed=("label", "mean"), n=("label", "size"))
    return out.reset_index()


def stratified_subset(bins: pd.Series, n: int, seed: int = 0) -> list[str]:
    """`n` problem ids (the index of `bins`), as equal a share of every bin as `n` allows,
    drawn in a seeded order; a smaller n gives a subset of a larger one's."""
    if not 1 <= n <= len(bins):
        raise ConfigError(f"a subset of n={n} problems needs 1 <= n <= {len(bins)}")
    rng = np.random.default_rng(seed)
    order = bins.index[rng.permutation(len(bins))]
    rank = bins[order].groupby(bins[order]).cumcount()  # position of each problem within its bin
    # Round-robin over bins: every bin's first problem, then every bin's second, ...
    ranked = sorted(zip(rank.tolist(), bins[order].tolist(), order.tolist()))
    return [pid for _, _, pid in ranked[:n]]


def within_problem_auc(table: pd.DataFrame, score: str, label: str = "correct") -> pd.Series:
    """Per problem (with both right and wrong samples): the AUC of `score` for `label` among that
    problem's own samples. Selection among N samples needs this one; an AUC over all problems
    also rewards a verifier that only recognises which problems are easy."""
    out = {pid: auc(g[score], g[label]) for pid, g in table.groupby("problem_id") if g[label].nunique() == 2}
    return pd.Series(out, name=f"{score} within-problem AUC", dtype=float)


def cell_auc(line_scores: pd.DataFrame) -> float:
    """The mean, over (problem, line index) cells with both kinds of prefix, of the AUC of a line's
    score for "this prefix is still right" (`on_track`), over the cell's distinct solutions. Within a
    cell neither the problem's difficulty nor the line's position can help: it measures whether the
    verifier flags the first wrong line (a pooled step AUC mostly measures position and difficulty)."""
    per_cell = [auc(g["score"], g["on_track"]) for _, g in line_scores.groupby(["problem_id", "line"])
                if g["on_track"].nunique() == 2]
    return float(np.mean(per_cell)) if per_cell else float("nan")
