"""One table of ops, checked two ways: forward against a numpy reference, and
backward against central differences (``minitl.testing.grad_check``, float64),
on Hypothesis-drawn shapes that include broadcasting and non-contiguous arrays.

To test a new op, append a ``Row``: its name, a numpy reference, the minitl
function, a strategy for its inputs, and the Function classes it exercises
(``covers``) -- ``test_every_function_is_in_the_table`` fails until it is there.
"""
import math
from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

import minitl
import minitl.nn.functional as F
from minitl import ops
from minitl.ops import fused_block
from minitl.tensor import Function, Tensor
from minitl.testing import grad_check, arrays, shapes, broadcastable_shapes

Row = namedtuple("Row", "name ref fn inputs covers")


# -- input strategies: each draws a tuple of float64 arrays -------------------

def _apply(f):
    """Change an array's values in place (keeping its strides) with f; None = leave it."""
    def go(a):
        if f is not None:
            a[...] = f(a)
        return a
    return go


def one(lo=-2.0, hi=2.0, min_dims=0, max_dims=3, domain=None):
    return st.tuples(arrays(shapes(min_dims, max_dims), lo, hi).map(_apply(domain)))


def two(lo=-2.0, hi=2.0, lo2=None, hi2=None, min_dims=0):
    """Two arrays whose shapes broadcast together; the second may get its own range."""
    lo2, hi2 = (lo if lo2 is None else lo2), (hi if hi2 is None else hi2)
    return broadcastable_shapes(2, min_dims=min_dims).flatmap(
        lambda s: st.tuples(arrays(s[0], lo, hi), arrays(s[1], lo2, hi2)))


def fixed(*shape_list, lo=-2.0, hi=2.0):
    return st.tuples(*[arrays(s, lo, hi) for s in shape_list])


def matmul_pair(batched):
    """(..., n, k) and (..., k, m) with broadcasting batch axes."""
    batch = broadcastable_shapes(2, max_dims=2, max_side=3) if batched else st.just(((), ()))
    dims = st.tuples(*[st.integers(1, 4)] * 3)
    return st.tuples(batch, dims).flatmap(lambda bd: st.tuples(
        arrays(bd[0][0] + (bd[1][0], bd[1][1])), arrays(bd[0][1] + (bd[1][1], bd[1][2]))))


def distinct(a):
    """Same shape, all values different (max has no ties): ranks spread over [-2, 2]."""
    ranks = np.argsort(np.argsort(a, axis=None, kind="stable")).reshape(a.shape)
    return ranks * (4.0 / max(a.size, 1)) - 2.0


def checker(shape):
    """A fixed boolean pattern (a mask that does not move when the values are perturbed)."""
    return np.arange(int(np.prod(shape))).reshape(shape) % 3 == 0


away_from_zero = lambda a: np.where(a >= 0, a + 0.1, a - 0.1)  # noqa: E731  (relu's kink)

# -- numpy references for the composed functions ------------------------------

