"""The fused linear layer (``minitl/ops/fused_block.py``, kernels in ``kernels/bias_act.py``) and the
transformer block built on it: kernels vs numpy twins, gradients vs finite differences on both
backends, fused == composed, and the block's tape."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import minitl
import minitl.nn.functional as F
from minitl import config
from minitl.kernels import bias_act as K, reference as R
from minitl.models.blocks import Block, TransformerConfig
from minitl.ops import fused_block as FB
from minitl.tensor import ShapeError, Tensor
from minitl.testing import grad_check

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(N=st.integers(1, 9), C=st.integers(1, 70), f32=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_kernels_match_twins(N, C, f32, seed):
    rng = np.random.default_rng(seed)
    dt = np.float32 if f32 else np.float64
    pre, b, r, dy = (rng.normal(scale=3, size=s).astype(dt) for s in ((N, C), (C,), (N, C), (N, C)))
    tol = dict(rtol=2e-6, atol=2e-6) if f32 else dict(rtol=1e-12, atol=1e-12)
    y, z = K.bias_gelu_fwd(pre.copy(), b)
    yr, zr = R.bias_gelu_fwd_ref(pre, b)
    assert y.dtype == z.dtype == dt
    np.testing.assert_allclose(y, yr, **tol)
    np.testing.assert_allclose(z, zr, **tol)
    # float32: the kernel's tanh is good to ~2e-7 absolute near saturation, and GELU's derivative
    # multiplies that by up to ~30 (|z| ~ 8), times |dy| (~10 here); db sums N such rows
    btol = dict(rtol=1e-4, atol=1e-4 * N) if f32 else dict(rtol=1e-11, atol=1e-11 * N)
    for got, want in zip(K.bias_gelu_bwd(z, dy), R.bias_gelu_bwd_ref(zr, dy)):
        np.testing.assert_allclose(got, want, **btol)
    for res in (r, None):
        got = K.bias_residual(pre.copy(), b, res)
        np.testing.assert_allclose(got, R.bias_residual_ref(pre, b, res), **tol)


CASES = {   # name -> (function of Tensors, input shapes); composed twin below
    "gelu_2d": (lambda x, w, b: FB.linear(x, w, b, act="gelu"), [(5, 4), (3, 4), (3,)]),
    "gelu_3d": (lambda x, w, b: FB.linear(x, w, b, act="gelu"), [(2, 3, 4), (6, 4), (6,)]),
    "residual_3d": (lambda x, w, b, r: FB.linear(x, w, b, residual=r), [(2, 3, 4), (5, 4), (5,), (2, 3, 5)]),
    "plain": (lambda x, w, b: FB.linear(x, w, b), [(4, 6), (2, 6), (2,)]),
}


def _composed(name):
    if name.startswith("gelu"):
        return lambda x, w, b: F.gelu(F.linear(x, w, b))
    if name.startswith("residual"):
        return lambda x, w, b, r: r + F.linear(x, w, b)
    return lambda x, w, b: F.linear(x, w, b)


@pytest.mark.parametrize("backend", ["numba", "reference"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gradient_vs_finite_differences(case, backend):
    fn, shapes = CASES[case]
    xs = [np.random.default_rng(i).uniform(-2, 2, s) for i, s in enumerate(shapes)]
    with config.backend(backend):
        assert fn(*[Tensor(x) for x in xs])._op == "FusedLinear"
        grad_check(fn, *xs)


@pytest.mark.parametrize("backend", ["numba", "reference"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_equals_composed_float32(case, backend):
    fn, shapes = CASES[case]
    xs = [np.random.default_rng(10 + i).uniform(-2, 2, s).astype(np.float32) for i, s in enumerate(shapes)]
    results = []
    for f in (fn, _composed(case)):
        ts = [Tensor(x, requires_grad=True) for x in xs]
        with config.backend(backend), config.fused(False):
            out = f(*ts)
        out.backward(np.ones(out.shape, np.float32))
        assert out.dtype == np.float32 and all(t.grad.dtype == np.float32 for t in ts)
        results.append([out.data] + [t.grad for t in ts])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_bad_input_is_named():
    x, w, b = Tensor(np.ones((2, 4))), Tensor(np.ones((3, 4))), Tensor(np.ones(3))
    with pytest.raises(ValueError, match="act must be one of"):
        FB.linear(x, w, b, act="relu")
    with pytest.raises(ValueError, match="residual is added after no activation"):
        FB.linear(x, w, b, residual=np.ones((2, 3)), act="gelu")
    with pytest.raises(ShapeError, match=r"weight \(3, 4\), bias \(2,\)"):
        FB.linear(x, w, Tensor(np.ones(2)))
    with pytest.raises(ShapeError, match=r"residual \(2, 4\) must be \(2, 3\)"):
        FB.linear(x, w, b, residual=np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"bias_residual: expected x \(N, C\) and bias \(C,\)"):
        K.bias_residual(np.ones((2, 3)), np.ones(4))


def _nodes(out):
    seen, stack = {}, [out]
    while stack:
        t = stack.pop()
        if id(t) in seen or t._op == "leaf":
            continue
        seen[id(t)] = t._op
        stack.extend(t._parents)
    return sorted(seen.values())


@pytest.mark.parametrize("dropout", [0.0, 0.2])
@pytest.mark.parametrize("causal", [True, False])
def test_block_fused_equals_composed(dropout, causal):
    # the whole block: same output and gradients with the fused linear layers as with the composed
    # Linear + GELU + dropout + add (a forward hook on a Linear makes the block call the module,
    # composed; the attention stays fused either way, so with the same seed both draw the same
    # dropout masks in the same order), and fewer tape nodes
    cfg = TransformerConfig(n_layer=1, n_head=2, d_model=16, dropout=dropout)
    minitl.manual_seed(0)
    block = Block(cfg).double()
    x0 = np.random.default_rng(1).normal(size=(2, 5, 16))
    mask = None if causal else np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    linears = [block.attn.qkv, block.attn.proj, block.mlp.fc, block.mlp.proj]
    runs = {}
    for fused in (True, False):
        handles = [] if fused else [m.register_forward_hook(lambda m, a, o: None) for m in linears]
        block.zero_grad()
        x = Tensor(x0.copy(), requires_grad=True)
        minitl.manual_seed(7)
        out = block(x, is_causal=causal, key_padding_mask=mask)
        out.backward(np.cos(np.arange(out.size)).reshape(out.shape))
        runs[fused] = ([out.data, x.grad] + [p.grad.copy() for p in block.parameters()], _nodes(out))
        for h in handles:
            h.remove()
    for got, want in zip(runs[True][0], runs[False][0]):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11)
    if dropout == 0.0:
        assert runs[True][1] == sorted(["FusedLayerNorm"] * 2 + ["FusedLinear"] * 4 + ["FusedAttention"])
    assert len(runs[True][1]) < len(runs[False][1]) - 10


def test_block_composed_oracle_is_unchanged():
    # with config.fused(False) the block is the composed one, every op a primitive
    cfg = TransformerConfig(n_layer=1, n_head=2, d_model=16)
    block = Block(cfg).double()
    with config.fused(False):
        out = block(Tensor(np.ones((1, 3, 16)), requires_grad=True), is_causal=True)
    assert not any(op.startswith("Fused") for op in _nodes(out))
