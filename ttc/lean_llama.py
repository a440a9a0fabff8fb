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
- a decode step's attention runs in `attention_kernel`'s fused C++ loop,
  which reads the cache once (a torch fallback computes the same where the
  kernel cannot be built);
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

from ttc import attention_kernel


def supports(model) -> bool:
    """Whether `model` is a Llama-architecture causal LM this forward reproduces exactly."""
    cfg = getattr(model, "config", None)
    if cfg is None or getattr(cfg, "model_type", None) != "llama":
        return False
    rope = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    rope_type = rope.get("rope_type", rope.get("type", "default")) if isinstance(rope, dict) else "default"
    return (rope_type == "default" and cfg.hidden_act == "silu" and not cfg.attention_bias
            and not getattr(cfg, "mlp_bias", False) and not getattr(cfg, "pretraining_tp", 1) > 1)


def _rotated_columns(w_t: torch.Tensor, head_dim: int) -> torch.Tensor:
    """Columns that give `rotate_half` of each head of `x @ w_t`: [-x2, x1] for x = [x1, x2]."""
    d, width = w_t.shape
    heads = w_t.view(d, width // head_dim, head_dim)
    half = head_dim // 2
    return torch.cat([-heads[..., half:], heads[..., :half]], dim=-1).reshape(d, width)


class LeanLlama:
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
            rotary = base.rotary_emb
            self.inv_freq = rotary.inv_freq.detach().float()
            self.rope_scale = float(rotary.attention_scaling)
        self.device = self.embed.device

    # -- pieces ------------------------------------------------------------

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (self.hidden,), eps=self.eps)  # the weight is folded into the next matmul

    def _rope_tables(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin for every q and k column at `positions` [...]: [..., qk_width]."""
        freqs = positions[..., None].float() * self.inv_freq
        emb = torch.cat([freqs, freqs], dim=-1)
        heads = self.n_heads + self.n_kv
        return (emb.cos() * self.rope_scale).repeat(*[1] * positions.dim(), heads), \
            (emb.sin() * self.rope_scale).repeat(*[1] * positions.dim(), heads)

    def _qkv(self, x: torch.Tensor, wqkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        """Rotated q and k side by side [..., qk_width], and v [..., kv_width]."""
        out = self._norm(x) @ wqkv
        w = self.qk_width
        return out[..., :w] * cos + out[..., w:2 * w] * sin, out[..., 2 * w:]

    def _block_end(self, x, attended, wo, wgu, wdown):
        """The attention output projection and the residual MLP block."""
        shape = x.shape  # addmm adds the residual inside the matmul; it takes 2-d operands
        x = torch.addmm(x.reshape(-1, self.hidden), attended.reshape(-1, attended.shape[-1]), wo)
        gate, up = (self._norm(x) @ wgu).chunk(2, dim=-1)
        return torch.addmm(x, F.silu(gate).mul_(up), wdown).view(shape)

    # -- the two passes ------------------------------------------------------

    @torch.inference_mode()
    def start(self, ids: torch.Tensor, pad: torch.Tensor, max_new: int) -> torch.Tensor:
        """Process left-padded prompts `ids` [B, L] (row r has `pad[r]` padding tokens first);
        allocate the cache for `max_new` more tokens; return the last position's logits [B, V].

        The prompts' keys and values are kept apart from the generated ones: `keep` may
        then repeat a prompt's rows (many samples of one question) without copying them."""
        ids, pad = ids.to(self.device), pad.to(self.device)
        batch, width = ids.shape
        self.max_new, self.n_gen = max_new, 0
        self.prompt_start = pad.long()  # the first cache column each prompt attends to
        self.prompt_of = torch.arange(batch, device=self.device)  # each row's prompt
        self.next_pos = (width - pad).long()  # the position of the next token of each row
        shape = (len(self.layers), batch, self.n_kv)
        # Keys are cached transposed ([..., hd, columns]): the decode step reads each key
        # column of a head as one contiguous run.
        self.prompt_k = torch.empty(*shape, self.head_dim, width, device=self.device)
        self.prompt_v = torch.empty(*shape, width, self.head_dim, device=self.device)
        self.k = torch.zeros(*shape, self.head_dim, max_new, device=self.device)
        self.v = torch.zeros(*shape, max_new, self.head_dim, device=self.device)
        x = self._prefill(ids, pad)
        return self._norm(x[:, -1]) @ self.lm_head_t

    def _prefill(self, ids: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """Every layer over the left-padded prompts, filling the prompt cache; the last layer's output."""
        batch, width = ids.shape
        hd, n_kv, group = self.head_dim, self.n_kv, self.group
        positions = (torch.arange(width, device=self.device)[None, :] - pad[:, None]).clamp(min=0)
        cos, sin = self._rope_tables(positions)  # [B, L, qk_width]
        cols = torch.arange(width, device=self.device)
        # Padding is never attended to; each position may also see itself, so that
        # padding rows never softmax over nothing.
        allowed = (cols[None, None, :] >= pad[:, None, None]) & (cols[None, :, None] >= cols[None, None, :])
        allowed |= torch.eye(width, dtype=torch.bool, device=self.device)
        allowed = allowed[:, None]  # [B, 1, L, L]
        x = self.embed[ids]
        for i, (wqkv, wo, wgu, wdown) in enumerate(self.layers):
            qk, v = self._qkv(x, wqkv, cos, sin)
            q = qk[..., :self.q_width].view(batch, width, self.n_heads, hd).transpose(1, 2)
            k = qk[..., self.q_width:].view(batch, width, n_kv, hd).transpose(1, 2)
            v = v.view(batch, width, n_kv, hd).transpose(1, 2)
            self.prompt_k[i] = k.transpose(-1, -2)
            self.prompt_v[i] = v
            # q is already scaled (folded into its weights), hence scale=1.
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=1.0, enable_gqa=group > 1)
            x = self._block_end(x, out.transpose(1, 2).reshape(batch, width, self.q_width), wo, wgu, wdown)
        return x

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Append one token per row; return the next logits [B, V]."""
        if self.n_gen >= self.max_new:
            raise RuntimeError(f"the cache holds {self.max_new} new tokens; start() was given too small a max_new")
        tokens = tokens.to(self.device)
        batch, t, hd, n_kv, group = tokens.shape[0], self.n_gen, self.head_dim, self.n_kv, self.group
        cos, sin = self._rope_tables(self.next_pos)  # [B, qk_width]
        x = self.embed[tokens]
        for i, (wqkv, wo, wgu, wdown) in enumerate(self.layers):
            qk, v = self._qkv(x, wqkv, cos, sin)
            self.k[i, :, :, :, t] = qk[:, self.q_width:].view(batch, n_kv, hd)
            self.v[i, :, :, t] = v.view(batch, n_kv, hd)
            q = qk[:, :self.q_width].view(batch, n_kv, group, hd)
            attended = attention_kernel.decode_attention(q, self.prompt_k[i], self.prompt_v[i], self.prompt_of,
                                                         self.prompt_start, self.k[i], self.v[i], t + 1)
            if attended is None:
                attended = self._attend_torch(i, q, t + 1)
            x = self._block_end(x, attended, wo, wgu, wdown)
        self.n_gen += 1
        self.next_pos = self.next_pos + 1
        return self._norm(x) @ self.lm_head_t

    def _attend_torch(self, i: int, q: torch.Tensor, n: int) -> torch.Tensor:
        """What the fused kernel computes, in torch: copies each row's prompt cache, so it is slower."""
        batch, n_kv, group, hd = q.shape
        rows = batch * n_kv
        keys = torch.cat([self.prompt_k[i][self.prompt_of], self.k[i, ..., :n]], dim=-1).view(rows, hd, -1)
        values = torch.cat([self.prompt_v[i][self.prompt_of], self.v[i, :, :, :n]], dim=-2).view(rows, -1, hd)
        cols = torch.arange(self.prompt_k.shape[-1] + n, device=self.device)
        bias = torch.where(cols[None, :] < self.prompt_start[self.prompt_of, None], float("-inf"), 0.0)
        bias = bias[:, None, None, :].expand(batch, n_kv, 1, bias.shape[-1]).reshape(rows, 1, -1)
        scores = torch.baddbmm(bias, q.reshape(rows, group, hd), keys)
        return torch.bmm(torch.softmax(scores, dim=-1), values).view(batch, n_kv * group * hd)

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only `rows` of the batch (finished rows leave; the cache is compacted)."""
        rows = rows.to(self.device)
        self.k, self.v = self.k[:, rows], self.v[:, rows]
        self.prompt_of, self.next_pos = self.prompt_of[rows], self.next_pos[rows]