def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def np_gelu(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def np_layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


CE_TARGET = np.array([2, -100, 0, 4, 1])  # one ignored row


def np_cross_entropy(logits):
    lsm = np_log_softmax(logits)
    valid = CE_TARGET != -100
    return -lsm[np.arange(5)[valid], CE_TARGET[valid]].mean()


PAD = np.array([[1, 1, 1, 0], [0, 0, 0, 0]], dtype=bool)  # batch 1 is all padding


def np_lstm(xg, w):
    """The LSTM time loop from zero state: xg (B, T, 4H) input part of gates i, f, g, o; w (4H, H)."""
    H = w.shape[1]
    h = c = np.zeros((xg.shape[0], H))
    out = []
    for t in range(xg.shape[1]):
        a = xg[:, t] + h @ w.T
        sig = 1 / (1 + np.exp(-a))
        c = sig[:, H:2 * H] * c + sig[:, :H] * np.tanh(a[:, 2 * H:3 * H])
        h = sig[:, 3 * H:] * np.tanh(c)
        out.append(h)
    return np.stack(out, axis=1)


def np_attention(q, k, v, causal=False, pad=None):
    s = q @ k.swapaxes(-1, -2) / math.sqrt(q.shape[-1])
    allowed = np.ones(s.shape, dtype=bool)
    if causal:
        allowed &= np.tril(np.ones(s.shape[-2:], dtype=bool))
    if pad is not None:
        allowed &= pad[:, None, None, :]
    s = np.where(allowed, s, -np.inf)
    m = s.max(-1, keepdims=True)
    e = np.exp(s - np.where(np.isfinite(m), m, 0))
    att = e / np.maximum(e.sum(-1, keepdims=True), 1e-300)
    return att @ v


IDS = np.array([[0, 2, 0], [3, 3, 1]])  # repeated ids: the scatter-add must accumulate


def np_dropout(x):
    keep = np.random.default_rng(0).random(x.shape) >= 0.5
    return x * keep / 0.5


def mt_dropout(x):
    minitl.manual_seed(0)  # the same mask on every call of the gradient check
    return F.dropout(x, 0.5)


# -- the table ----------------------------------------------------------------

TABLE = [
    # elementwise
    Row("add", np.add, lambda a, b: a + b, two(), ["Add"]),
    Row("add_scalar", lambda a: 3.0 + a, lambda a: 3.0 + a, one(), ["Add"]),
    Row("sub", np.subtract, lambda a, b: a - b, two(), ["Sub"]),
    Row("rsub_scalar", lambda a: 1.5 - a, lambda a: 1.5 - a, one(), ["Sub"]),
    Row("mul", np.multiply, lambda a, b: a * b, two(), ["Mul"]),
    Row("neg", np.negative, lambda a: -a, one(), ["Mul"]),
    Row("div", np.divide, lambda a, b: a / b, two(lo2=0.5, hi2=2.0), ["Div"]),
    Row("rdiv_scalar", lambda a: 2.0 / a, lambda a: 2.0 / a, one(0.5, 2.0), ["Div"]),
    Row("pow3", lambda a: a ** 3, lambda a: a ** 3, one(), ["Pow"]),
    Row("sqrt", np.sqrt, lambda a: a.sqrt(), one(0.2, 3.0), ["Pow"]),
    Row("exp", np.exp, lambda a: a.exp(), one(), ["Exp"]),
    Row("log", lambda a: np.log(a + 2.5), lambda a: (a + 2.5).log(), one(), ["Log", "Add"]),
    Row("tanh", np.tanh, lambda a: a.tanh(), one(), ["Tanh"]),
    Row("relu", lambda a: np.maximum(a, 0), lambda a: a.relu(), one(domain=away_from_zero), ["ReLU"]),
    Row("sigmoid", lambda a: 1 / (1 + np.exp(-a)), lambda a: a.sigmoid(), one(), ["Tanh"]),
    Row("masked_fill", lambda a: np.where(checker(a.shape), -1.0, a), lambda a: a.masked_fill(checker(a.shape), -1.0),
        one(), ["Where"]),
    Row("where", lambda a, b: np.where(checker(np.broadcast_shapes(a.shape, b.shape)), a, b),
        lambda a, b: minitl.where(checker(np.broadcast_shapes(a.shape, b.shape)), a, b),
        two(), ["Where"]),
    # reductions
    Row("sum_all", np.sum, lambda a: a.sum(), one(), ["Sum"]),
    Row("sum_dim0", lambda a: a.sum(0), lambda a: a.sum(0), one(min_dims=1), ["Sum"]),
    Row("sum_last_keepdim", lambda a: a.sum(-1, keepdims=True), lambda a: a.sum(dim=-1, keepdim=True),
        one(min_dims=1), ["Sum"]),
    Row("mean_dims", lambda a: a.mean((0, -1)), lambda a: a.mean(dim=(0, -1)), one(min_dims=2), ["Sum", "Mul"]),
    Row("max_all", np.max, lambda a: a.max(), one(domain=distinct), ["Max"]),
    Row("max_dim", lambda a: a.max(-1), lambda a: a.max(dim=-1).values, one(min_dims=1, domain=distinct),
        ["Max"]),
    Row("amax_keepdim", lambda a: a.max(0, keepdims=True), lambda a: a.amax(0, keepdim=True),
        one(min_dims=1, domain=distinct), ["Max"]),
    # movement
    Row("reshape", lambda a: a.reshape(-1), lambda a: a.reshape(-1), one(), ["Reshape"]),
    Row("unsqueeze_squeeze", lambda a: a[None], lambda a: a.unsqueeze(0).unsqueeze(-1).squeeze(-1), one(),
        ["Reshape"]),
    Row("permute_reverse", lambda a: a.transpose(), lambda a: a.T, one(), ["Permute"]),
    Row("transpose_01", lambda a: a.swapaxes(0, 1), lambda a: a.transpose(0, 1), one(min_dims=2), ["Permute"]),
    Row("getitem_slice", lambda a: a[1:, ::2], lambda a: a[1:, ::2], one(min_dims=2), ["Index"]),
    Row("getitem_int_none", lambda a: a[-1, None], lambda a: a[-1, None], one(min_dims=1), ["Index"]),
    Row("getitem_fancy_repeats", lambda a: a[[0, 0, -1]], lambda a: a[[0, 0, -1]], one(min_dims=1), ["Index"]),
    Row("getitem_bool", lambda a: a[checker(a.shape)], lambda a: a[Tensor(checker(a.shape))], one(min_dims=1),
        ["Index"]),
    Row("split", lambda a: a[:, 1:2] * 2 + a[:, 2:], lambda a: (lambda p: p[1] * 2 + p[2])(a.split(1, dim=1)),
        fixed((2, 3)), ["Index"]),
    Row("cat", lambda a, b: np.concatenate([a, b, a], -1), lambda a, b: minitl.cat([a, b, a], -1),
        fixed((2, 3), (2, 1)), ["Cat"]),
    Row("stack", lambda a, b: np.stack([a, b], 1), lambda a, b: minitl.stack([a, b], 1),
        fixed((2, 3), (2, 3)), ["Cat", "Reshape"]),
    Row("cast", lambda a: a, lambda a: ops.Cast.apply(a, dtype=a.dtype), one(), ["Cast"]),
    # matmul and embedding
    Row("matmul", np.matmul, lambda a, b: a @ b, matmul_pair(False), ["MatMul"]),
    Row("matmul_batched", np.matmul, lambda a, b: a @ b, matmul_pair(True), ["MatMul"]),
    Row("matmul_vec", np.matmul, lambda a, b: a @ b, fixed((3,), (3, 2)), ["MatMul"]),
    Row("embedding", lambda w: w[IDS], lambda w: F.embedding(IDS, w), fixed((4, 3)), ["Embedding"]),
    # composed functions (no Function of their own, unless a fused op replaces them)
    Row("softmax", np_softmax, lambda a: a.softmax(-1), one(min_dims=1), []),
    Row("log_softmax", np_log_softmax, lambda a: F.log_softmax(a, -1), one(min_dims=1), []),
    Row("gelu", np_gelu, F.gelu, one(), []),
    Row("layer_norm", np_layer_norm, lambda x, w, b: F.layer_norm(x, (4,), w, b), fixed((2, 3, 4), (4,), (4,)),
        []),
    Row("linear", lambda x, w, b: x @ w.T + b, F.linear, fixed((2, 3, 4), (5, 4), (5,)), []),
    Row("cross_entropy", np_cross_entropy, lambda a: F.cross_entropy(a, CE_TARGET), fixed((5, 6)), []),
    Row("dropout", np_dropout, mt_dropout, one(), []),
    Row("attention_causal", lambda q, k, v: np_attention(q, k, v, causal=True),
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), fixed(*[(2, 2, 4, 3)] * 3), []),
    Row("attention_padded", lambda q, k, v: np_attention(q, k, v, pad=PAD),
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, key_padding_mask=PAD),
        fixed(*[(2, 2, 4, 3)] * 3), []),
    # fused ops (minitl/ops/fused.py): one Function each, on the Numba kernels by default
    Row("fused_gelu", np_gelu, lambda a: ops.fused.gelu(a), one(), ["FusedGELU"]),
    Row("fused_layer_norm", np_layer_norm, lambda x, w, b: ops.fused.layer_norm(x, (4,), w, b),
        fixed((2, 3, 4), (4,), (4,)), ["FusedLayerNorm"]),
    Row("fused_cross_entropy", np_cross_entropy, lambda a: ops.fused.cross_entropy(a, CE_TARGET), fixed((5, 6)),
        ["FusedCrossEntropy"]),
    Row("fused_attention_causal", lambda q, k, v: np_attention(q, k, v, causal=True),
        lambda q, k, v: ops.fused.scaled_dot_product_attention(q, k, v, is_causal=True),
        fixed(*[(2, 2, 4, 3)] * 3), ["FusedAttention"]),
    Row("fused_attention_padded", lambda q, k, v: np_attention(q, k, v, pad=PAD),
        lambda q, k, v: ops.fused.scaled_dot_product_attention(q, k, v, key_padding_mask=PAD),
        fixed(*[(2, 2, 4, 3)] * 3), ["FusedAttention"]),
    Row("fused_lstm", np_lstm, lambda xg, w: ops.lstm.lstm_recurrence(xg, w),
        fixed((2, 3, 8), (8, 2)), ["FusedLSTM"]),   # more cases (padding, reverse) in tests/test_elmo.py
    Row("fused_linear_gelu", lambda x, w, b: np_gelu(x @ w.T + b),
        lambda x, w, b: fused_block.linear(x, w, b, act="gelu"), fixed((2, 3, 4), (5, 4), (5,)), ["FusedLinear"]),
    Row("fused_linear_residual", lambda x, w, b, r: x @ w.T + b + r,
        lambda x, w, b, r: fused_block.linear(x, w, b, residual=r), fixed((2, 3, 4), (5, 4), (5,), (2, 3, 5)),
        ["FusedLinear"]),   # more cases in tests/test_fused_block.py
]

