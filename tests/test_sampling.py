import os

import pytest
import torch
from hypothesis import given, strategies as st
import torch.nn.functional as F

from ttc.core.compute import Ledger
from ttc.models.sampling import Sampler

PROMPTS = ["Q: 12 +05 (mod 13)\n", "Q: 4821+3967\n", "Q: 1+2\n"]


def test_same_seed_same_samples(tiny_model, tokenizer):
    a = Sampler(tiny_model, tokenizer, max_new_tokens=24).sample(PROMPTS, n=4, seed=7)
    b = Sampler(tiny_model, tokenizer, max_new_tokens=24).sample(PROMPTS, n=4, seed=7)
    c = Sampler(tiny_model, tokenizer, max_new_tokens=24).sample(PROMPTS, n=4, seed=8)
    assert [[x.text for x in row] for row in a] == [[x.text for x in row] for row in b]
    assert [[x.text for x in row] for row in a] != [[x.text for x in row] for row in c]


def test_greedy_is_the_models_own_argmax(tiny_model, tokenizer):
    sampler = Sampler(tiny_model, tokenizer, batch_size=2, max_new_tokens=12)
    out = sampler.sample(PROMPTS, n=1, temperature=0.0)
    for prompt, (completion,) in zip(PROMPTS, out):
        ids = tokenizer(prompt)["input_ids"]
        expected = []
        with torch.no_grad():
            for _ in range(12):
                token = int(tiny_model(torch.tensor([ids])).logits[0, -1].argmax())
                ids.append(token)
                expected.append(token)
                if token == tokenizer.eos_token_id:
                    break
        generated = tokenizer.encode(completion.text, add_special_tokens=False)
        if completion.stop == "answer":
            generated.append(tokenizer.eos_token_id)
        assert generated == expected and completion.n_tokens == len(expected)


def test_step_mode_stops_at_the_end_of_one_step(tiny_model, tokenizer):
    out = Sampler(tiny_model, tokenizer, max_new_tokens=40).sample(PROMPTS, n=16, until="step", seed=0)
    for row in out:
        for c in row:
            assert c.text.count("\n") <= 1
            assert (c.stop == "step") == c.text.endswith("\n")
            if c.stop == "step":
                assert c.text.index("\n") == len(c.text) - 1


def test_ledger_counts_exactly_what_was_processed(tiny_model, tokenizer):
    ledger = Ledger()
    sampler = Sampler(tiny_model, tokenizer, batch_size=5, max_new_tokens=30, ledger=ledger)
    out = sampler.sample(PROMPTS, n=3, seed=1)
    generated = sum(c.n_tokens for row in out for c in row)
    # Count independently: re-encode each completion (plus its end-of-text token when it has one).
    recount = sum(len(tokenizer.encode(c.text, add_special_tokens=False)) + (c.stop == "answer")
                  for row in out for c in row)
    # Rows go shortest prompt first, 5 to a batch; a batch reads each distinct prompt once:
    # [1+2 x3, 4821 x2] and [4821 x1, 12+05 x3].
    size = {p: len(tokenizer(p)["input_ids"]) for p in PROMPTS}
    prompt_tokens = size[PROMPTS[2]] + 2 * size[PROMPTS[1]] + size[PROMPTS[0]]
    assert ledger.generated_tokens == generated == recount
    assert ledger.generations == 9 and ledger.prompt_tokens == prompt_tokens
    assert sum(c.prompt_tokens for row in out for c in row) == prompt_tokens
    n = sum(p.numel() for p in tiny_model.parameters())
    assert ledger.flops == 2.0 * n * (prompt_tokens + generated)


def test_bad_sampling_arguments_are_refused(tiny_model, tokenizer):
    sampler = Sampler(tiny_model, tokenizer)
    with pytest.raises(ValueError, match="until='line'"):
        sampler.sample(PROMPTS, until="line")
    with pytest.raises(ValueError, match="temperature=-1"):
        sampler.sample(PROMPTS, temperature=-1)


