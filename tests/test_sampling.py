import pytest
import torch

from ttc.sampling import Ledger, Sampler

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
    prompt_tokens = 3 * sum(len(tokenizer(p)["input_ids"]) for p in PROMPTS)
    assert ledger.generated_tokens == generated == recount
    assert ledger.generations == 9 and ledger.prompt_tokens == prompt_tokens
    n = sum(p.numel() for p in tiny_model.parameters())
    assert ledger.flops == 2.0 * n * (prompt_tokens + generated)


def test_bad_sampling_arguments_are_refused(tiny_model, tokenizer):
    sampler = Sampler(tiny_model, tokenizer)
    with pytest.raises(ValueError, match="until='line'"):
        sampler.sample(PROMPTS, until="line")
    with pytest.raises(ValueError, match="temperature=-1"):
        sampler.sample(PROMPTS, temperature=-1)