IDS_OF = [r.name for r in TABLE]
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("row", TABLE, ids=IDS_OF)
@SETTINGS
@given(data=st.data())
def test_forward_matches_numpy(row, data):
    xs = data.draw(row.inputs)
    with minitl.config.fused(False):
        got = row.fn(*[Tensor(x) for x in xs])
    want = row.ref(*[x.copy() for x in xs])
    assert got.shape == np.shape(want), (got.shape, np.shape(want))
    np.testing.assert_allclose(got.data, want, rtol=1e-10, atol=1e-12)
    # float32 in, float32 out: Python scalars and constants take the tensor's dtype
    out32 = row.fn(*[Tensor(x.astype(np.float32)) for x in xs])
    assert out32.dtype == np.float32, f"{row.name}: float32 inputs gave {out32.dtype}"


@pytest.mark.parametrize("row", TABLE, ids=IDS_OF)
@SETTINGS
@given(data=st.data())
def test_gradient(row, data):
    xs = data.draw(row.inputs)
    with minitl.config.fused(False):
        grad_check(row.fn, *xs)


def _all_functions(cls=Function):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_functions(sub)


def test_every_function_is_in_the_table():
    covered = {name for row in TABLE for name in row.covers}
    found = {c for c in _all_functions() if c.__module__.startswith("minitl.")} | set(ops.PRIMITIVES)
    missing = sorted(c.__name__ for c in found if c.__name__ not in covered)
    assert not missing, f"Functions with no row in tests/test_ops.py TABLE: {missing}"


def test_every_function_has_forward_and_backward():
    for cls in _all_functions():
        if cls.__module__.startswith("minitl."):
            assert "forward" in vars(cls) and "backward" in vars(cls), cls.__name__


def test_primitive_budget():
    # a small listed set of primitives, everything else composed; the fused ops come on top of these.
    mine = [c for c in ops.PRIMITIVES if c.__module__.startswith("minitl.ops.")
            and c.__module__.split(".")[-1] in ("elementwise", "reduce", "movement", "matmul")]
    assert len(mine) <= 19, [c.__name__ for c in mine]
    assert len(set(ops.PRIMITIVES)) == len(ops.PRIMITIVES)


def test_no_backward_sums_broadcast_axes():
    # Broadcasting is undone once, in minitl.tensor._unbroadcast, never in an op.
    import inspect
    for cls in ops.PRIMITIVES:
        src = inspect.getsource(cls.backward)
        assert "_unbroadcast" not in src and ".sum(axis=tuple(range" not in src, cls.__name__
