"""The fused ops (``minitl/ops/fused.py``): gradients by central differences on
both backends (Numba kernels and numpy twins), and fused == composed.

The composed versions in ``minitl.nn.functional`` (``config.fused(False)``)
are the oracle: the fused ones must give the same numbers, float32 in and
float32 out, and the same gradients.
"""
import numpy as np
import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

import minitl.nn.functional as F
from minitl import config
from minitl.ops import fused
from minitl.tensor import Tensor
from minitl.testing import grad_check

BACKENDS = ["numba", "reference"]
SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
PAD = np.array([[True, True, False, True], [False, False, False, False]])   # row 2: all padding
TARGET = np.array([2, -100, 0, 5, 1])


def _rand(shape, seed, lo=-2.0, hi=2.0):
    return np.random.default_rng(seed).uniform(lo, hi, shape)


# name -> (fused function on Tensors, input shapes); each is also run composed
CASES = {
    "gelu": (lambda x: F.gelu(x), [(3, 4)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (4,), w, b), [(2, 3, 4), (4,), (4,)]),
    "layer_norm_2d_shape": (lambda x, w, b: F.layer_norm(x, (2, 3), w, b), [(2, 2, 3), (2, 3), (2, 3)]),
    "layer_norm_no_affine": (lambda x: F.layer_norm(x, 5), [(3, 5)]),
    "cross_entropy_mean": (lambda a: F.cross_entropy(a, TARGET), [(5, 6)]),
    "cross_entropy_sum": (lambda a: F.cross_entropy(a, TARGET, reduction="sum"), [(5, 6)]),
    "cross_entropy_none": (lambda a: F.cross_entropy(a, TARGET, reduction="none"), [(5, 6)]),
    "attention": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v), [(2, 2, 4, 3)] * 3),
    "attention_causal": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                         [(2, 2, 4, 3)] * 3),
    "attention_causal_padded": (lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, is_causal=True, key_padding_mask=PAD), [(2, 1, 4, 3)] * 3),
    "attention_T1": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                     [(1, 2, 1, 5)] * 3),
    # one packed (B, T, 3C) projection, heads split as views: composed = reshape, permute, slices, ...
    "attention_packed_causal": (lambda qkv: F.packed_self_attention(qkv, 2, is_causal=True), [(2, 5, 12)]),
    "attention_packed_padded": (lambda qkv: F.packed_self_attention(qkv, 3, key_padding_mask=PAD), [(2, 4, 9)]),
}
FUSED_OP = {"gelu": "FusedGELU", "layer_norm": "FusedLayerNorm", "cross_entropy": "FusedCrossEntropy",
            "attention": "FusedAttention"}


def _op_name(case):
    return next(v for k, v in FUSED_OP.items() if case.startswith(k))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_gradient(case, backend):
    fn, shapes = CASES[case]
    xs = [_rand(s, i) for i, s in enumerate(shapes)]
    with config.backend(backend), config.fused(True):
        out = fn(*[Tensor(x) for x in xs])
        assert out._op == _op_name(case), f"{case}: ran {out._op}, not the fused op"
        grad_check(fn, *xs)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_equals_composed_float32(case, backend):
    fn, shapes = CASES[case]
    xs = [_rand(s, 10 + i).astype(np.float32) for i, s in enumerate(shapes)]

    def run(fused_on):
        ts = [Tensor(x, requires_grad=True) for x in xs]
        with config.backend(backend), config.fused(fused_on):
            out = fn(*ts)
        out.backward(np.ones(out.shape, dtype=out.dtype))
        return out, [t.grad for t in ts]

    (got, g_got), (want, g_want) = run(True), run(False)
    assert got.dtype == np.float32, f"{case}: float32 in gave {got.dtype} out"
    np.testing.assert_allclose(got.data, want.data, rtol=1e-5, atol=1e-5, err_msg=f"{case} forward")
    for i, (a, b) in enumerate(zip(g_got, g_want)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"{case} grad of input {i}")


@SETTINGS
@given(B=st.integers(1, 3), nh=st.integers(1, 2), T=st.sampled_from([1, 2, 5, 7, 16, 33]),
       hs=st.sampled_from([1, 3, 8]), causal=st.booleans(), seed=st.integers(0, 999))
