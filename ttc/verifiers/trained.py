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

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from transformers import AutoTokenizer, LlamaForTokenClassification

from ttc.core.compute import Ledger, processing_flops
from ttc.core.config import check_fields, check_range
from ttc.core.executors import build_in_chunks, chunk_seed
from ttc.core.executors import ledgers_of
from ttc.core.ordered import ordered
from ttc.core.store import check_artifact, plain
from ttc.models.finetune import Example, FinetuneConfig, load_base, pad_batch, train_and_save, value_loss
from ttc.models.lm import count_parameters, model_record
from ttc.models.sampling import Sampler
from ttc.world import synthetic as W
from ttc.world.protocol import SYNTHETIC, World
from ttc.world.text import render, solution_lines
from ttc.world.tokenizer import newline_id

# --------------------------------------------------------------------------
# Monte Carlo step labels


@dataclass(frozen=True)
class LabelConfig:
    n_solutions: int = 8  # policy solutions per training problem (the paper: 16)
    n_rollouts: int = 8  # rollouts per step prefix (the paper: 16)
    temperature: float = 1.0
    max_new_tokens: int = 224
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

    `policy_record` (`ttc.models.lm.model_record` of the policy) joins the labels' settings.
    """
    sampler = Sampler(policy, tokenizer, batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens,
                      ledger=ledger)
    chunks = [problems[i:i + cfg.problems_per_chunk] for i in range(0, len(problems), cfg.problems_per_chunk)]

    def make_chunk(i: int) -> pd.DataFrame:
        return _label_chunk(sampler, chunks[i], cfg, seed=chunk_seed(cfg.seed, i))

    return build_in_chunks(path, {"labels": cfg, "problems": [p.id for p in problems], "policy": policy_record},
                           len(chunks), make_chunk,
                           desc=f"PRM labels: {cfg.n_solutions} solutions x {cfg.n_rollouts} rollouts",
                           progress=progress, ledgers=ledgers_of(sampler))


# --------------------------------------------------------------------------
# The verifier model


def encode(tokenizer, prompt: str, lines: list[str]) -> tuple[list[int], list[int]]:
    """Token ids of prompt + lines, and the position of the newline that closes each line."""
    ids = tokenizer(render(prompt, lines))["input_ids"]
    n_prompt = len(tokenizer(prompt)["input_ids"])
    newline = newline_id(tokenizer)
    ends = [i for i in range(n_prompt, len(ids)) if ids[i] == newline]
    if len(ends) != len(lines):
        raise ValueError(f"found {len(ends)} line ends for {len(lines)} lines: the tokenizer must keep "
                         "each newline a token of its own")
    return ids, ends


class Verifier:
    """Per-line scores in [0, 1] from a trained PRM or ORM."""

    def __init__(self, model: LlamaForTokenClassification, tokenizer, batch_size: int = 256,
                 ledger: Ledger | None = None, bf16: bool = False):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.batch_size, self.bf16 = batch_size, bf16
        self.ledger = ledger if ledger is not None else Ledger()
        self.n_parameters = count_parameters(model)

    @classmethod
    def load(cls, path: Path, **kwargs) -> "Verifier":
        path = Path(path)
        check_artifact(path, what="trained verifier", made_by="notebook 03")
        model = ordered(LlamaForTokenClassification.from_pretrained(path, use_safetensors=True))
        return cls(model, AutoTokenizer.from_pretrained(path), **kwargs)

    def score(self, prompts: list[str], lines: list[list[str]]) -> list[list[float]]:
        """Score every line of every (prompt, lines) pair; identical pairs are read once."""
        return self.score_and_count(prompts, lines)[0]

    @torch.no_grad()
    def score_and_count(self, prompts: list[str], lines: list[list[str]]) -> tuple[list[list[float]], list[int]]:
        """`score`, plus the tokens read for each pair: its length the first time it occurs, 0 for a
        repeat or an empty pair, so that per-item counts add up to what the ledger gained."""
        def score_batch(ids, mask, chunk, encoded):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                logits = self.model(input_ids=ids, attention_mask=mask).logits[..., 0].float()
            values = torch.sigmoid(logits)
            return [values[r, ends].tolist() for r, (_, ends) in enumerate(encoded)]

        return score_in_batches(prompts, lines, self.tokenizer, self.batch_size, self.ledger, self.n_parameters,
                                score_batch)


def score_in_batches(prompts: list[str], lines: list[list[str]], tokenizer, batch_size: int, ledger: Ledger,
                     n_parameters: int, score_batch, encode=encode) -> tuple[list[list[float]], list[int]]:
    """What every per-line scorer shares: each distinct non-empty (prompt, lines) pair is encoded once (by
    `encode(tokenizer, prompt, lines) -> (ids, positions scored)`), in length-sorted right-padded batches;
    `score_batch(ids, mask, chunk, encoded)` gives each pair's per-line scores; the tokens read go to `ledger`
    at 2N FLOPs each. Returns the scores and, per pair, the tokens read for it (its length the first time it
    occurs, 0 for a repeat or an empty pair)."""
    if len(prompts) != len(lines):
        raise ValueError(f"{len(prompts)} prompts but {len(lines)} line lists")
    keys = [(p, tuple(ls)) for p, ls in zip(prompts, lines)]
    # By length, so that batches pad little; ties by text, so that batches (and so bf16 rounding)
    # do not depend on the set's order, which Python's string hashing changes from run to run.
    unique = sorted({k for k in keys if k[1]}, key=lambda k: (len(k[0]) + sum(len(x) + 1 for x in k[1]), k))
    scores: dict[tuple, list[float]] = {}
    lengths: dict[tuple, int] = {}
    for start in range(0, len(unique), batch_size):
        chunk = unique[start:start + batch_size]
        encoded = [encode(tokenizer, p, list(ls)) for p, ls in chunk]
        # Padding is masked out, so any id serves; many real tokenizers have no pad token.
        ids, mask = pad_batch([row for row, _ in encoded], tokenizer.pad_token_id or 0)
        for key, (row, _), values in zip(chunk, encoded, score_batch(ids, mask, chunk, encoded)):
            scores[key], lengths[key] = values, len(row)
        n_tokens = int(mask.sum())
        ledger += Ledger(verifier_tokens=n_tokens, flops=processing_flops(n_parameters, n_tokens))
    counted = [lengths.pop(k, 0) for k in keys]  # popped: a repeat reads nothing
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
    bf16: bool = False  # as pretraining: fp32 unless the CPU has bf16 matrix units
    seed: int = 0

    def __post_init__(self):
        check_fields(self)
        check_range(self, "dropout", 0.0, 0.9)
        self.finetune_config()  # checks the training settings

    def finetune_config(self) -> FinetuneConfig:
        return FinetuneConfig(lr=self.lr, batch_size=self.batch_size, max_epochs=self.max_epochs,
                              evals_per_epoch=self.evals_per_epoch, patience=self.patience,
                              val_fraction=self.val_fraction, weight_decay=self.weight_decay, bf16=self.bf16,
                              seed=self.seed)


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


def encoded_examples(table: pd.DataFrame, tokenizer) -> list[Example]:
    """`training_examples` as the fine-tuning loop's examples: a target at the end of every line."""
    out = []
    for r in table.itertuples():
        ids, ends = encode(tokenizer, r.prompt, r.lines)
        out.append(Example(r.problem_id, tuple(ids), tuple(ends), tuple(r.targets)))
    return out


