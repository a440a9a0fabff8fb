"""The pool built here against on a local Ray instance with 2 workers (one thread each): wall time, Ray's
start-up, and the overhead per chunk, so that a user can see when Ray pays.

Run with `make bench`. Prints a table and one JSON line. The pool is the study's (the policy's samples of test
problems, in chunks of problems) with a freshly initialised full-profile policy (d32-l2; its speed hardly
depends on its weights). Both builds start from nothing in temporary folders; their tables are checked equal.
Ray's start-up and its workers' first tasks (each worker process imports torch and the project) are timed
apart: they are paid once per session, not per build.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import ttc  # noqa: F401  (first: it pins the instruction set of torch and numpy)
import pandas as pd
import torch

from ttc.core import executors
from ttc.core.executors import ExecutorConfig
from ttc.models.lm import LADDER, build_model
from ttc.pipelines.pool import PoolConfig, sample_pool
from ttc.world import synthetic as W
from ttc.world.tokenizer import build_tokenizer

PROBLEMS = 80
SAMPLES = 64
PROBLEMS_PER_CHUNK = (5, 20)  # small and the study's default chunks
WORKERS = 2


def build(folder: Path, model, tokenizer, problems, per_chunk: int) -> tuple[pd.DataFrame, float]:
    start = time.perf_counter()
    table = sample_pool(model, tokenizer, problems, PoolConfig(n=SAMPLES, max_new_tokens=96,
                                                               problems_per_chunk=per_chunk),
                        folder / "pool.parquet", progress=False)
    return table, time.perf_counter() - start


def main() -> None:
    import ray

    tokenizer = build_tokenizer()
    model = build_model(LADDER["d32-l2"], tokenizer, seed=0).eval()
    problems = W.make_splits(W.WorldConfig(n_train=10, n_val=5, n_test=PROBLEMS))["test"]
    start = time.perf_counter()
    ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray_start = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp, executors.using(ExecutorConfig(executor="ray")):
        _, warm_up = build(Path(tmp), model, tokenizer, problems[:2 * WORKERS], 1)  # one task per worker, twice
    rows = []
    print(f"pool of {PROBLEMS} problems x {SAMPLES} samples (d32-l2); local: {torch.get_num_threads()} threads; "
          f"Ray: {WORKERS} workers x 1 thread; Ray start-up {ray_start:.1f} s, workers' first tasks "
          f"{warm_up:.1f} s (once per session)")
    print(f"{'chunk':>6} {'chunks':>7} {'local s':>8} {'ray s':>7} {'speed-up':>9} {'overhead/chunk s':>17}")
    for per_chunk in PROBLEMS_PER_CHUNK:
        with tempfile.TemporaryDirectory() as tmp:
            local, local_s = build(Path(tmp) / "local", model, tokenizer, problems, per_chunk)
            with executors.using(ExecutorConfig(executor="ray")):
                remote, ray_s = build(Path(tmp) / "ray", model, tokenizer, problems, per_chunk)
        pd.testing.assert_frame_equal(local, remote)
        n_chunks = -(-PROBLEMS // per_chunk)
        # Worker-seconds Ray spent beyond the local build's compute, per chunk (shipping the closure and its
        # model, scheduling, writing and reading the piece); negative when the workers' single thread is faster
        # than the local build's threads on these small matrices.
        overhead = (WORKERS * ray_s - local_s) / n_chunks
        rows.append({"problems_per_chunk": per_chunk, "chunks": n_chunks, "local_s": local_s, "ray_s": ray_s,
                     "speedup": local_s / ray_s, "overhead_per_chunk_s": overhead})
        print(f"{per_chunk:>6} {n_chunks:>7} {local_s:>8.2f} {ray_s:>7.2f} {local_s / ray_s:>8.2f}x {overhead:>17.3f}")
    ray.shutdown()
    print(json.dumps({"bench": "ray_pool", "workers": WORKERS, "ray_start_s": ray_start, "warm_up_s": warm_up,
                      "rows": rows}))


if __name__ == "__main__":
    main()