def test_lean_forward_matches_the_transformers_forward(tokenizer):
    from ttc.models.lean_llama import LeanLlama
    from ttc.models.lm import LADDER, build_model

    model = build_model(LADDER["d24-l2"], tokenizer, seed=3).eval()
    encoded = [tokenizer(p)["input_ids"] for p in PROMPTS]
    width = max(map(len, encoded))
    ids = torch.full((len(encoded), width), tokenizer.pad_token_id)
    for i, e in enumerate(encoded):
        ids[i, width - len(e):] = torch.tensor(e)
    lean = LeanLlama(model)
    logits = lean.start(ids, torch.tensor([width - len(e) for e in encoded]), max_new=3)
    sequences = [list(e) for e in encoded]
    rows = list(range(len(encoded)))
    with torch.no_grad():
        for step in range(3):
            for slot, r in enumerate(rows):
                reference = model(torch.tensor([sequences[r]])).logits[0, -1]
                assert torch.allclose(logits[slot], reference, atol=1e-5)
            tokens = logits.argmax(-1)
            for slot, r in enumerate(rows):
                sequences[r].append(int(tokens[slot]))
            if step == 1:  # the middle row finishes: the cache is compacted around it
                lean.keep(torch.tensor([0, 2]))
                tokens, rows = tokens[[0, 2]], [0, 2]
            logits = lean.step(tokens)


def test_lean_and_transformers_sampling_draw_the_same_samples(tiny_model, tokenizer):
    lean = Sampler(tiny_model, tokenizer, max_new_tokens=20).sample(PROMPTS, n=3, seed=5)
    plain = Sampler(tiny_model, tokenizer, max_new_tokens=20, lean=False).sample(PROMPTS, n=3, seed=5)
    assert [[c.text for c in row] for row in lean] == [[c.text for c in row] for row in plain]


@pytest.mark.parametrize("lean", [True, False])
def test_step_by_step_continuation_equals_sampling_the_whole(lean, tokenizer):
    from ttc.models.lm import LADDER, build_model

    model = build_model(LADDER["d24-l2"], tokenizer, seed=11).eval()
    sampler = Sampler(model, tokenizer, max_new_tokens=30, lean=lean)
    whole = sampler.sample(PROMPTS, n=1, temperature=0.0)
    for prompt, (completion,) in zip(PROMPTS, whole):
        text, budget = "", 30
        while budget > 0:
            (piece,) = sampler.sample([prompt + text], n=1, temperature=0.0, until="step", max_new_tokens=budget)[0]
            text += piece.text
            budget -= piece.n_tokens
            if piece.stop != "step":
                break
        assert text == completion.text


def test_several_steps_stop_after_the_last_of_them_and_equal_one_step_at_a_time(tiny_model, tokenizer):
    sampler = Sampler(tiny_model, tokenizer, max_new_tokens=60)
    two = sampler.sample(PROMPTS, n=1, temperature=0.0, until="step", n_steps=2)
    for prompt, (c,) in zip(PROMPTS, two):
        if c.stop == "step":
            assert c.text.count("\n") == 2 and c.text.endswith("\n")
        first = sampler.sample([prompt], temperature=0.0, until="step")[0][0]
        if first.stop != "step":
            assert c.text == first.text
            continue
        second = sampler.sample([prompt + first.text], temperature=0.0, until="step", max_new_tokens=60 - first.n_tokens)[0][0]
        assert c.text == first.text + second.text


def test_rows_sharing_a_prompt_share_its_pass_and_sample_as_if_alone(tiny_model, tokenizer):
    sampler = Sampler(tiny_model, tokenizer, max_new_tokens=20)
    together = sampler.sample(PROMPTS, n=3, temperature=0.0)
    for prompt, row in zip(PROMPTS, together):
        alone = sampler.sample([prompt], n=1, temperature=0.0)[0][0]
        assert [c.text for c in row] == [alone.text] * 3
        assert sorted(c.prompt_tokens for c in row) == [0, 0, len(tokenizer(prompt)["input_ids"])]


