"""A fused decode-step attention kernel in C++, compiled on first use, with a pure-torch fallback.

A decode step attends from one new query per (row, head) to that row's
cache: about a thousand tiny matrix-vector products per layer at batch 256.
As batched matmuls they run far below this machine's memory bandwidth, and
torch's softmax adds two more passes over the scores. This kernel does the
scores, the softmax and the weighted sum of values in one pass per
(row, head), reading the cache once, with a vectorisable exp. A prompt's
keys and values are stored once for all the rows sampled from it (a pool
draws 512 samples of each question), so they are read from memory once and
then from the processor's cache.

It is built with torch's C++ extension loader (a C++ compiler and ninja are
needed; both are on the project machines) into torch's extension cache, once
per machine. Where it cannot be built, or with `TTC_KERNELS=0` in the
environment, `decode_attention` returns None and the caller uses its torch
path; the two agree to float rounding (tested).
"""

from __future__ import annotations

import os
import sys
import warnings

import torch

SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

// exp for x <= 0 (scores minus their maximum), written so that the compiler vectorises the
// softmax loop: Cephes' expf (range reduction by ln 2, then a degree-6 polynomial), about 1 ulp.
static inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float n = floorf(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// One new query per (row, query head) attends to its row's cache, which has two parts: the
// prompt's keys and values, stored once per distinct prompt and shared by every row sampled
// from it, and the row's own generated ones.
// q [B, Hkv, G, hd] (the G query heads each kv head serves, already scaled);
// prompt_keys [U, Hkv, hd, P] (transposed), prompt_values [U, Hkv, P, hd]; row b reads prompt
// prompt_of[b] from column prompt_start[prompt_of[b]] on (left padding before it);
// keys [B, Hkv, hd, M] (transposed), values [B, Hkv, M, hd]: the first n columns are valid.
// Returns softmax(q k) v as [B, Hkv * G * hd].
torch::Tensor decode_attention(torch::Tensor q, torch::Tensor prompt_keys, torch::Tensor prompt_values,
                               torch::Tensor prompt_of, torch::Tensor prompt_start,
                               torch::Tensor keys, torch::Tensor values, int64_t n) {
  for (const auto& t : {q, prompt_keys, prompt_values, keys, values}) {
    TORCH_CHECK(t.scalar_type() == torch::kFloat && t.dim() == 4 && t.stride(3) == 1,
                "decode_attention takes 4-d float32 tensors with a contiguous last dimension");
  }
  TORCH_CHECK(prompt_of.scalar_type() == torch::kLong && prompt_start.scalar_type() == torch::kLong,
              "decode_attention takes int64 prompt indices");
  const int64_t B = q.size(0), Hkv = q.size(1), G = q.size(2), hd = q.size(3), P = prompt_keys.size(3);
  auto out = torch::empty({B, Hkv * G * hd}, q.options());
  const float* qp = q.data_ptr<float>();
  const float* pkp = prompt_keys.data_ptr<float>();
  const float* pvp = prompt_values.data_ptr<float>();
  const float* kp = keys.data_ptr<float>();
  const float* vp = values.data_ptr<float>();
  const int64_t* of = prompt_of.data_ptr<int64_t>();
  const int64_t* starts = prompt_start.data_ptr<int64_t>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, B * Hkv * G, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> s(P + n);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / (Hkv * G), h = (i / G) % Hkv, g = i % G;
      const int64_t u = of[b], t0 = starts[u], np = P - t0, total_cols = np + n;
      const float* qi = qp + b * q.stride(0) + h * q.stride(1) + g * q.stride(2);
      const float* pki = pkp + u * prompt_keys.stride(0) + h * prompt_keys.stride(1) + t0;
      const float* pvi = pvp + u * prompt_values.stride(0) + h * prompt_values.stride(1) + t0 * prompt_values.stride(2);
      const float* ki = kp + b * keys.stride(0) + h * keys.stride(1);
      const float* vi = vp + b * values.stride(0) + h * values.stride(1);
      float* sc = s.data();
      float* sg = sc + np;
      for (int64_t t = 0; t < total_cols; ++t) sc[t] = 0.f;
      for (int64_t j = 0; j < hd; ++j) {
        const float qj = qi[j];
        const float* pkj = pki + j * prompt_keys.stride(2);
        const float* kj = ki + j * keys.stride(2);
#pragma omp simd
        for (int64_t t = 0; t < np; ++t) sc[t] += qj * pkj[t];
#pragma omp simd
        for (int64_t t = 0; t < n; ++t) sg[t] += qj * kj[t];
      }
      float m = -INFINITY;
      for (int64_t t = 0; t < total_cols; ++t) m = sc[t] > m ? sc[t] : m;
      float sum = 0.f;
#pragma omp simd reduction(+:sum)
      for (int64_t t = 0; t < total_cols; ++t) { sc[t] = exp_nonpositive(sc[t] - m); sum += sc[t]; }
      float* o = op + i * hd;
      for (int64_t j = 0; j < hd; ++j) o[j] = 0.f;
      for (int64_t t = 0; t < np; ++t) {
        const float p = sc[t];
        const float* vt = pvi + t * prompt_values.stride(2);
#pragma omp simd
        for (int64_t j = 0; j < hd; ++j) o[j] += p * vt[j];
      }
      for (int64_t t = 0; t < n; ++t) {
        const float p = sg[t];
        const float* vt = vi + t * values.stride(2);
#pragma omp simd
        for (int64_t j = 0; j < hd; ++j) o[j] += p * vt[j];
      }
      const float inv = 1.f / sum;
      for (int64_t j = 0; j < hd; ++j) o[j] *= inv;
    }
  });
  return out;
}
"""

_module = None
_tried = False


def _load():
    global _module, _tried
    if _tried:
        return _module
    _tried = True
    if os.environ.get("TTC_KERNELS", "1") == "0":
        return None
    try:
        from torch.utils.cpp_extension import load_inline
        # ninja comes with the virtual environment; make it findable when Python runs outside it.
        bin_dir = os.path.dirname(sys.executable)
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
        _module = load_inline("ttc_decode_attention", cpp_sources=[SOURCE], functions=["decode_attention"],
                              extra_cflags=["-O3", "-march=native", "-fopenmp", "-fno-math-errno",
                                            "-fno-trapping-math"],
                              extra_ldflags=["-fopenmp"])
    except Exception as error:  # no compiler, no ninja: the torch path still gives the same numbers
        warnings.warn(f"the fused attention kernel could not be built ({type(error).__name__}: {error}); "
                      "sampling uses the slower torch path")
        _module = None
    return _module


def available() -> bool:
    """Whether the kernel is built (building it on the first call)."""
    return _load() is not None


def decode_attention(q, prompt_keys, prompt_values, prompt_of, prompt_start, keys, values,
                     n: int) -> torch.Tensor | None:
    """softmax(q k) v over each row's prompt cache and its first `n` generated columns (shapes in the C++
    source); None where the kernel is unavailable or the tensors are not float32 on the CPU."""
    if q.device.type != "cpu" or q.dtype != torch.float32:
        return None
    module = _load()
    return None if module is None else module.decode_attention(q, prompt_keys, prompt_values, prompt_of,
                                                               prompt_start, keys, values, n)
