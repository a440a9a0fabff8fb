"""The FLOPs-matched exchange of pretraining for test-time compute (Sec. 7), and the exchange-rate fit."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttc.core.config import ConfigError
from ttc.methods.exchange import (PAPER_RATIOS, Reach, cost_to_reach, exchange_rate, frontier, inference_multiplier,
                          lifetime_flops, llama_parameters, match_budget, matched_flops, pooled_slope, queries)


def test_the_multiplier_on_the_papers_own_numbers():
    # a 14x larger model (the paper's PaLM 2 pair) at the paper's three inference loads: M + 3 (M - 1) / R
    assert [inference_multiplier(14, r) for r in PAPER_RATIOS] == pytest.approx([257.75, 63.367, 15.773], abs=1e-3)
    assert inference_multiplier(1, 0.5) == 1  # the same model: nothing to exchange
    with pytest.raises(ConfigError, match="ratio=0"):
        inference_multiplier(14, 0)
    with pytest.raises(ConfigError, match="m=0.5"):
        inference_multiplier(0.5, 1)


@settings(max_examples=100, deadline=None)
@given(st.floats(1, 100), st.floats(0.01, 100), st.integers(10**3, 10**8), st.floats(10**3, 10**9))
def test_the_multiplier_matches_the_larger_models_lifetime_flops(m, ratio, n, d):
    small = lifetime_flops(n, d, ratio, inference_multiplier(m, ratio))
    assert small == pytest.approx(lifetime_flops(m * n, d, ratio), rel=1e-9)


def test_a_ladder_models_flops_from_its_config_equal_the_count_from_its_parameters(tokenizer):
    from ttc.core.compute import pretraining_flops
    from ttc.models.lm import LADDER, model_config, parameters_of

    for name in ("d16-l1", "d32-l2", "d80-l5"):
        config = model_config(LADDER[name], tokenizer)
        assert llama_parameters(config) == parameters_of(LADDER[name], tokenizer)
        assert pretraining_flops(llama_parameters(config), 8_000_000) == 6 * parameters_of(LADDER[name], tokenizer) * 8_000_000
    config = model_config(LADDER["d32-l2"], tokenizer)
    config.tie_word_embeddings = False  # an untied head counts the embedding twice
    assert llama_parameters(config) == parameters_of(LADDER["d32-l2"], tokenizer) + len(tokenizer) * 32


def test_budget_matching_on_a_hand_made_table():
    run = [1, 4, 16, 64, 256]
    m = match_budget(63.37, run)
    assert (m.budget, m.beyond_run, m.below_run) == (16, False, False)  # 64 would spend more than matched
    assert match_budget(64, run).budget == 64
    m = match_budget(1000, run)
    assert (m.budget, m.beyond_run) == (256, True)  # beyond what was run: the largest stands in, and says so
    m = match_budget(0.5, [4, 16])
    assert (m.budget, m.below_run) == (4, True)
    m = match_budget(-3e6, [4, 16], costs=[1e6, 4e6])  # the verifier alone cost more than the larger model's life
    assert (m.budget, m.below_run, m.beyond_run) == (4, True, False)
    with pytest.raises(ConfigError, match="finite"):
        match_budget(float("nan"), [4, 16])
    with pytest.raises(ConfigError, match="no budgets"):
        match_budget(4, [])


def test_the_exchange_rate_fit_recovers_a_known_slope_from_synthetic_curves():
    rng = np.random.default_rng(0)
    # five models 10^0.5 apart in pretraining FLOPs; at a fixed accuracy each needs test-time FLOPs
    # 10^(12 - 1.176 log10 X): 10x pretraining saves 10^1.176 = 15x test-time compute (Jones' number)
    pretrain = 10.0 ** np.arange(14, 16.5, 0.5)
    test_time = 10.0 ** (12 + 20 - 1.176 * np.log10(pretrain) + rng.normal(0, 0.02, len(pretrain)))
    fit = exchange_rate(pretrain, test_time, seed=0)
    assert fit.slope == pytest.approx(-1.176, abs=0.05) and fit.rate == pytest.approx(15, rel=0.15)
    assert fit.slope_lo <= fit.slope <= fit.slope_hi and fit.rate_interval[0] <= fit.rate <= fit.rate_interval[1]
    exact = exchange_rate(pretrain, 10.0 ** (30 - 1.0 * np.log10(pretrain)))
    assert exact.rate == pytest.approx(10.0) and exact.slope_lo == pytest.approx(-1.0)  # no noise: no spread
    with pytest.raises(ConfigError, match="at least 3 points"):
        exchange_rate([1e14, 1e15], [1e10, 1e9])


@settings(max_examples=100, deadline=None)
@given(st.floats(1, 100), st.sampled_from(PAPER_RATIOS), st.integers(10**3, 10**8), st.floats(10**4, 10**9),
       st.floats(10, 500))
def test_the_ledger_matching_is_the_multiplier_when_every_query_costs_the_same(m, ratio, n, d, t):
    # the paper's idealisation: pretraining 6 N D, every query t tokens at 2 N per token
    larger_query, larger_pretrain, small_pretrain = 2 * m * n * t, 6 * m * n * d, 6 * n * d
    target = matched_flops(larger_query, larger_pretrain, small_pretrain, queries(ratio, d, t))
    assert target / (2 * n * t) == pytest.approx(inference_multiplier(m, ratio), rel=1e-9)


def test_budget_matching_by_cost():
    # budgets whose ledger FLOPs are not proportional to the budget: 16 costs more than the target, 4 does not
    m = match_budget(5e6, [1, 4, 16], costs=[1e6, 4.5e6, 2e7])
    assert (m.budget, m.beyond_run, m.below_run) == (4, False, False)
    assert match_budget(1e9, [1, 4, 16], costs=[1e6, 4.5e6, 2e7]).beyond_run
    with pytest.raises(ConfigError, match="one cost per budget"):
        match_budget(5e6, [1, 4], costs=[1e6])


def test_the_frontier_and_the_cost_to_reach_a_target():
    costs, accuracy = [1, 2, 4, 8, 16, 3], [0.2, 0.5, 0.4, 0.6, 0.6, 0.5]
    c, a = frontier(costs, accuracy)
    assert c.tolist() == [1, 2, 8] and a.tolist() == [0.2, 0.5, 0.6]  # 3 and 4 are dominated by 2, 16 by 8
    reach = cost_to_reach(costs, accuracy, 0.55)  # halfway from 0.5 (cost 2) to 0.6 (cost 8), in log cost
    assert reach.cost == pytest.approx(4.0) and reach.interior
    assert cost_to_reach(costs, accuracy, 0.1) == Reach(1.0, False)  # already there at its cheapest: a bound
    assert np.isnan(cost_to_reach(costs, accuracy, 0.7).cost)  # never


def test_the_pooled_slope_fits_one_slope_with_an_intercept_per_target():
    x = np.array([14.0, 14.5, 15.0, 14.5, 15.0, 15.5])
    target = np.array([0.5, 0.5, 0.5, 0.8, 0.8, 0.8])
    y = np.where(target == 0.5, 3.0, 7.0) - 1.2 * x  # different intercepts, one slope
    assert pooled_slope(target, x, y) == pytest.approx(-1.2)
    assert np.isnan(pooled_slope([0.5, 0.8], [14.0, 15.0], [1.0, 2.0]))  # no target has two points


def _synthetic_curves(slope: float, n_problems: int = 40) -> tuple[pd.DataFrame, pd.Series]:
    """Four models 10^0.4 apart in pretraining FLOPs whose accuracy rises with log test-time FLOPs along one
    logistic curve, shifted so that at equal accuracy log10 test-time FLOPs = const + slope log10 pretraining."""
    pretrain = pd.Series(10.0 ** np.array([14.0, 14.4, 14.8, 15.2]), index=["a", "b", "c", "d"])
    rows = []
    for name, x in pretrain.items():
        shift = 8 + slope * (np.log10(x) - 14)
        for k, budget in enumerate(2 ** np.arange(8)):
            log_flops = 6 + 0.3 * k
            accuracy = 1 / (1 + np.exp(-3 * (log_flops - shift)))
            # problems scattered around the curve (pairs cancel), so that resampling them moves the fit
            rows += [{"model": name, "method": "majority vote", "budget": int(budget), "problem_id": f"p{i}",
                      "correct": accuracy * (1 + 0.1 * (-1) ** i), "flops": 10.0 ** log_flops}
                     for i in range(n_problems)]
    return pd.DataFrame(rows), pretrain


def test_the_exchange_fit_recovers_a_known_slope_from_synthetic_curves():
    from ttc.pipelines.exchange_study import accuracy_targets, curve_points, exchange_fit

    curves, pretrain = _synthetic_curves(slope=-1.176)
    fit = exchange_fit(curves, accuracy_targets(curve_points(curves), 10), pretrain, n_boot=20, seed=0)
    # linear interpolation in log cost between budgets 0.3 decades apart bends the logistic a little
    assert fit["slope"] == pytest.approx(-1.176, abs=0.05) and fit["rate"] == pytest.approx(15, rel=0.15)
    assert fit["points"] >= 6 and fit["slope_lo"] < fit["slope"] < fit["slope_hi"] and fit["boot_draws"] == 20
    flat, pretrain = _synthetic_curves(slope=0.0)  # pretraining replaces nothing: every model needs the same
    assert exchange_fit(flat, [0.5, 0.7], pretrain, n_boot=5, seed=0)["slope"] == pytest.approx(0.0, abs=1e-9)


def test_the_matched_comparison_on_a_hand_made_table():
    from ttc.pipelines.exchange_study import GENERATIONS, LEDGER, matched_comparison

    per_problem = pd.DataFrame({"problem_id": ["e", "h"] * 3, "budget": [4, 4, 16, 16, 64, 64],
                                "accuracy": [1.0, 0.0, 1.0, 0.25, 1.0, 0.5], "flops": [4, 4, 16, 16, 64, 64]})
    larger = pd.Series({"e": 1.0, "h": 0.5})
    bins = pd.Series({"e": 1, "h": 5})
    targets = {("search", GENERATIONS, 22.0): 20.0, ("search", LEDGER, 22.0): 10.0, ("search", GENERATIONS, 0.16): 300.0}
    table = matched_comparison({"search": per_problem}, larger, bins, targets).set_index(["matching", "ratio", "bin"])
    row = table.loc[(GENERATIONS, 22.0, "5")]
    assert row.budget == 16 and not row.beyond_run and row.relative == pytest.approx(-0.5)  # 0.25 against 0.5
    assert table.loc[(LEDGER, 22.0, "5")].budget == 4  # 16 costs more FLOPs than matched
    beyond = table.loc[(GENERATIONS, 0.16, "all")]
    assert beyond.budget == 64 and beyond.beyond_run and beyond.accuracy == pytest.approx(0.75)
    assert table.loc[(GENERATIONS, 0.16, "easy")].relative == 0.0 and table.loc[(GENERATIONS, 0.16, "hard")].points == 0


def test_the_exchange_config_says_what_is_wrong():
    from ttc.methods.exchange import ExchangeConfig

    with pytest.raises(ConfigError, match="exchange_ratios"):
        ExchangeConfig(ratios=(0.16, -1.0))
    with pytest.raises(ConfigError, match="exchange_samples"):
        ExchangeConfig(samples=(8, 0))
    assert ExchangeConfig(ratios=[0.16, 22]).ratios == (0.16, 22.0)


def test_notebook_07s_settings_are_checked_against_the_ladder():
    from ttc.pipelines.study import Study, profile_params

    def check(**overrides):
        Study.from_params(profile_params("tiny") | overrides).check_models("07")

    check()
    with pytest.raises(ConfigError, match="exchange_larger='d16-l1' must be a ladder model larger than the policy"):
        check(exchange_larger="d16-l1")
    with pytest.raises(ConfigError, match="one sample count per ladder model"):
        check(exchange_samples=[8, 4])
    with pytest.raises(ConfigError, match="more than the pool's 8"):
        check(exchange_samples=[16, 4, 4, 4])
    # another notebook's ladder need not fit notebook 07's settings: the check is notebook 07's own
    Study.from_params(profile_params("tiny") | {"policy": "d48-l3", "verifier_base": "d48-l3"})
