"""Search against verifier quality: beam search minus best-of-N paired by problem, per verifier and budget."""

import math

import pandas as pd
import pytest

from ttc.pipelines.search_vs_verifier import BEAM, BEST_OF_N, beam_minus_best_of_n, verifier_order, with_quality
from ttc.pipelines.search_vs_verifier import axis_configs
from ttc.pipelines.study import SearchSweepConfig


def results(verifier, budget, beam, best_of_n):
    """A results table: one row per (method, problem), correct as given (a pool baseline may be a fraction)."""
    rows = [{"verifier": verifier, "budget": budget, "method": BEAM, "problem_id": f"p{i}", "correct": c}
            for i, c in enumerate(beam)]
    rows += [{"verifier": verifier, "budget": budget, "method": BEST_OF_N, "problem_id": f"p{i}", "correct": c}
             for i, c in enumerate(best_of_n)]
    return pd.DataFrame(rows)


def test_the_difference_is_paired_by_problem_with_its_interval():
    table = pd.concat([results("perfect checker", 16, [1, 1, 1, 0], [0, 1, 0.5, 0]),
                       results("PRM", 16, [0, 0, 1, 1], [1, 0.5, 1, 1])])
    diff = beam_minus_best_of_n(table, n_boot=200, seed=0).set_index("verifier")
    assert diff.loc["perfect checker", "beam"] == 0.75 and diff.loc["perfect checker", "best_of_n"] == 0.375
    assert diff.loc["perfect checker", "beam_minus_best_of_n"] == pytest.approx(0.375)
    assert diff.loc["PRM", "beam_minus_best_of_n"] == pytest.approx(-0.375)
    for v in ("perfect checker", "PRM"):
        row = diff.loc[v]
        assert row.lo <= row.beam_minus_best_of_n <= row.hi and row.n_problems == 4 and row.budget == 16


def test_a_problem_one_method_missed_is_left_out_of_the_pair():
    table = results("PRM", 4, [1, 0, 1], [0, 0])  # p2 has no best-of-N row
    diff = beam_minus_best_of_n(table, n_boot=50, seed=0)
    assert diff.n_problems.tolist() == [2] and diff.beam_minus_best_of_n.tolist() == [pytest.approx(0.5)]
    assert beam_minus_best_of_n(results("PRM", 4, [1], [])[lambda t: t.method == BEAM], 50, 0).empty


def test_verifiers_are_ordered_best_first_and_quality_joins_by_name():
    diff = pd.DataFrame({"verifier": ["PRM", "perfect checker", "checker, noise 2", "PRM"], "budget": [4, 4, 4, 16]})
    ladder = pd.DataFrame({"within_problem_auc": [0.6, 1.0, 0.55], "within_problem_auc_majority_wrong": [0.5, 1.0, 0.5],
                           "cell_auc": [float("nan"), 1.0, 0.7]}, index=["PRM", "perfect checker", "checker, noise 2"])
    joined = with_quality(diff, ladder)
    assert joined.cell_auc.tolist()[1:3] == [1.0, 0.7] and math.isnan(joined.cell_auc.iloc[0])
    assert verifier_order(joined) == ["perfect checker", "checker, noise 2", "PRM"]  # NaN (never measured) last


def test_the_axis_is_beam_search_of_width_4_at_every_axis_budget():
    configs = axis_configs(SearchSweepConfig(budgets=(4, 16, 64), axis_budgets=(4, 16), n_problems=8,
                                             n_problems_top=4, n_axis_problems=8), seed=3)
    assert [(c.method, c.budget, c.width, c.seed) for c in configs] == [("beam", 4, 4, 3), ("beam", 16, 4, 3)]
