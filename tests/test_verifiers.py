import pytest
import torch

from ttc.core.compute import Ledger
from ttc.core.config import ConfigError
from ttc.models.lm import save_model
from ttc.models.sampling import Completion
from ttc.verifiers.trained import LabelConfig, Verifier, VerifierConfig, _label_chunk, train_verifier, training_examples
from ttc.world import synthetic as W
from ttc.world.text import render, solution_lines


class ScriptedPolicy:
    """Stands in for the sampler: solution 0 is the worked solution, solution 1 gets its first step
    wrong; a rollout finishes correctly exactly when its prefix is still on track."""

    def __init__(self, problems):
        self.by_prompt = {W.prompt(p): p for p in problems}
        self.calls = []

    def sample(self, prompts, n=1, temperature=1.0, seed=0, **_):
        self.calls.append((len(prompts), n))
        out = []
        for text in prompts:
            prompt = next(q for q in self.by_prompt if text.startswith(q))
            p = self.by_prompt[prompt]
            lines = solution_lines(text[len(prompt):])
            if not lines:  # a solution
                wrong = [p.steps[0] + "9"] + list(p.steps[1:]) + ["A: 99"]
                right = list(p.steps) + [f"A: {p.answer}"]
                completions = [right, wrong]
            else:  # a rollout from a prefix
                ok = all(W.lines_on_track(p, lines))
                rest = list(p.steps[len(lines):]) + [f"A: {p.answer if ok else 99}"]
                completions = [rest, rest]
            out.append([Completion("\n".join(completions[k % 2]), 1, "answer") for k in range(n)])
        return out


def test_monte_carlo_labels_follow_the_rollouts(splits):
    problems = [p for p in splits["test"] if len(p.steps) >= 2][:5]
    policy = ScriptedPolicy(problems)
    table = _label_chunk(policy, problems, LabelConfig(n_solutions=2, n_rollouts=3), seed=0)
    # With this policy a prefix's value is 1 exactly when it is on track, the answer line included.
    assert (table["mc_label"] == table["on_track"].astype(float)).all()
    assert set(table.groupby(["problem_id", "solution"]).size()) == {len(p.steps) + 1 for p in problems} | set()
    final = table[table.step == table.n_lines - 1]
    assert (final["mc_label"] == final["final_correct"].astype(float)).all()
    # Identical prefixes are rolled out once: the right solution's prefixes, plus the wrong one's.
    n_prefixes = sum(2 * len(p.steps) for p in problems)
    assert policy.calls == [(len(problems), 2), (n_prefixes, 3)]
    examples = training_examples(table, {p.id: p for p in problems}, "orm")
    for e in examples.itertuples():
        assert len(set(e.targets)) == 1 and len(e.targets) == len(e.lines)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory, tiny_model, tokenizer):
    path = tmp_path_factory.mktemp("models") / "d16-l1"
    save_model(tiny_model, tokenizer, path, {"name": "d16-l1", "config": {"note": "untrained, for tests"}})
    return path


def test_verifier_trains_saves_and_scores_every_line(splits, base_dir, tmp_path):
    problems = [p for p in splits["test"] if len(p.steps) >= 2][:6]
    table = _label_chunk(ScriptedPolicy(problems), problems, LabelConfig(n_solutions=2, n_rollouts=2), seed=0)
    by_id = {p.id: p for p in problems}
    cfg = VerifierConfig(kind="prm", batch_size=4, max_epochs=2, val_fraction=0.2, bf16=False)
    meta = train_verifier(table, by_id, base_dir, cfg, tmp_path / "prm", progress=False)
    assert meta["steps"] >= 1 and meta["curve"] and (tmp_path / "prm" / "model.safetensors").exists()
    assert train_verifier(table, by_id, base_dir, cfg, tmp_path / "prm", progress=False) == meta  # skipped
    with pytest.raises(ConfigError, match="other settings"):
        train_verifier(table, by_id, base_dir, VerifierConfig(kind="prm", lr=1e-4), tmp_path / "prm")

    ledger = Ledger()
    verifier = Verifier.load(tmp_path / "prm", ledger=ledger, bf16=False)
    prompts = [W.prompt(p) for p in problems]
    lines = [list(p.steps) + [f"A: {p.answer}"] for p in problems]
    scores = verifier.score(prompts + prompts[:1], lines + lines[:1])
    assert [len(s) for s in scores] == [len(x) for x in lines + lines[:1]]
    assert all(0.0 <= v <= 1.0 for s in scores for v in s) and scores[0] == scores[-1]
    # The repeated pair is read once; the ledger counts the tokens of each distinct text.
    expected = sum(len(verifier.tokenizer(render(p, x))["input_ids"]) for p, x in zip(prompts, lines))
    assert ledger.verifier_tokens == expected
    # A prefix scores its lines as the whole solution does (causal reading).
    prefix = verifier.score(prompts[:1], [lines[0][:2]])[0]
    assert prefix == pytest.approx(scores[0][:2], abs=1e-5)
    assert verifier.score(prompts[:1], [[]]) == [[]]


def test_sample_scores_aggregate_each_sample_as_the_selection_rules_do():
    import pandas as pd

    from ttc.verifiers.selection import aggregate
    from ttc.verifiers.trained import sample_scores

    lines = pd.DataFrame({"problem_id": ["a"] * 3 + ["a"] * 2, "text": ["x"] * 3 + ["y"] * 2,
                          "line": [2, 0, 1, 0, 1], "score": [0.5, 0.9, 0.2, 0.3, 0.6]})
    pool = pd.DataFrame({"problem_id": ["a", "a", "a", "a"], "text": ["x", "y", "x", ""]})
    out = sample_scores(lines, pool, "prm")
    for how in ("last", "min", "prod"):
        assert out[f"prm_{how}"].tolist() == pytest.approx(
            [aggregate([0.9, 0.2, 0.5], how), aggregate([0.3, 0.6], how), aggregate([0.9, 0.2, 0.5], how), 0.0])
