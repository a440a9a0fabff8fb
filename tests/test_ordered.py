"""The ordered products: each output one chain of fused multiply-adds in order, so the bits depend on the
inputs alone (not the tile, the strides, the thread count), forward and backward."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from ttc.core import kernels
from ttc.core.ordered import OrderedLinear, attend, linear, mm
from ttc.models.lm import LADDER, build_model

pytestmark = pytest.mark.skipif(not kernels.available(), reason="the C++ kernels cannot be built here")


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def fma_chain(a: np.ndarray, b: np.ndarray) -> np.float32:
    """fma(a[K-1], b[K-1], ... fma(a[0], b[0], 0)) in float32, each step rounded once (exactly, by Fraction)."""
    acc = np.float32(0)
    for x, y in zip(a, b):
        acc = np.float32(float(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(acc))))
    return acc


def test_each_output_is_one_fused_chain_in_order():
    a, b = randn(3, 37, seed=1), randn(37, 5, seed=2)
    c = mm(a, b)
    for i in range(3):
        for j in range(5):
            assert c[i, j].item() == fma_chain(a[i].numpy(), b[:, j].numpy())


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 40), k=st.integers(1, 70), n=st.integers(1, 40), seed=st.integers(0, 10))
def test_the_bits_do_not_depend_on_tiles_strides_or_which_rows_and_columns_are_asked_for(m, k, n, seed):
    a, b = randn(m, k, seed=seed), randn(k, n, seed=seed + 100)
    c = mm(a, b)
    assert torch.allclose(c.double(), a.double() @ b.double(), atol=1e-4)
    assert torch.equal(c, mm(a.t().contiguous().t(), b.t().contiguous().t()))  # other strides
    assert torch.equal(c[m // 2:], mm(a[m // 2:], b))  # other row tiles
    assert torch.equal(c[:, n // 3:], mm(a, b[:, n // 3:]))  # other column tiles (and padding)


def test_the_bits_do_not_depend_on_the_thread_count():
    a, b, batched = randn(300, 1024, seed=3), randn(1024, 80, seed=4), randn(6, 50, 16, seed=5)
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 4):
            torch.set_num_threads(threads)
            results.append((mm(a, b), mm(batched, batched.transpose(1, 2))))
    finally:
        torch.set_num_threads(before)
    for c, d in results[1:]:
        assert torch.equal(c, results[0][0]) and torch.equal(d, results[0][1])


def test_gradients_are_ordered_products_and_the_bias_gradient_sums_rows_in_order():
    x, w, bias = randn(9, 7, seed=6).requires_grad_(), randn(4, 7, seed=7).requires_grad_(), randn(4, seed=8)
    bias.requires_grad_()
    out = linear(x, w, bias)
    assert torch.allclose(out, torch.nn.functional.linear(x, w, bias), atol=1e-5)
    grad = randn(9, 4, seed=9)
    out.backward(grad)
    assert torch.equal(x.grad, mm(grad, w.detach())) and torch.equal(w.grad, mm(grad.t(), x.detach()))
    # a sum in order from 0: numpy's float32 running sum, one rounding per row
    assert torch.equal(bias.grad, torch.from_numpy(np.cumsum(grad.numpy(), axis=0, dtype=np.float32)[-1]))


def test_batched_products_and_attention_agree_with_torch():
    q, k, v = randn(2, 4, 6, 8, seed=10), randn(2, 2, 6, 8, seed=11), randn(2, 2, 6, 8, seed=12)
    causal = torch.ones(6, 6, dtype=torch.bool).tril()[None, None]
    out, _ = attend(q, k, v, causal, 8 ** -0.5)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    assert torch.allclose(out, expected.transpose(1, 2), atol=1e-5)
    additive = torch.zeros(1, 1, 6, 6).masked_fill(~causal, torch.finfo(torch.float32).min)
    assert torch.equal(attend(q, k, v, additive, 8 ** -0.5)[0], out)


def test_a_ladder_model_multiplies_only_through_the_ordered_products(tokenizer):
    model = build_model(LADDER["d16-l1"], tokenizer)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(type(m) is OrderedLinear for m in linears)
    assert model.config._attn_implementation == "ttc_ordered"


def test_a_few_features_dot_and_sums_in_order_at_any_thread_count():
    from ttc.core.ordered import rowdot, total

    x = randn(40_000, 5, seed=13).double()
    w = torch.tensor([0.5, -1.0, 2.0, 0.25, 3.0], dtype=torch.float64, requires_grad=True)
    g = randn(40_000, seed=14).double()
    before, grads = torch.get_num_threads(), []
    try:
        for threads in (1, 2, 4):
            torch.set_num_threads(threads)
            w.grad = None
            rowdot(x, w).backward(g)
            grads.append(w.grad.clone())
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(grads[0], other) for other in grads[1:])
    assert torch.allclose(grads[0], x.t() @ g) and torch.allclose(rowdot(x, w), x @ w)
    assert total(g).item() == np.cumsum(g.numpy())[-1]