def verifier_settings(cfg: "VerifierConfig", base_dir: Path, n_labels: int) -> dict:
    """What makes a trained verifier: its training settings, the base model it starts from, the labels."""
    base_dir = Path(base_dir)
    return plain({"config": cfg, "base": base_dir.name, "base_model": model_record(base_dir), "labels": n_labels})


def train_verifier(labels: pd.DataFrame, problems: dict[str, W.Problem], base_dir: Path, cfg: VerifierConfig,
                   out_dir: Path, progress: bool = True) -> dict:
    """Train a PRM or ORM from the ladder checkpoint in `base_dir` with the study's fine-tuning loop;
    saved to `out_dir` (skipped when it is there with the same settings)."""
    base_dir = Path(base_dir)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    return train_and_save(
        out_dir, verifier_settings(cfg, base_dir, len(labels)),
        lambda: load_base(base_dir, "value", seed=cfg.seed, dropout=cfg.dropout), tokenizer,
        lambda: encoded_examples(training_examples(labels, problems, cfg.kind), tokenizer), value_loss,
        cfg.finetune_config(), what=cfg.kind.upper(), extra={"kind": cfg.kind}, progress=progress)


# --------------------------------------------------------------------------
# Scoring the sample pool


def score_pool(verifier: Verifier, name: str, pool: pd.DataFrame, problems: dict, path: Path,
               settings: dict, problems_per_chunk: int = 50, progress: bool = True,
               world: World = SYNTHETIC) -> pd.DataFrame:
    """Per distinct (problem, text) of the pool, and per line (step) of it: the verifier's score and the
    world's truth (`on_track`; None in a world without per-step truth, MATH). Aggregate per sample with
    `ttc.verifiers.selection.aggregate`.

    Cached at `path` (keyed by `settings`, which should hold the verifier's and the pool's) and
    built in resumable chunks of problems.
    """
    distinct = pool.drop_duplicates(["problem_id", "text"])[["problem_id", "text"]]
    ids = sorted(distinct["problem_id"].unique())
    chunks = [ids[i:i + problems_per_chunk] for i in range(0, len(ids), problems_per_chunk)]

    def make_chunk(i: int) -> pd.DataFrame:
        part = distinct[distinct.problem_id.isin(chunks[i])]
        lines = [world.steps(t) for t in part["text"]]
        scores = verifier.score([world.question(problems[pid]) for pid in part["problem_id"]], lines)
        rows = []
        for pid, text, ls, sc in zip(part["problem_id"], part["text"], lines, scores):
            truth = W.lines_on_track(problems[pid], ls) if world.has_step_truth else [None] * len(ls)
            rows += [{"problem_id": pid, "text": text, "line": j, "n_lines": len(ls), "score": s, "on_track": t}
                     for j, (s, t) in enumerate(zip(sc, truth))]
        return pd.DataFrame(rows, columns=["problem_id", "text", "line", "n_lines", "score", "on_track"])

    return build_in_chunks(path, settings, len(chunks), make_chunk,
                           desc=f"score the pool with the {name}", progress=progress, ledgers=ledgers_of(verifier))


def sample_scores(line_scores: pd.DataFrame, pool: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """The pool with one column per step aggregation (`<prefix>_last`, `_min`, `_prod`); a sample
    without lines scores 0."""
    from ttc.verifiers.selection import AGGREGATIONS

    # pandas' last / min / prod over lines in order are `ttc.verifiers.selection.aggregate`'s rules, vectorised.
    ordered = line_scores.sort_values(["problem_id", "text", "line"])
    per_text = ordered.groupby(["problem_id", "text"], sort=False)["score"].agg(list(AGGREGATIONS))
    per_text = per_text.add_prefix(f"{prefix}_").reset_index()
    out = pool.merge(per_text, on=["problem_id", "text"], how="left")
    return out.fillna({f"{prefix}_{how}": 0.0 for how in AGGREGATIONS})
