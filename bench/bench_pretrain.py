"""What determinism costs in pretraining: tokens per second of the study's training step (pinned: AVX2 for
every library, ordered products, eager) against this machine's native step (unpinned: MKL and torch's
attention for this processor), eager and torch.compile'd, per ladder size; and the pinned step at larger
batches (rows of 256 tokens), the lever that buys the speed back if a larger batch learns as well per token.

Run with `make bench`. The native steps run in a child process started unpinned (TTC_DETERMINISTIC=0, the
pinned variables removed): a process's instruction set is fixed when torch and numpy load. Each size's
step is timed over `STEPS` optimizer steps after `WARMUP` untimed ones (compiling happens there). Freshly
initialised models: a step's cost does not depend on the weights. Prints a table and one JSON line.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

import ttc  # noqa: F401  (first: it pins the instruction set, unless TTC_DETERMINISTIC=0)
import torch

from ttc.core import determinism
from ttc.models import pretrain as P
from ttc.models.lm import LADDER, build_model
from ttc.pipelines.study import Study, profile_params
from ttc.world import synthetic as W
from ttc.world.tokenizer import build_tokenizer

SIZES = tuple(sys.argv[1:]) or ("d32-l2", "d48-l3", "d64-l4", "d80-l5")  # default: the full profile's ladder
WARMUP, STEPS = 5, 20
ROWS = (16,)  # larger batches than the recipe's, for the pinned step


def tokens_per_second(name: str, compiled: bool, rows: int | None = None) -> tuple[float, float]:
    """(tokens/s over the timed steps, seconds spent before them: the untimed steps, compiling included)"""
    study = Study.from_params(profile_params("full"))
    cfg, tokenizer = study.config.pretrain, build_tokenizer()
    if rows is not None:
        cfg = dataclasses.replace(cfg, rows=rows)
    docs = P.tokenize(W.make_splits(study.config.world)["train"][:2000], tokenizer, cfg.block)
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


def native(name: str, compiled: bool) -> float:
    """tokens/s of the unpinned step, measured in a child process started unpinned."""
    env = {k: v for k, v in os.environ.items() if k not in determinism.PINNED_ENV} | {determinism.SWITCH: "0"}
    code = ("import sys, json; sys.path.insert(0, 'bench'); import bench_pretrain as b; "
            f"print(json.dumps(b.tokens_per_second({name!r}, {compiled})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])[0]


def main() -> None:
    recipe_rows = Study.from_params(profile_params("full")).config.pretrain.rows
    print(f"pretraining step, {recipe_rows} rows x 256 tokens, fp32, {torch.get_num_threads()} threads, "
          f"on {determinism.describe()['processor']}")
    print(f"{'size':>7} {'pinned tok/s':>13} {'native eager':>13} {'native compiled':>16} {'cost vs compiled':>17} "
          + "".join(f"{f'pinned {r} rows':>16}" for r in ROWS))
    rows = []
    for name in SIZES:
        pinned, _ = tokens_per_second(name, False)
        eager, compiled = native(name, False), native(name, True)
        larger = {r: tokens_per_second(name, False, rows=r)[0] for r in ROWS}
        rows.append({"size": name, "pinned_tok_s": round(pinned), "native_eager_tok_s": round(eager),
                     "native_compiled_tok_s": round(compiled), "cost_vs_compiled": round(compiled / pinned, 2),
                     **{f"pinned_{r}_rows_tok_s": round(v) for r, v in larger.items()}})
        print(f"{name:>7} {pinned:>13,.0f} {eager:>13,.0f} {compiled:>16,.0f} {compiled / pinned:>16.2f}x "
              + "".join(f"{larger[r]:>16,.0f}" for r in ROWS))
    print(json.dumps({"bench": "pretrain_step", "machine": determinism.describe(), "rows": rows}))


if __name__ == "__main__":
    main()