def test_fused_attention_equals_composed_on_drawn_shapes(B, nh, T, hs, causal, seed):
    rng = np.random.default_rng(seed)
    q, k, v = [rng.standard_normal((B, nh, T, hs)).astype(np.float32) for _ in range(3)]
    mask = rng.random((B, T)) > 0.3
    mask[:, 0] = True                               # every row sees at least key 0
    outs = []
    for on in (True, False):
        with config.fused(on):
            outs.append(F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), is_causal=causal,
                                                       key_padding_mask=mask).data)
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)


def test_fully_padded_row_gives_zeros_and_no_nan():
    q = Tensor(_rand((2, 1, 4, 3), 0).astype(np.float32), requires_grad=True)
    out = F.scaled_dot_product_attention(q, q, q, key_padding_mask=PAD)
    assert not out.data[1].any()
    out.sum().backward()
    assert np.isfinite(q.grad).all() and not q.grad[1].any()


def test_attention_with_attn_mask_falls_back_to_composed():
    q = Tensor(_rand((1, 1, 3, 2), 0))
    allowed = np.tril(np.ones((3, 3), dtype=bool))
    out = F.scaled_dot_product_attention(q, q, q, attn_mask=allowed)
    assert out._op != "FusedAttention"
    want = F.scaled_dot_product_attention(q, q, q, is_causal=True)
    np.testing.assert_allclose(out.data, want.data, rtol=1e-12)


# -- attention with dropout: one mask, hashed from a seed, in forward and backward ---------

def _composed_attention_with_mask(q, k, v, keep, is_causal):
    """The composed path with a given dropout mask (the oracle for the fused op's dropout)."""
    from minitl.ops import Where
    T, hs = q.shape[-2], q.shape[-1]
    s = (q @ k.transpose(-2, -1)) * (1.0 / np.sqrt(hs))
    if is_causal:
        s = Where.apply(s, Tensor(np.asarray(-1e9, dtype=s.dtype)), cond=np.tril(np.ones((T, T), bool)))
    return (s.softmax(-1) * Tensor(keep.astype(s.dtype))) @ v


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("causal", [False, True])
def test_fused_attention_dropout_equals_composed_with_the_same_mask(backend, causal):
    from minitl.kernels.reference import dropout_keep_ref
    shape, p, seed = (2, 2, 9, 3), 0.4, 1234
    xs = [_rand(shape, 20 + i) for i in range(3)]
    keep = dropout_keep_ref(shape[:3] + (shape[2],), seed, p)
    assert 0 < (keep == 0).mean() < 1                      # something was dropped, not everything

    def fused_fn(q, k, v):
        return fused.FusedAttention.apply(q, k, v, is_causal=causal, dropout_p=p, seed=seed)

    def run(fn):
        ts = [Tensor(x, requires_grad=True) for x in xs]
        with config.backend(backend):
            out = fn(*ts)
        (out * Tensor(_rand(out.shape, 5))).sum().backward()
        return out.data, [t.grad for t in ts]

    (got, g_got) = run(fused_fn)
    (want, g_want) = run(lambda q, k, v: _composed_attention_with_mask(q, k, v, keep, causal))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg="forward")
    for i, (a, b) in enumerate(zip(g_got, g_want)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=f"grad of input {i}")
    with config.backend(backend):
        grad_check(fused_fn, *xs)


def test_packed_attention_with_dropout_equals_unpacked_with_the_same_seed():
    B, T, nh, hs = 2, 7, 2, 3
    qkv = _rand((B, T, 3 * nh * hs), 7)
    g = _rand((B, T, nh * hs), 8)
    tp = Tensor(qkv, requires_grad=True)
    packed = fused.FusedAttention.apply(tp, n_head=nh, is_causal=True, dropout_p=0.3, seed=11)
    (packed * Tensor(g)).sum().backward()
    heads = qkv.reshape(B, T, 3, nh, hs).transpose(2, 0, 3, 1, 4)                 # (3, B, nh, T, hs)
    ts = [Tensor(np.ascontiguousarray(h), requires_grad=True) for h in heads]
    plain = fused.FusedAttention.apply(*ts, is_causal=True, dropout_p=0.3, seed=11)
    (plain * Tensor(g.reshape(B, T, nh, hs).transpose(0, 2, 1, 3))).sum().backward()
    np.testing.assert_allclose(packed.data, plain.data.transpose(0, 2, 1, 3).reshape(B, T, nh * hs), rtol=1e-12)
    want = np.stack([t.grad for t in ts]).transpose(1, 3, 0, 2, 4).reshape(qkv.shape)
    np.testing.assert_allclose(tp.grad, want, rtol=1e-12)


