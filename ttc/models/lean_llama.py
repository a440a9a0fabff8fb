"""A lean inference forward for Llama-architecture models, with a preallocated KV cache.

On a CPU, a model as small as the ladder's spends its sampling time in
per-operation overhead and in reading its KV cache, not in arithmetic. This
module loads the weights of a `transformers` `LlamaForCausalLM` and runs the
same computation with as few tensor operations per token as it can:

- q, k and v come from one matmul, gate and up from another;
- each RMSNorm's weight is folded into the matmul that follows it (the final
  norm's into the output head), and the attention scale into q's columns;
- rotary embeddings cost three element-wise operations per layer: rotating
  half of a head (`rotate_half`) is linear, so the fused matmul also emits q
  and k already rotated, and RoPE becomes `qk * cos + qk_rotated * sin`;
- a decode step runs in C++ (`kernels`), with each layer's rotary
  embeddings, cache write and attention fused into one pass that reads the
  cache once; RMSNorm and SwiGLU's element-wise half are one C++ pass each
  in the prompt pass too (a torch fallback computes the same where the
  kernels cannot be built);
- prompts are processed right-padded, in groups of similar length, so that
  attention needs only a causal mask and little is spent on padding;
- the prompts' keys and values are cached once per distinct prompt, not
  once per row: rows sampled from one prompt read the same copy.

The algebra is exact; only floating-point rounding differs from the
transformers forward (tested: logits agree to 1e-5). The sampler uses it
whenever `supports(model)` holds and falls back to the model's own forward
otherwise.

Use: `lean = LeanLlama(model)`; `logits = lean.start(ids, pad, max_new)` (left-padded ids, pad counts);
then `logits = lean.step(tokens)`, and `lean.keep(rows)` to select rows (drop finished ones,
or repeat a prompt's row once per sample).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ttc.core import kernels
from ttc.core.ordered import attend, mm


def supports(model) -> bool:
    """Whether `model` is a Llama-architecture causal LM this forward reproduces exactly."""
    cfg = getattr(model, "config", None)
    if cfg is None or getattr(cfg, "model_type", None) != "llama":
        return False
    rope = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    rope_type = rope.get("rope_type", rope.get("type", "default")) if isinstance(rope, dict) else "default"
    return (rope_type == "default" and cfg.hidden_act == "silu" and not cfg.attention_bias
            and not getattr(cfg, "mlp_bias", False) and not getattr(cfg, "pretraining_tp", 1) > 1)


BLOCK = kernels.BLOCK  # key columns per cache block


def _blocked(keys: torch.Tensor) -> torch.Tensor:
    """Keys [..., columns, hd] as cache blocks [..., ceil(columns / BLOCK), hd, BLOCK] (zero-padded)."""
    columns, hd = keys.shape[-2:]
    padded = F.pad(keys, (0, 0, 0, -columns % BLOCK))
    return padded.view(*keys.shape[:-2], -1, BLOCK, hd).transpose(-1, -2)


def _unblocked(blocks: torch.Tensor) -> torch.Tensor:
    """Cache blocks [..., n, hd, BLOCK] as transposed keys [..., hd, n * BLOCK]."""
    *lead, n, hd, block = blocks.shape
    return blocks.transpose(-3, -2).reshape(*lead, hd, n * block)


def _rotated_columns(w_t: torch.Tensor, head_dim: int) -> torch.Tensor:
    """Columns that give `rotate_half` of each head of `x @ w_t`: [-x2, x1] for x = [x1, x2]."""
    d, width = w_t.shape
    heads = w_t.view(d, width // head_dim, head_dim)
    half = head_dim // 2
    return torch.cat([-heads[..., half:], heads[..., :half]], dim=-1).reshape(d, width)


class LeanLlama:
    PREFILL_GROUP = 64  # prompts per prefill group: large enough for efficient matmuls

    def __init__(self, model):
        if not supports(model):
            raise ValueError(f"LeanLlama reproduces default-RoPE Llama models only, not {type(model).__name__}")
        cfg = model.config
        base = model.model
        self.n_heads, self.n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
        self.group = self.n_heads // self.n_kv  # query heads per key/value head
        self.head_dim = hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.hidden = cfg.hidden_size
        self.eps = cfg.rms_norm_eps
        self.q_width, self.kv_width = self.n_heads * hd, self.n_kv * hd
        self.qk_width = self.q_width + self.kv_width
        scale = hd ** -0.5
        with torch.no_grad():
            self.embed = base.embed_tokens.weight.detach()
            self.lm_head_t = (base.norm.weight[:, None] * model.lm_head.weight.t()).contiguous()
            self.layers = []
            for layer in base.layers:
                a, m = layer.self_attn, layer.mlp
                q_t, k_t, v_t = a.q_proj.weight.t() * scale, a.k_proj.weight.t(), a.v_proj.weight.t()
                # Columns: q, k (rotary pairs as they come), q and k half-rotated, v.
                qkv = torch.cat([q_t, k_t, _rotated_columns(q_t, hd), _rotated_columns(k_t, hd), v_t], dim=1)
                gate_up = torch.cat([m.gate_proj.weight, m.up_proj.weight]).t()
                self.layers.append((
                    (layer.input_layernorm.weight[:, None] * qkv).contiguous(),
                    a.o_proj.weight.t().contiguous(),
                    (layer.post_attention_layernorm.weight[:, None] * gate_up).contiguous(),
                    m.down_proj.weight.t().contiguous(),
                ))
            self.flat_weights = [w for layer in self.layers for w in layer]  # for the C++ step
            rotary = base.rotary_emb
            self.inv_freq = rotary.inv_freq.detach().float()
            self.rope_scale = float(rotary.attention_scaling)
        self.device = self.embed.device
        # cos and sin by position, grown as longer sequences come, so that a step only looks them up.
        self.cos = self.sin = torch.empty(0, self.qk_width)

    # -- pieces ------------------------------------------------------------

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        # The weight is folded into the next matmul.
        out = kernels.rms_norm(x, self.eps)
        return F.rms_norm(x, (self.hidden,), eps=self.eps) if out is None else out

    def _rope_tables(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin for every q and k column at `positions` [P]: [P, qk_width]."""
        freqs = positions[..., None].float() * self.inv_freq
        emb = torch.cat([freqs, freqs], dim=-1)
        heads = self.n_heads + self.n_kv
        return (emb.cos() * self.rope_scale).repeat(1, heads), (emb.sin() * self.rope_scale).repeat(1, heads)

    def _rope(self, qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        """Rotated q and k side by side [..., qk_width], and v [..., kv_width], from the qkv matmul's output."""
        w = self.qk_width
        return qkv[..., :w] * cos + qkv[..., w:2 * w] * sin, qkv[..., 2 * w:]

    def _block_end(self, x, attended, wo, wgu, wdown):
        """The attention output projection and the residual MLP block."""
        shape = x.shape
        x = x.reshape(-1, self.hidden) + mm(attended.reshape(-1, attended.shape[-1]), wo)
        gate_up = mm(self._norm(x), wgu)
        hidden = kernels.silu_mul(gate_up)
        if hidden is None:
            gate, up = gate_up.chunk(2, dim=-1)
            hidden = F.silu(gate).mul_(up)
        return (x + mm(hidden, wdown)).view(shape)

    # -- the two passes ------------------------------------------------------

    @torch.inference_mode()
    def start(self, ids: torch.Tensor, pad: torch.Tensor, max_new: int) -> torch.Tensor:
        """Process left-padded prompts `ids` [B, L] (row r has `pad[r]` padding tokens first);
        allocate the cache for `max_new` more tokens; return the last position's logits [B, V].

        The prompts' keys and values are kept apart from the generated ones: `keep` may
        then repeat a prompt's rows (many samples of one question) without copying them."""
        ids, pad = ids.to(self.device), pad.to(self.device)
        batch, width = ids.shape
        # The prompt pass runs right-padded: a causal mask then hides every padding column from
        # every real token, so attention needs no explicit mask and takes SDPA's fast causal path.
        lengths = (width - pad).long()
        ids = ids.gather(1, (torch.arange(width, device=self.device)[None, :] + pad[:, None]) % width)
        self.max_new, self.n_gen = max_new, 0
        if len(self.cos) < width + max_new:
            self.cos, self.sin = self._rope_tables(torch.arange(width + max_new, device=self.device))
        self.next_pos = lengths.clone()  # the position of the next token of each row
        # The prompt cache holds the prompts by length, so that each prefill group below is a
        # slice of it; prompt_of maps each row to its prompt's place there.
        order = torch.argsort(lengths, stable=True)
        self.prompt_len = lengths[order]  # each cached prompt's valid columns: [0, prompt_len)
        self.prompt_of = torch.empty_like(order)
        self.prompt_of[order] = torch.arange(batch, device=self.device)
        ids = ids[order]
        shape = (len(self.layers), batch, self.n_kv)
        # Keys are cached in blocks of BLOCK columns ([..., blocks, hd, BLOCK], see `kernels`),
        # values as [..., columns, hd]. The prompt cache is zeroed: columns past a prompt's length
        # are never attended to, but the torch path multiplies them by a zero weight, and 0 * NaN
        # is NaN. Generated columns are written before they are read.
        prompt_blocks, new_blocks = -(-width // BLOCK), -(-max_new // BLOCK)
        self.prompt_k = torch.zeros(*shape, prompt_blocks, self.head_dim, BLOCK, device=self.device)
        self.prompt_v = torch.zeros(*shape, prompt_blocks * BLOCK, self.head_dim, device=self.device)
        self.k = torch.empty(*shape, new_blocks, self.head_dim, BLOCK, device=self.device)
        self.v = torch.empty(*shape, new_blocks * BLOCK, self.head_dim, device=self.device)
        last = torch.empty(batch, self.hidden, device=self.device)
        # Groups of similar length, each padded only to its own longest prompt.
        for first in range(0, batch, self.PREFILL_GROUP):
            group = slice(first, first + self.PREFILL_GROUP)
            group_len = self.prompt_len[group]
            x = self._prefill(ids[group, :int(group_len.max())], group)
            last[group] = x[torch.arange(len(group_len), device=self.device), group_len - 1]
        return mm(self._norm(last), self.lm_head_t)[self.prompt_of]

    def _prefill(self, ids: torch.Tensor, rows: slice) -> torch.Tensor:
        """Every layer over right-padded prompts `ids`, filling the prompt cache's `rows`; the last layer's output."""
        batch, width = ids.shape
        hd, n_kv, group = self.head_dim, self.n_kv, self.group
        cos, sin = self.cos[:width], self.sin[:width]  # [L, qk_width]
        x = self.embed[ids]
        causal = torch.ones(width, width, dtype=torch.bool, device=self.device).tril()[None, None]
        for i, (wqkv, wo, wgu, wdown) in enumerate(self.layers):
            qk, v = self._rope(mm(self._norm(x).reshape(-1, self.hidden), wqkv).view(batch, width, -1), cos, sin)
            q = qk[..., :self.q_width].view(batch, width, self.n_heads, hd).transpose(1, 2)
            k = qk[..., self.q_width:].view(batch, width, n_kv, hd).transpose(1, 2)
            v = v.view(batch, width, n_kv, hd).transpose(1, 2)
            blocks = _blocked(k)
            self.prompt_k[i, rows, :, :blocks.shape[-3]] = blocks
            self.prompt_v[i, rows, :, :width] = v
            # A causal mask suffices: padding comes after every real token. q is already
            # scaled (folded into its weights), hence scale 1.
            out, _ = attend(q, k, v, causal, 1.0)  # [B, T, H, hd]
            x = self._block_end(x, out.reshape(batch, width, self.q_width), wo, wgu, wdown)
        return x

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Append one token per row; return the next logits [B, V]."""
        if self.n_gen >= self.max_new:
            raise RuntimeError(f"the cache holds {self.max_new} new tokens; start() was given too small a max_new")
        tokens = tokens.to(self.device)
        batch, t, hd, n_kv, group = tokens.shape[0], self.n_gen, self.head_dim, self.n_kv, self.group
        cos, sin = self.cos[self.next_pos], self.sin[self.next_pos]  # [B, qk_width]
        x = self.embed[tokens]
        logits = kernels.decode_step(x, self.flat_weights, self.lm_head_t, cos, sin, self.prompt_k, self.prompt_v,
                                     self.prompt_of, self.prompt_len, self.k, self.v, t, self.n_heads, self.eps)
        if logits is None:  # the same step in torch
            for i, (wqkv, wo, wgu, wdown) in enumerate(self.layers):
                qk, v = self._rope(mm(self._norm(x), wqkv), cos, sin)
                self.k[i, :, :, t // BLOCK, :, t % BLOCK] = qk[:, self.q_width:].view(batch, n_kv, hd)
                self.v[i, :, :, t] = v.view(batch, n_kv, hd)
                attended = self._attend_torch(i, qk[:, :self.q_width].view(batch, n_kv, group, hd), t + 1)
                x = self._block_end(x, attended, wo, wgu, wdown)
            logits = mm(self._norm(x), self.lm_head_t)
        self.n_gen += 1
        self.next_pos = self.next_pos + 1
        return logits

    def _attend_torch(self, i: int, q: torch.Tensor, n: int) -> torch.Tensor:
        """What the fused kernel computes, in torch: copies each row's prompt cache, so it is slower."""
        batch, n_kv, group, hd = q.shape
        rows = batch * n_kv
        prompt_keys = _unblocked(self.prompt_k[i][self.prompt_of])
        keys = torch.cat([prompt_keys, _unblocked(self.k[i])[..., :n]], dim=-1).reshape(rows, hd, -1)
        values = torch.cat([self.prompt_v[i][self.prompt_of], self.v[i, :, :, :n]], dim=-2).view(rows, -1, hd)
        cols = torch.arange(prompt_keys.shape[-1] + n, device=self.device)
        cols[-n:] = -1  # generated columns: all n are valid
        bias = torch.where(cols[None, :] >= self.prompt_len[self.prompt_of, None], float("-inf"), 0.0)
        bias = bias[:, None, None, :].expand(batch, n_kv, 1, bias.shape[-1]).reshape(rows, 1, -1)
        scores = torch.baddbmm(bias, q.reshape(rows, group, hd), keys)
        return torch.bmm(torch.softmax(scores, dim=-1), values).view(batch, n_kv * group * hd)

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only `rows` of the batch (finished rows leave; the cache is compacted)."""
        rows = rows.to(self.device)
        self.k, self.v = self.k[:, rows], self.v[:, rows]
        self.prompt_of, self.next_pos = self.prompt_of[rows], self.next_pos[rows]
