"""The FLOPs-matched exchange of pretraining for test-time compute (Sec. 7), and the exchange-rate fit."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttc.config import ConfigError
from ttc.exchange import (PAPER_RATIOS, exchange_rate, lifetime_flops, llama_parameters, match_budget,
                          inference_multiplier)


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
    from ttc.compute import pretraining_flops
    from ttc.lm import LADDER, model_config, parameters_of

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
