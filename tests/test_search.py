"""Search methods against a scripted policy whose step accuracy is known, and the world's truth as verifier."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ttc.core.compute import Ledger
from ttc.core.config import ConfigError
from ttc.methods.search import SearchConfig, process_advantage, prover_value, ranks, run_search
from ttc.models.sampling import Completion
from ttc.world import synthetic as W
from ttc.world.text import solution_lines


class ScriptedPolicy:
    """Writes the right next step with probability p (always at temperature 0), a wrong one otherwise;
    after the last step it writes the answer, right only if every step was."""

    n_parameters = 1000
    step_separator = "\n"  # the synthetic world's

    def __init__(self, problems, tokenizer, p):
        self.by_prompt = {W.prompt(q): q for q in problems}
        self.tokenizer, self.p, self.calls, self.generated = tokenizer, p, [], 0

    def sample(self, prompts, n=1, temperature=1.0, until="answer", seed=0, max_new_tokens=None, n_steps=1):
        self.calls.append({"prompts": list(prompts), "temperature": temperature, "until": until, "n_steps": n_steps})
        rng = random.Random(seed)
        out = []
        for text in prompts:
            prompt = next(q for q in self.by_prompt if text.startswith(q))
            problem, lines = self.by_prompt[prompt], solution_lines(text[len(prompt):])
            row = []
            for _ in range(n):
                written, stop = [], "length"
                while True:
                    i = len(lines) + len(written)
                    if i == len(problem.steps):
                        ok = all(W.lines_on_track(problem, lines + written))
                        written.append(f"A: {problem.answer if ok else 99}")
                        stop = "answer"
                        break
                    right = temperature == 0 or rng.random() < self.p
                    written.append(problem.steps[i] if right else problem.steps[i][:-1] + "x")
                    if until == "step" and len(written) == n_steps:
                        stop = "step"
                        break
                body = "\n".join(written) + ("\n" if stop == "step" else "")
                row.append(Completion(body, len(body) + (stop == "answer"), stop))
                self.generated += row[-1].n_tokens
            out.append(row)
        return out


class TruthVerifier:
    """A perfect PRM: a line scores 1 when the solution is still right up to it."""

    n_parameters = 10

    def __init__(self, problems, tokenizer):
        self.by_prompt, self.tokenizer, self.ledger = {W.prompt(q): q for q in problems}, tokenizer, Ledger()

    def score(self, prompts, lines):
        return [[float(t) for t in W.lines_on_track(self.by_prompt[p], ls)] for p, ls in zip(prompts, lines)]

    def score_and_count(self, prompts, lines):
        return self.score(prompts, lines), [0] * len(prompts)


@pytest.fixture
def hard_problems(splits):
    return [p for p in splits["test"] if len(p.steps) >= 5][:6]


def test_beam_search_with_a_perfect_verifier_finds_what_best_of_n_misses(hard_problems, tokenizer):
    policy, verifier = ScriptedPolicy(hard_problems, tokenizer, p=0.4), TruthVerifier(hard_problems, tokenizer)
    beam = run_search(hard_problems, policy, verifier, SearchConfig("beam", budget=16, beam_width=4))
    bon = run_search(hard_problems, policy, verifier, SearchConfig("best_of_n", budget=16))
    # Each round 16 tries at a step right with p=0.4 almost surely hold one right step, which the
    # verifier keeps; 16 whole samples are all right with probability 1 - (1 - 0.4^5)^16 < 0.2.
    assert beam["correct"].all()
    assert bon["correct"].mean() < 0.5


def test_beam_search_samples_n_and_keeps_n_over_m_each_round(hard_problems, tokenizer):
    policy, verifier = ScriptedPolicy(hard_problems, tokenizer, p=0.7), TruthVerifier(hard_problems, tokenizer)
    run_search(hard_problems, policy, verifier, SearchConfig("beam", budget=16, beam_width=4))
    for call in policy.calls:
        assert call["until"] == "step" and call["n_steps"] == 1 and call["temperature"] == 1.0
        per_problem = {}
        for text in call["prompts"]:
            pid = next(q.id for q in hard_problems if text.startswith(W.prompt(q)))
            per_problem.setdefault(pid, []).append(text)
        for texts in per_problem.values():
            assert len(texts) == 16 and len(set(texts)) <= 4  # N rows from at most N/M distinct beams
            assert len(policy.calls) == 1 or all(texts.count(t) >= 4 for t in set(texts))


def test_lookahead_rolls_out_greedily_and_counts_the_rollouts(hard_problems, tokenizer):
    policy, verifier = ScriptedPolicy(hard_problems, tokenizer, p=0.7), TruthVerifier(hard_problems, tokenizer)
    cfg = SearchConfig("lookahead", budget=16, beam_width=2, lookahead=3)
    assert cfg.n_beams == 4 and cfg.name == "lookahead k=3 M=2"
    results = run_search(hard_problems, policy, verifier, cfg)
    rollouts = [c for c in policy.calls if c["temperature"] == 0.0]
    assert rollouts and all(c["n_steps"] == 3 and c["until"] == "step" for c in rollouts)
    n_rows = sum(len(c["prompts"]) for c in policy.calls)
    assert results["generations"].sum() == n_rows  # every sampled step and every rollout is counted
    assert results["generated_tokens"].sum() == policy.generated


def test_dvts_runs_n_over_m_independent_subtrees_of_m_continuations(hard_problems, tokenizer):
    policy, verifier = ScriptedPolicy(hard_problems, tokenizer, p=0.4), TruthVerifier(hard_problems, tokenizer)
    cfg = SearchConfig("dvts", budget=16, beam_width=4)
    assert cfg.name == "DVTS M=4" and cfg.diverse
    results = run_search(hard_problems, policy, verifier, cfg)
    for call in policy.calls:
        per_problem = {}
        for text in call["prompts"]:
            pid = next(q.id for q in hard_problems if text.startswith(W.prompt(q)))
            per_problem.setdefault(pid, []).append(text)
        for texts in per_problem.values():
            # each running subtree's one beam, continued M = 4 times; never more than N = 16 rows
            assert len(texts) <= 16 and len(texts) % 4 == 0
            assert all(texts.count(t) % 4 == 0 for t in set(texts))
    # with a perfect verifier every subtree keeps a right step whenever one of its 4 tries is right
    assert results["correct"].mean() > run_search(hard_problems, policy, verifier,
                                                  SearchConfig("best_of_n", budget=16))["correct"].mean()


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_process_advantage_rewards_progress_under_the_prover(child, other_child, parent):
    assert process_advantage(child, parent, alpha=0.0) == child
    assert 0.0 <= prover_value(child) <= 1.0 and prover_value(child) >= child  # best-of-4 is at least one try
    if child > other_child:  # from the same parent, the better step ranks higher
        assert process_advantage(child, parent) >= process_advantage(other_child, parent)
    # the same step ranks higher from a weaker parent (it made more progress)
    assert process_advantage(child, min(parent, child)) >= process_advantage(child, max(parent, child))


def test_process_advantage_ranks_progress_where_beam_search_ranks_the_score():
    # Graded scores, two candidates: one a small step on from a strong prefix (0.90 -> 0.92), the other a big one
    # from a weak prefix (0.30 -> 0.80). Beam search keeps the first, process advantage the second; a PAV that
    # fell back to the plain score would keep the first too.
    per_line, parents = [[0.90, 0.92], [0.30, 0.80]], [1, 1]
    assert ranks("beam", per_line, parents) == [0.92, 0.80]
    pav = ranks("pav", per_line, parents)
    assert pav[1] > pav[0] and pav == [process_advantage(0.92, 0.90), process_advantage(0.80, 0.30)]
    # a first step has no scored parent: it ranks by its own score, plus no progress; a candidate never scored
    # (no line) ranks last either way
    assert ranks("pav", [[0.5], []], [0, 0]) == [0.5, 0.0] == ranks("beam", [[0.5], []], [0, 0])


def test_process_advantage_beam_search_with_a_perfect_verifier_stays_on_track(hard_problems, tokenizer):
    policy, verifier = ScriptedPolicy(hard_problems, tokenizer, p=0.4), TruthVerifier(hard_problems, tokenizer)
    results = run_search(hard_problems, policy, verifier, SearchConfig("pav", budget=16, beam_width=4))
    assert results["correct"].all() and set(results["method"]) == {"beam M=4, process advantage"}


def test_search_configs_are_validated():
    assert SearchConfig("beam", budget=64).width == 8
    assert SearchConfig("beam", budget=32).width == 4 and SearchConfig("lookahead", budget=4, lookahead=1).width == 1
    with pytest.raises(ConfigError, match="lookahead"):
        SearchConfig("beam", budget=16, lookahead=1)
    with pytest.raises(ConfigError, match="method='dvts' has lookahead=0"):
        SearchConfig("dvts", budget=16, beam_width=4, lookahead=1)
    with pytest.raises(ConfigError, match="multiple of M"):
        SearchConfig("lookahead", budget=16, lookahead=3, beam_width=8)


def test_real_models_same_seed_same_results_and_counts_add_up(tiny_model, tokenizer, splits, tmp_path):
    from transformers import AutoConfig, LlamaForTokenClassification

    from ttc.models.lm import save_model
    from ttc.models.sampling import Sampler
    from ttc.verifiers.trained import Verifier

    save_model(tiny_model, tokenizer, tmp_path / "m", {"config": {}})
    config = AutoConfig.from_pretrained(tmp_path / "m")
    config.num_labels = 1
    head = LlamaForTokenClassification.from_pretrained(tmp_path / "m", config=config)
    problems = splits["test"][:3]
    cfg = SearchConfig("lookahead", budget=8, beam_width=2, lookahead=1, max_rounds=3, max_new_tokens=40)
    runs = []
    for _ in range(2):
        sampler = Sampler(tiny_model, tokenizer, max_new_tokens=40)
        verifier = Verifier(head, tokenizer, bf16=False)
        runs.append((run_search(problems, sampler, verifier, cfg), sampler.ledger, verifier.ledger))
    (a, policy_ledger, verifier_ledger), (b, _, _) = runs
    assert a.drop(columns=["texts", "scores"]).equals(b.drop(columns=["texts", "scores"]))
    assert a["texts"].tolist() == b["texts"].tolist()
    assert a["generations"].sum() == policy_ledger.generations
    assert a["prompt_tokens"].sum() == policy_ledger.prompt_tokens
    assert a["generated_tokens"].sum() == policy_ledger.generated_tokens
    assert a["verifier_tokens"].sum() == verifier_ledger.verifier_tokens
    assert a["flops"].sum() == pytest.approx(policy_ledger.flops + verifier_ledger.flops)
