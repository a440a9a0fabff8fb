import math

import numpy as np
import pandas as pd
import pytest

from ttc.core.config import ConfigError
from ttc.models.lm import LADDER, build_model
from ttc.verifiers.probability_prm import ProbabilityPRM, ProbabilityPRMConfig, bce, fit_logistic, train_head
from ttc.verifiers.reference import LINE_FEATURES, LOGP_FLOOR, LikelihoodVerifier
from ttc.world import synthetic as W
from ttc.world.tokenizer import build_tokenizer


@pytest.fixture(scope="module")
def likelihood():
    tokenizer = build_tokenizer()
    return LikelihoodVerifier(build_model(LADDER["d16-l1"], tokenizer, seed=0), tokenizer, batch_size=3)


def test_the_logistic_fit_recovers_the_weights_that_made_the_labels():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 3)) * [1.0, 3.0, 0.5] + [-2.0, 0.0, 1.0]
    w, b = np.array([0.8, -0.4, 2.0]), -0.5
    y = 1 / (1 + np.exp(-(x @ w + b)))  # soft labels, as Monte Carlo values are
    weights, bias = fit_logistic(x, y, l2=0.0)
    assert weights == pytest.approx(w, abs=0.02) and bias == pytest.approx(b, abs=0.05)
    assert bce(x @ weights + bias, y) <= bce(x @ (w * 0.5) + b, y)


def test_line_features_agree_with_the_likelihood_score(likelihood, splits):
    problems = splits["test"][:4]
    prompts = [W.prompt(p) for p in problems]
    lines = [list(p.steps) + [f"A: {p.answer}"] for p in problems]
    features, counted = likelihood.line_features(prompts, lines)
    scores = likelihood.score(prompts, lines)
    assert [len(f) for f in features] == [len(ls) for ls in lines] and all(n > 0 for n in counted)
    for per_line, per_score in zip(features, scores):
        for f, s in zip(per_line, per_score):
            running, line_min, line_mean = f
            assert len(f) == len(LINE_FEATURES)
            assert running == pytest.approx(max(math.log(s), LOGP_FLOOR), abs=1e-4)
            assert LOGP_FLOOR <= running <= line_min <= line_mean <= 0.0
        running_values = [f[0] for f in per_line]
        assert all(a >= b for a, b in zip(running_values, running_values[1:]))


def test_the_head_is_trained_on_the_labels_and_scores_each_line(likelihood, splits, tmp_path):
    problems = {p.id: p for p in splits["train"][:12]}
    rows = []
    for i, p in enumerate(problems.values()):
        lines = list(p.steps) + [f"A: {p.answer}"]
        wrong = i % 2 == 1  # every other solution is made wrong from its first line on
        if wrong:
            lines[0] = lines[0] + "9"
        text = "\n".join(lines)
        for j in range(len(lines)):
            rows.append({"problem_id": p.id, "solution": 0, "step": j, "n_lines": len(lines), "text": text,
                         "final_correct": not wrong, "on_track": not wrong, "mc_label": 0.1 if wrong else 0.9})
    labels = pd.DataFrame(rows)
    cfg = ProbabilityPRMConfig(continued_tokens=0, val_fraction=0.25)
    record = train_head(likelihood, labels, problems, cfg, tmp_path / "head", {"test": 1})
    assert record["features"] == list(LINE_FEATURES) and len(record["weights"]) == 3
    assert record["train_lines"] + record["val_lines"] == len(labels)
    again = train_head(likelihood, labels, problems, cfg, tmp_path / "head", {"test": 1})  # read back, not refitted
    assert again == record
    prm = ProbabilityPRM(likelihood, record["weights"], record["bias"])
    from ttc.verifiers.scorer import Scorer

    assert isinstance(prm, Scorer)  # what search and the studies ask of a verifier
    prompts = [W.prompt(p) for p in problems.values()]
    texts = labels.drop_duplicates("problem_id")["text"].str.split("\n").tolist()
    scores = prm.score(prompts, texts)
    features, _ = likelihood.line_features(prompts, texts)
    for per_line, per_score in zip(features, scores):
        expected = [1 / (1 + math.exp(-(np.dot(record["weights"], f) + record["bias"]))) for f in per_line]
        assert per_score == pytest.approx(expected, rel=1e-6)


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="continued_tokens"):
        ProbabilityPRMConfig(continued_tokens=-1)
    with pytest.raises(ConfigError, match="val_fraction"):
        ProbabilityPRMConfig(val_fraction=0.9)
