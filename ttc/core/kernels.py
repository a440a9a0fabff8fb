"""Fused C++ kernels for the sampler's decode step, compiled on first use, with torch fallbacks.

A decode step attends from one new query per (row, head) to that row's
cache: about a thousand tiny matrix-vector products per layer at batch 256.
As batched matmuls they run far below this machine's memory bandwidth, and
torch's softmax adds two more passes over the scores. `decode_step` runs a
whole decode step of `LeanLlama` in C++; in it, a layer's attention takes
one pass per row: the rotary embeddings, the write of the new key and value
into the cache, and the scores, softmax (with a vectorisable exp) and
weighted sum of values, reading the cache once, with the next row's cache
requested from memory meanwhile. A prompt's keys and values are stored once
for all the rows sampled from it (a pool draws 512 samples of each
question), so they are read from memory once and then from the processor's
cache. `silu_mul` is SwiGLU's element-wise half, `rms_norm` RMSNorm without
its weight and `draw` a categorical draw per row, each one pass instead of
three to ten torch operations.

They are built with torch's C++ extension loader (a C++ compiler and ninja
are needed; both are on the project machines) into torch's extension cache,
once per machine, for one instruction set (`KERNEL_FLAGS`), never for the
host. Where they cannot be built, or with `TTC_KERNELS=0` in the
environment, the functions return None and the caller uses its torch path;
the two agree to float rounding (tested), not to the bit. `ordered_mm` is the
study's matrix product (`ttc.core.ordered`).
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
#include <algorithm>
#include <immintrin.h>
#include <vector>

constexpr int64_t kMaxHeadDim = 256;

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

// Keys are cached in blocks of kBlock columns, [blocks, hd, kBlock]: the first n columns of a
// head are then one dense run of memory from its start, read as a stream (a [hd, columns]
// layout reads hd short pieces, each on its own lines, and the cache comes from memory every
// step: a batch's cache is larger than the processor's), and a block's scores are one vector.
constexpr int64_t kBlock = 16;

// Scores of query q against the first n columns of blocked keys k, into s.
static inline void block_scores(const float* q, int64_t hd, const float* k, int64_t block_stride, int64_t n,
                                float* s) {
  for (int64_t c = 0; c < n; c += kBlock) {
    float acc[kBlock] = {};
    const float* blk = k + (c / kBlock) * block_stride;
    for (int64_t j = 0; j < hd; ++j) {
      const float qj = q[j];
#pragma omp simd
      for (int64_t i = 0; i < kBlock; ++i) acc[i] += qj * blk[j * kBlock + i];
    }
    const int64_t m = n - c < kBlock ? n - c : kBlock;
    for (int64_t i = 0; i < m; ++i) s[c + i] = acc[i];
  }
}

// One query (already scaled) attends to a row's cache, which has two parts: the prompt's keys
// and values, shared by every row sampled from that prompt (np columns), and the row's own
// generated ones (n columns). Values are [columns, hd] with the given row stride. s is scratch
// for np + n + kBlock scores; o receives hd floats.
static inline void attend_one(const float* q, int64_t hd,
                              const float* pk, int64_t pk_block_stride, const float* pv, int64_t pv_stride,
                              int64_t np, const float* k, int64_t k_block_stride, const float* v,
                              int64_t v_stride, int64_t n, float* s, float* o) {
  const int64_t total = np + n;
  float* sg = s + np;
  block_scores(q, hd, pk, pk_block_stride, np, s);
  block_scores(q, hd, k, k_block_stride, n, sg);
  float m = -INFINITY;
#pragma omp simd reduction(max:m)
  for (int64_t t = 0; t < total; ++t) m = s[t] > m ? s[t] : m;
  float sum = 0.f;
#pragma omp simd reduction(+:sum)
  for (int64_t t = 0; t < total; ++t) { s[t] = exp_nonpositive(s[t] - m); sum += s[t]; }
  // The weighted sum of values, with four accumulators: one would make every column wait for
  // the previous column's fused multiply-add.
  float acc[4][kMaxHeadDim];
  for (int a = 0; a < 4; ++a)
    for (int64_t j = 0; j < hd; ++j) acc[a][j] = 0.f;
  for (int part = 0; part < 2; ++part) {
    const float* p = part == 0 ? s : sg;
    const float* vals = part == 0 ? pv : v;
    const int64_t stride = part == 0 ? pv_stride : v_stride, cols = part == 0 ? np : n;
    int64_t t = 0;
    for (; t + 4 <= cols; t += 4) {
      const float* v0 = vals + t * stride;
#pragma omp simd
      for (int64_t j = 0; j < hd; ++j) {
        acc[0][j] += p[t] * v0[j];
        acc[1][j] += p[t + 1] * v0[stride + j];
        acc[2][j] += p[t + 2] * v0[2 * stride + j];
        acc[3][j] += p[t + 3] * v0[3 * stride + j];
      }
    }
    for (; t < cols; ++t) {
      const float* vt = vals + t * stride;
#pragma omp simd
      for (int64_t j = 0; j < hd; ++j) acc[0][j] += p[t] * vt[j];
    }
  }
  const float inv = 1.f / sum;
  for (int64_t j = 0; j < hd; ++j) o[j] = (acc[0][j] + acc[1][j] + acc[2][j] + acc[3][j]) * inv;
}

// Asks for count floats from p on to be brought into the level-2 cache, one request per 64-byte line.
static inline void prefetch_range(const float* p, int64_t count) {
  for (int64_t i = 0; i < count; i += 16) __builtin_prefetch(p + i, 0, 2);
}

// One layer's decode step after its qkv matmul, per row: rotary embeddings, the write of the new
// key and value into the row's cache at column t, and attention over the prompt and the t + 1
// generated columns.
// qkv [B, 2 W + Hkv hd] with W = (H + Hkv) hd: q, k, then q and k half-rotated, then v (LeanLlama's
// column layout; q already scaled); cos, sin [B, W];
// prompt_keys [U, Hkv, P / kBlock, hd, kBlock] (blocked), prompt_values [U, Hkv, P, hd]: row b reads
// the first prompt_len[prompt_of[b]] columns of prompt prompt_of[b];
// keys [B, Hkv, M / kBlock, hd, kBlock] (blocked), values [B, Hkv, M, hd]: the row's generated columns.
// Query head h * G + g uses key/value head h (G = H / Hkv). Returns attention's output [B, H hd].
torch::Tensor decode_step_attention(torch::Tensor qkv, torch::Tensor cos, torch::Tensor sin,
                                    torch::Tensor prompt_keys, torch::Tensor prompt_values,
                                    torch::Tensor prompt_of, torch::Tensor prompt_len,
                                    torch::Tensor keys, torch::Tensor values, int64_t t, int64_t n_heads) {
  for (const auto& x : {qkv, cos, sin}) {
    TORCH_CHECK(x.scalar_type() == torch::kFloat && x.dim() == 2 && x.is_contiguous(),
                "decode_step_attention takes contiguous 2-d float32 qkv, cos and sin");
  }
  for (const auto& x : {prompt_keys, keys}) {
    TORCH_CHECK(x.scalar_type() == torch::kFloat && x.dim() == 5 && x.size(4) == kBlock && x.stride(4) == 1 &&
                x.stride(3) == kBlock, "decode_step_attention takes float32 keys blocked as [..., blocks, hd, 16]");
  }
  for (const auto& x : {prompt_values, values}) {
    TORCH_CHECK(x.scalar_type() == torch::kFloat && x.dim() == 4 && x.stride(3) == 1,
                "decode_step_attention takes 4-d float32 values with a contiguous last dimension");
  }
  TORCH_CHECK(prompt_of.scalar_type() == torch::kLong && prompt_len.scalar_type() == torch::kLong,
              "decode_step_attention takes int64 prompt indices");
  const int64_t B = qkv.size(0), Hkv = keys.size(1), hd = keys.size(3), M = keys.size(2) * kBlock;
  const int64_t G = n_heads / Hkv, qw = n_heads * hd, kvw = Hkv * hd, W = qw + kvw;
  TORCH_CHECK(n_heads % Hkv == 0 && hd <= kMaxHeadDim && qkv.size(1) == 2 * W + kvw && cos.size(1) == W &&
              sin.size(1) == W && t >= 0 && t < M && prompt_keys.size(3) == hd && values.size(2) >= M &&
              prompt_values.size(2) >= prompt_keys.size(2) * kBlock,
              "decode_step_attention: inconsistent shapes");
  const int64_t P = prompt_keys.size(2) * kBlock;
  auto out = torch::empty({B, qw}, qkv.options());
  const float* qkvp = qkv.data_ptr<float>();
  const float* cp = cos.data_ptr<float>();
  const float* sp = sin.data_ptr<float>();
  const float* pkp = prompt_keys.data_ptr<float>();
  const float* pvp = prompt_values.data_ptr<float>();
  float* kp = keys.data_ptr<float>();
  float* vp = values.data_ptr<float>();
  const int64_t* of = prompt_of.data_ptr<int64_t>();
  const int64_t* lens = prompt_len.data_ptr<int64_t>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, B, 4, [&](int64_t begin, int64_t end) {
    std::vector<float> q(qw), s(P + M + kBlock);
    for (int64_t b = begin; b < end; ++b) {
      const float* row = qkvp + b * (2 * W + kvw);
      const float* c = cp + b * W;
      const float* sn = sp + b * W;
#pragma omp simd
      for (int64_t j = 0; j < qw; ++j) q[j] = row[j] * c[j] + row[W + j] * sn[j];
      for (int64_t h = 0; h < Hkv; ++h) {
        float* kc = kp + b * keys.stride(0) + h * keys.stride(1) + (t / kBlock) * keys.stride(2) + t % kBlock;
        float* vc = vp + b * values.stride(0) + h * values.stride(1) + t * values.stride(2);
        for (int64_t j = 0; j < hd; ++j) {
          const int64_t col = qw + h * hd + j;
          kc[j * kBlock] = row[col] * c[col] + row[W + col] * sn[col];
          vc[j] = row[2 * W + h * hd + j];
        }
      }
      // The next row's cache is requested while this row computes. A batch's cache is larger than
      // the processor's, so it comes from memory every step, and each head's part is a short run
      // that the processor's own prefetcher would only start on after a miss (about 10% faster
      // at batch 256, measured in one process against the kernel without it).
      if (b + 1 < end) {
        const int64_t u1 = of[b + 1], nb1 = (lens[u1] + kBlock - 1) / kBlock, gb1 = (t + 1 + kBlock - 1) / kBlock;
        for (int64_t h = 0; h < Hkv; ++h) {
          prefetch_range(pkp + u1 * prompt_keys.stride(0) + h * prompt_keys.stride(1), nb1 * prompt_keys.stride(2));
          prefetch_range(kp + (b + 1) * keys.stride(0) + h * keys.stride(1), gb1 * keys.stride(2));
          prefetch_range(pvp + u1 * prompt_values.stride(0) + h * prompt_values.stride(1), lens[u1] * hd);
          prefetch_range(vp + (b + 1) * values.stride(0) + h * values.stride(1), (t + 1) * hd);
        }
      }
      const int64_t u = of[b], np = lens[u];
      for (int64_t h = 0; h < Hkv; ++h) {
        const float* pk = pkp + u * prompt_keys.stride(0) + h * prompt_keys.stride(1);
        const float* pv = pvp + u * prompt_values.stride(0) + h * prompt_values.stride(1);
        const float* k = kp + b * keys.stride(0) + h * keys.stride(1);
        const float* v = vp + b * values.stride(0) + h * values.stride(1);
        for (int64_t g = 0; g < G; ++g) {
          const int64_t head = h * G + g;
          attend_one(q.data() + head * hd, hd, pk, prompt_keys.stride(2), pv, prompt_values.stride(2), np,
                     k, keys.stride(2), v, values.stride(2), t + 1, s.data(), op + b * qw + head * hd);
        }
      }
    }
  });
  return out;
}

// RMSNorm without its weight (LeanLlama folds the weight into the next matmul): x / rms(x) per row.
torch::Tensor rms_norm(torch::Tensor x, double eps) {
  TORCH_CHECK(x.scalar_type() == torch::kFloat && x.dim() == 2 && x.is_contiguous(),
              "rms_norm takes a contiguous 2-d float32 tensor");
  const int64_t N = x.size(0), D = x.size(1);
  auto out = torch::empty_like(x);
  const float* xp = x.data_ptr<float>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, N, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = xp + r * D;
      float* o = op + r * D;
      float ss = 0.f;
#pragma omp simd reduction(+:ss)
      for (int64_t j = 0; j < D; ++j) ss += xr[j] * xr[j];
      const float inv = 1.f / std::sqrt(ss / D + static_cast<float>(eps));
#pragma omp simd
      for (int64_t j = 0; j < D; ++j) o[j] = xr[j] * inv;
    }
  });
  return out;
}

// One token per row of logits [B, V] from softmax(logits / temperature), by inverting the CDF at
// u[b] * total (u uniform in [0, 1)): exactly the categorical distribution; a token of probability 0
// (logit -inf) is never drawn, not even the last one.
torch::Tensor draw(torch::Tensor logits, double temperature, torch::Tensor u) {
  TORCH_CHECK(logits.scalar_type() == torch::kFloat && logits.dim() == 2 && logits.is_contiguous() &&
              u.scalar_type() == torch::kFloat && u.dim() == 1 && u.size(0) == logits.size(0) && temperature > 0,
              "draw takes contiguous float32 logits [B, V], float32 u [B] and a positive temperature");
  const int64_t B = logits.size(0), V = logits.size(1);
  auto out = torch::empty({B}, logits.options().dtype(torch::kLong));
  const float* lp = logits.data_ptr<float>();
  const float* up = u.data_ptr<float>();
  int64_t* op = out.data_ptr<int64_t>();
  const float inv_t = static_cast<float>(1.0 / temperature);
  std::vector<float> cdf(V);  // one row's cumulative weights, reused row after row
  bool empty_row = false;
  for (int64_t b = 0; b < B; ++b) {
    const float* l = lp + b * V;
    float* c = cdf.data();
    float m = -INFINITY;
    for (int64_t i = 0; i < V; ++i) m = l[i] > m ? l[i] : m;
#pragma omp simd
    for (int64_t i = 0; i < V; ++i) c[i] = l[i] == -INFINITY ? 0.f : exp_nonpositive((l[i] - m) * inv_t);
    for (int64_t i = 1; i < V; ++i) c[i] += c[i - 1];
    const float total = c[V - 1];
    if (!(total > 0.f)) { empty_row = true; break; }
    // u * total < total strictly, even where the product rounds up to it.
    const float target = std::min(up[b] * total, std::nextafter(total, 0.f));
    int64_t i = 0;
    while (c[i] <= target) ++i;
    op[b] = i;
  }
  TORCH_CHECK(!empty_row, "draw: a row of logits gives no token a probability above 0");
  return out;
}

// SwiGLU's element-wise part: silu(gate) * up for h = [gate | up] [N, 2 I]; returns [N, I].
torch::Tensor silu_mul(torch::Tensor h) {
  TORCH_CHECK(h.scalar_type() == torch::kFloat && h.dim() == 2 && h.is_contiguous() && h.size(1) % 2 == 0,
              "silu_mul takes a contiguous 2-d float32 tensor with an even number of columns");
  const int64_t N = h.size(0), I = h.size(1) / 2;
  auto out = torch::empty({N, I}, h.options());
  const float* hp = h.data_ptr<float>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, N, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* gate = hp + r * 2 * I;
      const float* up = gate + I;
      float* o = op + r * I;
#pragma omp simd
      for (int64_t j = 0; j < I; ++j) {
        // silu(x) = x * sigmoid(x), with exp taken of -|x| only, so that it never overflows.
        const float x = gate[j];
        const float e = exp_nonpositive(x < 0.f ? x : -x);
        const float sigmoid = x < 0.f ? e / (1.f + e) : 1.f / (1.f + e);
        o[j] = x * sigmoid * up[j];
      }
    }
  });
  return out;
}

// ---- Ordered matrix products: the study's only matrix products (ttc.core.ordered) ----
// Every output C[i][j] = fma(A[i][K-1], B[K-1][j], ... fma(A[i][0], B[0][j], 0)): one chain of fused
// multiply-adds in the order k = 0 .. K-1, whatever the tile, the vector width or the number of threads
// (each output is made by one thread), so the bits depend on the inputs alone. A BLAS picks its kernel
// (and so its order of summation) by processor; this does not.

// R rows (1-4) by 16 columns of C, from A's rows (strides sa0, sa1) and B's 16 columns (rows of ldb floats).
template <int R>
static inline void ordered_tile(const float* a, int64_t sa0, int64_t sa1, const float* b, int64_t ldb, int64_t K,
                                float* c, int64_t ldc, int64_t cols) {
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const __m256 b0 = _mm256_loadu_ps(b + k * ldb), b1 = _mm256_loadu_ps(b + k * ldb + 8);
    for (int r = 0; r < R; ++r) {
      const __m256 ar = _mm256_set1_ps(a[r * sa0 + k * sa1]);
      acc[r][0] = _mm256_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(ar, b1, acc[r][1]);
    }
  }
  for (int r = 0; r < R; ++r) {
    alignas(32) float out[16];
    _mm256_store_ps(out, acc[r][0]);
    _mm256_store_ps(out + 8, acc[r][1]);
    std::memcpy(c + r * ldc, out, cols * sizeof(float));
  }
}

// C [batch, M, N] = A [batch, M, K] B [batch, K, N] (2-d operands are one batch; any strides).
torch::Tensor ordered_mm(torch::Tensor a, torch::Tensor b) {
  TORCH_CHECK(a.scalar_type() == torch::kFloat && b.scalar_type() == torch::kFloat && a.dim() == b.dim() &&
              (a.dim() == 2 || a.dim() == 3), "ordered_mm takes two 2-d or two 3-d float32 tensors");
  const bool batched = a.dim() == 3;
  if (!batched) { a = a.unsqueeze(0); b = b.unsqueeze(0); }
  const int64_t G = a.size(0), M = a.size(1), K = a.size(2), N = b.size(2);
  TORCH_CHECK(b.size(0) == G && b.size(1) == K, "ordered_mm: shapes ", a.sizes(), " and ", b.sizes(), " do not chain");
  // B's columns padded to whole tiles with zeros (the padding's lanes are computed and dropped).
  const int64_t N16 = (N + 15) / 16 * 16;
  auto packed = torch::zeros({G, K, N16}, b.options());
  packed.narrow(2, 0, N).copy_(b);
  auto c = torch::empty({G, M, N}, a.options());
  const float* ap = a.data_ptr<float>();
  const float* bp = packed.data_ptr<float>();
  float* cp = c.data_ptr<float>();
  const int64_t sa0 = a.stride(1), sa1 = a.stride(2), row_tiles = (M + 3) / 4;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, K * N16));
  at::parallel_for(0, G * row_tiles, grain, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t g = t / row_tiles, i0 = (t % row_tiles) * 4, rows = std::min<int64_t>(4, M - i0);
      const float* arows = ap + g * a.stride(0) + i0 * sa0;
      const float* bg = bp + g * K * N16;
      float* ct = cp + (g * M + i0) * N;
      for (int64_t j0 = 0; j0 < N; j0 += 16) {
        const int64_t cols = std::min<int64_t>(16, N - j0);
        switch (rows) {
          case 4: ordered_tile<4>(arows, sa0, sa1, bg + j0, N16, K, ct + j0, N, cols); break;
          case 3: ordered_tile<3>(arows, sa0, sa1, bg + j0, N16, K, ct + j0, N, cols); break;
          case 2: ordered_tile<2>(arows, sa0, sa1, bg + j0, N16, K, ct + j0, N, cols); break;
          default: ordered_tile<1>(arows, sa0, sa1, bg + j0, N16, K, ct + j0, N, cols);
        }
      }
    }
  });
  return batched ? c : c.squeeze(0);
}

// A whole decode step of LeanLlama for x [B, d], the new tokens' embeddings: every layer (RMSNorm,
// qkv, the fused attention above, output projection with the residual, RMSNorm, SwiGLU with the
// residual) and the output head, the same operations as its Python step without Python between
// them. weights: per layer qkv, o, gate_up, down (norm weights folded in); the caches as in
// decode_step_attention with a leading layer dimension. Returns the logits [B, V].
torch::Tensor decode_step(torch::Tensor x, std::vector<torch::Tensor> weights, torch::Tensor lm_head_t,
                          torch::Tensor cos, torch::Tensor sin, torch::Tensor prompt_keys,
                          torch::Tensor prompt_values, torch::Tensor prompt_of, torch::Tensor prompt_len,
                          torch::Tensor keys, torch::Tensor values, int64_t t, int64_t n_heads, double eps) {
  TORCH_CHECK(weights.size() % 4 == 0 && static_cast<int64_t>(weights.size() / 4) == keys.size(0),
              "decode_step takes four weights per layer");
  for (int64_t i = 0; i < keys.size(0); ++i) {
    const auto qkv = ordered_mm(rms_norm(x, eps), weights[4 * i]);
    const auto attended = decode_step_attention(qkv, cos, sin, prompt_keys[i], prompt_values[i], prompt_of,
                                                prompt_len, keys[i], values[i], t, n_heads);
    x = x + ordered_mm(attended, weights[4 * i + 1]);
    x = x + ordered_mm(silu_mul(ordered_mm(rms_norm(x, eps), weights[4 * i + 2])), weights[4 * i + 3]);
  }
  return ordered_mm(rms_norm(x, eps), lm_head_t);
}
"""

