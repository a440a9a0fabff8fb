import math

import numpy as np
import pandas as pd
import pytest
import torch

from ttc.core.config import ConfigError
from ttc.methods.analysis import cell_auc
from ttc.models.lm import LADDER, build_model
from ttc.pipelines.study_verifiers import adopt
from ttc.pipelines.verifier_study import majority_wrong_problems, verifier_report
from ttc.verifiers.reference import LikelihoodVerifier, TruthChecker
from ttc.world import synthetic as W
from ttc.world import text as T
from ttc.world.tokenizer import build_tokenizer


@pytest.fixture(scope="module")
def likelihood():
    tokenizer = build_tokenizer()
    return LikelihoodVerifier(build_model(LADDER["d16-l1"], tokenizer, seed=0), tokenizer, batch_size=3)


def test_likelihood_scores_are_the_running_minimum_of_the_token_probabilities(likelihood, splits):
    problem = splits["test"][0]
    lines = list(problem.steps) + [f"A: {problem.answer}"]
    prompt = W.prompt(problem)
    [scores] = likelihood.score([prompt], [lines])
    # by hand: one unpadded forward pass over prompt + lines
    tok = likelihood.tokenizer
    ids = tok(T.render(prompt, lines))["input_ids"]
    n_prompt = len(tok(prompt)["input_ids"])
    with torch.no_grad():
        logp = torch.log_softmax(likelihood.model(torch.tensor([ids])).logits[0].float(), -1)
    per_token = [float(logp[t - 1, ids[t]]) for t in range(n_prompt, len(ids))]
    ends = [i for i in range(n_prompt, len(ids)) if ids[i] == tok.convert_tokens_to_ids("\n")]
    per_token[ends[-1] - n_prompt] = 0.0  # the answer line's newline is not scored (documents end it with end-of-text)
    expected = [math.exp(min(per_token[:end - n_prompt + 1])) for end in ends]
    assert scores == pytest.approx(expected, rel=1e-4)
    assert all(a >= b for a, b in zip(scores, scores[1:])) and all(0 < s <= 1 for s in scores)


def test_likelihood_scores_do_not_depend_on_the_batch(likelihood, splits):
    problems = splits["test"][:5]
    prompts = [W.prompt(p) for p in problems]
    lines = [list(p.steps) for p in problems]
    together = likelihood.score(prompts, lines)
    alone = [likelihood.score([pr], [ls])[0] for pr, ls in zip(prompts, lines)]
    for a, b in zip(together, alone):
        assert a == pytest.approx(b, abs=1e-5)
    before = likelihood.ledger.verifier_tokens
    likelihood.score(prompts + prompts, lines + lines)  # repeats are read once
    assert likelihood.ledger.verifier_tokens - before == sum(len(likelihood.tokenizer(T.render(p, l))["input_ids"])
                                                              for p, l in zip(prompts, lines))


def test_the_perfect_checker_is_the_truth_and_noise_is_seeded_and_per_prefix(splits):
    problem = splits["test"][0]
    prompt = W.prompt(problem)
    by_prompt = {prompt: problem}
    wrong = list(problem.steps)
    wrong[0] = wrong[0][:-1] + str((int(wrong[0][-1]) + 1) % 10)
    lines = wrong + [f"A: {problem.answer}"]
    assert TruthChecker(by_prompt).score([prompt], [lines])[0] == [float(x) for x in W.lines_on_track(problem, lines)]
    noisy = TruthChecker(by_prompt, noise=0.5, seed=1)
    a = noisy.score([prompt], [lines])[0]
    assert a == TruthChecker(by_prompt, noise=0.5, seed=1).score([prompt], [lines])[0]
    assert a != TruthChecker(by_prompt, noise=0.5, seed=2).score([prompt], [lines])[0]
    assert noisy.score([prompt], [lines[:2]])[0] == a[:2]  # a prefix scores the same alone
    with pytest.raises(ConfigError, match="noise"):
        TruthChecker(by_prompt, noise=-1)


def _line_table(rows):
    return pd.DataFrame(rows, columns=["problem_id", "text", "line", "n_lines", "score", "on_track"])


def test_cell_auc_ignores_position_and_difficulty():
    # Scores that only follow the line index (and the problem) get 0.5; scores that follow the truth within
    # each cell get 1, although their pooled order is the reverse of the truth.
    rows_position, rows_truth = [], []
    for pid, offset in (("p", 0.0), ("q", 0.5)):
        for k in range(4):
            for line in range(3):
                on_track = k < 2 or line == 0
                rows_position.append((pid, f"t{k}", line, 3, offset + 0.1 * (3 - line), on_track))
                rows_truth.append((pid, f"t{k}", line, 3, offset + (0.2 if on_track else 0.1) - 0.05 * line, on_track))
    assert cell_auc(_line_table(rows_position)) == 0.5
    assert cell_auc(_line_table(rows_truth)) == 1.0


