"""Revision trajectories, the revision model's examples, chains, the staircase and hierarchical selection."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from ttc.core.config import ConfigError
from ttc.methods.revisions import (CONTEXT_ATTEMPTS, flat_majority, hierarchical_weighted, revised_away, revision_prompt,
                           sample_chains, sft_examples, split, splits_of, staircase, trajectories)
from ttc.models.sampling import Completion
from ttc.world import synthetic as W
from ttc.world import text as T

attempt = st.text(alphabet="0123456789+-*=\nA: ", min_size=1, max_size=30).map(lambda s: s.strip("\n") or "0")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["p1", "p2", "p3"]), st.lists(st.tuples(attempt, st.booleans()), max_size=12),
                       min_size=1), st.integers(0, 2**32 - 1))
def test_trajectories_follow_the_papers_recipe(answers, seed):
    out = trajectories(answers, np.random.default_rng(seed))
    assert len(out) == sum(ok for texts in answers.values() for _, ok in texts)  # one per correct answer
    for tr in out:
        texts = answers[tr.problem_id]
        wrong = [t for t, ok in texts if not ok]
        assert (tr.target, True) in texts  # the target is one of this problem's correct answers
        assert 0 <= len(tr.context) <= min(4, len(wrong))
        # only this problem's incorrect answers, each used once at most as often as it was sampled
        assert all(wrong.count(a) >= tr.context.count(a) for a in tr.context)
        if tr.context:
            last = Levenshtein.distance(tr.context[-1], tr.target)
            assert all(last <= Levenshtein.distance(a, tr.target) for a in tr.context)


def test_the_number_of_incorrect_attempts_is_drawn_uniformly():
    answers = {"p": [("right", True)] * 2000 + [(f"wrong {i}", False) for i in range(10)]}
    counts = np.bincount([len(tr.context) for tr in trajectories(answers, np.random.default_rng(0))], minlength=5)
    assert len(counts) == 5 and counts.min() > 300  # 0..4, about 400 each
    few = {"p": [("right", True)] * 200 + [("wrong", False)]}  # capped by how many incorrect answers exist
    assert {len(tr.context) for tr in trajectories(few, np.random.default_rng(0))} == {0, 1}


def test_a_chain_keeps_the_most_recent_attempts_and_answers_from_the_newest(splits):
    problem = splits["test"][0]
    attempts = [f"{i}+{i}={2 * i}\nA: {i}" for i in range(6)]
    text = revision_prompt(problem, attempts)
    assert text.startswith(W.prompt(problem))
    kept = T.split_attempts(text[len(W.prompt(problem)):].rstrip("\n"))
    assert kept == attempts[-CONTEXT_ATTEMPTS:]
    # the chain's answer is the newest attempt's, whatever the older ones said
    assert T.extract_answer(T.newest_attempt(text + "A: 7")) == "7"
    assert revision_prompt(problem, []) == W.prompt(problem)


def test_the_sft_loss_is_taken_on_the_target_attempt_only(tokenizer, splits):
    from ttc.methods.revisions import Trajectory

    problem = splits["train"][0]
    right = T.solution_text(problem.steps, problem.answer)
    tr = Trajectory(problem.id, ("1+1=3\nA: 3", "2+2=5\nA: 5"), right)
    [ex] = sft_examples([tr], {problem.id: problem}, tokenizer, max_positions=512)
    n_context = len(tokenizer(revision_prompt(problem, tr.context))["input_ids"])
    assert ex.positions == tuple(range(n_context - 1, len(ex.ids) - 1))  # no context position is trained
    assert all(ex.ids[p + 1] == t for p, t in zip(ex.positions, ex.targets))
    assert tokenizer.decode(list(ex.targets)[:-1]) == right and ex.targets[-1] == tokenizer.eos_token_id
    with pytest.raises(ConfigError, match="more than the model's 20 positions"):
        sft_examples([tr], {problem.id: problem}, tokenizer, max_positions=20)


def test_the_staircase_serves_every_split_with_nested_budgets():
    lengths = staircase(64)
    assert sorted(lengths, reverse=True) == lengths and sum(lengths) == 64 * 4  # N (1 + log2(N) / 2) attempts
    chains = [[(c, t) for t in range(n)] for c, n in enumerate(lengths)]
    for n_chains, length in splits_of(64):
        chosen = split(chains, n_chains, length)
        assert len(chosen) == n_chains and all(len(c) == length for c in chosen)
        # nested: each is the start of a longer chain of the staircase
        assert all(c == chains[c[0][0]][:length] for c in chosen)
    assert splits_of(4) == [(4, 1), (2, 2), (1, 4)]
    with pytest.raises(ConfigError, match="power of two"):
        staircase(48)
    with pytest.raises(ConfigError, match="only 1 chains are that long"):
        split(chains, 2, 64)


def test_hierarchical_selection_on_a_hand_made_example():
    answers = [["1", "1", "2"], ["2", "3"], ["3"]]
    scores = [[0.1, 0.1, 0.9], [0.5, 0.6], [0.9]]
    # within chains: "2" (0.9), "3" (0.6), "3" (0.9); across: "3" (1.5) beats "2" (0.9)
    assert hierarchical_weighted(answers, scores) == "3"
    # flat majority: 1, 2 and 3 twice each: the first seen wins the tie
    assert flat_majority(answers) == "1"
    assert hierarchical_weighted([[None]], [[1.0]]) is None


def test_revised_away_counts_flips_along_chains():
    flips = revised_away([[True, False, True, True], [False, False]])
    assert flips == {"correct_to_incorrect": 0.5, "incorrect_to_correct": 0.5}


class EchoPolicy:
    """Writes attempt k of a chain as 'k' ('A: k'), and records the prompts it was given."""

    n_parameters = 100

    def __init__(self):
        self.prompts = []

    def sample(self, prompts, n=1, temperature=1.0, seed=0, max_new_tokens=None, **_):
        self.prompts.append(list(prompts))
        return [[Completion(f"A: {text.count('A: ')}", 3, "answer")] for text in prompts]


def test_chains_write_each_attempt_after_the_recent_ones_and_bill_every_token(splits):
    problems = splits["test"][:2]
    policy = EchoPolicy()
    attempts = sample_chains(policy, problems, [6, 2], temperature=1.0, seed=0)
    for p in problems:
        mine = attempts[attempts.problem_id == p.id].sort_values(["chain", "step"])
        assert mine[mine.chain == 0].text.tolist() == ["A: 0", "A: 1", "A: 2", "A: 3", "A: 4", "A: 4"]  # 4 in context
        assert mine[mine.chain == 1].text.tolist() == ["A: 0", "A: 1"]
        assert len(mine) == 8 and mine.generated_tokens.sum() == 8 * 3
    assert [len(call) for call in policy.prompts] == [4, 4, 2, 2, 2, 2]  # the short chains stop
    assert attempts.answer.tolist()[:2] == ["0", "0"] and (attempts.flops > 0).all()
    # each attempt's history is what it was written after
    from ttc.methods.revisions import histories

    prompts = histories(attempts, {p.id: p for p in problems})
    assert prompts == [call for calls in policy.prompts for call in calls]


def test_a_split_of_a_smaller_budget_has_disjoint_replicates_in_the_staircase():
    from ttc.methods.revisions import replicates

    lengths = staircase(16)
    chains = [[(c, t) for t in range(n)] for c, n in enumerate(lengths)]
    for budget in (1, 2, 4, 8, 16):
        for n_chains, length in splits_of(budget):
            k = replicates(chains, n_chains, length)
            assert k == 16 // budget  # N / B groups for every split of B
            groups = [split(chains, n_chains, length, r) for r in range(k)]
            used = [c[0][0] for g in groups for c in g]
            assert len(used) == len(set(used))  # no chain in two groups


def test_split_results_select_hierarchically_and_bill_writing_and_reading():
    import pandas as pd

    from ttc.pipelines.revision_study import MAJORITY, split_results

    # one problem, the staircase of 2: a chain of 2 ("1" then "7") and one of 1 ("1"); the right answer is 7
    attempts = pd.DataFrame({"problem_id": "p", "chain": [0, 0, 1], "step": [0, 1, 0], "answer": ["1", "7", "1"],
                             "flops": [10.0, 20.0, 10.0]})
    scores = pd.DataFrame({"problem_id": "p", "chain": [0, 0, 1], "step": [0, 1, 0], "score": [0.1, 0.9, 0.2],
                           "verifier_flops": [1.0, 2.0, 1.0]})
    out = split_results(attempts, {"v": scores}, {"p": "7"}, [1, 2]).set_index(["budget", "split", "selector"])
    assert out.loc[(2, "1 chains x 2", "v"), "accuracy"] == 1.0  # 7 (0.9) beats 1 (0.1) within the chain
    assert out.loc[(2, "2 chains x 1", "v"), "accuracy"] == 0.0  # two first attempts, both "1"
    assert out.loc[(2, "1 chains x 2", MAJORITY), "accuracy"] == 0.0  # a 1-1 tie goes to the first seen, "1"
    assert out.loc[(2, "1 chains x 2", "v"), "flops"] == 30.0 + 3.0 and out.loc[(2, "1 chains x 2", MAJORITY), "flops"] == 30.0
    # budget 1 has two replicates (the first attempt of each chain): both "1"
    assert out.loc[(1, "1 chains x 1", "v"), "replicates"] == 2 and out.loc[(1, "1 chains x 1", "v"), "accuracy"] == 0.0


def test_the_revision_model_is_fine_tuned_at_its_extended_length_and_saved(tokenizer, splits, tiny_model, tmp_path):
    from transformers import AutoModelForCausalLM

    from ttc.models.lm import save_model
    from ttc.methods.revisions import RevisionConfig, Trajectory, train_revision_model

    base = tmp_path / "base"
    save_model(tiny_model, tokenizer, base, {"name": "d16-l1"})
    problems = {p.id: p for p in splits["train"][:20]}
    items = [Trajectory(p.id, ("1+1=3\nA: 3",) * 4, T.solution_text(p.steps, p.answer)) for p in problems.values()]
    cfg = RevisionConfig(max_positions=1024, lr=1e-2, batch_size=4, max_epochs=6, evals_per_epoch=2, patience=20)
    record = train_revision_model(items, problems, base, cfg, tmp_path / "rev", {"test": 1}, progress=False)
    # it learned the targets: better than an untrained model's uniform guess over the vocabulary
    assert record["trajectories"] == 20 and record["best_val_loss"] < 0.8 * math.log(len(tokenizer))
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "rev", use_safetensors=True)
    assert model.config.max_position_embeddings == 1024
    again = train_revision_model(items, problems, base, cfg, tmp_path / "rev", {"test": 1}, progress=False)
    assert again == record  # a finished model is read back, not retrained


def test_the_revision_data_is_every_answer_graded_and_its_trajectories_a_seeded_subset(splits, tmp_path):
    from ttc.methods.revisions import RevisionConfig, sample_answers, training_trajectories

    class HalfRight:
        n_parameters = 1

        def sample(self, prompts, n=1, temperature=1.0, seed=0, max_new_tokens=None, **_):
            problems = {W.prompt(p): p for p in splits["train"]}
            return [[Completion(f"A: {problems[t].answer if s % 2 == 0 else 'x'}", 3, "answer") for s in range(n)]
                    for t in prompts]

    problems = splits["train"][:5]
    cfg = RevisionConfig(n_samples=6, problems_per_chunk=2, max_trajectories=10)
    answers = sample_answers(HalfRight(), problems, cfg, tmp_path / "answers.parquet", {"test": 1}, progress=False)
    assert len(answers) == 5 * 6 and answers.groupby("problem_id")["correct"].sum().tolist() == [3] * 5
    items = training_trajectories(answers, cfg)
    assert len(items) == 10 and items == training_trajectories(answers, cfg)  # 10 of the 15, the same each time
    assert all(a == "A: x" for tr in items for a in tr.context)


def test_the_revision_orm_reads_each_attempt_after_its_history_and_learns_its_grade(tokenizer, splits):
    import pandas as pd

    from ttc.methods.revisions import orm_examples

    p = splits["test"][0]
    attempts = pd.DataFrame({"problem_id": p.id, "chain": [0, 0, 0], "step": [0, 1, 2],
                             "text": ["1+1=3\nA: 3", "", f"A: {p.answer}"], "correct": [False, False, True]})
    examples = orm_examples(attempts, {p.id: p}, tokenizer, max_positions=512)
    assert len(examples) == 2  # the empty attempt has no line to score
    last = examples[-1]
    history = revision_prompt(p, ["1+1=3\nA: 3", ""])
    assert tokenizer.decode(list(last.ids)).startswith(tokenizer.decode(tokenizer(history)["input_ids"]))
    assert last.targets == (1.0,) and examples[0].targets == (0.0, 0.0)  # the grade at every line's end
    with pytest.raises(ConfigError, match="revision_max_positions"):
        orm_examples(attempts, {p.id: p}, tokenizer, max_positions=10)


def test_every_attempt_is_billed_what_reading_it_costs_even_a_repeat(splits):
    import pandas as pd

    from ttc.methods.revisions import score_attempts

    class Counting:
        n_parameters = 10

        def score_and_count(self, prompts, lines):  # a repeat is read once, as the real verifiers do
            seen, counted = set(), []
            for key in zip(prompts, map(tuple, lines)):
                counted.append(0 if key in seen else 5)
                seen.add(key)
            return [[0.5] * len(ls) for ls in lines], counted

    p = splits["test"][0]
    attempts = pd.DataFrame({"problem_id": p.id, "chain": [0, 1], "step": [0, 0], "text": ["A: 1", "A: 1"]})
    out = score_attempts(Counting(), attempts, {p.id: p}, with_history=False)
    assert out.verifier_tokens.tolist() == [5, 5] and out.verifier_flops.tolist() == [100.0, 100.0]
    assert out.score.tolist() == [0.5, 0.5]


def test_context_losses_pair_each_count_with_the_same_targets_after_the_question_alone(tokenizer, splits, tiny_model):
    from ttc.methods.revisions import Trajectory, context_losses
    from ttc.models.finetune import mean_loss, token_loss

    problems = {p.id: p for p in splits["train"][:6]}
    target = {pid: T.solution_text(p.steps, p.answer) for pid, p in problems.items()}
    items = [Trajectory(pid, ("1+1=2\nA: 2",) * (i % 3), target[pid]) for i, pid in enumerate(problems)]
    losses = context_losses({"m": tiny_model}, items, problems, tokenizer, 512).set_index("attempts_in_context")
    assert losses.loc[[0, 1, 2], "trajectories"].tolist() == [2, 2, 2] and losses.loc[[3, 4], "trajectories"].sum() == 0
    assert losses.loc[0, "loss_per_token"] == losses.loc[0, "loss_alone"]
    # with two attempts: the loss of those two trajectories' targets, and of the same targets without the attempts
    two = [t for t in items if len(t.context) == 2]
    alone = sft_examples([Trajectory(t.problem_id, (), t.target) for t in two], problems, tokenizer, 512)
    assert losses.loc[2, "loss_alone"] == pytest.approx(mean_loss(tiny_model, alone, token_loss, tokenizer.pad_token_id,
                                                                  False, 32))
    assert losses.loc[2, "loss_per_token"] != pytest.approx(losses.loc[2, "loss_alone"])


def test_after_incorrect_compares_with_first_attempts_and_counts_repeats():
    from ttc.methods.revisions import after_incorrect

    # problem p: two chains; first attempts right in one of two (rate 0.5)
    p = [[(False, "1"), (False, "1"), (True, "7")],  # step 1: after ["1"] wrong, repeats; step 2: after two wrong, right
         [(True, "7"), (False, "2")]]  # step 1: its context holds a right answer: not counted
    # problem q: one chain, its first attempt wrong (rate 0); one attempt after a wrong one, a new wrong answer
    q = [[(False, None), (False, "3")]]
    out = after_incorrect([p, q])
    assert out["after_incorrect_attempts"] == 3
    assert out["after_incorrect_correct"] == pytest.approx(1 / 3)
    assert out["after_incorrect_first"] == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    assert out["after_incorrect_repeats"] == pytest.approx(1 / 3)  # None never counts as a repeat
    # only the CONTEXT_ATTEMPTS most recent attempts are the context: an old right answer has left it
    long = [[(True, "7")] + [(False, "1")] * CONTEXT_ATTEMPTS + [(False, "1")]]
    assert after_incorrect([long])["after_incorrect_attempts"] == 1
    assert math.isnan(after_incorrect([[[(True, "7")]]])["after_incorrect_correct"])
