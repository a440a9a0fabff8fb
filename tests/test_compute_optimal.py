import math

import numpy as np
import pandas as pd
import pytest

from ttc.methods.compute_optimal import (Match, budget_to_match, choose, cross_validated, efficiency, match,
                                         matched_in_table, on_common_problems, split_spread)


def table(rows):
    return pd.DataFrame(rows, columns=["problem_id", "bin", "budget", "method", "correct"])


def test_the_chooser_never_sees_the_fold_it_is_scored_on():
    # In each bin, every problem is solved by exactly one method, a different one per problem.
    # Choosing on the other fold can then never pick the scored problem's method: accuracy 0.
    # A chooser that peeked at the scored fold (or at all problems) would score above 0.
    rows = []
    for b in (1, 2):
        for i, winner in enumerate(["A", "B"]):
            for m in ("A", "B"):
                rows.append((f"p{b}{i}", b, 4, m, float(m == winner)))
    cv = cross_validated(table(rows), "bin", n_splits=5, seed=0, strategy=("method",))
    assert len(cv) == 4 * 5 and (cv["accuracy"] == 0).all()


def test_a_method_that_dominates_a_bin_is_chosen_there():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        b = 1 + i % 2
        for m in ("beam", "best-of-N", "lookahead"):
            best = "beam" if b == 1 else "lookahead"
            rows.append((f"p{i}", b, 16, m, float(rng.random() < (0.9 if m == best else 0.3))))
    results = table(rows)
    cv = cross_validated(results, "bin", n_splits=10, seed=1, strategy=("method",))
    picked = cv.groupby("bin")["method"].agg(lambda s: s.value_counts().idxmax())
    assert picked.to_dict() == {1: "beam", 2: "lookahead"}
    assert choose(results, "bin", strategy=("method",)).set_index("bin")["method"].to_dict() == {1: "beam", 2: "lookahead"}
    spread = split_spread(cv)
    assert spread.loc[16, "n_splits"] == 10 and 0.6 < spread.loc[16, "accuracy"] <= 1.0


def test_strategies_are_their_fields_and_ties_go_to_the_label_first_in_name_order():
    # Two strategies given as fields (kind, width, lookahead), labels derived from them; the two
    # beam widths tie everywhere, and the label "beam M=4" sorts before "beam M=sqrt N".
    from ttc.methods.search import STRATEGY, strategy_label

    rows = []
    for i in range(6):
        for search, m, k in (("beam", 0, 0), ("beam", 4, 0), ("lookahead", 0, 1)):
            rows.append({"problem_id": f"p{i}", "bin": 1, "budget": 16, "search": search, "m_setting": m,
                         "lookahead": k, "method": strategy_label(search, m, k),
                         "correct": float(search == "beam" and i % 3 != 0)})
    results = pd.DataFrame(rows)
    picked = choose(results, "bin")
    assert picked.loc[0, ["search", "m_setting", "lookahead", "method"]].tolist() == ["beam", 4, 0, "beam M=4"]
    cv = cross_validated(results, "bin", n_splits=3, seed=0)
    assert set(cv["method"]) <= {"beam M=4", "lookahead k=1 M=sqrt N"} and set(STRATEGY) <= set(cv.columns)


