from collections import Counter

import pytest
from hypothesis import given, strategies as st

from ttc.core.config import ConfigError
from ttc.verifiers.selection import aggregate, select

answers_and_scores = st.lists(st.tuples(st.sampled_from(["1", "2", "3", None]), st.floats(0, 1)),
                              min_size=1, max_size=30)


@given(answers_and_scores)
def test_weighted_picks_the_answer_with_the_largest_summed_score(pairs):
    answers, scores = [a for a, _ in pairs], [s for _, s in pairs]
    picked = select("weighted", answers, scores)
    totals = Counter()
    for a, s in pairs:
        if a is not None:
            totals[a] += s
    if not totals:
        assert picked is None
    else:
        assert totals[picked] == max(totals.values())


@given(answers_and_scores)
def test_majority_and_best_of_n_pick_what_they_promise(pairs):
    answers, scores = [a for a, _ in pairs], [s for _, s in pairs]
    real = [(a, s) for a, s in pairs if a is not None]
    if not real:
        assert select("majority", answers) is None and select("best_of_n", answers, scores) is None
        return
    counts = Counter(a for a, _ in real)
    assert counts[select("majority", answers)] == max(counts.values())
    best = select("best_of_n", answers, scores)
    assert max(s for a, s in real if a == best) == max(s for _, s in real)


def test_ties_go_to_the_first_answer_seen_and_none_is_never_picked():
    assert select("majority", ["2", "1", "1", "2"]) == "2"
    assert select("weighted", [None, "5"], [1.0, 0.1]) == "5"
    assert select("weighted", ["1", "2", "2"], [0.9, 0.5, 0.5]) == "2"  # sums, not the single best
    assert select("best_of_n", ["1", "2", "2"], [0.9, 0.5, 0.5]) == "1"


def test_step_aggregation():
    assert aggregate([0.9, 0.2, 0.8], "last") == 0.8
    assert aggregate([0.9, 0.2, 0.8], "min") == 0.2
    assert aggregate([0.5, 0.5], "prod") == pytest.approx(0.25)
    assert aggregate([], "last") == 0.0
    with pytest.raises(ConfigError, match="'mean'"):
        aggregate([0.1], "mean")
    with pytest.raises(ConfigError, match="'vote'"):
        select("vote", ["1"])
