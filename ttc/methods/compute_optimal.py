"""Compute-optimal strategy selection (Sec. 3.1-3.2, Eq. 1, Fig. 4).

For each difficulty bin and budget, the configuration with the best accuracy
is chosen; to keep the choice honest it is scored with two-fold
cross-validation inside each bin (choose on one fold, score on the other,
swap), repeated over random fold splits. `efficiency` then asks, for each
best-of-N budget, how small a budget the compute-optimal strategy needs to
match it.

Use: `cv = cross_validated(results, "bin", n_splits=20, seed=0)`;
`efficiency(curve_bon, curve_opt)`; `choose(results, "bin")` for the policy table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ttc.core.config import ConfigError
from ttc.methods.search import STRATEGY, SearchConfig, config_for, run_search
from ttc.world.protocol import SYNTHETIC, World


def _accuracy_table(results: pd.DataFrame, bin_col: str, budget: int, strategy: tuple[str, ...]) -> pd.DataFrame:
    """problem x strategy accuracies at one budget, keeping problems that every strategy was run on.
    Columns are the strategies (tuples of the `strategy` fields), in the order of their labels
    (`method`), so that ties go to the label first in name order."""
    at = results[results["budget"] == budget]
    table = at.pivot_table(index=["problem_id", bin_col], columns=list(strategy), values="correct", aggfunc="mean")
    labels = _labels(at, strategy)
    order = sorted(table.columns, key=lambda c: labels[c])
    return table[order].dropna()


def _chosen(columns: pd.Index, pick: int, strategy: tuple[str, ...], labels: pd.Series) -> dict:
    key = columns[pick] if isinstance(columns[pick], tuple) else (columns[pick],)
    return dict(zip(strategy, key)) | {"method": labels[columns[pick]]}


def _labels(results: pd.DataFrame, strategy: tuple[str, ...]) -> pd.Series:
    """Each strategy's label (`method`), indexed as the pivot's columns are: by the strategy's fields."""
    first = results.drop_duplicates(list(strategy))
    index = (pd.MultiIndex.from_frame(first[list(strategy)]) if len(strategy) > 1
             else pd.Index(first[strategy[0]]))
    return pd.Series(first["method"].to_numpy(), index=index)


def choose(results: pd.DataFrame, bin_col: str, strategy: tuple[str, ...] = STRATEGY) -> pd.DataFrame:
    """The strategy with the best mean accuracy per (bin, budget), chosen on all problems: the table
    a deployed policy uses, with the strategy's fields and label (`method`). Ties go to the label
    first in name order."""
    labels = _labels(results, strategy)
    rows = []
    for budget in sorted(results["budget"].unique()):
        table = _accuracy_table(results, bin_col, budget, strategy)
        for b, g in table.groupby(level=bin_col):
            means = g.mean().to_numpy()
            pick = int(np.argmax(means))
            rows.append({bin_col: b, "budget": budget, **_chosen(g.columns, pick, strategy, labels),
                         "accuracy": float(means[pick]), "n_problems": len(g)})
    return pd.DataFrame(rows)


