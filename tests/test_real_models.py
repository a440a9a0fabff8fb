"""Real models and MATH through the study's code (issue 17): tiny random policies and PRMs of several
architectures, saved with save_pretrained and loaded by path as a user's would be, sampled step by step on a
MATH fixture and run through best-of-N and beam search. Their answers are wrong; the plumbing and the ledger
must be right."""

import json

import pandas as pd
import pytest
import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast,
                          Qwen2Config, Qwen2ForTokenClassification)

from ttc.core.config import ConfigError
from ttc.methods.search import SearchConfig, run_search
from ttc.models.hub_models import load_causal_lm
from ttc.models.sampling import Sampler, StepStops
from ttc.verifiers.prm_adapters import ClassificationPRM, PRMConfig, StepTagPRM, load_prm
from ttc.world.math500 import MissingResource, equivalent, last_boxed, load_problems
from ttc.world.protocol import MathWorld
from conftest import run_notebook

# A small vocabulary, so that a random model writes step ends and boxed answers often enough to test them.
WORDS = list("0123456789 +-=./{}\n") + ["\\boxed{", "\\frac"]
CHAT = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}")
PROBLEMS = [("What is 1/2 as a decimal?", "0.5"), ("What is 10/4?", "\\frac{5}{2}")] + [
    (f"What is {a} + {b}?", str(a + b)) for a, b in zip(range(18), range(3, 21))]  # 20 problems


