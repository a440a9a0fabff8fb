"""Verifiers: a process reward model (PRM) and an outcome reward model (ORM) (Sec. 5.1, App. D, F).

Labels need no ground-truth steps, as in the paper (Math-Shepherd style):
`label_steps` samples solutions to training problems from the policy and,
for every step prefix, rolls out completions from the policy; the fraction
that reach the correct answer is the step's soft label. The ORM's label is
the final answer's correctness, at every step.

A verifier is a ladder checkpoint with a one-logit head on every token
(`LlamaForTokenClassification`), read at the newline that ends each line of
the solution (the answer line included), trained with binary cross-entropy
and early stopping on held-out problems. `Verifier.score` returns a score in
[0, 1] per line, in batches, and adds the tokens it reads to a ledger.

Use: `labels = label_steps(policy, tokenizer, problems, LabelConfig(...), path)`;
`train_verifier(labels, problems, base_dir, VerifierConfig(kind="prm"), out_dir)`;
`Verifier.load(out_dir).score(prompts, lines)`.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoTokenizer, LlamaForTokenClassification

from ttc import world as W
from ttc.config import ConfigError, check_fields, check_range
from ttc.lm import count_parameters, model_record
from ttc.sampling import Ledger, Sampler, processing_flops
from ttc.store import build_in_chunks, chunk_seed, read_json, write_json
from ttc.tokenizer import newline_id

# --------------------------------------------------------------------------
# Solutions as lines


def solution_lines(text: str) -> list[str]:
    """The lines of a completion (work steps, then the answer line); a trailing empty piece is not a line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def render(prompt: str, lines: list[str] | tuple[str, ...]) -> str:
    """Prompt plus lines, each closed by a newline: the text a verifier reads, and a rollout's prefix."""
    return prompt + "".join(f"{line}\n" for line in lines)


# --------------------------------------------------------------------------
# Monte Carlo step labels


@dataclass(frozen=True)
class LabelConfig:
    n_solutions: int = 8  # policy solutions per training problem (the paper: 16)
    n_rollouts: int = 8  # rollouts per step prefix (the paper: 16)
    temperature: float = 1.0
    max_new_tokens: int = 192
    batch_size: int = 256
    problems_per_chunk: int = 50  # the unit of resumption
    seed: int = 0

    def __post_init__(self):
        check_fields(self)
        for name in ("n_solutions", "n_rollouts", "max_new_tokens", "batch_size", "problems_per_chunk"):
            check_range(self, name, 1)
        check_range(self, "temperature", 0.0, 10.0)


def _label_chunk(sampler: Sampler, problems: list[W.Problem], cfg: LabelConfig, seed: int) -> pd.DataFrame:
    prompts = [W.prompt(p) for p in problems]
    solutions = sampler.sample(prompts, n=cfg.n_solutions, temperature=cfg.temperature, seed=seed)
    rows, prefixes = [], {}
    for p, prompt, completions in zip(problems, prompts, solutions):
        for s, c in enumerate(completions):
            lines = solution_lines(c.text)
            correct = W.grade(p, c.text)
            track = W.lines_on_track(p, lines)
            for i in range(len(lines)):
                final = i == len(lines) - 1
                # A prefix that ends the solution needs no rollouts: its value is the solution's grade.
                key = None if final else render(prompt, lines[:i + 1])
                if key is not None:
                    prefixes.setdefault(key, p)
                rows.append({"problem_id": p.id, "solution": s, "step": i, "n_lines": len(lines),
                             "text": c.text, "final_correct": correct, "on_track": track[i], "prefix": key})
    # Identical prefixes (frequent on easy problems) are rolled out once and share their label.
    keys = list(prefixes)
    rollouts = sampler.sample(keys, n=cfg.n_rollouts, temperature=cfg.temperature, seed=seed + 1)
    value = {key: float(np.mean([W.grade(prefixes[key], key + c.text) for c in outs]))
             for key, outs in zip(keys, rollouts)}
    table = pd.DataFrame(rows)
    table["mc_label"] = [float(r["final_correct"]) if r["prefix"] is None else value[r["prefix"]] for r in rows]
    return table.drop(columns="prefix")


