"""The seed study: which models it trains where, and its bar, on known tables."""

import pandas as pd
import pytest

from ttc.core.config import ConfigError
from ttc.pipelines import seed_study as S
from ttc.pipelines.study import Study, profile_params


def tiny_study(tmp_path, monkeypatch, **overrides):
    monkeypatch.setenv("TTC_DATA_ROOT", str(tmp_path))
    return Study.from_params(profile_params("tiny") | overrides)


def test_the_policy_and_the_next_size_at_their_seeds_the_studys_own_first(tmp_path, monkeypatch):
    study = tiny_study(tmp_path, monkeypatch, seed=3, seed_study_policy_seeds=3, seed_study_next_seeds=2)
    assert S.seed_models(study) == [("d16-l1", 3), ("d16-l1", 4), ("d16-l1", 5), ("d24-l2", 3), ("d24-l2", 4)]
    # the study's seed is notebook 01's model; the others have folders of their own; seed 3 is not the tiny
    # profile's, so the ladder is a variant's, and the seed study (3 policy seeds) another beside it
    variants = study.data / "variants"
    assert S.model_dir(study, "d16-l1", 3) == variants / "seed-3" / "models" / "d16-l1"
    assert S.model_dir(study, "d16-l1", 4) == variants / "seed-3+seed_study_policy_seeds-3" / "seed_study" / "models" / "d16-l1-seed4"


def test_a_policy_at_the_top_of_the_ladder_has_no_next_size(tmp_path, monkeypatch):
    study = tiny_study(tmp_path, monkeypatch, policy="d48-l3", verifier_base="d48-l3")
    with pytest.raises(ConfigError, match="largest model"):
        S.seed_models(study)


def row(model, seed, greedy, pass1, below=0.2, above=0.2):
    return {"model": model, "seed": seed, "parameters": {"p": 1, "n": 2}[model], "greedy": greedy, "pass1": pass1,
            "below_0.1": below, "above_0.9": above, "between": 1 - below - above}


def test_the_bar_holds_for_close_seeds_and_fails_on_a_wide_or_inverted_one():
    close = pd.DataFrame([row("p", 0, 0.50, 0.45), row("p", 1, 0.53, 0.47), row("p", 2, 0.555, 0.5),
                          row("n", 0, 0.7, 0.6), row("n", 1, 0.72, 0.61)])
    assert all(ok for ok, _ in S.seed_checks(close, "p").values())
    wide = pd.concat([close, pd.DataFrame([row("p", 3, 0.40, 0.35)])])
    checks = S.seed_checks(wide, "p")
    assert not checks["policy greedy accuracy moves by at most 6% between seeds"][0]
    assert "max - min 15.5%" in checks["policy greedy accuracy moves by at most 6% between seeds"][1]
    above = "the next size's greedy range lies above the policy's (its worst seed above the policy's best)"
    overlapping = pd.concat([close, pd.DataFrame([row("n", 2, 0.55, 0.6)])])  # below the policy's best, 0.555
    assert not S.seed_checks(overlapping, "p")[above][0]
    assert "n: 55.0% to 72.0% over 3 seeds" in S.seed_checks(overlapping, "p")[above][1]
    weak = pd.DataFrame([row("p", 0, 0.10, 0.1), row("p", 1, 0.12, 0.1), row("n", 0, 0.7, 0.6)])
    assert not S.seed_checks(weak, "p")["policy greedy between 15% and 60% at every seed"][0]
    narrow = pd.DataFrame([row("p", 0, 0.5, 0.5, below=0.05), row("n", 0, 0.7, 0.6)])
    spread = [k for k in S.seed_checks(narrow, "p") if k.startswith("every policy seed")][0]
    assert not S.seed_checks(narrow, "p")[spread][0]


def test_the_policy_interval_spans_its_seeds():
    table = pd.DataFrame([row("p", 0, 0.5, 0.4), row("p", 1, 0.56, 0.44), row("n", 0, 0.9, 0.8)])
    interval = S.policy_interval(table, "p")
    assert interval["greedy"] == pytest.approx({"min": 0.5, "mean": 0.53, "max": 0.56})
    assert interval["seeds"] == [0, 1] and S.policy_interval(None, "p") is None
