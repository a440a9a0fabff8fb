"""Matrix products in one fixed order, with autograd: the study's models multiply only through these.

A BLAS (MKL under torch, OpenBLAS under numpy) picks its kernel, and so the order in which it sums, by
processor: MKL on an AVX-512 EPYC gives other bits than on the same EPYC seen as AVX2-only, and no setting
pins it on a non-Intel processor (ttc.core.determinism). `mm` is `ttc.core.kernels.ordered_mm`: every output is one
chain of fused multiply-adds over k in order, so the same inputs give the same bits on any x86-64 machine
at any thread count, forward and backward.

`ordered(model)` makes a Hugging Face model of the ladder use them: its linear layers (`OrderedLinear`)
and its attention (`ordered_attention`, registered with transformers as "ttc_ordered"). Where the kernels
cannot be built, or for tensors that are not float32 on the CPU, torch's own products are used (the same
numbers to rounding, not to the bit), and so everywhere when the study is unpinned (TTC_DETERMINISTIC=0).
"""

from __future__ import annotations

import torch
from torch import nn

from ttc.core import determinism
from ttc.core import kernels

ATTENTION = "ttc_ordered"


# Unpinned (TTC_DETERMINISTIC=0), a run is this machine's own anyway: torch's faster products then.
ORDERED = determinism.enabled()


def _raw_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    out = kernels.ordered_mm(a, b) if ORDERED and a.dtype == b.dtype == torch.float32 else None
    return torch.matmul(a, b) if out is None else out


class _MatMul(torch.autograd.Function):
    """a @ b for 2-d or batched 3-d operands; the gradients are ordered products too."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _raw_mm(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = _raw_mm(grad, b.transpose(-1, -2)) if ctx.needs_input_grad[0] else None
        grad_b = _raw_mm(a.transpose(-1, -2), grad) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


def mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b (2-d, or 3-d batched), in the fixed order, differentiable."""
    if torch.is_grad_enabled() and (a.requires_grad or b.requires_grad):
        return _MatMul.apply(a, b)
    return _raw_mm(a, b)


class _RowDot(torch.autograd.Function):
    """x @ w for x [N, F] and w [F] in any float type, summed over features in order; w's gradient sums over
    rows in order (a cumulative sum's last element: torch's sum would split the rows among threads)."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x)
        out = x[:, 0] * w[0]
        for f in range(1, x.shape[1]):
            out = out + x[:, f] * w[f]
        return out

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return None, torch.stack([total(grad * x[:, f]) for f in range(x.shape[1])])


def rowdot(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x @ w for a few features (a logistic head's): every row's sum, and w's gradient, in a fixed order."""
    return _RowDot.apply(x, w)


def total(x: torch.Tensor) -> torch.Tensor:
    """The sum of a 1-d tensor in order (its cumulative sum's last element), the same at any thread count."""
    return x.cumsum(0)[-1]


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x @ weight.T + bias over x's last dimension, as `torch.nn.functional.linear`."""
    flat = x.reshape(-1, x.shape[-1])
    out = mm(flat, weight.t())
    if bias is not None:
        # ones @ bias is the bias exactly, and its gradient, the sum of grad's rows, an ordered product
        # (a broadcast add would sum them in torch's order, which depends on the thread count).
        out = out + mm(torch.ones(flat.shape[0], 1, dtype=out.dtype), bias[None, :])
    return out.view(*x.shape[:-1], weight.shape[0])


class OrderedLinear(nn.Linear):
    """nn.Linear through `linear`; the same parameters and state dict."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)


def attend(query, key, value, attention_mask, scaling: float, dropout: float = 0.0, training: bool = False):
    """Attention with its two products ordered: (output [B, T, H, hd], probabilities [B, H, T, S]) for
    query [B, H, T, hd], key and value [B, Hkv, S, hd] and a 4-d mask, boolean (True: attend) or additive."""
    groups = query.shape[1] // key.shape[1]
    if groups > 1:
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    b, h, t, hd = query.shape
    s = key.shape[2]
    scores = mm(query.reshape(b * h, t, hd), key.reshape(b * h, s, hd).transpose(1, 2)).view(b, h, t, s) * scaling
    if attention_mask is not None:
        mask = attention_mask[:, :, :, :s]
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + mask
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    probs = nn.functional.dropout(probs, p=dropout, training=training)
    out = mm(probs.reshape(b * h, t, s), value.reshape(b * h, s, hd)).view(b, h, t, hd)
    return out.transpose(1, 2).contiguous(), probs


def ordered_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """transformers' eager attention (its signature) through `attend`."""
    return attend(query, key, value, attention_mask, scaling, dropout, module.training)


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(ATTENTION, ordered_attention)
    AttentionMaskInterface.register(ATTENTION, eager_mask)


_register()


def ordered(model: nn.Module) -> nn.Module:
    """`model` (a Hugging Face model of the ladder, or any module) with every linear layer and its
    attention in the fixed order; changed in place and returned. Unpinned, `model` as it is (torch's own
    products and attention: this machine's study, at its own speed)."""
    if not ORDERED:
        return model
    for module in model.modules():
        if type(module) is nn.Linear:
            module.__class__ = OrderedLinear
    config = getattr(model, "config", None)
    if config is not None:
        config._attn_implementation = ATTENTION
    return model
