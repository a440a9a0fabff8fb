"""What determinism costs in sampling: the ordered matrix product against MKL's on the study's shapes, and
the sampler with the C++ kernels built for the pinned instruction set (`ttc.core.kernels.KERNEL_FLAGS`: AVX2, FMA,
no contraction) against the same source built for this processor (`-march=native`, as before the pin).

Run with `make bench`. Both kernel builds run in this process, alternating, each `REPEATS` times (the
median is kept): the machine's speed drifts. Freshly initialised models. Prints tables and one JSON line.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import ttc  # noqa: F401  (first: it pins the instruction set)
import torch

from ttc.core import determinism
from ttc.core import kernels

sys.path.insert(0, "bench")
from bench_sampler import model_for, prompts_for, time_ours  # noqa: E402

from ttc.world.tokenizer import build_tokenizer  # noqa: E402

SHAPES = [  # (M, K, N) of the study's products: d80-l5's linear layers at 1024 tokens, forward and backward,
    (1024, 80, 320), (320, 1024, 80), (1024, 320, 80),  # and a decode step's at batch 256
    (256, 80, 400), (256, 160, 80)]
BATCHED = [(20, 256, 16, 256), (20, 256, 256, 16)]  # attention's two products: (batch, M, K, N)
MODELS, BATCH, REPEATS = ("d32-l2", "d80-l5"), 256, 3
NATIVE_FLAGS = [f for f in kernels.KERNEL_FLAGS if f not in ("-mavx2", "-mfma", "-ffp-contract=off")] + [
    "-march=" + "native"]


def seconds(f, *args, reps: int = 50) -> float:
    f(*args)
    start = time.perf_counter()
    for _ in range(reps):
        f(*args)
    return (time.perf_counter() - start) / reps


def native_module():
    from torch.utils.cpp_extension import load_inline

    return load_inline("ttc_kernels_native", cpp_sources=[kernels.SOURCE],
                       functions=["decode_step", "silu_mul", "rms_norm", "draw", "ordered_mm"],
                       extra_cflags=NATIVE_FLAGS, extra_ldflags=["-fopenmp"])


def main() -> None:
    print(f"on {determinism.describe()['processor']}, {torch.get_num_threads()} threads")
    print(f"{'product':>24} {'ordered GFLOP/s':>16} {'MKL GFLOP/s':>12}")
    products = []
    for shape in [(None, *s) for s in SHAPES] + BATCHED:
        g, m, k, n = shape
        a, b = (torch.randn(m, k), torch.randn(k, n)) if g is None else (torch.randn(g, m, k), torch.randn(g, k, n))
        flops = 2 * m * k * n * (g or 1)
        ours, mkl = flops / seconds(kernels.ordered_mm, a, b) / 1e9, flops / seconds(torch.matmul, a, b) / 1e9
        products.append({"shape": shape, "ordered_gflop_s": round(ours, 1), "mkl_gflop_s": round(mkl, 1)})
        print(f"{str(shape):>24} {ours:>16.1f} {mkl:>12.1f}")

    pinned = kernels._load()
    native = native_module()
    tokenizer = build_tokenizer()
    prompts = prompts_for(1)
    print(f"\nsampler, {BATCH} samples of one prompt x 64 tokens: kernels pinned vs built for this processor")
    print(f"{'model':>8} {'pinned tok/s':>13} {'native tok/s':>13} {'cost':>6}")
    sampler = []
    for name in MODELS:
        model, _ = model_for(name, tokenizer)
        times = {"pinned": [], "native": []}
        for _ in range(REPEATS):
            for label, module in (("pinned", pinned), ("native", native)):
                kernels._module = module
                times[label].append(time_ours(model, tokenizer, prompts, n=BATCH))
        kernels._module = pinned
        rate = {k: BATCH * 64 / statistics.median(v) for k, v in times.items()}
        sampler.append({"model": name, "pinned_tok_s": round(rate["pinned"]), "native_tok_s": round(rate["native"])})
        print(f"{name:>8} {rate['pinned']:>13,.0f} {rate['native']:>13,.0f} {rate['native'] / rate['pinned']:>5.2f}x")
    print(json.dumps({"bench": "kernels", "machine": determinism.describe(), "products": products, "sampler": sampler}))


if __name__ == "__main__":
    main()
