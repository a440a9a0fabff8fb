"""A lean inference forward for Llama-architecture models, with a preallocated KV cache.

On a CPU, a model as small as the ladder's spends its sampling time in
per-operation overhead, not arithmetic. This module loads the weights of a
`transformers` `LlamaForCausalLM` (the same tensors, fused where that saves
operations: q/k/v into one matmul, gate/up into another) and runs the same
computation with few Python-level operations per token, over a KV cache
allocated once per batch. Its logits match the transformers forward (tested);
the sampler uses it whenever `supports(model)` holds and falls back to the
model's own forward otherwise.

Use: `lean = LeanLlama(model)`; `logits = lean.start(ids, pad, max_new)` (left-padded ids, pad counts);
then `logits = lean.step(tokens)`, and `lean.keep(rows)` to drop finished rows.
"""

from __future__ import annotations

import torch


def supports(model) -> bool:
    """Whether `model` is a Llama-architecture causal LM this forward reproduces exactly."""
    cfg = getattr(model, "config", None)
    if cfg is None or getattr(cfg, "model_type", None) != "llama":
        return False
    rope = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    rope_type = rope.get("rope_type", rope.get("type", "default")) if isinstance(rope, dict) else "default"
    return (rope_type == "default" and cfg.hidden_act == "silu" and not cfg.attention_bias
            and not getattr(cfg, "mlp_bias", False) and not getattr(cfg, "pretraining_tp", 1) > 1)


