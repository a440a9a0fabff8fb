"""Notebook 03's analysis: best-of-N from the scored pool, and the verifiers against the world's truth.

Use: `best_of_n_table(scored, answers, budgets, ...)` (Fig. 13-14);
`verifier_quality(line_scores, scored, bins)` (AUCs, calibration, the
within-problem AUC that selection needs); `predicted_difficulty(scored, difficulty)`.
"""

from __future__ import annotations

import pandas as pd

from ttc.methods.analysis import (accuracy_vs_n, answers_of, auc, bootstrap_interval, calibration, cell_auc, difficulty_bins,
                          stratified_subset, within_problem_auc)
from ttc.verifiers.reference import PERFECT_CHECKER
from ttc.verifiers.selection import majority
from ttc.verifiers.trained import sample_scores

BEST_OF_N_METHODS = {  # name: (selection rule, score column)
    "PRM last, weighted": ("weighted", "prm_last"),
    "PRM min, weighted": ("weighted", "prm_min"),
    "PRM prod, weighted": ("weighted", "prm_prod"),
    "PRM last, best-of-N": ("best_of_n", "prm_last"),
    "ORM, weighted": ("weighted", "orm_last"),
    "majority vote": ("majority", None),
}
AGGREGATION_PANEL = ("PRM last, weighted", "PRM min, weighted", "PRM prod, weighted", "majority vote")
VERIFIER_PANEL = ("PRM last, weighted", "PRM last, best-of-N", "ORM, weighted", "majority vote")
VERIFIERS = {"prm": "PRM", "orm": "ORM"}


def best_of_n_table(scored: pd.DataFrame, answers: dict[str, str], budgets: list[int], n_repeats: int,
                    seed: int, bins: pd.Series) -> pd.DataFrame:
    """Per method of BEST_OF_N_METHODS, problem and budget N: the accuracy over `n_repeats` random
    N-subsets of the pool, with the problem's oracle bin."""
    per_problem = pd.concat([accuracy_vs_n(scored, answers, rule, budgets, score=col, n_repeats=n_repeats, seed=seed)
                             .assign(method=name) for name, (rule, col) in BEST_OF_N_METHODS.items()],
                            ignore_index=True)
    per_problem["oracle_bin"] = per_problem["problem_id"].map(bins)
    return per_problem


def verifier_quality(line_scores: dict[str, pd.DataFrame], scored: pd.DataFrame,
                     bins: pd.Series) -> tuple[dict, pd.DataFrame, pd.DataFrame, dict[str, pd.Series], pd.DataFrame]:
    """Each verifier against the truth, on the test pool: pooled AUCs (a line's score for "this prefix
    is still right", over distinct samples; the final score for "the answer is right", over every
    sample, the distribution selection faces), calibration tables, the AUC within each problem's
    own samples (what selection needs) and its mean by oracle bin."""
    aucs, step_cal, final_cal, within = {}, [], [], {}
    distinct = scored.drop_duplicates(["problem_id", "text"])
    for kind, name in VERIFIERS.items():
        ls = line_scores[kind]
        aucs[(name, "step")] = auc(ls["score"], ls["on_track"])
        step_cal.append(calibration(ls["score"], ls["on_track"]).assign(verifier=name))
        aucs[(name, "final")] = auc(scored[f"{kind}_last"], scored["correct"])
        final_cal.append(calibration(scored[f"{kind}_last"], scored["correct"]).assign(verifier=name))
        within[name] = within_problem_auc(distinct, f"{kind}_last")
    by_bin = pd.DataFrame({name: w.groupby(bins.reindex(w.index)).mean() for name, w in within.items()})
    return aucs, pd.concat(step_cal), pd.concat(final_cal), within, by_bin


def predicted_difficulty(scored: pd.DataFrame, difficulty: pd.DataFrame, seed: int,
                         score: str = "prm_last") -> pd.DataFrame:
    """The oracle difficulty table with predicted bins beside it: quantile bins of the mean PRM
    final score (`score`) of each problem's pool samples (no ground truth)."""
    predicted = scored.groupby("problem_id")[score].mean().reindex(difficulty.index)
    out = difficulty.copy()
    out["predicted_bin"] = difficulty_bins(predicted, seed=seed)
    out["mean_prm_final"] = predicted
    return out


def gain_column(budget: int) -> str:
    """The name of "best-of-N weighted minus majority vote at N = budget" in reports and tables
    (with `_lo` and `_hi` for its interval)."""
    return f"weighted_minus_majority_n{budget}"


def majority_wrong_problems(pool: pd.DataFrame, answers: dict[str, str]) -> set[str]:
    """The problems whose majority vote over their whole pool is wrong: where a verifier must beat the
    crowd of samples, not only its slips."""
    return {pid for pid, g in pool.groupby("problem_id") if majority(answers_of(g["answer"])) != answers[pid]}


