"""The fine-tuning loop: it learns a learnable target, keeps the best weights, and splits by problem."""

import math

import pytest
import torch

from ttc.models.finetune import Example, FinetuneConfig, finetune, mean_loss, token_loss, value_loss


class TinyValue(torch.nn.Module):
    """A one-logit model of token ids: logit = weight[token]. Learnable exactly."""

    def __init__(self, vocab=8):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(vocab))

    def forward(self, input_ids, attention_mask=None):
        return type("Out", (), {"logits": self.weight[input_ids][..., None]})()


def value_examples(n_problems=40):
    # Token 1 is always right (target 1), token 2 always wrong (target 0): a learnable target.
    return [Example(f"p{i}", (1, 2, 1, 2), (0, 1, 2, 3), (1.0, 0.0, 1.0, 0.0)) for i in range(n_problems)]


def test_the_loop_lowers_the_loss_on_a_learnable_target():
    model, examples = TinyValue(), value_examples()
    cfg = FinetuneConfig(lr=0.5, batch_size=8, max_epochs=8, patience=20, bf16=False)
    before = mean_loss(model, examples, value_loss, 0, False, 64)
    record = finetune(model, examples, value_loss, cfg, pad=0, progress=False)
    assert before == pytest.approx(math.log(2))
    assert record["best_val_loss"] < 0.1 * before and mean_loss(model, examples, value_loss, 0, False, 64) < 0.1 * before
    assert model.weight[1] > 0 > model.weight[2]
    # Validation is whole problems held out of training.
    assert record["val_examples"] == len(record["val_problems"]) == 4 and record["train_examples"] == 36


def test_the_best_weights_are_restored_when_training_makes_them_worse():
    # The held-out problems want the opposite of the training problems: every step makes validation worse,
    # so the best evaluation is the first, and its weights must be the ones kept.
    import numpy as np

    cfg = FinetuneConfig(lr=0.5, batch_size=4, max_epochs=3, evals_per_epoch=1, patience=5, bf16=False, seed=0)
    ids = sorted(f"p{i}" for i in range(20))
    held = set(np.random.default_rng(cfg.seed).choice(ids, size=2, replace=False).tolist())
    examples = [Example(p, (1,), (0,), (0.0 if p in held else 1.0,)) for p in ids]
    model = TinyValue()
    record = finetune(model, examples, value_loss, cfg, pad=0, progress=False)
    curve = record["curve"]
    assert [c["val_loss"] for c in curve] == sorted(c["val_loss"] for c in curve)  # worse at every evaluation
    assert record["best_step"] == curve[0]["step"] and record["steps"] > record["best_step"]
    held_out = [e for e in examples if e.problem_id in held]
    assert mean_loss(model, held_out, value_loss, 0, False, 64) == pytest.approx(curve[0]["val_loss"])


def test_token_loss_trains_a_language_model_head_on_the_marked_positions_only(tokenizer):
    from ttc.models.lm import LADDER, build_model

    model = build_model(LADDER["d16-l1"], tokenizer, seed=0)
    ids = tuple(tokenizer("Q: 1+2\n3")["input_ids"])
    target = tokenizer.encode("3", add_special_tokens=False)[0]
    # Only the position before the answer digit is trained, towards that digit.
    examples = [Example(f"p{i}", ids, (len(ids) - 2,), (float(target),)) for i in range(20)]
    cfg = FinetuneConfig(lr=0.05, batch_size=4, max_epochs=4, patience=20, bf16=False)
    before = mean_loss(model, examples, token_loss, tokenizer.pad_token_id, False, 64)
    finetune(model, examples, token_loss, cfg, pad=tokenizer.pad_token_id, progress=False)
    assert mean_loss(model, examples, token_loss, tokenizer.pad_token_id, False, 64) < 0.2 * before
    with torch.no_grad():
        assert int(model(torch.tensor([ids[:-1]])).logits[0, -1].argmax()) == target


def test_without_examples_the_base_model_is_saved_unchanged_and_says_so(tokenizer, tiny_model, tmp_path):
    from transformers import AutoModelForCausalLM

    from ttc.models.finetune import train_and_save

    record = train_and_save(tmp_path / "out", {"test": 1}, lambda: tiny_model, tokenizer, lambda: [], token_loss,
                            FinetuneConfig(), what="revision model", progress=False)
    assert record["steps"] == 0 and "no examples" in record["untrained"] and math.isnan(record["best_val_loss"])
    saved = AutoModelForCausalLM.from_pretrained(tmp_path / "out", use_safetensors=True)
    assert all(torch.equal(a, b) for a, b in zip(saved.state_dict().values(), tiny_model.state_dict().values()))
