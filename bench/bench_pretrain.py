"""Pretraining throughput per ladder size: the eager training step against the torch.compile'd one.

Run with `make bench`. For each size, the full profile's batch (rows x 256 tokens, documents isolated)
is timed over `STEPS` optimizer steps after `WARMUP` untimed ones (compiling happens there), in
fp32 as the study trains. Prints tokens per second, the speed-up, the compile time (the untimed steps: up to ~45 s
on a cold start, a few seconds once inductor's cache in /tmp is warm), and one JSON line.
Freshly initialised models: a step's cost does not depend on the weights.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from ttc import pretrain as P
from ttc import world as W
from ttc.lm import LADDER, build_model
from ttc.study import Study, profile_params
from ttc.tokenizer import build_tokenizer

SIZES = tuple(sys.argv[1:]) or ("d32-l2", "d48-l3", "d64-l4", "d80-l5")  # the full profile's ladder
WARMUP, STEPS = 5, 20


def tokens_per_second(name: str, compiled: bool, docs, cfg: P.PretrainConfig, tokenizer) -> tuple[float, float]:
    """(tokens/s over the timed steps, seconds spent before them: the untimed steps, compiling included)"""
    model = build_model(LADDER[name], tokenizer)
    model.train()
    step_model = torch.compile(model) if compiled else model
    opt = P._optimizer(model, cfg)
    started = time.perf_counter()
    for step in range(WARMUP + STEPS):
        if step == WARMUP:
            timed = time.perf_counter()
        x, y = P.pack_batch(docs, step, cfg, tokenizer.pad_token_id)
        P.forward(step_model, x, cfg, tokenizer.bos_token_id, labels=y).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    end = time.perf_counter()
    return STEPS * cfg.rows * cfg.block / (end - timed), timed - started


def main() -> None:
    study = Study.from_params(profile_params("full"))
    cfg, tokenizer = study.config.pretrain, build_tokenizer()
    docs = P.tokenize(W.make_splits(study.config.world)["train"][:2000], tokenizer, cfg.block)
    print(f"pretraining step, {cfg.rows} rows x {cfg.block} tokens, fp32, {torch.get_num_threads()} threads")
    print(f"{'size':>9} {'eager tok/s':>12} {'compiled tok/s':>15} {'speed-up':>9} {'compile s':>10}")
    rows = []
    for name in SIZES:
        eager, _ = tokens_per_second(name, False, docs, cfg, tokenizer)
        compiled, before = tokens_per_second(name, True, docs, cfg, tokenizer)
        rows.append({"size": name, "eager_tok_s": round(eager), "compiled_tok_s": round(compiled),
                     "speedup": round(compiled / eager, 2), "compile_s": round(before, 1)})
        print(f"{name:>9} {eager:>12,.0f} {compiled:>15,.0f} {compiled / eager:>8.2f}x {before:>10.1f}")
    print(json.dumps({"bench": "pretrain_step", "rows": rows}))


if __name__ == "__main__":
    main()
