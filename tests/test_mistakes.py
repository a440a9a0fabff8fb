import random

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ttc.core.config import ConfigError
from ttc.methods.revisions import Trajectory, sft_examples
from ttc.models import pretrain as P
from ttc.world import mistakes as M
from ttc.world import synthetic as W
from ttc.world import text as T


def retried(problems, tokenizer, block, share, seed=0):
    """The problems' documents with a `share` of retries, at rows of `block` tokens."""
    cfg = P.PretrainConfig(block=block, retry_share=share, retry_attempts=4, seed=seed)
    return P.retry_documents(problems, P.tokenize(problems, tokenizer, block), tokenizer, cfg)


def test_each_family_reads_its_answer_off_its_steps(splits):
    for p in splits["train"]:
        family = W.FAMILIES[p.family]
        assert family.answer(family.parse_question(p.question), list(p.steps)) == p.answer


def test_known_answers():
    chain = W.FAMILIES["modchain"]
    parsed = chain.parse_question("12 +05 *07 -03 (mod 23)")
    assert chain.answer(parsed, ["12+05=17", "17*07=04", "04-03=01"]) == "1"
    addition = W.FAMILIES["addition"]
    assert addition.answer(addition.parse_question("4821+3967"), ["1+7+0=8", "2+6+0=8", "8+9+0=17", "4+3+1=8"]) == "8788"
    slipped = addition.misstep("8+9+0=17", None, random.Random(0))
    assert slipped.startswith("8+9+0=") and slipped != "8+9+0=17" and 0 <= int(slipped.split("=")[1]) <= 19


@settings(max_examples=60, deadline=None)
@given(index=st.integers(0, 399), seed=st.integers(0, 2 ** 32 - 1))
def test_a_mistaken_attempt_slips_once_computes_on_from_the_slip_and_answers_wrong(splits, index, seed):
    problem = splits["train"][index]
    drawn = M.mistaken_steps(problem, random.Random(seed))
    if drawn is None:  # every draw reached the right answer: only chains that can forget a value (x*0 mod m)
        assert problem.family == "modchain" and "*" in problem.question
        return
    steps, answer = drawn
    right = W.check_steps(problem, steps)
    assert len(steps) == len(problem.steps) and right.count(False) == 1
    slip = right.index(False)
    assert steps[:slip] == list(problem.steps[:slip]) and steps[slip] != problem.steps[slip]
    assert W.on_track(problem, steps) == [i < slip for i in range(len(steps))]
    assert answer != problem.answer and not W.grade(problem, M.mistaken_solution(problem, random.Random(seed)))
    assert T.extract_answer(T.solution_text(steps, answer)) == answer


def test_retry_documents_are_revision_trajectories_with_loss_on_the_solution_only(tokenizer, splits):
    problems = splits["train"][:80]
    docs = retried(problems, tokenizer, 256, 1.0, seed=5)
    counts = []
    for p, d in zip(problems, docs):
        context = tokenizer.decode(d.ids[:d.n_prompt].tolist(), skip_special_tokens=True)
        attempts = T.split_attempts(context[len(T.prompt(p.question)):])[:-1]
        counts.append(len(attempts))
        assert context == T.attempts_context(p.question, attempts) and len(d.ids) <= 256
        assert all(not W.grade(p, a) for a in attempts)
        # the same tokens as notebook 06's fine-tuning example of this trajectory, loss on the same positions
        target = T.solution_text(p.steps, p.answer)
        (example,) = sft_examples([Trajectory(p.id, tuple(attempts), target)], {p.id: p}, tokenizer, 512)
        assert example.ids == tuple(d.ids.tolist())
        assert list(example.positions) == list(range(d.n_prompt - 1, len(d.ids) - 1))
    # none only where even one attempt would not fit the row (16-step chains here) or none could be drawn wrong
    assert max(counts) <= 4 and np.mean(np.array(counts) >= 1) > 0.8 and len(set(counts)) > 2
    # a seed draws its own attempts; a share of none leaves every document as it was
    again = retried(problems, tokenizer, 256, 1.0, seed=5)
    other = retried(problems, tokenizer, 256, 1.0, seed=6)
    assert all(np.array_equal(a.ids, b.ids) for a, b in zip(docs, again))
    assert not all(np.array_equal(a.ids, b.ids) for a, b in zip(docs, other))
    plain = P.tokenize(problems, tokenizer, 256)
    assert all(np.array_equal(a.ids, b.ids) for a, b in zip(plain, retried(problems, tokenizer, 256, 0.0, seed=5)))


def test_a_retry_share_writes_that_share_and_drops_attempts_that_do_not_fit(tokenizer, splits):
    problems = splits["train"]
    plain = P.tokenize(problems, tokenizer, 256)
    half = retried(problems, tokenizer, 256, 0.5)
    drawn = np.mean([bool(a) for a in P.retry_contexts(problems, 0.5, 4, seed=0)])
    share = np.mean([d.n_prompt > p.n_prompt for d, p in zip(half, plain)])
    assert 0.4 < drawn < 0.6 and 0.3 < share <= drawn  # the longest chains here (16 steps) fit no attempt in 256 tokens
    longest_plain = max(len(d.ids) for d in plain)
    tight = retried(problems, tokenizer, longest_plain, 1.0)
    assert max(len(d.ids) for d in tight) <= longest_plain  # oldest attempts dropped, down to a plain document


def test_the_recorded_recipe_names_retries_only_when_there_are_some():
    assert "retry_share" not in P.PretrainConfig().record()
    assert P.PretrainConfig(retry_share=0.25).record()["retry_share"] == 0.25
    with pytest.raises(ConfigError, match="retry_share"):
        P.PretrainConfig(retry_share=1.5)
