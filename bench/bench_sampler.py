"""Sampler throughput against transformers' generate, and achieved FLOP/s against this machine's matmul peak.

Run with `make bench`. Prints a table and one JSON line. Both samplers draw
exactly `NEW_TOKENS` tokens per row (no early stop), from the same prompts,
in the same process, so that the numbers compare like with like. Trained
ladder models are used when `data/full/models/` has them; otherwise freshly
initialised ones of the same sizes (speed does not depend on the weights
when lengths are fixed).
"""

from __future__ import annotations

import json
import platform
import statistics
import time

import ttc  # noqa: F401  (first: it pins the instruction set of torch and numpy)
import torch

from ttc.core import kernels
from ttc.core.compute import processing_flops
from ttc.core.config import ROOT
from ttc.core.store import artifact_status
from ttc.models.lm import LADDER, build_model, count_parameters, load_model
from ttc.models.sampling import Sampler
from ttc.world import synthetic as W
from ttc.world.tokenizer import build_tokenizer

MODELS = ("d32-l2", "d80-l5")  # the policy and the largest ladder model
BATCHES = (1, 64, 256, 1024)
SHARED = 256  # one prompt, this many samples
NEW_TOKENS = 64
# This machine is shared and its speed drifts from minute to minute: each measurement alternates
# the two samplers this many times and keeps the median of each.
REPEATS = 3


def matmul_peak_flops(n: int = 2048, reps: int = 10, bf16: bool = False) -> float:
    """Dense matmul FLOP/s; with `bf16`, under bf16 autocast (pretraining and the verifiers' `bf16` option)
    (fast only on processors with bf16 matrix instructions, AVX512-BF16 or AMX)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        a @ b  # warm-up
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - start)


def model_for(name: str, tokenizer):
    path = ROOT / "data" / "full" / "models" / name
    if artifact_status(path) == "ok":
        model, _, _ = load_model(path)
        return model, "trained"
    return build_model(LADDER[name], tokenizer).eval(), "untrained"


def prompts_for(batch: int) -> list[str]:
    problems = W.make_splits(W.WorldConfig(n_train=1, n_val=1, n_test=max(batch, 10)))["test"]
    return [W.prompt(p) for p in problems[:batch]]


def time_ours(model, tokenizer, prompts, n: int = 1) -> float:
    sampler = Sampler(model, tokenizer, batch_size=len(prompts) * n, max_new_tokens=NEW_TOKENS)
    start = time.perf_counter()
    out = sampler.sample(prompts, n=n, temperature=1.0, until="length", seed=0)
    elapsed = time.perf_counter() - start
    assert all(c.n_tokens == NEW_TOKENS for row in out for c in row)
    return elapsed


def time_generate(model, tokenizer, prompts, n: int = 1) -> float:
    enc = tokenizer(prompts, return_tensors="pt", padding=True)
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(**enc, do_sample=True, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                             num_return_sequences=n, pad_token_id=tokenizer.pad_token_id, temperature=1.0,
                             top_k=0, top_p=1.0)
    elapsed = time.perf_counter() - start
    assert out.shape == (len(prompts) * n, enc["input_ids"].shape[1] + NEW_TOKENS)
    return elapsed


def main() -> None:
    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    peak = matmul_peak_flops()
    bf16_peak = matmul_peak_flops(n=512, reps=3, bf16=True)  # small: on processors without bf16 units it crawls
    rows = []
    for name in MODELS:
        model, weights = model_for(name, tokenizer)
        n_params = count_parameters(model)
        time_ours(model, tokenizer, prompts_for(8))  # warm-up
        # Distinct prompts (an evaluation), then one prompt sampled many times (the pool, PRM rollouts),
        # where the sampler reads the prompt once for all its rows.
        for batch, n in [(b, 1) for b in BATCHES] + [(SHARED, SHARED)]:
            prompts = prompts_for(batch // n)
            prompt_tokens = sum(len(tokenizer(p)["input_ids"]) for p in prompts)
            times = [(time_ours(model, tokenizer, prompts, n), time_generate(model, tokenizer, prompts, n))
                     for _ in range(REPEATS)]
            ours, hf = (statistics.median(t) for t in zip(*times))
            tokens = batch * NEW_TOKENS
            flops = processing_flops(n_params, tokens + prompt_tokens)  # what was computed: each distinct prompt once
            rows.append({"model": name, "weights": weights, "parameters": n_params, "batch": batch,
                         "distinct_prompts": len(prompts),
                         "ours_tok_s": tokens / ours, "generate_tok_s": tokens / hf, "speedup": hf / ours,
                         "ours_flop_s": flops / ours, "fraction_of_matmul_peak": flops / ours / peak})
    kernel = "fused C++" if kernels.available() else "torch (the C++ kernels are off or did not build)"
    print(f"machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
          f"dense fp32 matmul peak {peak / 1e9:.0f} GFLOP/s (bf16 autocast: {bf16_peak / 1e9:.1f} GFLOP/s, "
          f"{peak / bf16_peak:.1f}x slower); {NEW_TOKENS} new tokens per row, temperature 1; "
          f"median of {REPEATS} alternating runs; "
          f"decode step: {kernel}")
    print(f"{'model':>8} {'params':>9} {'batch':>5} {'prompts':>7} {'ours tok/s':>11} {'generate tok/s':>15} "
          f"{'speedup':>8} {'GFLOP/s':>8} {'of peak':>8}")
    for r in rows:
        print(f"{r['model']:>8} {r['parameters']:>9,} {r['batch']:>5} {r['distinct_prompts']:>7} {r['ours_tok_s']:>11,.0f} "
              f"{r['generate_tok_s']:>15,.0f} {r['speedup']:>7.1f}x {r['ours_flop_s'] / 1e9:>8.1f} "
              f"{r['fraction_of_matmul_peak']:>8.1%}")
    print(json.dumps({"bench": "sampler", "matmul_peak_flop_s": peak, "bf16_matmul_flop_s": bf16_peak,
                      "new_tokens": NEW_TOKENS,
                      "repeats": REPEATS, "fused_kernels": kernels.available(), "rows": rows}))


if __name__ == "__main__":
    main()
