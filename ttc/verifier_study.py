"""Notebook 03's analysis: best-of-N from the scored pool, and the verifiers against the world's truth.

Use: `best_of_n_table(scored, answers, budgets, ...)` (Fig. 13-14);
`verifier_quality(line_scores, scored, bins)` (AUCs, calibration, the
within-problem AUC that selection needs); `predicted_difficulty(scored, difficulty)`.
"""

from __future__ import annotations

import pandas as pd

from ttc.analysis import accuracy_vs_n, auc, calibration, difficulty_bins, within_problem_auc

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


def predicted_difficulty(scored: pd.DataFrame, difficulty: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The oracle difficulty table with predicted bins beside it: quantile bins of the mean PRM
    final score of each problem's pool samples (no ground truth)."""
    predicted = scored.groupby("problem_id")["prm_last"].mean().reindex(difficulty.index)
    out = difficulty.copy()
    out["predicted_bin"] = difficulty_bins(predicted, seed=seed)
    out["mean_prm_final"] = predicted
    return out