BLOCK = 16  # key columns per cache block: kBlock in the C++ source

# One instruction set on every machine (AVX2 with FMA, which every x86-64 processor of the project's
# machines has) and no contraction of a * b + c into one rounding unless the source says fma: the vector
# width and the rounding then do not depend on the processor, so neither do the samples.
KERNEL_FLAGS = ["-O3", "-mavx2", "-mfma", "-ffp-contract=off", "-fopenmp", "-fno-math-errno",
                "-fno-trapping-math"]

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
        _module = load_inline("ttc_kernels", cpp_sources=[SOURCE],
                              functions=["decode_step", "silu_mul", "rms_norm", "draw", "ordered_mm"],
                              extra_cflags=KERNEL_FLAGS,
                              extra_ldflags=["-fopenmp"])
    except Exception as error:  # no compiler, no ninja: the torch path agrees to rounding, not to the bit
        warnings.warn(f"the fused C++ kernels could not be built ({type(error).__name__}: {error}); "
                      "sampling uses the slower torch path, whose samples are this machine's own, not the study's")
        _module = None
    return _module


def available() -> bool:
    """Whether the kernels are built (building them on the first call)."""
    return _load() is not None


def _usable(x: torch.Tensor):
    """The built module, where `x` is a float32 CPU tensor and the kernels are available; else None."""
    return _load() if x.device.type == "cpu" and x.dtype == torch.float32 else None