class LeanLlama:
    def __init__(self, model):
        if not supports(model):
            raise ValueError(f"LeanLlama reproduces default-RoPE Llama models only, not {type(model).__name__}")
        cfg = model.config
        base = model.model
        self.n_heads, self.n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.eps = cfg.rms_norm_eps
        self.scale = self.head_dim ** -0.5
        with torch.no_grad():
            self.embed = base.embed_tokens.weight.detach()
            self.lm_head_t = model.lm_head.weight.detach().t().contiguous()
            self.final_norm = base.norm.weight.detach()
            self.layers = []
            for layer in base.layers:
                a, m = layer.self_attn, layer.mlp
                self.layers.append((
                    layer.input_layernorm.weight.detach(),
                    torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]).detach().t().contiguous(),
                    a.o_proj.weight.detach().t().contiguous(),
                    layer.post_attention_layernorm.weight.detach(),
                    torch.cat([m.gate_proj.weight, m.up_proj.weight]).detach().t().contiguous(),
                    m.down_proj.weight.detach().t().contiguous(),
                ))
            rotary = base.rotary_emb
            self.inv_freq = rotary.inv_freq.detach().float()
            self.rope_scale = float(rotary.attention_scaling)
        self.q_width = self.n_heads * self.head_dim
        self.kv_width = self.n_kv * self.head_dim
        self.device = self.embed.device

    # -- pieces ------------------------------------------------------------

    def _norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def _rope_tables(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = positions[..., None].float() * self.inv_freq
        emb = torch.cat([freqs, freqs], dim=-1)
        return emb.cos() * self.rope_scale, emb.sin() * self.rope_scale

    @staticmethod
    def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rotated * sin

    def _attend(self, q, k_t, v, bias):
        # q: [B, H, Tq, hd]; k_t: [B, Hkv, hd, Tk] (keys transposed); v: [B, Hkv, Tk, hd];
        # bias: [B, 1, Tq or 1, Tk] additive.
        if self.n_kv != self.n_heads:
            k_t = k_t.repeat_interleave(self.n_heads // self.n_kv, dim=1)
            v = v.repeat_interleave(self.n_heads // self.n_kv, dim=1)
        scores = torch.matmul(q, k_t) * self.scale + bias
        return torch.matmul(torch.softmax(scores, dim=-1), v)

    def _mlp(self, x, ln2, wgu, wdown):
        """The residual MLP block, shared by the prompt pass and the decode step."""
        gate, up = (self._norm(x, ln2) @ wgu).chunk(2, dim=-1)
        return x + (torch.nn.functional.silu(gate) * up) @ wdown

    # -- the two passes ------------------------------------------------------

    @torch.inference_mode()
    def start(self, ids: torch.Tensor, pad: torch.Tensor, max_new: int) -> torch.Tensor:
        """Process left-padded prompts `ids` [B, L] (row r has `pad[r]` padding tokens first);
        allocate the cache for `max_new` more tokens; return the last position's logits [B, V]."""
        ids, pad = ids.to(self.device), pad.to(self.device)
        batch, width = ids.shape
        self.width, self.t = width + max_new, width
        cols = torch.arange(self.width, device=self.device)
        # Additive bias over cache columns: padding is never attended to.
        self.bias = torch.where(cols[None, :] < pad[:, None], float("-inf"), 0.0)[:, None, None, :]
        self.next_pos = (width - pad).long()  # the position of the next token of each row
        positions = (torch.arange(width, device=self.device)[None, :] - pad[:, None]).clamp(min=0)
        cos, sin = self._rope_tables(positions)  # [B, L, hd]
        cos, sin = cos[:, None], sin[:, None]
        causal = torch.full((width, width), float("-inf"), device=self.device).triu(1)
        bias = self.bias[:, :, :, :width] + causal
        # Each position may see itself, so that padding rows never softmax over nothing.
        diagonal = torch.arange(width, device=self.device)
        bias[..., diagonal, diagonal] = 0.0
        n_layers = len(self.layers)
        # Keys are cached transposed ([..., hd, W]): a decode step's q @ K then reads a strided
        # view in place instead of copying the keys into the layout matmul wants.
        self.k = torch.zeros(n_layers, batch, self.n_kv, self.head_dim, self.width, device=self.device)
        self.v = torch.zeros(n_layers, batch, self.n_kv, self.width, self.head_dim, device=self.device)
        x = self.embed[ids]
        for i, (ln1, wqkv, wo, ln2, wgu, wdown) in enumerate(self.layers):
            qkv = self._norm(x, ln1) @ wqkv
            q = qkv[..., :self.q_width].view(batch, width, self.n_heads, self.head_dim).transpose(1, 2)
            k = qkv[..., self.q_width:self.q_width + self.kv_width].view(batch, width, self.n_kv, self.head_dim)
            v = qkv[..., self.q_width + self.kv_width:].view(batch, width, self.n_kv, self.head_dim)
            q = self._rotate(q, cos, sin)
            k_t = self._rotate(k.transpose(1, 2), cos, sin).transpose(-1, -2)
            self.k[i, :, :, :, :width] = k_t
            self.v[i, :, :, :width] = v.transpose(1, 2)
            out = self._attend(q, k_t, v.transpose(1, 2), bias)
            x = x + out.transpose(1, 2).reshape(batch, width, self.q_width) @ wo
            x = self._mlp(x, ln2, wgu, wdown)
        return self._norm(x[:, -1], self.final_norm) @ self.lm_head_t

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Append one token per row; return the next logits [B, V]."""
        if self.t >= self.width:
            raise RuntimeError(f"the cache holds {self.width} columns; start() was given too small a max_new")
        tokens = tokens.to(self.device)
        batch, t = tokens.shape[0], self.t
        cos, sin = self._rope_tables(self.next_pos)  # [B, hd]
        cos, sin = cos[:, None, :], sin[:, None, :]
        bias = self.bias[:, :, :, :t + 1]
        x = self.embed[tokens]
        for i, (ln1, wqkv, wo, ln2, wgu, wdown) in enumerate(self.layers):
            qkv = self._norm(x, ln1) @ wqkv
            q = self._rotate(qkv[:, :self.q_width].view(batch, self.n_heads, self.head_dim), cos, sin)
            k = self._rotate(qkv[:, self.q_width:self.q_width + self.kv_width].view(batch, self.n_kv, self.head_dim),
                             cos, sin)
            self.k[i, :, :, :, t] = k
            self.v[i, :, :, t] = qkv[:, self.q_width + self.kv_width:].view(batch, self.n_kv, self.head_dim)
            out = self._attend(q[:, :, None], self.k[i, :, :, :, :t + 1], self.v[i, :, :, :t + 1], bias)
            x = x + out.reshape(batch, self.q_width) @ wo
            x = self._mlp(x, ln2, wgu, wdown)
        self.t += 1
        self.next_pos = self.next_pos + 1
        return self._norm(x, self.final_norm) @ self.lm_head_t

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only `rows` of the batch (finished rows leave; the cache is compacted)."""
        rows = rows.to(self.device)
        self.k, self.v = self.k[:, rows], self.v[:, rows]
        self.bias, self.next_pos = self.bias[rows], self.next_pos[rows]