def test_the_verifier_report_of_the_perfect_checker(splits):
    problems = {p.id: p for p in splits["test"][:6]}
    rows = []
    for pid, p in problems.items():
        for k in range(8):
            right = k % 3 != 0
            text = T.solution_text(p.steps, p.answer if right else str((int(p.answer) + 1) % 10))
            rows.append({"problem_id": pid, "sample": k, "text": text, "answer": T.extract_answer(text),
                         "correct": right})
    pool = pd.DataFrame(rows)
    checker = TruthChecker({W.prompt(p): p for p in problems.values()})
    line_rows = []
    for r in pool.drop_duplicates(["problem_id", "text"]).itertuples():
        lines = T.solution_lines(r.text)
        for j, (s, t) in enumerate(zip(checker.score([W.prompt(problems[r.problem_id])], [lines])[0],
                                       W.lines_on_track(problems[r.problem_id], lines))):
            line_rows.append((r.problem_id, r.text, j, len(lines), s, t))
    report = verifier_report(_line_table(line_rows), pool, {pid: p.answer for pid, p in problems.items()},
                             budget=4, n_repeats=4, n_boot=100, seed=0)
    assert report["within_problem_auc"] == 1.0 and report["cell_auc"] == 1.0
    assert not majority_wrong_problems(pool, {pid: p.answer for pid, p in problems.items()})
    assert report["weighted_minus_majority_n4"] >= 0
    assert report["weighted_minus_majority_n4_lo"] <= report["weighted_minus_majority_n4"] <= report["weighted_minus_majority_n4_hi"]


def test_adopt_takes_the_cheapest_verifier_near_the_best_and_never_a_checker():
    table = pd.DataFrame({"oracle": [False, False, False, True], "scoring_flops_per_token": [10.0, 100.0, 1000.0, 0.0],
                          "gain": [0.01, 0.095, 0.10, 0.2]}, index=["small", "middle", "large", "perfect checker"])
    assert adopt(table, "gain") == "middle"
    table["gain"] = [-0.01, -0.02, -0.03, 0.2]
    assert adopt(table, "gain") == "small"


def test_every_verifier_label_of_the_study_reads_back_as_what_it_is():
    from ttc.verifiers.spec import VerifierSpec

    specs = [VerifierSpec("prm"), VerifierSpec("orm"), VerifierSpec("likelihood", model="d64-l4"),
             VerifierSpec("probability_prm"), VerifierSpec("prm_lm"), VerifierSpec("revision_orm"),
             VerifierSpec("checker"), VerifierSpec("checker", noise=0.5), VerifierSpec("checker", noise=2.0)]
    assert [s.name for s in specs] == ["PRM", "ORM", "likelihood d64-l4", "PRM, probability head",
                                       "PRM's LM, likelihood", "revision ORM", "perfect checker", "checker, noise 0.5",
                                       "checker, noise 2"]
    assert [VerifierSpec.parse(s.name) for s in specs] == specs
    assert [s.oracle for s in specs] == [False] * 6 + [True] * 3
    # the checker names itself as the spec does
    assert [TruthChecker({}, noise=s.noise).name for s in specs if s.oracle] == [s.name for s in specs if s.oracle]
    with pytest.raises(ConfigError, match="verifier 'likelihood' is none of the study's"):
        VerifierSpec.parse("likelihood")


def test_every_scorer_of_the_study_implements_the_scorer_protocol(tmp_path):
    from transformers import AutoConfig, LlamaForTokenClassification

    from ttc.models.lm import save_model
    from ttc.verifiers.scorer import Scorer
    from ttc.verifiers.trained import Verifier

    tokenizer = build_tokenizer()
    model = build_model(LADDER["d16-l1"], tokenizer, seed=0)
    save_model(model, tokenizer, tmp_path / "m", {"config": {}})
    config = AutoConfig.from_pretrained(tmp_path / "m")
    config.num_labels = 1
    head = LlamaForTokenClassification.from_pretrained(tmp_path / "m", config=config)
    scorers = [Verifier(head, tokenizer, bf16=False), LikelihoodVerifier(model, tokenizer), TruthChecker({}, noise=0.5)]
    for scorer in scorers:
        assert isinstance(scorer, Scorer), type(scorer).__name__
    assert not isinstance(object(), Scorer)  # the check can fail
