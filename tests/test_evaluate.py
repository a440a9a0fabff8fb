"""A model's accuracy on a problem set: greedy and sampled answers graded exactly, with what later notebooks need."""

import pytest

from ttc.models import evaluate as E
from ttc.models.sampling import Completion
from ttc.world import synthetic as W
from ttc.world.text import solution_lines


class ScriptedSampler:
    """Greedy: right on even-numbered problems. Sampled: the first k of n samples right on problem k (mod n + 1).
    Every completion is 7 tokens."""

    def __init__(self, model, tokenizer, **kwargs):
        self.problems = {}

    def sample(self, prompts, n=1, temperature=1.0, seed=0, **kwargs):
        out = []
        for i, text in enumerate(prompts):
            problem = self.problems[text]
            right = "\n".join([*problem.steps, f"A: {problem.answer}"])
            wrong = "\n".join([*problem.steps, "A: wrong"])
            if temperature == 0:
                out.append([Completion(right if i % 2 == 0 else wrong, 7, "answer")])
            else:
                k = i % (n + 1)
                out.append([Completion(right if j < k else wrong, 7, "answer") for j in range(n)])
        return out


def test_greedy_and_pass1_are_graded_exactly(splits, tokenizer, monkeypatch):
    problems = splits["test"][:5]
    sampler = ScriptedSampler(None, tokenizer)
    sampler.problems = {W.prompt(p): p for p in problems}
    monkeypatch.setattr(E, "Sampler", lambda *args, **kwargs: sampler)
    table = E.evaluate(None, tokenizer, problems, n_samples=3, config=E.EvalConfig(n_samples_policy=3))
    assert table.problem_id.tolist() == [p.id for p in problems]
    assert table.greedy_correct.tolist() == [True, False, True, False, True]
    assert table.n_correct.tolist() == [0, 1, 2, 3, 0] and table.pass1.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1, 0])
    assert (table.n_samples == 3).all() and (table.greedy_tokens == 7).all() and (table.mean_tokens == 7).all()
    # the prompt's tokens, as the tokenizer counts them (the beginning-of-text token included)
    assert table.greedy_prompt_tokens.tolist() == [len(tokenizer(W.prompt(p))["input_ids"]) for p in problems]
    assert table.n_steps.tolist() == [len(p.steps) for p in problems]


def test_the_scripted_answers_are_what_grading_reads(splits):
    problem = splits["test"][0]
    right = "\n".join([*problem.steps, f"A: {problem.answer}"])
    assert W.grade(problem, right) and not W.grade(problem, right.replace(f"A: {problem.answer}", "A: wrong"))
    assert solution_lines(right)[:-1] == list(problem.steps)


def test_bad_settings_are_refused():
    with pytest.raises(Exception, match="n_samples_policy=0"):
        E.EvalConfig(n_samples_policy=0)
    with pytest.raises(Exception, match="temperature=-1"):
        E.EvalConfig(temperature=-1)