def cross_validated(results: pd.DataFrame, bin_col: str, n_splits: int = 20, seed: int = 0,
                    strategy: tuple[str, ...] = STRATEGY) -> pd.DataFrame:
    """Per problem, budget and fold split: the accuracy of the strategy chosen on the *other* fold
    of the problem's bin (column `accuracy`), and which it was (its fields and `method` label).

    `results` holds one row per (problem, strategy, budget) with a `correct` column (0/1 or a
    fraction), the bin column, the `strategy` columns and a `method` label derived from them.
    The chooser never sees the fold it is scored on.
    """
    if n_splits < 1:
        raise ConfigError(f"n_splits={n_splits} must be >= 1")
    labels = _labels(results, strategy)
    rng = np.random.default_rng(seed)
    rows = []
    for budget in sorted(results["budget"].unique()):
        table = _accuracy_table(results, bin_col, budget, strategy)
        for b, g in table.groupby(level=bin_col):
            if len(g) < 2:
                continue  # two folds need two problems
            ids = g.index.get_level_values("problem_id").to_numpy()
            values = g.to_numpy()
            for split in range(n_splits):
                fold = np.zeros(len(ids), dtype=int)
                fold[rng.permutation(len(ids))[: len(ids) // 2]] = 1
                for f in (0, 1):
                    chooser = values[fold != f].mean(axis=0)
                    pick = int(np.argmax(chooser))  # first best column on ties (columns in label order)
                    chosen = _chosen(g.columns, pick, strategy, labels)
                    for pid, v in zip(ids[fold == f], values[fold == f, pick]):
                        rows.append({"problem_id": pid, bin_col: b, "budget": budget, "split": split,
                                     **chosen, "accuracy": float(v)})
    return pd.DataFrame(rows)


def split_spread(cv: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per budget for each fold split, and its mean and standard deviation across splits."""
    per_split = cv.groupby(["budget", "split"])["accuracy"].mean().unstack("split")
    return pd.DataFrame({"accuracy": per_split.mean(axis=1), "std_over_splits": per_split.std(axis=1, ddof=0),
                         "n_splits": per_split.shape[1]})


@dataclass(frozen=True)
class Match:
    """The budget at which a curve reaches a target, and whether that is a bound: a curve already at the target
    at the smallest budget run may reach it with less, so it needs *at most* `budget` (and a ratio against it
    is *at least* the ratio shown). nan: the curve never reaches the target within the budgets run."""

    budget: float
    bound: bool

    def ratio(self, reference_budget: float) -> float:
        return reference_budget / self.budget if np.isfinite(self.budget) else float("nan")

    def describe(self, reference_budget: float) -> str:
        """'16.0 (4.0x)', or 'at most 4 (at least 16.0x)' (a bound: `BOUND_NOTE`), or 'not reached'."""
        if not np.isfinite(self.budget):
            return "not reached"
        if self.bound:
            return f"at most {self.budget:g} (at least {self.ratio(reference_budget):.1f}x)"
        return f"{self.budget:.1f} ({self.ratio(reference_budget):.1f}x)"


BOUND_NOTE = "'at most': already matched at the smallest budget run, so a bound"
"""What a `Match.describe` that reads 'at most' means, said once beside the matches."""


def match(budgets, accuracy, target: float) -> Match:
    """The smallest budget at which a curve reaches `target`, interpolated linearly in log2(budget)
    between measured budgets (`Match`: with whether it is a bound). The curve need not be monotone: the
    first crossing counts. Notebooks 05-07 match budgets through here."""
    budgets, accuracy = np.asarray(budgets, dtype=float), np.asarray(accuracy, dtype=float)
    order = np.argsort(budgets)
    budgets, accuracy = budgets[order], accuracy[order]
    if accuracy[0] >= target:
        return Match(float(budgets[0]), True)
    for i in range(1, len(budgets)):
        if accuracy[i] >= target:
            lo, hi = np.log2(budgets[i - 1]), np.log2(budgets[i])
            frac = (target - accuracy[i - 1]) / (accuracy[i] - accuracy[i - 1])
            return Match(float(2 ** (lo + frac * (hi - lo))), False)
    return Match(float("nan"), False)


def budget_to_match(budgets, accuracy, target: float) -> float:
    """`match(...).budget`: the budget alone, as the tables record it (a bound where it equals the smallest
    budget run, `Match.bound`)."""
    return match(budgets, accuracy, target).budget


def matched_in_table(matching_budget: float, budgets_run) -> Match:
    """The `Match` a table's `matching_budget` stands for, given the budgets the curve was run at: it is a bound
    exactly where it is the smallest of them (`match` returns that budget only when the curve starts at or above
    the target)."""
    return Match(float(matching_budget), bool(np.isfinite(matching_budget) and matching_budget <= min(budgets_run)))


def on_common_problems(per_problem: pd.DataFrame) -> pd.DataFrame:
    """The rows of the problems measured at every budget. Where the largest budget runs on a
    subset of the problems (it costs the most), a curve over budgets mixes two problem sets, and a
    budget-matching comparison across budgets must use the common ones to compare like with like."""
    budgets_per_problem = per_problem.groupby("problem_id")["budget"].nunique()
    common = budgets_per_problem.index[budgets_per_problem == per_problem["budget"].nunique()]
    return per_problem[per_problem["problem_id"].isin(common)]


def efficiency(reference: pd.Series, candidate: pd.Series) -> pd.DataFrame:
    """For each budget of `reference` (accuracy by budget, e.g. best-of-N weighted): the budget at
    which `candidate` (e.g. compute-optimal) first reaches the same accuracy, and the ratio."""
    rows = []
    for budget, acc in reference.sort_index().items():
        need = budget_to_match(candidate.index.to_numpy(), candidate.to_numpy(), acc)
        rows.append({"reference_budget": budget, "reference_accuracy": acc, "matching_budget": need,
                     "ratio": budget / need if np.isfinite(need) else float("nan")})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------
# The chosen strategies as a policy for new questions


def predicted_bin(mean_score: float, edges: list[float]) -> int:
    """The predicted bin of a question from the mean verifier score of its samples, given the
    score at each boundary between bins (descending: bin 1 holds the highest scores)."""
    return 1 + sum(mean_score < e for e in edges)


def run_policy(problems, sampler, verifier, strategies: pd.DataFrame, edges: list[float], budget: int,
               n_estimate: int = 4, seed: int = 0, max_new_tokens: int = 224, estimator=None,
               world: World = SYNTHETIC) -> pd.DataFrame:
    """Answer `problems` at `budget` the compute-optimal way: estimate each question's bin from
    `n_estimate` samples scored by `estimator` (the verifier whose scores made `edges`; by default
    `verifier`; no ground truth), then run the strategy chosen for that bin with `verifier`. One row
    per problem, with the estimation's cost and the search's cost apart.

    `strategies` has one row per (predicted bin, budget) with the STRATEGY fields.
    """
    if budget not in set(strategies["budget"]):
        raise ConfigError(f"budget={budget} has no chosen strategies; choose one of {sorted(set(strategies['budget']))}")
    estimate = run_search(problems, sampler, estimator or verifier, SearchConfig("best_of_n", budget=n_estimate, seed=seed,
                                                                     max_new_tokens=max_new_tokens), world)
    bins = {pid: predicted_bin(float(np.mean(s)) if len(s) else 0.0, edges)
            for pid, s in zip(estimate["problem_id"], estimate["scores"])}
    chosen = strategies[strategies["budget"] == budget].set_index("bin")
    tables = []
    for b in sorted(set(bins.values())):
        if b not in chosen.index:
            raise ConfigError(f"no strategy was chosen for bin {b} at budget {budget}")
        row = chosen.loc[b]
        subset = [p for p in problems if bins[p.id] == b]
        cfg = config_for(row.to_dict(), budget, seed=seed, max_new_tokens=max_new_tokens)
        tables.append(run_search(subset, sampler, verifier, cfg, world).assign(predicted_bin=b))
    out = pd.concat(tables, ignore_index=True)
    cost = estimate.set_index("problem_id")[["generations", "generated_tokens", "verifier_tokens", "flops"]]
    return out.join(cost.add_prefix("estimate_"), on="problem_id")


# --------------------------------------------------------------------------
# Notebook 05's comparison, as functions of the results table of notebook 04

BINS = {"oracle": "bin", "predicted": "predicted_bin"}
"""The two kinds of difficulty bin a strategy is chosen within, and their columns."""
COMPUTE_OPTIMAL = {f"compute-optimal ({kind} bins)": column for kind, column in BINS.items()}
"""The two compute-optimal curves: label -> the bin column they choose within."""

LEVELS = {"compute-optimal (nominal levels)": "level"}
"""The same choice within the problems' nominal levels (the world's chain lengths; MATH's hand-labelled levels with
given models) instead of the model's own bins: Sec. 3.2 finds the model's bins predict the value of test-time
compute better than the levels, which this curve against the oracle-bin one tests."""

REFERENCES = ("best-of-N weighted", "beam M=sqrt N", "majority vote")


def compare(results: pd.DataFrame, n_splits: int, seed: int = 0,
            curves: dict[str, str] = COMPUTE_OPTIMAL) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compute-optimal (cross-validated within each of `curves`' columns: by default the oracle and predicted bins;
    `COMPUTE_OPTIMAL | LEVELS` adds the nominal levels, from a `level` column) beside the reference strategies.

    Returns per-problem rows (method, problem, budget, accuracy, FLOPs of the strategy chosen for
    it) and the spread over fold splits. The candidates are the search strategies; majority vote is
    only a reference.
    """
    return compare_candidates(results[results.search != "majority"], results[results.method.isin(REFERENCES)],
                              STRATEGY, n_splits, seed, curves)


def compare_candidates(candidates: pd.DataFrame, references: pd.DataFrame, strategy: tuple[str, ...], n_splits: int,
                       seed: int = 0, curves: dict[str, str] = COMPUTE_OPTIMAL) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`compare` for any candidate strategies (identified by the `strategy` columns, labelled by `method`),
    beside `references` (rows with `correct` and `flops`, labelled by `method`); one compute-optimal curve per
    entry of `curves` (label -> the column of the groups the choice is made within)."""
    per_problem, spreads = [], []
    for label, bin_col in curves.items():
        cv = cross_validated(candidates, bin_col, n_splits=n_splits, seed=seed, strategy=strategy)
        spreads.append(split_spread(cv).assign(method=label))
        # The FLOPs of the strategy chosen for each problem, beside its accuracy.
        cost = cv.merge(candidates[["problem_id", "budget", "method", "flops"]], on=["problem_id", "budget", "method"])
        per_problem.append(cost.groupby(["problem_id", "budget"]).agg(accuracy=("accuracy", "mean"),
                                                                      flops=("flops", "mean"))
                           .reset_index().assign(method=label))
    reference = references.rename(columns={"correct": "accuracy"})
    per_problem.append(reference[["problem_id", "budget", "accuracy", "flops", "method"]])
    return pd.concat(per_problem, ignore_index=True), pd.concat(spreads).reset_index()


def efficiency_table(per_problem: pd.DataFrame, reference: str = "best-of-N weighted") -> pd.DataFrame:
    """For each compute-optimal curve, the budget (and the FLOPs) it needs to match `reference` at
    each of its budgets, measured on the problems searched at every budget."""
    common = on_common_problems(per_problem)
    means = common.groupby(["method", "budget"]).agg(accuracy=("accuracy", "mean"), flops=("flops", "mean"))
    means = means.reset_index()
    ref = means[means.method == reference]
    tables = []
    for label in COMPUTE_OPTIMAL:
        opt = means[means.method == label]
        for axis, x in (("generations", "budget"), ("FLOPs", "flops")):
            tables.append(efficiency(ref.set_index(x)["accuracy"], opt.set_index(x)["accuracy"])
                          .assign(compared=label, axis=axis))
    return pd.concat(tables, ignore_index=True)


def strategies(results: pd.DataFrame) -> pd.DataFrame:
    """The deployable policy: per bin kind (oracle, predicted), bin and budget, the strategy chosen
    on all problems (its fields, label and accuracy)."""
    candidates = results[results.search != "majority"]
    return pd.concat([choose(candidates, bin_col).rename(columns={bin_col: "bin"}).assign(bins=kind)
                      for kind, bin_col in BINS.items()], ignore_index=True)


def demo(problems, sampler, verifier, chosen: pd.DataFrame, edges: list[float], budget: int, oracle_bins: pd.Series,
         n_estimate: int = 4, seed: int = 0, max_new_tokens: int = 224, estimator=None,
         world: World = SYNTHETIC) -> tuple[pd.DataFrame, dict]:
    """The policy (`run_policy` with the predicted-bin strategies) on `problems`, which should be
    held out of the choice; per-problem rows, and its accuracy, how often the estimated bin was the
    oracle's, and the share of FLOPs the estimation added."""
    answered = run_policy(problems, sampler, verifier, chosen[chosen.bins == "predicted"], edges, budget,
                          n_estimate=n_estimate, seed=seed, max_new_tokens=max_new_tokens, estimator=estimator,
                          world=world)
    answered["oracle_bin"] = answered["problem_id"].map(oracle_bins)
    total = answered[["flops", "estimate_flops"]].sum()
    return answered, {"problems": len(answered), "budget": budget, "accuracy": float(answered.correct.mean()),
                      "bins_match": float((answered.predicted_bin == answered.oracle_bin).mean()),
                      "estimate_share": float(total["estimate_flops"] / total["flops"])}