def decode_step(x, weights, lm_head_t, cos, sin, prompt_keys, prompt_values, prompt_of, prompt_len, keys, values,
                t: int, n_heads: int, eps: float) -> torch.Tensor | None:
    """A whole decode step of `LeanLlama` (every layer and the output head) for the new tokens' embeddings
    `x`, writing their keys and values at generated column `t`; the logits, or None where the kernels are
    unavailable. Shapes in the C++ source."""
    module = _usable(x)
    return None if module is None else module.decode_step(
        x, weights, lm_head_t, cos, sin, prompt_keys, prompt_values, prompt_of, prompt_len, keys, values, t,
        n_heads, eps)


def ordered_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor | None:
    """a @ b for two 2-d or two 3-d (batched) float32 CPU tensors, each output one chain of fused
    multiply-adds in order (the same bits on every processor and thread count); None where the kernels
    are unavailable. Use `ttc.core.ordered`, which adds autograd."""
    module = _usable(a)
    return None if module is None else module.ordered_mm(a, b)


def draw(logits: torch.Tensor, temperature: float, u: torch.Tensor) -> torch.Tensor | None:
    """One token per row from softmax(logits / temperature), inverting its CDF at u * total (u [B] uniform
    in [0, 1)); None where the kernels are unavailable."""
    module = _usable(logits)
    return None if module is None else module.draw(logits.contiguous(), temperature, u)


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor | None:
    """x / rms(x) over the last dimension (RMSNorm without its weight); None where the kernels are unavailable."""
    module = _usable(x)
    return None if module is None else module.rms_norm(x.reshape(-1, x.shape[-1]).contiguous(), eps).view(x.shape)


def silu_mul(h: torch.Tensor) -> torch.Tensor | None:
    """silu(gate) * up for h = [gate | up] along the last dimension; None where the kernels are unavailable."""
    module = _usable(h)
    if module is None:
        return None
    return module.silu_mul(h.reshape(-1, h.shape[-1]).contiguous()).view(*h.shape[:-1], h.shape[-1] // 2)