def test_the_choice_within_levels_is_a_curve_of_its_own_and_worse_where_levels_say_nothing_of_the_best_method():
    # The best method depends on the bin; the levels cut across the bins, so a choice within a level must pick
    # one method for problems that need different ones.
    from ttc.methods.compute_optimal import COMPUTE_OPTIMAL, LEVELS, compare_candidates

    rng = np.random.default_rng(0)
    rows = []
    for i in range(80):
        b = 1 + i % 2
        for m in ("beam", "lookahead"):
            best = "beam" if b == 1 else "lookahead"
            rows.append({"problem_id": f"p{i}", "bin": b, "predicted_bin": b, "level": 1 + (i // 2) % 2, "budget": 16,
                         "method": m, "correct": float(rng.random() < (0.9 if m == best else 0.2)), "flops": 1.0})
    candidates = pd.DataFrame(rows)
    references = candidates[candidates.method == "beam"].assign(method="best-of-N weighted")
    per_problem, _ = compare_candidates(candidates, references, ("method",), n_splits=10, seed=0,
                                        curves=COMPUTE_OPTIMAL | LEVELS)
    accuracy = per_problem.groupby("method")["accuracy"].mean()
    level, oracle = next(iter(LEVELS)), "compute-optimal (oracle bins)"
    assert set(accuracy.index) == {*COMPUTE_OPTIMAL, level, "best-of-N weighted"}
    assert accuracy[oracle] > accuracy[level] + 0.2
    without, _ = compare_candidates(candidates, references, ("method",), n_splits=10, seed=0)
    assert level not in set(without.method)


def test_budget_to_match_interpolates_on_a_log_scale():
    budgets, acc = [1, 2, 4, 8], [0.1, 0.3, 0.5, 0.7]
    assert budget_to_match(budgets, acc, 0.4) == pytest.approx(2 ** 1.5)
    assert budget_to_match(budgets, acc, 0.05) == 1.0 and budget_to_match(budgets, acc, 0.5) == pytest.approx(4.0)
    assert math.isnan(budget_to_match(budgets, acc, 0.9))
    out = efficiency(pd.Series([0.4, 0.7], index=[8, 16]), pd.Series(acc, index=budgets))
    assert out["matching_budget"].tolist()[0] == pytest.approx(2 ** 1.5)
    assert out["ratio"].tolist()[0] == pytest.approx(8 / 2 ** 1.5) and out["ratio"].tolist()[1] == pytest.approx(2.0)


def test_a_match_at_the_smallest_budget_run_is_a_bound_and_reads_as_one():
    budgets, acc = [4, 16, 64], [0.6, 0.7, 0.8]
    # already at 0.6 at budget 4: it needs at most 4, so a ratio against a budget-64 reference is at least 16x
    assert match(budgets, acc, 0.55) == Match(4.0, True)
    assert match(budgets, acc, 0.55).describe(64) == "at most 4 (at least 16.0x)"
    halfway = match(budgets, acc, 0.65)  # halfway from 4 to 16 on a log scale
    assert halfway.budget == pytest.approx(8.0) and not halfway.bound and halfway.describe(64) == "8.0 (8.0x)"
    assert match(budgets, acc, 0.9).describe(64) == "not reached"
    # a table's matching budget read back: a bound exactly where it is the smallest budget run
    assert matched_in_table(4.0, budgets).bound and not matched_in_table(8.0, budgets).bound
    assert not matched_in_table(float("nan"), budgets).bound


def test_budget_comparisons_keep_only_the_problems_measured_at_every_budget():
    # Budget 256 ran on problems a and b only; c, measured at 4 and 16, must drop out of every budget.
    rows = [(p, b, m) for p in "abc" for b in (4, 16) for m in ("x", "y")] + [(p, 256, m) for p in "ab" for m in "xy"]
    per_problem = pd.DataFrame(rows, columns=["problem_id", "budget", "method"])
    common = on_common_problems(per_problem)
    assert set(common.problem_id) == {"a", "b"}
    assert len(common) == 2 * 3 * 2  # two problems x three budgets x two methods
    assert on_common_problems(common).equals(common)  # already common: nothing more leaves


def test_the_policy_estimates_a_bin_then_runs_that_bins_strategy(splits, tokenizer):
    from test_search import ScriptedPolicy, TruthVerifier

    from ttc.methods.compute_optimal import predicted_bin, run_policy

    assert [predicted_bin(s, [0.8, 0.5]) for s in (0.9, 0.8, 0.6, 0.1)] == [1, 1, 2, 3]
    problems = [p for p in splits["test"] if len(p.steps) >= 3][:4]
    # A perfect policy's samples all score 1, so every question lands in bin 1.
    policy, verifier = ScriptedPolicy(problems, tokenizer, p=1.0), TruthVerifier(problems, tokenizer)
    strategies = pd.DataFrame({"bin": [1, 2], "budget": [8, 8], "search": ["beam", "best_of_n"], "m_setting": [4, 0],
                               "lookahead": [0, 0]})
    out = run_policy(problems, policy, verifier, strategies, edges=[0.5], budget=8, n_estimate=2)
    assert (out["predicted_bin"] == 1).all() and (out["method"] == "beam M=4").all() and out["correct"].all()
    assert (out["estimate_generations"] == 2).all() and (out["generations"] > 0).all()
    with pytest.raises(Exception, match="budget=4"):
        run_policy(problems, policy, verifier, strategies, edges=[0.5], budget=4)
