"""The one fine-tuning loop: a ladder checkpoint, with or without a new head, trained on target positions.

Verifiers (a one-logit value head read at each line's end) and the revision
model (the language-model head, loss on the final attempt's tokens) are both
a checkpoint trained on examples of the same shape: token ids, the positions
where the loss is taken, and a target at each. Training problems, not
examples, are split into training and validation, so that early stopping
reads problems the model was not trained on; the weights with the best
validation loss are kept. `train_and_save` skips a finished model with the
same settings, refuses one made with other settings, and writes the model
(safetensors, with its tokenizer and training record) as one artifact.

Use: `train_and_save(out_dir, settings, lambda: load_base(base, "value"), tokenizer,
examples, value_loss, FinetuneConfig(...))`.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModelForCausalLM, LlamaForTokenClassification

from ttc.core.config import ConfigError, check_fields, check_range
from ttc.core.ordered import ordered
from ttc.core.store import check_artifact, plain, reusable, write_dir

RECORD = "training.json"


@dataclass(frozen=True)
class Example:
    """One training sequence: its problem (the unit of the validation split), token ids, and the
    positions whose outputs are trained, with one target each (a probability for a value head,
    the next token's id for the language-model head)."""

    problem_id: str
    ids: tuple[int, ...]
    positions: tuple[int, ...]
    targets: tuple[float, ...]


@dataclass(frozen=True)
class FinetuneConfig:
    lr: float = 1e-3
    batch_size: int = 64  # examples per optimizer step
    max_epochs: int = 8
    evals_per_epoch: int = 2
    patience: int = 3  # evaluations without a better validation loss before stopping
    val_fraction: float = 0.1  # of the training problems, held out for early stopping
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    bf16: bool = False  # fp32: bf16 autocast is ~100x slower on AVX2-only CPUs (ttc.models.pretrain)
    seed: int = 0
    eval_batch_size: int = 256

    def __post_init__(self):
        check_fields(self)
        check_range(self, "lr", 1e-7, 1.0)
        for name in ("batch_size", "max_epochs", "evals_per_epoch", "patience", "eval_batch_size"):
            check_range(self, name, 1)
        check_range(self, "val_fraction", 0.01, 0.5)
        check_range(self, "weight_decay", 0.0, 1.0)
        check_range(self, "grad_clip", 0.0)


LossFn = Callable[[torch.nn.Module, list[Example], int, bool], tuple[torch.Tensor, int]]


def pad_batch(sequences: list, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and their attention mask: positions start at 0 in every row."""
    width = max(len(row) for row in sequences)
    ids = torch.full((len(sequences), width), pad, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for r, row in enumerate(sequences):
        ids[r, :len(row)] = torch.tensor(row)
        mask[r, :len(row)] = 1
    return ids, mask


def batch_of(examples: list[Example], pad: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """`pad_batch` of the examples' ids, and the (row, column) of every trained position."""
    ids, mask = pad_batch([e.ids for e in examples], pad)
    rows = torch.tensor([r for r, e in enumerate(examples) for _ in e.positions])
    cols = torch.tensor([c for e in examples for c in e.positions])
    return ids, mask, rows, cols


def value_loss(model, examples: list[Example], pad: int, bf16: bool) -> tuple[torch.Tensor, int]:
    """Summed binary cross-entropy of a one-logit head against soft targets in [0, 1]."""
    ids, mask, rows, cols = batch_of(examples, pad)
    targets = torch.tensor([t for e in examples for t in e.targets], dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(input_ids=ids, attention_mask=mask).logits[..., 0].float()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[rows, cols], targets, reduction="sum")
    return loss, len(targets)


def token_loss(model, examples: list[Example], pad: int, bf16: bool) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy of the language-model head: at each position, the next token's id."""
    ids, mask, rows, cols = batch_of(examples, pad)
    targets = torch.tensor([int(t) for e in examples for t in e.targets], dtype=torch.long)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
    loss = torch.nn.functional.cross_entropy(logits[rows, cols], targets, reduction="sum")
    return loss, len(targets)


def load_base(base_dir: Path, head: Literal["value", "lm"], seed: int = 0, dropout: float = 0.0,
              max_positions: int = 0):
    """A ladder checkpoint to fine-tune: with a new one-logit value head (seeded), or its own
    language-model head; with at least `max_positions` positions (rotary embeddings extend to any
    length, and the fine-tuning then trains at the new one). Safetensors only."""
    base_dir = Path(base_dir)
    check_artifact(base_dir, what="base model", made_by="notebook 01")
    torch.manual_seed(seed)  # the new head's initialisation and dropout are part of the run
    config = AutoConfig.from_pretrained(base_dir)
    config.max_position_embeddings = max(max_positions, config.max_position_embeddings)
    if head == "value":
        config.num_labels, config.classifier_dropout = 1, dropout
        return ordered(LlamaForTokenClassification.from_pretrained(base_dir, config=config, use_safetensors=True))
    if head == "lm":
        return ordered(AutoModelForCausalLM.from_pretrained(base_dir, config=config, use_safetensors=True))
    raise ConfigError(f"head={head!r} is not known; use 'value' (a new one-logit head) or 'lm'")


def mean_loss(model, examples: list[Example], loss: LossFn, pad: int, bf16: bool, batch_size: int) -> float:
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            value, n = loss(model, examples[i:i + batch_size], pad, bf16)
            total, count = total + float(value), count + n
    model.train(was_training)
    return total / max(count, 1)


def finetune(model, examples: list[Example], loss: LossFn, cfg: FinetuneConfig, pad: int,
             desc: str = "fine-tune", progress: bool = True) -> dict:
    """Train `model` in place on `examples` with early stopping on held-out problems; the weights
    with the best validation loss are restored at the end. Returns the training record."""
    ids = sorted({e.problem_id for e in examples})
    rng = np.random.default_rng(cfg.seed)
    held = set(rng.choice(ids, size=max(1, round(cfg.val_fraction * len(ids))), replace=False).tolist())
    train = [e for e in examples if e.problem_id not in held]
    val = [e for e in examples if e.problem_id in held]
    if not train:
        raise ConfigError(f"val_fraction={cfg.val_fraction} leaves no training problems out of {len(ids)}")

    model.train()
    # fused: the same bits on every processor (ttc.models.pretrain._optimizer says why)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95),
                            fused=True)
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = steps_per_epoch * cfg.max_epochs
    eval_every = max(1, steps_per_epoch // cfg.evals_per_epoch)
    best = (math.inf, 0, None)  # (val loss, step, weights)
    curve, waited, started, step = [], 0, time.time(), 0
    bar = tqdm(total=total, desc=desc, disable=not progress, unit="step")
    for epoch in range(cfg.max_epochs):
        order = rng.permutation(len(train))
        for b in range(steps_per_epoch):
            # Linear warm-up over the first 5% of steps, then constant: early stopping decides the end.
            for group in opt.param_groups:
                group["lr"] = cfg.lr * min(1.0, (step + 1) / max(1, total // 20))
            batch = [train[i] for i in order[b * cfg.batch_size:(b + 1) * cfg.batch_size]]
            value, n = loss(model, batch, pad, cfg.bf16)
            value = value / n
            value.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            bar.update(1)
            if step % eval_every == 0 or step == total:
                val_loss = mean_loss(model, val, loss, pad, cfg.bf16, cfg.eval_batch_size)
                curve.append({"step": step, "epoch": step / steps_per_epoch, "train_loss": value.item(),
                              "val_loss": val_loss})
                bar.set_postfix(val=f"{val_loss:.4f}")
                if val_loss < best[0]:
                    best = (val_loss, step, {k: v.detach().clone() for k, v in model.state_dict().items()})
                    waited = 0
                else:
                    waited += 1
            if waited >= cfg.patience:
                break
        if waited >= cfg.patience:
            break
    bar.close()
    model.load_state_dict(best[2])
    model.eval()
    return {"best_val_loss": best[0], "best_step": best[1], "steps": step, "train_examples": len(train),
            "val_examples": len(val), "val_problems": sorted(held), "curve": curve,
            "wall_s": time.time() - started}


def train_and_save(out_dir: Path, settings: dict, make_model: Callable[[], torch.nn.Module], tokenizer,
                   examples: Callable[[], list[Example]], loss: LossFn, cfg: FinetuneConfig, what: str,
                   extra: dict | None = None, progress: bool = True) -> dict:
    """Fine-tune to `out_dir` unless a model with `settings` is there; the training record either way.

    `examples` is called only when training runs. The record (with `extra` and the settings) is
    saved beside the weights as `training.json`. Without a single example (a policy that never solves
    its training problems, as the tiny profile's) there is nothing to learn: the base model is saved
    unchanged, and its record says so (`untrained`).
    """
    out_dir = Path(out_dir)
    if reusable(out_dir, settings, what):
        return json.loads((out_dir / RECORD).read_text())
    model, items = make_model(), examples()
    if items:
        trained = finetune(model, items, loss, cfg, tokenizer.pad_token_id, desc=f"train {what}", progress=progress)
    else:
        trained = {"best_val_loss": float("nan"), "best_step": 0, "steps": 0, "train_examples": 0, "val_examples": 0,
                   "val_problems": [], "curve": [], "untrained": f"no examples to train on: the {what} is its base model"}
        print(f"{what}: {trained['untrained']}")
    record = (extra or {}) | trained | {"settings": plain(settings)}

    def fill(tmp: Path) -> None:
        model.save_pretrained(tmp)  # safetensors
        tokenizer.save_pretrained(tmp)
        (tmp / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True))

    write_dir(out_dir, fill, settings)
    return record