def label_steps(policy, tokenizer, problems: list[W.Problem], cfg: LabelConfig, path: Path,
                ledger: Ledger | None = None, progress: bool = True, policy_record: dict | None = None) -> pd.DataFrame:
    """One row per line of every sampled solution: its Monte Carlo label, the final grade, and
    (for analysis only, never for training) whether the prefix is truly on track.

    `policy_record` (`ttc.lm.model_record` of the policy) joins the labels' settings.
    """
    sampler = Sampler(policy, tokenizer, batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens,
                      ledger=ledger)
    chunks = [problems[i:i + cfg.problems_per_chunk] for i in range(0, len(problems), cfg.problems_per_chunk)]

    def make_chunk(i: int) -> pd.DataFrame:
        return _label_chunk(sampler, chunks[i], cfg, seed=chunk_seed(cfg.seed, i))

    return build_in_chunks(path, {"labels": cfg, "problems": [p.id for p in problems], "policy": policy_record},
                           len(chunks), make_chunk,
                           desc=f"PRM labels: {cfg.n_solutions} solutions x {cfg.n_rollouts} rollouts",
                           progress=progress)


# --------------------------------------------------------------------------
# The verifier model


def _encode(tokenizer, prompt: str, lines: list[str]) -> tuple[list[int], list[int]]:
    """Token ids of prompt + lines, and the position of the newline that closes each line."""
    ids = tokenizer(render(prompt, lines))["input_ids"]
    n_prompt = len(tokenizer(prompt)["input_ids"])
    newline = newline_id(tokenizer)
    ends = [i for i in range(n_prompt, len(ids)) if ids[i] == newline]
    if len(ends) != len(lines):
        raise ValueError(f"found {len(ends)} line ends for {len(lines)} lines: the tokenizer must keep "
                         "each newline a token of its own")
    return ids, ends


