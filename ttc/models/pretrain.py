"""Pretraining a ladder model on worked solutions of the training split.

Every size sees the same batches (batch i depends only on the seed and i), for
the same number of tokens D, with one schedule (AdamW, linear warm-up, cosine
decay), so that sizes differ only in parameters. Whole documents are packed
into fixed-length rows; the loss is taken on solution tokens only (the
question is random, so predicting it only adds noise). Each document attends
only to itself and counts its positions from 0, as at inference
(`document_attention`): a row is several independent problems, not one text.
With `retry_share`, part of the documents open with mistaken attempts at their question in the revision
prompt's format (`ttc.world.mistakes`), so that the base has read attempts before a solution (notebook 06).

Each model records how far it is from converged: the relative fall of its
validation loss over the last quarter of training (`last_quarter_fall`).

A run checkpoints to `<out>.partial/<settings hash>/` (safetensors, with the
optimizer state) and resumes from there; a finished model is skipped, and one
made with other settings refused.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import load_file, load_model as load_weights, save_file, save_model as save_weights
from tqdm.auto import tqdm

from ttc.core import determinism
from ttc.core.compute import pretraining_flops
from ttc.core.config import ConfigError, check_fields, check_range
from ttc.core.store import partial_dir, plain, reusable, write_dir
from ttc.models.lm import LADDER, MAX_POSITIONS, build_model, count_parameters, read_meta, save_model
from ttc.world import synthetic as W
from ttc.world import text as T
from ttc.world.mistakes import mistaken_solution

IGNORE = -100  # transformers' label for "no loss here"
VAL_ROWS = 32  # rows of validation documents per loss point (~8k tokens): fewer made the curves too noisy to judge flatness


@dataclass(frozen=True)
class PretrainConfig:
    tokens: int = 3_000_000  # D: tokens processed per model (padding included), the same for every size
    block: int = 256  # tokens per row; documents are packed whole, never split across rows
    rows: int = 32  # rows per optimizer step
    lr: float = 2e-3  # peak learning rate at width `lr_hidden`
    # Wider models want smaller Adam steps (muP gives 1/width for hidden
    # matrices; scaling studies lower the rate with size): a size of hidden h
    # trains at lr * (lr_hidden / h) ** lr_width_power. One shared rate (power
    # 0) left the widest size of the ladder barely learning.
    lr_hidden: int = 64
    lr_width_power: float = 1.0
    warmup: float = 0.03  # fraction of steps with a linear warm-up
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    # bf16 autocast pays only on CPUs with bf16 matrix units (AMX, AVX512-BF16); on AVX2-only CPUs,
    # as on the study's 2-core machines, it is ~100x slower than fp32 (`make bench` prints both rates).
    bf16: bool = False
    # Packed documents that attend to the ones before them in their row took 2-3x longer to leave
    # the first loss plateau, and how long depended on the seed (closing note of the convergence issue).
    isolate_documents: bool = True
    # Retry documents (issue 33): this share of the training problems is written as one to `retry_attempts`
    # mistaken attempts (`ttc.world.mistakes`) in the revision prompt's format, then the worked solution, the
    # loss on the solution only. A base that never read an attempt before a solution was lost after one
    # (loss per target token 0.005 with none in context, 6.4-8.1 with 1-4: notebook 06); the documents stay
    # isolated from each other. The number of attempts is drawn uniformly, then lowered until the document fits
    # its row; validation documents are never retries, so validation loss means the same at every share.
    # They enter after `retry_from` of the steps: from the start, a share of 0.5 kept the policy on its first
    # loss plateau for all 16M tokens (greedy 8%), as documents that saw each other once did; before then the
    # training is the plain recipe's, step for step.
    retry_share: float = 0.0
    retry_attempts: int = 4
    retry_from: float = 0.25
    # torch.compile of the training step: faster (`make bench`), but built for the host processor, and
    # its weights differed between two processes of the same machine: refused while the study is pinned.
    compile: bool = False
    seed: int = 0
    checkpoint_every: int = 100  # optimizer steps between resumable checkpoints
    n_evals: int = 20  # validation-loss points on the loss curve (a multiple of 4 puts one at 3/4 of training)

    def __post_init__(self):
        check_fields(self)
        check_range(self, "block", 16, MAX_POSITIONS)
        check_range(self, "rows", 1)
        check_range(self, "tokens", self.block * self.rows)
        check_range(self, "lr", 1e-6, 1.0)
        check_range(self, "lr_hidden", 1)
        check_range(self, "lr_width_power", 0.0, 2.0)
        check_range(self, "warmup", 0.0, 0.5)
        check_range(self, "min_lr_ratio", 0.0, 1.0)
        check_range(self, "weight_decay", 0.0, 1.0)
        check_range(self, "grad_clip", 0.0)
        check_range(self, "checkpoint_every", 1)
        check_range(self, "n_evals", 1)
        check_range(self, "retry_share", 0.0, 1.0)
        check_range(self, "retry_attempts", 1, 16)
        check_range(self, "retry_from", 0.0, 1.0)
        if self.compile and determinism.enabled():
            raise ConfigError("pretrain_compile=True: torch.compile builds the training step for this processor "
                              "(inductor's C++ is compiled for the host), so its weights differ between machines "
                              "and between processes; set it False (the study's recipe), or run with "
                              f"{determinism.SWITCH}=0 for this machine's own study")

    def record(self) -> dict:
        """The settings a model records (its artifact's settings, its meta's `config`). Without retries the
        retry fields are left out, so that a recipe without them records what it recorded before they existed
        and its models, and everything computed from them, stay valid."""
        fields = asdict(self)
        if not self.retry_share:
            del fields["retry_share"], fields["retry_attempts"], fields["retry_from"]
        return fields

    @property
    def steps(self) -> int:
        return math.ceil(self.tokens / (self.block * self.rows))

    def retries_at(self, step: int) -> bool:
        """Whether training step `step` draws its documents from the retry documents (`retry_share`)."""
        return bool(self.retry_share) and step >= round(self.retry_from * self.steps)

    @property
    def tokens_processed(self) -> int:
        """D as actually trained: whole steps, so possibly a little above `tokens`."""
        return self.steps * self.block * self.rows

    def peak_lr(self, hidden: int) -> float:
        return self.lr * (self.lr_hidden / hidden) ** self.lr_width_power

    def lr_at(self, step: int, hidden: int) -> float:
        peak = self.peak_lr(hidden)
        warm = max(1, round(self.warmup * self.steps))
        if step < warm:
            return peak * (step + 1) / warm
        progress = (step - warm) / max(1, self.steps - warm)
        return peak * (self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


# --------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Document:
    ids: np.ndarray  # <bos> prompt solution <eos>
    n_prompt: int  # leading tokens without loss (<bos> and the prompt)


def tokenize(problems: list[W.Problem], tokenizer, block: int) -> list[Document]:
    """One document per problem, <bos> prompt solution <eos> (the i-th of `problems` is the i-th document, so
    exposures replay by index)."""
    prompts = tokenizer([W.prompt(p) for p in problems])["input_ids"]  # with <bos>
    solutions = tokenizer([T.solution_text(p.steps, p.answer) for p in problems], add_special_tokens=False)["input_ids"]
    docs = [Document(np.array(pr + so + [tokenizer.eos_token_id], dtype=np.int64), len(pr))
            for pr, so in zip(prompts, solutions)]
    longest = max(len(d.ids) for d in docs)
    if longest > block:
        raise ConfigError(f"PretrainConfig.block={block} is shorter than the longest document "
                          f"({longest} tokens); raise block or lower the world's level ranges")
    return docs


def retry_documents(problems: list[W.Problem], plain: list[Document], tokenizer, cfg: PretrainConfig) -> list[Document]:
    """`plain` (`tokenize`'s documents of `problems`) with a `cfg.retry_share` of them, drawn by `cfg.seed`, made
    retry documents (see `PretrainConfig.retry_share`): <bos> the revision prompt with mistaken attempts, then the
    same solution <eos>, as many attempts as fit a row."""
    docs = list(plain)
    for i, attempts in enumerate(retry_contexts(problems, cfg.retry_share, cfg.retry_attempts, cfg.seed)):
        target = plain[i].ids[plain[i].n_prompt:]  # solution <eos>
        while attempts:
            context = tokenizer(T.attempts_context(problems[i].question, attempts))["input_ids"]
            if len(context) + len(target) <= cfg.block:
                docs[i] = Document(np.concatenate([np.array(context, dtype=np.int64), target]), len(context))
                break
            attempts = attempts[1:]  # too long for a row: the oldest goes, as a revision chain drops it
    return docs


@dataclass(frozen=True)
class TrainingDocuments:
    """The training problems as plain documents, and as retry documents where the recipe has them: a step's
    batch is packed from the set `at(step)` gives (the same problems, index for index)."""

    plain: list[Document]
    retried: list[Document] | None
    cfg: PretrainConfig

    def at(self, step: int) -> list[Document]:
        return self.retried if self.retried is not None and self.cfg.retries_at(step) else self.plain


def training_documents(train: list[W.Problem], tokenizer, cfg: PretrainConfig) -> TrainingDocuments:
    plain = tokenize(train, tokenizer, cfg.block)
    return TrainingDocuments(plain, retry_documents(train, plain, tokenizer, cfg) if cfg.retry_share else None, cfg)


def retry_contexts(problems: list[W.Problem], share: float, max_attempts: int, seed: int) -> list[list[str]]:
    """Per problem, the mistaken attempts its document opens with: none, or for a `share` of the problems (a
    Bernoulli draw each) 1 to `max_attempts` of them (uniformly), each with one wrong step and a wrong answer."""
    if not share:
        return [[] for _ in problems]
    rng = random.Random(f"ttc-retry-{seed}")
    out = []
    for p in problems:
        attempts: list[str] = []
        if rng.random() < share:
            for _ in range(rng.randint(1, max_attempts)):
                attempt = mistaken_solution(p, rng)
                if attempt is not None:
                    attempts.append(attempt)
        out.append(attempts)
    return out


def batch_rows(n_docs: int, length: Callable[[int], int], step: int, cfg: PretrainConfig,
               stream: int = 0) -> list[list[int]]:
    """The documents (indices below `n_docs`, of `length(i)` tokens) packed into each row of batch `step` of a
    stream (0: training, 1: validation), drawn by (seed, stream, step) alone, so every model size sees the same
    batches, and what a model was shown can be replayed (`ttc.pipelines.fact_study` counts its exposures)."""
    rng = np.random.default_rng([cfg.seed, stream, step])
    mean_len = np.mean([length(i) for i in rng.integers(n_docs, size=64)])
    queue = deque(rng.integers(n_docs, size=int(2 * cfg.rows * cfg.block / mean_len) + 8).tolist())
    rows = []
    for _ in range(cfg.rows):
        row, pos, misses = [], 0, 0
        # First fit from the head of the queue: a document that does not fit
        # here goes to the back and starts a later row.
        while misses < 8:
            if not queue:
                queue.extend(rng.integers(n_docs, size=16).tolist())
            n = length(queue[0])
            if pos + n <= cfg.block:
                row.append(queue.popleft())
                pos += n
                misses = 0
            else:
                queue.rotate(-1)
                misses += 1
        rows.append(row)
    return rows


def pack_batch(docs: list[Document], step: int, cfg: PretrainConfig, pad_id: int,
               stream: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch `step` of a stream as (ids, labels): the rows of `batch_rows`, padded."""
    ids = np.full((cfg.rows, cfg.block), pad_id, dtype=np.int64)
    labels = np.full((cfg.rows, cfg.block), IGNORE, dtype=np.int64)
    for r, row in enumerate(batch_rows(len(docs), lambda i: len(docs[i].ids), step, cfg, stream)):
        pos = 0
        for i in row:
            d = docs[i]
            n = len(d.ids)
            ids[r, pos:pos + n] = d.ids
            labels[r, pos + d.n_prompt:pos + n] = d.ids[d.n_prompt:]
            pos += n
    return torch.from_numpy(ids), torch.from_numpy(labels)


def document_attention(ids: torch.Tensor, bos_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(attention mask, position ids) that make each packed document of a row its own sequence.

    The mask is causal within a document and closed between documents, of shape
    (rows, 1, block, block), True where attention is allowed; positions restart
    at 0 at every <bos>. Padding after a row's last document joins that document,
    which is harmless: it has no loss, and nothing after it reads it.
    """
    segment = torch.cumsum(ids == bos_id, dim=1)
    index = torch.arange(ids.shape[1]).expand_as(ids)
    starts = torch.cummax(torch.where(ids == bos_id, index, torch.zeros_like(index)), dim=1).values
    causal = torch.ones(ids.shape[1], ids.shape[1], dtype=torch.bool).tril()
    mask = (segment[:, :, None] == segment[:, None, :]) & causal
    return mask[:, None], index - starts


def forward(model, ids: torch.Tensor, cfg: PretrainConfig, bos_id: int, labels: torch.Tensor | None = None):
    """The model on a packed batch, with documents isolated when `cfg` says so."""
    kwargs = {}
    if cfg.isolate_documents:
        kwargs["attention_mask"], kwargs["position_ids"] = document_attention(ids, bos_id)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
        return model(input_ids=ids, labels=labels, **kwargs)


STILL_LEARNING = 0.10
"""A model whose validation loss fell by more than this fraction over its last quarter of training
is still learning: notebook 01 warns, with the number, and its checks fail."""


def last_quarter_fall(val_curve: list[list[float]]) -> float:
    """How much the validation loss fell over the last quarter of training, relative to where it
    stood at three quarters: near 0 for a model that has flattened, large for one still learning."""
    end_tokens, end_loss = val_curve[-1]
    _, at_three_quarters = min(val_curve, key=lambda point: abs(point[0] - 0.75 * end_tokens))
    return (at_three_quarters - end_loss) / at_three_quarters


# --------------------------------------------------------------------------
# Training


def _optimizer(model, cfg: PretrainConfig) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    # fused: one ATen kernel at the pinned capability, whose square root is the processor's exact one; the
    # for-loop AdamW takes its square root from MKL, whose bits differ between processors (ttc.core.determinism).
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95), fused=True)


def _save_partial(path: Path, model, opt, state: dict, settings: dict) -> None:
    def fill(tmp: Path) -> None:
        save_weights(model, str(tmp / "model.safetensors"))
        tensors = {f"{i}.{k}": v.detach().clone() for i, s in opt.state_dict()["state"].items() for k, v in s.items()}
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "state.json").write_text(json.dumps(state))

    write_dir(path, fill, settings)


def _load_partial(path: Path, model, opt) -> dict:
    load_weights(model, str(path / "model.safetensors"))
    flat = load_file(str(path / "optimizer.safetensors"))
    state: dict[int, dict] = {}
    for key, value in flat.items():
        i, name = key.split(".", 1)
        state.setdefault(int(i), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})
    return json.loads((path / "state.json").read_text())


@torch.no_grad()
def validation_loss(model, batches: list[tuple[torch.Tensor, torch.Tensor]], cfg: PretrainConfig,
                    bos_id: int) -> float:
    model.eval()
    total, count = 0.0, 0
    for x, y in batches:
        logits = forward(model, x, cfg, bos_id).logits.float()
        n = int((y[:, 1:] != IGNORE).sum())
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), y[:, 1:].reshape(-1),
                                                 ignore_index=IGNORE, reduction="sum")
        total, count = total + float(loss), count + n
    model.train()
    return total / max(count, 1)


def pretrain(size_name: str, tokenizer, train: list[W.Problem], val: list[W.Problem], cfg: PretrainConfig,
             out_dir: Path, progress: bool = True, extra_meta: dict | None = None,
             init_from: Path | None = None) -> dict:
    """Train one ladder size to `out_dir` (skipped when it is there); returns its meta record.

    `extra_meta` (for example the world's settings) is stored with the model,
    so that every model can be traced back to what made it. `init_from`, a saved model of the same
    size, continues its pretraining (a fresh schedule of `cfg.tokens` more tokens) instead of starting
    from random weights; the meta's `flops` then count both runs, `continued_flops` this one.
    """
    out_dir = Path(out_dir)
    size = LADDER[size_name]
    init_meta = None
    if init_from is not None:
        init_meta = read_meta(init_from)
        if init_meta["size"] != asdict(size):
            raise ConfigError(f"init_from={str(init_from)!r} holds a {init_meta['name']}, not a {size_name}: "
                              "continued pretraining keeps the size")
    settings = plain({"config": cfg.record(), "size": asdict(size), **(extra_meta or {})}
                     | ({"init_from": {k: init_meta[k] for k in ("name", "config", "world", "init_from") if k in init_meta}}
                        if init_meta else {}))
    if reusable(out_dir, settings, f"model {size_name}"):
        return read_meta(out_dir)
    docs = training_documents(train, tokenizer, cfg)
    val_docs = tokenize(val, tokenizer, cfg.block)
    val_batches = [pack_batch(val_docs, i, cfg, tokenizer.pad_token_id, stream=1)
                   for i in range(math.ceil(VAL_ROWS / cfg.rows))]
    model = build_model(size, tokenizer, seed=cfg.seed)
    if init_from is not None:
        load_weights(model, str(Path(init_from) / "model.safetensors"))
    model.train()
    step_model = torch.compile(model) if cfg.compile else model  # shares `model`'s weights; saved uncompiled
    opt = _optimizer(model, cfg)
    partial = partial_dir(out_dir, settings)
    state = {"step": 0, "wall_s": 0.0, "running_loss": None, "train_curve": [], "val_curve": []}
    if reusable(partial, settings, f"interrupted run of {size_name}"):
        state = _load_partial(partial, model, opt)
    eval_at = {round(cfg.steps * (i + 1) / cfg.n_evals) - 1 for i in range(cfg.n_evals)}
    tokens_per_step = cfg.rows * cfg.block
    bar = tqdm(total=cfg.steps, initial=state["step"], desc=f"pretrain {size_name}", disable=not progress,
               unit="step")
    started, running = time.time() - state["wall_s"], state["running_loss"]
    for step in range(state["step"], cfg.steps):
        for group in opt.param_groups:
            group["lr"] = cfg.lr_at(step, size.hidden)
        x, y = pack_batch(docs.at(step), step, cfg, tokenizer.pad_token_id)
        loss = forward(step_model, x, cfg, tokenizer.bos_token_id, labels=y).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        value = loss.item()
        running = value if running is None else 0.9 * running + 0.1 * value
        if step % 10 == 0 or step == cfg.steps - 1:
            state["train_curve"].append([(step + 1) * tokens_per_step, running])
            bar.set_postfix(loss=f"{running:.3f}")
        if step in eval_at:
            state["val_curve"].append([(step + 1) * tokens_per_step, validation_loss(model, val_batches, cfg, tokenizer.bos_token_id)])
        bar.update(1)
        state["step"], state["wall_s"], state["running_loss"] = step + 1, time.time() - started, running
        if (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.steps:
            _save_partial(partial, model, opt, state, settings)
    bar.close()
    n_params = count_parameters(model)
    meta = {
        "name": size_name, "hidden": size.hidden, "layers": size.layers, "heads": size.heads,
        "parameters": n_params, "tokens": cfg.tokens_processed, "peak_lr": cfg.peak_lr(size.hidden),
        "flops": pretraining_flops(n_params, cfg.tokens_processed) + (init_meta["flops"] if init_meta else 0.0),
        "continued_flops": pretraining_flops(n_params, cfg.tokens_processed) if init_meta else 0.0,
        "wall_s": state["wall_s"], "final_val_loss": state["val_curve"][-1][1],
        "last_quarter_fall": last_quarter_fall(state["val_curve"]),
        "train_curve": state["train_curve"], "val_curve": state["val_curve"],
        "config": cfg.record(), "size": asdict(size), "n_train_problems": len(train), **(extra_meta or {}),
    } | ({"init_from": settings["init_from"], "init_tokens": init_meta["tokens"] + init_meta.get("init_tokens", 0)}
         if init_meta else {})
    model.eval()
    save_model(model, tokenizer, out_dir, meta, settings)
    shutil.rmtree(partial.parent, ignore_errors=True)
    return meta