def verifier_report(line_scores: pd.DataFrame, pool: pd.DataFrame, answers: dict[str, str], budget: int,
                    n_repeats: int, n_boot: int, seed: int) -> dict[str, float]:
    """One verifier measured against the world's truth (issue 14's measures). `line_scores` is
    `ttc.verifiers.trained.score_pool`'s table; a sample's score is its last line's (the prefix score of the
    whole solution).

    - within_problem_auc: final score vs correctness among one problem's own samples, averaged over
      problems with both; _majority_wrong: the same over the problems whose majority vote is wrong.
    - cell_auc: `ttc.methods.analysis.cell_auc`, does it flag the first wrong line.
    - weighted_minus_majority_n<budget>: best-of-N weighted minus majority vote at N = budget, per
      problem over `n_repeats` random N-subsets, its mean over problems with a paired 90% bootstrap
      interval (_lo, _hi).
    """
    scored = sample_scores(line_scores, pool, "v")
    within = within_problem_auc(scored.drop_duplicates(["problem_id", "text"]), "v_last")
    wrong = majority_wrong_problems(pool, answers)
    weighted = accuracy_vs_n(scored, answers, "weighted", [budget], score="v_last", n_repeats=n_repeats, seed=seed)
    vote = accuracy_vs_n(scored, answers, "majority", [budget], n_repeats=n_repeats, seed=seed)
    gain = weighted.set_index("problem_id")["accuracy"] - vote.set_index("problem_id")["accuracy"]
    mean, lo, hi = bootstrap_interval(gain.to_numpy(), n_boot=n_boot, seed=seed)
    key = gain_column(budget)
    return {"within_problem_auc": float(within.mean()),
            "within_problem_auc_majority_wrong": float(within[within.index.isin(wrong)].mean()),
            "cell_auc": cell_auc(line_scores), key: mean, f"{key}_lo": lo, f"{key}_hi": hi,
            "n_problems": int(pool["problem_id"].nunique()), "n_majority_wrong": len(wrong)}


# --------------------------------------------------------------------------
# The verifier ladder: trained verifiers against untrained references, on one subset of the pool

CHECKER_NOISE = (0.0, 0.5, 1.0, 2.0)
"""Noise levels of the truth checker (`ttc.verifiers.reference.TruthChecker`): 0 is the ceiling."""


def reference_subset(pool: pd.DataFrame, bins: pd.Series, n_problems: int, n_samples: int, seed: int) -> pd.DataFrame:
    """The pool restricted to `n_problems` test problems (an equal share of each oracle bin) and the
    first `n_samples` samples of each: what every verifier of the ladder is measured on."""
    ids = stratified_subset(bins, min(n_problems, len(bins)), seed=seed)
    return pool[pool["problem_id"].isin(ids) & (pool["sample"] < n_samples)].reset_index(drop=True)


def on_subset(line_scores: pd.DataFrame, subset: pd.DataFrame) -> pd.DataFrame:
    """A verifier's line scores of the whole pool, restricted to the (problem, text) pairs of `subset`."""
    keys = subset[["problem_id", "text"]].drop_duplicates()
    return line_scores.merge(keys, on=["problem_id", "text"], how="inner")


def adopt(table: pd.DataFrame, gain: str, share: float = 0.9) -> str:
    """The verifier to search with: the cheapest (fewest scoring FLOPs per token) of those whose mean
    gain over majority vote is at least `share` of the best one's, among the verifiers that a user
    could have (not the truth checkers)."""
    real = table[~table["oracle"]]
    best = real[gain].max()
    if not best > 0:
        return str(real.sort_values(gain, ascending=False).index[0])
    good = real[real[gain] >= share * best]
    return str(good.sort_values(["scoring_flops_per_token", gain], ascending=[True, False]).index[0])


def verifier_ladder_table(reports: dict[str, dict], models: dict[str, Path | None]) -> pd.DataFrame:
    """One row per verifier: its `verifier_report`, and what it costs. `models[name]` is the ladder model
    it reads with (None for a truth checker, which stands for a verifier and costs nothing):
    its parameters, scoring FLOPs per token read (2N) and pretraining FLOPs (6 N D)."""
    from ttc.models.lm import read_meta

    rows = []
    for name, report in reports.items():
        meta = read_meta(models[name]) if models.get(name) is not None else None
        rows.append({"verifier": name, "oracle": meta is None, "model": meta["name"] if meta else "",
                     "parameters": meta["parameters"] if meta else 0,
                     "scoring_flops_per_token": 2.0 * meta["parameters"] if meta else 0.0,
                     "pretrain_flops": float(meta["flops"]) if meta else 0.0} | report)
    return pd.DataFrame(rows).set_index("verifier")


PROBABILITY_PRM = "PRM, probability head"
"""`ttc.verifiers.probability_prm.ProbabilityPRM`: the policy pretrained further, a head on its token probabilities."""
PRM_LM = "PRM's LM, likelihood"
"""The probability PRM's language model read as a bare likelihood (no head): what further pretraining alone gives."""


def best_trained_prm(table: pd.DataFrame, candidates: list[str]) -> str:
    """Of the trained PRMs in `table`, the one that best flags the first wrong line (highest cell AUC)."""
    present = table.loc[[c for c in candidates if c in table.index], "cell_auc"]
    if present.empty:
        raise ValueError(f"none of the trained PRMs {candidates} is in the verifier table ({list(table.index)})")
    return str(present.fillna(-1.0).idxmax())