def _gqa_model(tokenizer):
    """A Llama with two query heads per key/value head, untied embeddings, random weights."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(11)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         tie_word_embeddings=False, pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # norms away from 1, so that folding their weights into matmuls is tested
        for name, p in model.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
    return model


def test_fused_kernel_and_torch_attention_match_transformers_on_shared_prompts(tokenizer, monkeypatch):
    """Rows repeating a prompt share its cache; the C++ kernels, their torch fallbacks and the
    transformers forward give the same logits at every step, through a compaction."""
    from ttc.core import kernels
    from ttc.models.lean_llama import LeanLlama

    if os.environ.get("TTC_KERNELS") != "0":
        assert kernels.available(), "the fused C++ kernels did not build"
    model = _gqa_model(tokenizer)
    encoded = [tokenizer(p)["input_ids"] for p in PROMPTS]
    width = max(map(len, encoded))
    ids = torch.full((len(encoded), width), tokenizer.pad_token_id)
    for i, e in enumerate(encoded):
        ids[i, width - len(e):] = torch.tensor(e)
    pad = torch.tensor([width - len(e) for e in encoded])
    expand = torch.tensor([0, 0, 1, 2, 2, 2])  # samples per prompt: 2, 1, 3

    def run(use_kernel: bool) -> list[torch.Tensor]:
        if not use_kernel:
            monkeypatch.setattr(kernels, "_usable", lambda x: None)
        monkeypatch.setattr(LeanLlama, "PREFILL_GROUP", 2)  # prompt groups of different widths
        lean = LeanLlama(model)
        logits = lean.start(ids, pad, max_new=4)[expand]
        lean.keep(expand)
        rows = [list(encoded[int(p)]) for p in expand]
        generator = torch.Generator().manual_seed(0)
        out = []
        for step in range(4):
            out.append(logits)
            with torch.no_grad():
                for slot, seq in enumerate(rows):
                    reference = model(torch.tensor([seq])).logits[0, -1]
                    assert torch.allclose(logits[slot], reference, atol=1e-5), (use_kernel, step, slot)
            tokens = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator).squeeze(1)
            for slot, seq in enumerate(rows):
                seq.append(int(tokens[slot]))
            if step == 1:  # rows 1 and 4 finish: the cache is compacted around them
                keep = torch.tensor([0, 2, 3, 5])
                lean.keep(keep)
                tokens, rows = tokens[keep], [rows[i] for i in keep]
            if step < 3:
                logits = lean.step(tokens)
        monkeypatch.undo()
        return out

    fused, plain = run(True), run(False)
    for a, b in zip(fused, plain):
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("fused", [True, False])
def test_draw_is_the_categorical_distribution(fused, monkeypatch):
    from ttc.core import kernels
    from ttc.models.sampling import draw

    if fused and not kernels.available():
        pytest.skip("the C++ kernels are off or did not build")
    if not fused:
        monkeypatch.setattr(kernels, "_usable", lambda x: None)

    probs = torch.tensor([0.5, 0.0, 0.2, 0.3, 0.0])
    logits = probs.log().expand(40000, 5)
    tokens = draw(logits, 1.0, torch.Generator().manual_seed(0))
    freq = torch.bincount(tokens, minlength=5) / len(tokens)
    assert freq[1] == 0 and freq[4] == 0  # probability 0 is never drawn, not even the last token
    assert torch.allclose(freq, probs, atol=0.01)
    # Temperature sharpens: at 0.5 the probabilities go as p^2, normalised.
    sharp = torch.bincount(draw(logits, 0.5, torch.Generator().manual_seed(1)), minlength=5) / len(tokens)
    assert torch.allclose(sharp, probs ** 2 / (probs ** 2).sum(), atol=0.01)


def test_fused_elementwise_kernels_match_torch():
    from ttc.core import kernels

    if not kernels.available():
        pytest.skip("the C++ kernels are off or did not build")
    h = torch.cat([torch.linspace(-100, 100, 4001), torch.randn(999) * 4]).view(50, 100)
    gate, up = h.chunk(2, dim=-1)
    assert torch.allclose(kernels.silu_mul(h), F.silu(gate) * up, rtol=1e-6, atol=1e-6)
    x = torch.randn(3, 7, 64) * torch.logspace(-3, 3, 21).view(3, 7, 1)  # rows of very different scales
    assert torch.allclose(kernels.rms_norm(x, 1e-6), F.rms_norm(x, (64,), eps=1e-6), rtol=1e-5, atol=1e-6)


@given(lengths=st.lists(st.integers(1, 60), min_size=1, max_size=40), samples=st.integers(1, 5),
       batch_size=st.integers(1, 30), budget=st.integers(1, 400), min_rows=st.integers(1, 10))
def test_runs_partition_the_rows_within_the_batch_size_and_prompt_budget(lengths, samples, batch_size, budget,
                                                                         min_rows):
    from ttc.models.sampling import plan_runs

    rows = sorted((n, f"prompt {i}") for i, n in enumerate(lengths) for _ in range(samples))
    runs = plan_runs(rows, batch_size, budget, min_rows)
    assert [i for start, end in runs for i in range(start, end)] == list(range(len(rows)))  # in order, once
    for start, end in runs:
        assert 1 <= end - start <= batch_size
        prompts = {}
        for i in range(start, end):
            prompts.setdefault(rows[i][1], rows[i][0])
        # Over the budget only through the prompts taken while the run was below min_rows rows.
        last = rows[end - 1][1]
        first_row_of_last = next(i for i in range(start, end) if rows[i][1] == last)
        if sum(prompts.values()) > budget:
            assert first_row_of_last - start < min_rows
        if end < len(rows) and end - start < batch_size:  # ended early: the next prompt would not fit
            assert sum(prompts.values()) + rows[end][0] > budget and end - start >= min_rows


def test_many_distinct_prompts_run_in_smaller_batches_with_the_same_greedy_samples(tiny_model, tokenizer):
    one = Sampler(tiny_model, tokenizer, max_new_tokens=12)
    split = Sampler(tiny_model, tokenizer, max_new_tokens=12)
    split.MIN_RUN_ROWS, split.max_prompt_tokens = 1, 10.0  # one prompt per run
    a, b = (s.sample(PROMPTS, n=2, temperature=0.0) for s in (one, split))
    assert [[c.text for c in row] for row in a] == [[c.text for c in row] for row in b]
    assert one.ledger.as_dict() == split.ledger.as_dict()


def scripted_model(tokenizer, successor: dict[str, str]):
    """A Llama whose next token depends on the current token alone, as `successor` says: one-hot
    embeddings, layers that add nothing (zero output projections) and a head that maps each
    character to its successor. Unlike a random model, it is sure to write newlines."""
    from transformers import LlamaConfig, LlamaForCausalLM

    vocab = len(tokenizer)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=vocab + vocab % 2, num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=2, intermediate_size=8, tie_word_embeddings=False,
                      max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.fill_(1.0 if "norm" in name else 0.0)
        model.model.embed_tokens.weight[:, :vocab] = torch.eye(vocab)
        for a, b in successor.items():
            (ia,), (ib,) = tokenizer.encode(a, add_special_tokens=False), tokenizer.encode(b, add_special_tokens=False)
            model.lm_head.weight[ib, ia] = 50.0
    return model


@pytest.mark.parametrize("lean", [True, False])
def test_step_mode_stops_at_each_newline_of_a_model_that_writes_them(tokenizer, lean):
    model = scripted_model(tokenizer, {"\n": "1", "1": "2", "2": "\n"})  # writes "12\n12\n..." after a prompt
    sampler = Sampler(model, tokenizer, max_new_tokens=40, lean=lean)
    one = sampler.sample(PROMPTS, n=3, until="step", seed=0)
    assert all((c.text, c.stop, c.n_tokens) == ("12\n", "step", 3) for row in one for c in row)
    three = sampler.sample(PROMPTS, n=2, until="step", n_steps=3, seed=0)
    assert all((c.text, c.stop, c.n_tokens) == ("12\n" * 3, "step", 9) for row in three for c in row)
    # A prefix that ends inside a step finishes that step only; the length limit still ends a step early.
    (mid,), = sampler.sample([PROMPTS[0] + "1"], until="step")
    assert (mid.text, mid.stop) == ("2\n", "step")
    (cut,), = sampler.sample([PROMPTS[0]], until="step", n_steps=2, max_new_tokens=4)
    assert (cut.text, cut.stop, cut.n_tokens) == ("12\n1", "length", 4)
    # Without step stopping, newlines do not stop a row.
    (whole,), = sampler.sample([PROMPTS[0]], until="answer", max_new_tokens=7)
    assert (whole.text, whole.stop) == ("12\n12\n1", "length")