def _batch(encoded: list[tuple[list[int], list[int]]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids, _ in encoded)
    ids = torch.full((len(encoded), width), pad, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for r, (row, _) in enumerate(encoded):
        ids[r, :len(row)] = torch.tensor(row)  # right padding: positions start at 0 in every row
        mask[r, :len(row)] = 1
    return ids, mask


class Verifier:
    """Per-line scores in [0, 1] from a trained PRM or ORM."""

    def __init__(self, model: LlamaForTokenClassification, tokenizer, batch_size: int = 256,
                 ledger: Ledger | None = None, bf16: bool = True):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.batch_size, self.bf16 = batch_size, bf16
        self.ledger = ledger if ledger is not None else Ledger()
        self.n_parameters = count_parameters(model)

    @classmethod
    def load(cls, path: Path, **kwargs) -> "Verifier":
        path = Path(path)
        if not (path / "verifier.json").exists():
            raise ConfigError(f"no trained verifier in {path}; run notebook 03 (train_verifier) first")
        model = LlamaForTokenClassification.from_pretrained(path)
        return cls(model, AutoTokenizer.from_pretrained(path), **kwargs)

    def score(self, prompts: list[str], lines: list[list[str]]) -> list[list[float]]:
        """Score every line of every (prompt, lines) pair; identical pairs are read once."""
        return self.score_and_count(prompts, lines)[0]

    @torch.no_grad()
    def score_and_count(self, prompts: list[str], lines: list[list[str]]) -> tuple[list[list[float]], list[int]]:
        """`score`, plus the tokens read for each pair: its length the first time it occurs, 0 for a
        repeat or an empty pair, so that per-item counts add up to what the ledger gained."""
        if len(prompts) != len(lines):
            raise ValueError(f"{len(prompts)} prompts but {len(lines)} line lists")
        keys = [(p, tuple(ls)) for p, ls in zip(prompts, lines)]
        unique = sorted({k for k in keys if k[1]}, key=lambda k: len(k[0]) + sum(len(x) + 1 for x in k[1]))
        scores: dict[tuple, list[float]] = {}
        lengths: dict[tuple, int] = {}
        for start in range(0, len(unique), self.batch_size):
            chunk = unique[start:start + self.batch_size]
            encoded = [_encode(self.tokenizer, p, list(ls)) for p, ls in chunk]
            ids, mask = _batch(encoded, self.tokenizer.pad_token_id)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                logits = self.model(input_ids=ids, attention_mask=mask).logits[..., 0].float()
            values = torch.sigmoid(logits)
            for r, (key, (row, ends)) in enumerate(zip(chunk, encoded)):
                scores[key], lengths[key] = values[r, ends].tolist(), len(row)
            n_tokens = int(mask.sum())
            self.ledger += Ledger(verifier_tokens=n_tokens, flops=processing_flops(self.n_parameters, n_tokens))
        counted = []
        for k in keys:
            counted.append(lengths.pop(k, 0))  # popped: a repeat reads nothing
        return [scores.get(k, []) for k in keys], counted


# --------------------------------------------------------------------------
# Training


@dataclass(frozen=True)
class VerifierConfig:
    kind: Literal["prm", "orm"] = "prm"
    lr: float = 1e-3
    batch_size: int = 64  # solutions per optimizer step
    max_epochs: int = 8
    evals_per_epoch: int = 2
    patience: int = 3  # evaluations without a better validation loss before stopping
    val_fraction: float = 0.1  # of the training problems, held out for early stopping (the paper: 10%)
    dropout: float = 0.05
    weight_decay: float = 0.01
    bf16: bool = True
    seed: int = 0

    def __post_init__(self):
        check_fields(self)
        check_range(self, "lr", 1e-7, 1.0)
        for name in ("batch_size", "max_epochs", "evals_per_epoch", "patience"):
            check_range(self, name, 1)
        check_range(self, "val_fraction", 0.01, 0.5)
        check_range(self, "dropout", 0.0, 0.9)
        check_range(self, "weight_decay", 0.0, 1.0)


def training_examples(labels: pd.DataFrame, problems: dict[str, W.Problem], kind: str) -> pd.DataFrame:
    """One row per solution: the problem, its lines and one target per line (PRM: the Monte Carlo
    label; ORM: the final grade)."""
    target = "mc_label" if kind == "prm" else "final_correct"
    grouped = labels.sort_values(["problem_id", "solution", "step"]).groupby(["problem_id", "solution"], sort=False)
    rows = []
    for (pid, _), g in grouped:
        rows.append({"problem_id": pid, "prompt": W.prompt(problems[pid]), "lines": solution_lines(g["text"].iloc[0]),
                     "targets": g[target].astype(float).tolist()})
    return pd.DataFrame(rows)


def _loss(model, examples: list[dict], tokenizer, bf16: bool) -> tuple[torch.Tensor, int]:
    encoded = [_encode(tokenizer, e["prompt"], e["lines"]) for e in examples]
    ids, mask = _batch(encoded, tokenizer.pad_token_id)
    rows = torch.tensor([r for r, (_, ends) in enumerate(encoded) for _ in ends])
    cols = torch.tensor([c for _, ends in encoded for c in ends])
    targets = torch.tensor([t for e in examples for t in e["targets"]], dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(input_ids=ids, attention_mask=mask).logits[..., 0].float()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[rows, cols], targets, reduction="sum")
    return loss, len(targets)


def _mean_loss(model, examples: list[dict], tokenizer, bf16: bool, batch_size: int) -> float:
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            loss, n = _loss(model, examples[i:i + batch_size], tokenizer, bf16)
            total, count = total + float(loss), count + n
    model.train()
    return total / max(count, 1)


def train_verifier(labels: pd.DataFrame, problems: dict[str, W.Problem], base_dir: Path, cfg: VerifierConfig,
                   out_dir: Path, progress: bool = True) -> dict:
    """Train a PRM or ORM from the ladder checkpoint in `base_dir`; saved to `out_dir` (skipped when there).

    Problems, not solutions, are split into training and validation, so that
    early stopping sees problems the verifier was not trained on. The weights
    with the best validation loss are kept.
    """
    out_dir, base_dir = Path(out_dir), Path(base_dir)
    settings = json.loads(json.dumps({"config": asdict(cfg), "base": str(base_dir.name),
                                      "base_model": model_record(base_dir),
                                      "labels": len(labels)}))
    if (out_dir / "verifier.json").exists():
        meta = read_json(out_dir / "verifier.json")
        if meta["settings"] != settings:
            raise ConfigError(f"the verifier in {out_dir} was trained with other settings; remove it to "
                              "train again, or restore the settings it was made with")
        return meta
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    examples = training_examples(labels, problems, cfg.kind)
    ids = sorted(examples["problem_id"].unique())
    rng = np.random.default_rng(cfg.seed)
    held = set(rng.choice(ids, size=max(1, round(cfg.val_fraction * len(ids))), replace=False).tolist())
    train = examples[~examples.problem_id.isin(held)].to_dict("records")
    val = examples[examples.problem_id.isin(held)].to_dict("records")
    if not train:
        raise ConfigError(f"val_fraction={cfg.val_fraction} leaves no training problems out of {len(ids)}")

    torch.manual_seed(cfg.seed)
    config = AutoConfig.from_pretrained(base_dir)
    config.num_labels, config.classifier_dropout = 1, cfg.dropout
    model = LlamaForTokenClassification.from_pretrained(base_dir, config=config)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = steps_per_epoch * cfg.max_epochs
    eval_every = max(1, steps_per_epoch // cfg.evals_per_epoch)
    best = (math.inf, 0, None)  # (val loss, step, state)
    curve, waited, started, step = [], 0, time.time(), 0
    bar = tqdm(total=total, desc=f"train {cfg.kind.upper()}", disable=not progress, unit="step")
    for epoch in range(cfg.max_epochs):
        order = rng.permutation(len(train))
        for b in range(steps_per_epoch):
            # Linear warm-up over the first 5% of steps, then constant: early stopping decides the end.
            for group in opt.param_groups:
                group["lr"] = cfg.lr * min(1.0, (step + 1) / max(1, total // 20))
            batch = [train[i] for i in order[b * cfg.batch_size:(b + 1) * cfg.batch_size]]
            loss, n = _loss(model, batch, tokenizer, cfg.bf16)
            loss = loss / n
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            bar.update(1)
            if step % eval_every == 0 or step == total:
                val_loss = _mean_loss(model, val, tokenizer, cfg.bf16, 256)
                curve.append({"step": step, "epoch": step / steps_per_epoch, "train_loss": loss.item(),
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
    meta = {"kind": cfg.kind, "best_val_loss": best[0], "best_step": best[1], "steps": step,
            "train_solutions": len(train), "val_solutions": len(val), "val_problems": sorted(held),
            "curve": curve, "wall_s": time.time() - started, "settings": settings}
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.eval()
    model.save_pretrained(tmp)  # safetensors
    tokenizer.save_pretrained(tmp)
    write_json(tmp / "verifier.json", meta)  # last: its presence marks a finished verifier
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return meta


# --------------------------------------------------------------------------
# Scoring the sample pool


def score_pool(verifier: Verifier, name: str, pool: pd.DataFrame, problems: dict[str, W.Problem], path: Path,
               settings: dict, problems_per_chunk: int = 50, progress: bool = True) -> pd.DataFrame:
    """Per distinct (problem, text) of the pool, and per line of it: the verifier's score and the
    world's truth (`on_track`). Aggregate per sample with `ttc.selection.aggregate`.

    Cached at `path` (keyed by `settings`, which should name the verifier and the pool) and
    built in resumable chunks of problems.
    """
    distinct = pool.drop_duplicates(["problem_id", "text"])[["problem_id", "text"]]
    ids = sorted(distinct["problem_id"].unique())
    chunks = [ids[i:i + problems_per_chunk] for i in range(0, len(ids), problems_per_chunk)]

    def make_chunk(i: int) -> pd.DataFrame:
        part = distinct[distinct.problem_id.isin(chunks[i])]
        lines = [solution_lines(t) for t in part["text"]]
        scores = verifier.score([W.prompt(problems[pid]) for pid in part["problem_id"]], lines)
        rows = []
        for pid, text, ls, sc in zip(part["problem_id"], part["text"], lines, scores):
            truth = W.lines_on_track(problems[pid], ls)
            rows += [{"problem_id": pid, "text": text, "line": j, "n_lines": len(ls), "score": s, "on_track": t}
                     for j, (s, t) in enumerate(zip(sc, truth))]
        return pd.DataFrame(rows, columns=["problem_id", "text", "line", "n_lines", "score", "on_track"])

    return build_in_chunks(path, {"verifier": name, **settings}, len(chunks), make_chunk,
                           desc=f"score the pool with the {name}", progress=progress)


def sample_scores(line_scores: pd.DataFrame, pool: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """The pool with one column per step aggregation (`<prefix>_last`, `_min`, `_prod`); a sample
    without lines scores 0."""
    from ttc.selection import AGGREGATIONS

    # pandas' last / min / prod over lines in order are `ttc.selection.aggregate`'s rules, vectorised.
    ordered = line_scores.sort_values(["problem_id", "text", "line"])
    per_text = ordered.groupby(["problem_id", "text"], sort=False)["score"].agg(list(AGGREGATIONS))
    per_text = per_text.add_prefix(f"{prefix}_").reset_index()
    out = pool.merge(per_text, on=["problem_id", "text"], how="left")
    return out.fillna({f"{prefix}_{how}": 0.0 for how in AGGREGATIONS})
