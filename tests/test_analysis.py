import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from ttc.core.config import ConfigError
from ttc.methods.analysis import bin_edges, bootstrap_interval, difficulty_bins, pass_at_k


@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_is_the_combinatorial_probability(nck):
    n, c, k = nck
    expected = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_known_values_and_vectorised():
    assert pass_at_k(10, 0, 5) == 0.0 and pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25) and pass_at_k(4, 1, 2) == pytest.approx(0.5)
    np.testing.assert_allclose(pass_at_k(np.array([4, 4, 8]), np.array([0, 2, 8]), 2), [0.0, 5 / 6, 1.0])
    with pytest.raises(ConfigError, match="k=5"):
        pass_at_k(4, 1, 5)


@settings(max_examples=50)
@given(st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]) | st.floats(0, 1), min_size=5, max_size=200),
       st.integers(0, 3))
def test_bins_are_equal_sized_and_ordered_by_difficulty(values, seed):
    s = pd.Series(values, index=[f"p{i}" for i in range(len(values))])
    bins = difficulty_bins(s, seed=seed)
    sizes = bins.value_counts()
    assert set(sizes.index) == {1, 2, 3, 4, 5} and sizes.max() - sizes.min() <= 1
    # Every problem in an easier bin has a pass@1 at least that of every problem in a harder one.
    for b in range(1, 5):
        assert s[bins == b].min() >= s[bins == b + 1].max()
    assert difficulty_bins(s, seed=seed).equals(bins)


def test_bins_for_lower_is_easier_and_edges():
    s = pd.Series(np.arange(10, dtype=float))
    assert difficulty_bins(s).tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert difficulty_bins(s, higher_is_easier=False).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert bin_edges(s, difficulty_bins(s)) == [7.5, 5.5, 3.5, 1.5]
    with pytest.raises(ConfigError, match="n_bins=5"):
        difficulty_bins(pd.Series([0.1, 0.2]))


def test_bootstrap_interval_brackets_the_mean():
    values = np.r_[np.ones(30), np.zeros(70)]
    mean, lo, hi = bootstrap_interval(values, seed=1)
    assert mean == pytest.approx(0.3) and lo < 0.3 < hi and hi - lo < 0.2
    assert bootstrap_interval(np.ones(5)) == (1.0, 1.0, 1.0)


def test_auc_known_values():
    from ttc.methods.analysis import auc
    assert auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert auc([0.5, 0.5], [0, 1]) == 0.5
    assert math.isnan(auc([0.5], [1]))


def test_accuracy_vs_n_nests_budgets_and_counts_hits():
    from ttc.methods.analysis import accuracy_vs_n, budgets_up_to
    assert budgets_up_to(8) == [1, 2, 4, 8] and budgets_up_to(6) == [1, 2, 4, 6]
    # Problem a: 3 of 4 samples right; problem b: none has an answer.
    pool = pd.DataFrame({"problem_id": ["a"] * 4 + ["b"] * 4, "answer": ["1", "1", "2", "1", None, None, None, None],
                         "score": [0.9, 0.8, 0.95, 0.7, 0.5, 0.5, 0.5, 0.5]})
    table = accuracy_vs_n(pool, {"a": "1", "b": "3"}, "majority", [1, 4], n_repeats=50, seed=0)
    acc = table.set_index(["problem_id", "budget"])["accuracy"]
    assert acc[("a", 4)] == 1.0 and acc[("b", 4)] == 0.0 and 0.5 < acc[("a", 1)] < 0.95
    best = accuracy_vs_n(pool, {"a": "1", "b": "3"}, "best_of_n", [4], score="score", n_repeats=3)
    assert best.set_index("problem_id").loc["a", "accuracy"] == 0.0  # the single best sample is wrong
    with pytest.raises(ConfigError, match="budget 8"):
        accuracy_vs_n(pool, {"a": "1", "b": "3"}, "majority", [8])


def test_stratified_subsets_balance_bins_and_nest():
    from ttc.methods.analysis import stratified_subset
    bins = pd.Series([1] * 10 + [2] * 10 + [3] * 4, index=[f"p{i}" for i in range(24)])
    small, large = stratified_subset(bins, 6, seed=3), stratified_subset(bins, 12, seed=3)
    assert bins[small].value_counts().to_dict() == {1: 2, 2: 2, 3: 2}
    assert bins[large].value_counts().to_dict() == {1: 4, 2: 4, 3: 4}
    assert set(small) <= set(large) and len(set(large)) == 12
    assert sorted(stratified_subset(bins, 24)) == sorted(bins.index)


def test_within_problem_auc_ignores_what_separates_problems():
    from ttc.methods.analysis import auc, within_problem_auc
    # An easy problem scored high, a hard one low, and within each the score ranks wrong above right.
    t = pd.DataFrame({"problem_id": ["e"] * 4 + ["h"] * 4, "score": [0.8, 0.95, 0.85, 0.9, 0.2, 0.05, 0.15, 0.1],
                      "correct": [True, False, True, False, False, True, False, True]})
    assert auc(t.score, t.correct) == pytest.approx(4 / 16)
    assert within_problem_auc(t, "score").tolist() == [0.0, 0.0]
    t2 = pd.DataFrame({"problem_id": ["e", "e", "h", "h"], "score": [0.9, 0.8, 0.2, 0.1], "correct": [True, True, False, False]})
    assert auc(t2.score, t2.correct) == 1.0 and within_problem_auc(t2, "score").empty