def small_tokenizer(merged_blank_line: bool, chat: bool) -> PreTrainedTokenizerFast:
    """Characters and a few MATH words; with `merged_blank_line`, a blank line is one token (as in Qwen's and
    Llama 3's tokenizers), else two newlines; Math-Shepherd's tag and Qwen's step separator are tokens too."""
    words = WORDS + (["\n\n"] if merged_blank_line else [])
    vocab = {w: i for i, w in enumerate(["<pad>", "<eos>", "<unk>", "ки", "<extra_0>"] + words)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    pieces = "|".join(["ки", "<extra_0>", r"\\boxed\{", r"\\frac"] + ([r"\n\n"] if merged_blank_line else []))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(pieces + r"|[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>",
                                        unk_token="<unk>", additional_special_tokens=["<extra_0>"],
                                        clean_up_tokenization_spaces=False)
    if chat:
        tokenizer.chat_template = CHAT
    return tokenizer


def save(tmp_path, name, model, tokenizer) -> str:
    model.save_pretrained(tmp_path / name)
    tokenizer.save_pretrained(tmp_path / name)
    return str(tmp_path / name)


def causal_lm(architecture: str, n_vocab: int):
    torch.manual_seed(0)
    if architecture == "llama":
        return LlamaForCausalLM(LlamaConfig(vocab_size=n_vocab, hidden_size=32, intermediate_size=64,
                                            num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                            max_position_embeddings=512, eos_token_id=1, pad_token_id=0))
    return GPT2LMHeadModel(GPT2Config(vocab_size=n_vocab, n_embd=32, n_layer=1, n_head=2, n_positions=512,
                                      eos_token_id=1, bos_token_id=1))


@pytest.fixture(scope="module")
def math_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("math") / "math.jsonl"
    pd.DataFrame([{"problem": q, "solution": "", "answer": a, "level": 1 + i % 5, "subject": "Prealgebra"}
                  for i, (q, a) in enumerate(PROBLEMS)]).to_json(path, orient="records", lines=True)
    return str(path)


@pytest.mark.parametrize("merged", [False, True])
def test_a_blank_line_ends_a_step_in_one_token_or_two(merged):
    tokenizer = small_tokenizer(merged, chat=False)
    stops = StepStops.of(tokenizer, "\n\n")
    blank, newline = tokenizer.convert_tokens_to_ids("\n\n"), tokenizer.convert_tokens_to_ids("\n")
    # a blank line written as two newlines ends a step whether or not the vocabulary has it as one token
    assert stops == StepStops((blank,) if merged else (), (newline,), (newline,))
    with pytest.raises(ValueError, match="cannot end a step"):
        StepStops.of(tokenizer, "@")  # not in the vocabulary


@pytest.mark.parametrize("architecture,merged", [("llama", False), ("gpt2", True)])
def test_sampling_stops_at_the_end_of_a_math_step(tmp_path, architecture, merged):
    tokenizer = small_tokenizer(merged, chat=merged)
    model, tokenizer = load_causal_lm(save(tmp_path, "policy", causal_lm(architecture, len(tokenizer)), tokenizer))
    sampler = Sampler(model, tokenizer, batch_size=16, max_new_tokens=40, step_separator="\n\n")
    assert sampler.lean == (architecture == "llama")
    out = [c for row in sampler.sample(["Q: 1+1?\n", "Q: 2+2?\n"], n=16, until="step", seed=0) for c in row]
    kinds = {c.stop for c in out}
    assert "step" in kinds  # the vocabulary is small enough that steps end within 40 tokens
    for c in out:
        body = c.text[:-2] if c.stop == "step" else c.text
        assert "\n\n" not in body  # stopped at the first blank line, not after it
        assert c.text.endswith("\n\n") == (c.stop == "step")
    assert sampler.ledger.generated_tokens == sum(c.n_tokens for c in out)


def test_a_step_tag_prm_scores_each_step_at_its_tag(tmp_path):
    tokenizer = small_tokenizer(False, chat=False)
    path = save(tmp_path, "prm", causal_lm("llama", len(tokenizer)), tokenizer)
    prm = load_prm(PRMConfig(path, kind="step_tag"))
    from ttc.verifiers.scorer import Scorer

    assert isinstance(prm, StepTagPRM) and isinstance(prm, Scorer)
    steps = ["1+1=2", "so \\boxed{2}"]
    (scores,), (read,) = prm.score_and_count(["What is 1+1?"], [steps])
    # by hand: the text with a tag after each step, softmax over (+, -) at the tags
    ids = tokenizer("What is 1+1? 1+1=2 ки\nso \\boxed{2} ки\n", add_special_tokens=False)["input_ids"]
    tags = [i for i, t in enumerate(ids) if t == tokenizer.convert_tokens_to_ids("ки")]
    with torch.no_grad():
        logits = prm.model(torch.tensor([ids])).logits[0]
    plus, minus = tokenizer.convert_tokens_to_ids("+"), tokenizer.convert_tokens_to_ids("-")
    expected = torch.softmax(logits[tags][:, [plus, minus]], dim=-1)[:, 0]
    assert scores == pytest.approx(expected.tolist(), abs=1e-6) and read == len(ids)
    assert prm.ledger.verifier_tokens == len(ids) and prm.ledger.flops == 2 * prm.n_parameters * len(ids)
    # a step that writes the tag itself is still scored once
    assert len(prm.score(["q"], [["a ки b", "c"]])[0]) == 2
    with pytest.raises(ConfigError, match="'@' is not in this PRM's vocabulary"):
        StepTagPRM(prm.model, tokenizer, PRMConfig(path, step_tag="@"))
    with pytest.raises(ConfigError, match="'12' is 2 tokens"):
        StepTagPRM(prm.model, tokenizer, PRMConfig(path, good_token="12"))


def test_a_classification_prm_scores_each_step_at_its_separator(tmp_path):
    tokenizer = small_tokenizer(True, chat=True)
    prm = load_prm(PRMConfig(save(tmp_path, "prm", classification_head(len(tokenizer)), tokenizer), kind="classification"))
    assert isinstance(prm, ClassificationPRM) and prm.model.config.model_type == "qwen2"
    from ttc.verifiers.scorer import Scorer

    assert isinstance(prm, Scorer)
    scores = prm.score(["What is 1+1?", "What is 1+1?"], [["1+1=2", "\\boxed{2}"], ["\\boxed{3}"]])
    assert [len(s) for s in scores] == [2, 1] and all(0 <= v <= 1 for s in scores for v in s)
    text = prm.text("What is 1+1?", ["1+1=2", "\\boxed{2}"])
    assert text.startswith("<system>Please reason step by step") and text.count("<extra_0>") == 2
    # right-padding in a batch does not change a row's scores
    assert prm.score(["What is 1+1?"], [["\\boxed{3}"]])[0] == pytest.approx(scores[1], abs=1e-5)


def classification_head(n_vocab: int):
    torch.manual_seed(0)
    return Qwen2ForTokenClassification(Qwen2Config(vocab_size=n_vocab, hidden_size=32, intermediate_size=64,
                                                   num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                                   max_position_embeddings=512, num_labels=2, pad_token_id=0))


@pytest.mark.parametrize("architecture,merged,prm_kind", [("llama", False, "step_tag"), ("gpt2", True, "classification")])
def test_best_of_n_and_beam_search_on_math_with_real_model_plumbing(tmp_path, math_file, architecture, merged,
                                                                    prm_kind):
    tokenizer = small_tokenizer(merged, chat=merged)
    policy, tokenizer = load_causal_lm(save(tmp_path, "policy", causal_lm(architecture, len(tokenizer)), tokenizer))
    prm_model = causal_lm("llama", len(tokenizer)) if prm_kind == "step_tag" else classification_head(len(tokenizer))
    prm = load_prm(PRMConfig(save(tmp_path, "prm", prm_model, tokenizer), kind=prm_kind))
    problems = load_problems(math_file)
    world = MathWorld(tokenizer)
    sampler = Sampler(policy, tokenizer, batch_size=32, max_new_tokens=30, step_separator=world.separator)
    for cfg in (SearchConfig("best_of_n", budget=4, max_new_tokens=30),
                SearchConfig("beam", budget=4, max_rounds=3, max_new_tokens=30)):
        before_policy, before_prm = sampler.ledger.flops, prm.ledger.flops
        table = run_search(problems, sampler, prm, cfg, world)
        assert table.problem_id.tolist() == [p.id for p in problems]
        for p, row in zip(problems, table.itertuples()):
            answer = None if pd.isna(row.answer) else row.answer  # a column of only None reads back as NaN
            assert answer is None or any(last_boxed(t) == answer for t in row.texts)
            assert row.correct == equivalent(p.answer, answer)
            assert len(row.scores) == len(row.texts) <= 4 and all(0 <= s <= 1 for s in row.scores)
        if cfg.method == "best_of_n":
            assert (table.generations == 4).all()
        # the per-problem ledgers add up to what the policy's and the PRM's own ledgers gained
        assert table.flops.sum() == pytest.approx(sampler.ledger.flops - before_policy + prm.ledger.flops - before_prm)
        assert table.flops.sum() == pytest.approx(2 * sampler.n_parameters * (table.prompt_tokens.sum()
                                                  + table.generated_tokens.sum())
                                                  + 2 * prm.n_parameters * table.verifier_tokens.sum())
    with pytest.raises(ConfigError, match="step_separator=world.separator"):
        run_search(problems, Sampler(policy, tokenizer), prm, cfg, world)  # stops steps at a newline


def test_the_math_world_grades_equal_answers_written_differently(math_file):
    problems = load_problems(math_file)
    world = MathWorld()
    assert world.steps("a\n\n\n\nb\n\n") == ["a", "b"] and world.render("P\n", ["a", "b"]) == "P\na\n\nb\n\n"
    assert world.finished(["x", "so \\boxed{1}"]) and not world.finished(["x"])
    assert world.correct(problems[0], world.answer("\\boxed{\\frac{1}{2}}"))  # 0.5
    assert world.correct(problems[1], "2.5") and not world.correct(problems[2], None)


def test_a_missing_prm_is_one_clear_error(tmp_path):
    with pytest.raises(MissingResource, match="no such directory"):
        load_prm(PRMConfig(str(tmp_path / "absent"), kind="classification"))


def given_model_params(tmp_path, math_file, **overrides) -> dict:
    """The tiny profile's sizes, on MATH with a given policy (a tiny random GPT-2) and a given step-tag PRM (a
    tiny random Llama), written to a temporary folder."""
    from ttc.pipelines.study import profile_params

    tokenizer = small_tokenizer(True, chat=True)
    policy = save(tmp_path, "policy", causal_lm("gpt2", len(tokenizer)), tokenizer)
    prm = save(tmp_path, "prm", causal_lm("llama", len(tokenizer)), tokenizer)
    return profile_params("tiny") | {"profile": "math500", "world": "math500", "math_source": math_file,
                                     "policy": policy, "prm": prm, "n_pool": 8, "max_new_tokens": 30} | overrides


def test_notebooks_02_04_and_05_run_on_math_with_a_given_policy_and_prm(tmp_path, monkeypatch, math_file):
    monkeypatch.setenv("TTC_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("TTC_FIGURES_ROOT", str(tmp_path / "figures"))
    # half the problems searched, so that notebook 05's demo has held-out ones to answer
    from ttc.pipelines.study import Study
    from ttc.report.plots import figure_name

    params = given_model_params(tmp_path, math_file)
    # tiny's scale over the math500 profile: a variant of it, whose tables and figures the study says where to find
    study = Study.from_params(params)

    class Results:
        def __truediv__(self, name):
            return study.path(f"results/{name}")

    class Figures:
        def __truediv__(self, name):
            stem, suffix = name.rsplit(".", 1)
            return tmp_path / "figures" / "math500" / f"{figure_name(study, stem)}.{suffix}"

    results, figures = Results(), Figures()
    run_notebook("02_difficulty", tmp_path / "02.ipynb", **params)
    pool = pd.read_parquet(results / "02_pool.parquet")
    problems = load_problems(math_file)
    assert pool.groupby("problem_id").size().to_dict() == {p.id: 8 for p in problems}
    gold = {p.id: p.answer for p in problems}
    assert all(r.correct == equivalent(gold[r.problem_id], last_boxed(r.text)) for r in pool.itertuples())
    stats = pd.read_parquet(results / "02_difficulty.parquet")
    assert sorted(stats.level) == sorted(p.level for p in problems) and set(stats.family) == {"Prealgebra"}
    assert (figures / "02_difficulty.png").exists()

    run_notebook("04_verifier_search", tmp_path / "04.ipynb", **params)
    searched = pd.read_parquet(results / "04_search.parquet")
    table = pd.read_parquet(results / "04_search_results.parquet")
    assert {"beam M=sqrt N", "best-of-N weighted", "majority vote"} <= set(table.method)
    assert set(table.budget) == {4, 8} and (figures / "04_verifier_search.png").exists()
    # every searched answer is graded by math-verify, and the per-problem FLOPs are the policy's and the PRM's
    for r in searched.itertuples():
        answer = None if pd.isna(r.answer) else r.answer
        assert r.correct == equivalent(gold[r.problem_id], answer)
    summary = json.loads((figures / "04_summary.json").read_text())
    assert summary["summary"]["given_prm"] and summary["summary"]["beam_minus_best_of_n"] == {}
    assert summary["settings"]["models"]["prm"] == params["prm"]
    assert not (figures / "04_search_vs_verifier.png").exists()  # needs each step's truth: skipped
    predicted = pd.read_parquet(results / "04_predicted_difficulty.parquet")  # the given PRM's bins
    assert sorted(predicted.problem_id) == sorted(searched.problem_id.unique())

    run_notebook("05_compute_optimal_search", tmp_path / "05.ipynb", **params)
    assert (figures / "05_compute_optimal_search.png").exists()
    demo = json.loads((figures / "05_summary.json").read_text())["summary"]["demo"]
    assert demo["problems"] == 4  # held-out problems answered by the chosen strategies, on MATH


@pytest.mark.parametrize("notebook", ["01_base_models", "03_verifiers"])
def test_a_notebook_that_cannot_run_on_given_models_says_why_and_stops_before_any_work(tmp_path, monkeypatch,
                                                                                       math_file, notebook):
    monkeypatch.setenv("TTC_DATA_ROOT", str(tmp_path / "data"))
    # a clean stop: papermill (and so `make reproduce`) goes on; the executed copy says why
    out = run_notebook(notebook, tmp_path / "out.ipynb", **given_model_params(tmp_path, math_file))
    ran = [c for c in out.cells if c.cell_type == "code" and c.get("execution_count")]
    printed = "".join(o.get("text", "") for o in ran[-1].outputs if o.get("name") == "stdout")
    # what it was given over its profile, then why it stops
    assert printed.startswith("profile math500; given: ")
    assert printed.splitlines()[-1].startswith(f"Skipped: notebook {notebook[:2]} does not run with world='math500'")
    assert "study.check_models" in ran[-1].source and not (tmp_path / "data").exists()  # nothing was made


@pytest.mark.parametrize("overrides, message", [
    ({"world": "math500"}, r"policy='d16-l1' is a ladder size, which cannot write MATH's LaTeX"),
    ({"world": "math500", "policy": "Qwen/Qwen2.5-1.5B-Instruct"}, r"prm='project' is trained on the synthetic"),
    ({"policy": "Qwen/Qwen2.5-1.5B-Instruct"}, r"policy='Qwen/Qwen2.5-1.5B-Instruct' is not a ladder size"),
    ({"prm": "peiyi9979/math-shepherd-mistral-7b-prm"}, r"the synthetic world's verifiers are the project's own"),
    ({"world": "gsm8k"}, r"world='gsm8k' \(str\) is not allowed; expected \('synthetic', 'math500'\)"),
    ({"world": "math500", "policy": "a/b", "prm": "c/d", "prm_kind": "value"}, r"prm_kind='value'"),
])
def test_the_world_policy_and_prm_are_not_mixed(overrides, message):
    from ttc.pipelines.study import StudyConfig, profile_params

    with pytest.raises(ConfigError, match=message):
        StudyConfig.from_params(profile_params("tiny") | overrides)


def test_the_example_profile_for_real_models_builds():
    from ttc.pipelines.study import StudyConfig, profile_params

    cfg = StudyConfig.from_params(profile_params("math500"))
    assert cfg.models.given and cfg.ladder.policy is None and cfg.models.prm_config.kind == "step_tag"