def test_functional_attention_with_dropout_runs_fused_and_reproducibly():
    import minitl
    q = Tensor(_rand((2, 2, 16, 4), 0).astype(np.float32))

    def run(seed):
        minitl.manual_seed(seed)
        return F.scaled_dot_product_attention(q, q, q, is_causal=True, dropout_p=0.5)

    a, b, c = run(3), run(3), run(4)
    assert a._op == "FusedAttention", f"dropout_p > 0 ran {a._op}, not the fused op"
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.allclose(a.data, c.data)
    no_drop = F.scaled_dot_product_attention(q, q, q, is_causal=True).data
    assert not np.allclose(a.data, no_drop)


def test_fused_ops_do_not_import_the_layer_above():
    import ast
    import inspect
    tree = ast.parse(inspect.getsource(fused))
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in names if m.startswith("minitl.nn")], names


def test_cross_entropy_all_ignored_is_zero_with_zero_grad():
    logits = Tensor(_rand((3, 4), 0), requires_grad=True)
    loss = F.cross_entropy(logits, np.array([-100, -100, -100]))
    assert loss.item() == 0.0
    loss.backward()
    assert not logits.grad.any()


def test_cross_entropy_names_a_bad_target():
    with pytest.raises(IndexError, match="target 9 out of range for 4 classes"):
        F.cross_entropy(Tensor(np.zeros((2, 4))), np.array([0, 9]))


def test_debug_trace_says_which_backend_ran(capsys):
    x = Tensor(np.ones((2, 3), np.float32))
    for backend, words in [("numba", "numba kernel"), ("reference", "numpy reference twin")]:
        with config.backend(backend), config.debug(True):
            F.gelu(x)
        assert words in capsys.readouterr().out


def test_registered_in_functional():
    assert {"gelu", "layer_norm", "cross_entropy", "scaled_dot_product_attention"} <= set(F.FUSED_IMPLS)
    assert F.FUSED_IMPLS["gelu"] is fused.gelu


# -- MatMul and Embedding on the kernels (minitl/ops/matmul.py) -------------------

@pytest.mark.parametrize("mode", ["numba", "blas"])
@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (3, 4, 2)),
                                    ((1, 1), (1, 1)), ((5, 17), (17, 3))])
def test_matmul_op_on_either_path_gradchecks(mode, shapes):
    a, b = _rand(shapes[0], 0), _rand(shapes[1], 1)
    with config.matmul(mode):
        out = Tensor(a) @ Tensor(b)
        np.testing.assert_allclose(out.data, a @ b, rtol=1e-12)
        grad_check(lambda x, y: x @ y, a, b)


def test_matmul_op_note_says_which_path(capsys):
    x = Tensor(np.ones((4, 4), np.float32))
    for mode, words in [("numba", "numba kernel (forced"), ("blas", "numpy BLAS (forced")]:
        with config.matmul(mode), config.debug(True):
            x @ x
        assert words in capsys.readouterr().out
    with pytest.raises(ValueError, match="matmul mode 'gpu'"):
        config.set_matmul("gpu")


@pytest.mark.parametrize("backend", BACKENDS)
def test_embedding_backward_scatter_adds_on_both_backends(backend):
    ids = np.array([[0, 2, 0], [3, 3, 1]])
    w = _rand((4, 5), 0).astype(np.float32)
    t = Tensor(w, requires_grad=True)
    with config.backend(backend):
        F.embedding(ids, t).sum().backward()
    np.testing.assert_array_equal(t.grad[:, 0], [2, 1, 1, 2])
    with config.backend(backend):
        grad_check(lambda weight: F.embedding(ids, weight), _rand((4, 5), 1))
