"""Every Numba kernel against its numpy twin in ``minitl/kernels/reference.py``.

Hypothesis draws the shapes (1, primes, odd sizes, T=1), a seed for the values
and a memory layout (contiguous, transposed-then-viewed, or every-other
element), so the kernels also see non-contiguous inputs.  CI runs this file a
second time with ``NUMBA_DISABLE_JIT=1``: the same kernel code then runs as
plain Python, so the shapes and example counts shrink when the JIT is off.
"""
import numba
import numpy as np
import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

from minitl.kernels import reference as R
from minitl.kernels import matmul as MM, attention as AT, layernorm as LN
from minitl.kernels import softmax_xent as SX, gelu as GE, embedding as EM, adamw as AW
from minitl.kernels._jit import exp_inplace, make_tile
from minitl.kernels import machine as MC, machine_info

JIT_OFF = bool(numba.config.DISABLE_JIT)
SMALL = 6 if JIT_OFF else 40           # largest side drawn
SETTINGS = settings(max_examples=6 if JIT_OFF else 25, deadline=None,
                    suppress_health_check=list(HealthCheck))
DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-10)}
sides = st.sampled_from([1, 2, 3, 5, 7, 13, 17, 31, 37, 64]).filter(lambda n: n <= SMALL) | \
    st.integers(1, SMALL)


def make(shape, seed, layout, dtype, lo=-2.0, hi=2.0):
    """Values from ``seed``; ``layout`` 0 = contiguous, 1 = a transposed buffer viewed back, 2 = strided."""
    rng = np.random.default_rng(seed)
    if layout == 1 and len(shape) >= 2:
        return rng.uniform(lo, hi, shape[::-1]).astype(dtype).T          # same shape, reversed strides
    if layout == 2:
        big = rng.uniform(lo, hi, tuple(2 * n for n in shape)).astype(dtype)
        return big[tuple(slice(None, None, 2) for _ in shape)]
    return rng.uniform(lo, hi, shape).astype(dtype)


layouts = st.integers(0, 2)
seeds = st.integers(0, 2 ** 16)


def close(got, want, dtype, what):
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == dtype, f"{what}: dtype {got.dtype} != {dtype}"
    np.testing.assert_allclose(got, want, err_msg=what, **TOL[dtype])


# -- matmul -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@SETTINGS
@given(M=sides, K=sides, N=sides, nb=st.sampled_from([0, 1, 3]), seed=seeds, la=layouts, lb=layouts)
def test_matmul_and_its_backward_match_twin(dtype, M, K, N, nb, seed, la, lb):
    pre = () if nb == 0 else (nb,)
    a = make(pre + (M, K), seed, la, dtype)
    b = make(pre + (K, N), seed + 1, lb, dtype)
    g = make(pre + (M, N), seed + 2, 0, dtype)
    close(MM.matmul(a, b), R.matmul_ref(a, b), dtype, f"matmul {a.shape}@{b.shape}")
    da, db = MM.matmul_bwd(a, b, g)
    ra, rb = R.matmul_bwd_ref(a, b, g)
    close(da, ra, dtype, "matmul dA")
    close(db, rb, dtype, "matmul dB")
    assert MM.matmul_bwd(a, b, g, need_a=False)[0] is None


def test_matmul_blocks_and_tiles_exactly():
    # sizes straddling the MR x NB tile, the NB column panel, the KB reduction block, MB rows per task
    for M, K, N in [(4, MM.KB + 3, MM.NB + 1), (9, 2 * MM.KB + 1, 2 * MM.NB + 3), (5, 1, 4),
                    (MM.MB_MAX + 5, 7, 9)]:
        if JIT_OFF and K > 64:
            K = 13
        a, b = make((M, K), 0, 0, np.float64), make((K, N), 1, 0, np.float64)
        close(MM.matmul(a, b), a @ b, np.float64, f"matmul {M}x{K}x{N}")


def test_rows_per_task_is_a_multiple_of_4_and_leaves_work_for_every_thread():
    assert MM.rows_per_task(1, 1024, 2) == MM.MB_MAX
    assert MM.rows_per_task(1, 64, 2) == 16          # 4 tasks for 2 threads
    assert MM.rows_per_task(1, 3, 2) == 4
    assert all(MM.rows_per_task(nb, m, 2) % 4 == 0 for nb in (1, 3) for m in range(1, 300, 7))


def test_matmul_error_names_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) @ \(4, 5\)"):
        MM.matmul(np.ones((2, 3)), np.ones((4, 5)))


# -- the machine the tiles are shaped for ----------------------------------------

def test_simd_width_comes_from_the_target_numba_compiles_for():
    # explicit features win over the CPU name (NUMBA_CPU_NAME=haswell alone keeps the host's features)
    assert MC._simd("x86_64", "haswell", {"avx512f": True, "avx2": True, "fma": True}) == ("avx512", 64)
    assert MC._simd("x86_64", "znver4", {"avx512f": False, "avx2": True, "fma": True}) == ("avx2", 32)
    assert MC._simd("x86_64", "haswell", {}) == ("avx2", 32)           # NUMBA_CPU_FEATURES= (empty)
    assert MC._simd("x86_64", "skylake-avx512", {}) == ("avx512", 64)
    assert MC._simd("x86_64", "x86-64", {}) == ("sse", 16)
    assert MC._simd("aarch64", "neoverse-n1", {"avx512f": True}) == ("neon", 16)
    assert MC._features_flags("+avx2,-avx512f,+fma") == {"avx2": True, "avx512f": False, "fma": True}


def test_machine_info_tiles_fit_the_register_file():
    info = machine_info()
    mr, nr = info["matmul_tile"]
    assert nr == info["matmul_vectors_per_row"] * info["float32_lanes"] == MM.NB
    regs = 32 if info["simd"] == "avx512" else 16
    assert mr * info["matmul_vectors_per_row"] + info["matmul_vectors_per_row"] + 1 <= regs
    assert info["matmul_kb"] * nr * 4 <= info["l1d_bytes"] // 2 or info["matmul_kb"] == 64
    assert MM.MB_MAX % MM.MR == 0 and MM.MB_MAX % 4 == 0
    assert info["attention_tile"] == (AT.QB, AT.NV * AT.VB // 4) and AT.KBLK % info["attention_tile"][1] == 0


@pytest.mark.skipif(JIT_OFF, reason="the tile is LLVM IR: nothing to test without the JIT")
@pytest.mark.parametrize("vb,mr", [(16, 6), (32, 6), (64, 12)], ids=["16B-portable", "32B-avx2", "64B-avx512"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_register_tile_of_every_vector_width_matches_numpy(vb, mr, dtype):
    # every width compiles and is right on this machine (LLVM splits or joins vectors as the CPU needs)
    tile = make_tile(mr, 2, vb)
    nr = 2 * vb // np.dtype(dtype).itemsize

    @numba.njit
    def run(kc, A, B, bo, D):
        tile(kc, A, B, bo, D, 1, 2)

    kc = 37
    A = make((kc, mr), 0, 0, dtype).T                 # (mr, kc) with A[i+1, p] next in memory
    B = make((kc, nr + 5), 1, 0, dtype)
    D = make((mr + 3, nr + 4), 2, 0, dtype)
    want = D.copy()
    want[1:1 + mr, 2:2 + nr] += A @ B[:, 3:3 + nr]
    run(kc, A, B, 3, D)
    close(D, want, dtype, f"tile {mr}x{nr} ({vb}-byte vectors)")


# -- attention ----------------------------------------------------------------

def _attention_inputs(B, nh, T, hs, seed, layout, dtype, padded):
    q, k, v, g = [make((B, nh, T, hs), seed + i, layout if i < 3 else 0, dtype) for i in range(4)]
    mask = None
    if padded:
        mask = np.random.default_rng(seed).random((B, T)) > 0.3
        mask[0, :] = False                          # a fully padded sequence: no key to look at
        if B > 1:
            mask[1, :] = True
    return q, k, v, g, mask


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True], ids=["bidirectional", "causal"])
@SETTINGS
@given(B=st.integers(1, 3), nh=st.integers(1, 3), T=sides, hs=st.integers(1, 9), seed=seeds, layout=layouts,
       padded=st.booleans())
def test_attention_matches_twin(dtype, causal, B, nh, T, hs, seed, layout, padded):
    q, k, v, g, mask = _attention_inputs(B, nh, T, hs, seed, layout, dtype, padded)
    out, lse = AT.attention_fwd(q, k, v, causal, mask)
    r_out, r_lse = R.attention_ref(q, k, v, causal, mask)
    close(out, r_out, dtype, "attention out")
    close(lse, r_lse, dtype, "attention lse")                # -inf rows compare equal
    grads = AT.attention_bwd(q, k, v, out, lse, g, causal, mask)
    for name, got, want in zip("qkv", grads, R.attention_bwd_ref(q, k, v, r_out, r_lse, g, causal, mask)):
        close(got, want, dtype, f"attention d{name}")
    if padded:
        assert not out[0].any() and np.isneginf(lse[0]).all() and not grads[0][0].any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True], ids=["bidirectional", "causal"])
@SETTINGS
@given(B=st.integers(1, 2), nh=st.integers(1, 3), T=sides, hs=st.integers(1, 9), seed=seeds,
       p=st.sampled_from([0.1, 0.5, 0.9]), padded=st.booleans())
def test_attention_with_dropout_matches_twin(dtype, causal, B, nh, T, hs, seed, p, padded):
    q, k, v, g, mask = _attention_inputs(B, nh, T, hs, seed, 0, dtype, padded)
    out, lse = AT.attention_fwd(q, k, v, causal, mask, p, seed)
    r_out, r_lse = R.attention_ref(q, k, v, causal, mask, p, seed)
    close(out, r_out, dtype, "attention+dropout out")
    close(lse, r_lse, dtype, "attention+dropout lse")
    grads = AT.attention_bwd(q, k, v, out, lse, g, causal, mask, p, seed)
    for name, got, want in zip("qkv", grads, R.attention_bwd_ref(q, k, v, r_out, r_lse, g, causal, mask, p, seed)):
        close(got, want, dtype, f"attention+dropout d{name}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True], ids=["bidirectional", "causal"])
@SETTINGS
@given(B=st.integers(1, 3), nh=st.integers(1, 3), T=sides, hs=st.sampled_from([1, 3, 8, 16, 17, 32, 40]),
       seed=seeds, p=st.sampled_from([0.0, 0.0, 0.3]), padded=st.booleans())
def test_packed_attention_matches_twin(dtype, causal, B, nh, T, hs, seed, p, padded):
    # the entry points the models use: q, k, v read by stride from one (B, T, 3C) projection, out and
    # d(qkv) written in place; hs >= 16 runs the register-tile path (hs a multiple of 8 or 16, or not)
    C = nh * hs
    qkv, g = make((B, T, 3 * C), seed, 0, dtype), make((B, T, C), seed + 1, 0, dtype)
    mask = _attention_inputs(B, 1, T, 1, seed, 0, dtype, padded)[4]
    heads = qkv.reshape(B, T, 3, nh, hs).transpose(2, 0, 3, 1, 4)              # (3, B, nh, T, hs) views
    out, lse = AT.attention_fwd_packed(qkv, nh, causal, mask, p, seed)
    r_out, r_lse = R.attention_ref(*heads, causal, mask, p, seed)
    close(out, r_out.transpose(0, 2, 1, 3).reshape(B, T, C), dtype, "packed attention out")
    close(lse, r_lse, dtype, "packed attention lse")
    dqkv = AT.attention_bwd_packed(qkv, nh, out, lse, g, causal, mask, p, seed)
    want = R.attention_bwd_ref(*heads, r_out, r_lse, g.reshape(B, T, nh, hs).transpose(0, 2, 1, 3), causal, mask,
                               p, seed)
    close(dqkv, np.stack(want).transpose(1, 3, 0, 2, 4).reshape(B, T, 3 * C), dtype, "packed attention d(qkv)")


def test_packed_attention_rejects_a_width_the_heads_do_not_divide():
    with pytest.raises(ValueError, match=r"packed qkv must be \(B, T, 3 \* n_head \* hs\), got \(2, 3, 12\) "
                                         r"with n_head=3"):
        AT.attention_fwd_packed(np.zeros((2, 3, 12), np.float32), 3)


def test_dropout_mask_keeps_1_minus_p_and_depends_on_the_seed():
    a = R.dropout_keep_ref((2, 2, 64, 64), 1, 0.25)
    assert set(np.unique(a)) == {0.0, 1 / 0.75}
    assert abs((a > 0).mean() - 0.75) < 0.01                          # 16k draws: sd ~0.0034
    assert ((a > 0) != (R.dropout_keep_ref((2, 2, 64, 64), 2, 0.25) > 0)).mean() > 0.3
    with pytest.raises(ValueError, match=r"dropout_p must be in \[0, 1\), got 1.0"):
        AT.attention_fwd(*(np.zeros((1, 1, 2, 2)),) * 3, dropout_p=1.0)
    # the kernel's mask is the twin's: v = identity rows, so out[i] is row i of the dropped probabilities
    T = 2 * AT.KBLK + 3 if not JIT_OFF else 9
    v = np.zeros((1, 1, T, T)); v[0, 0] = np.eye(T)
    q = np.zeros((1, 1, T, T))                        # all scores 0: p = 1/T everywhere
    out, _ = AT.attention_fwd(q, q, v, False, None, 0.5, 99)
    close(out * T, R.dropout_keep_ref((1, 1, T, T), 99, 0.5), np.float64, "dropped probabilities")


def test_attention_spans_several_key_blocks():
    # T > KBLK exercises the online-softmax rescaling between blocks
    T = AT.KBLK + 7 if not JIT_OFF else 9
    q, k, v, g, mask = _attention_inputs(1, 2, T, 4, 3, 0, np.float64, True)
    q *= 4.0                                        # peaky scores: the running max really moves
    for causal in (False, True):
        out, lse = AT.attention_fwd(q, k, v, causal, mask)
        r_out, r_lse = R.attention_ref(q, k, v, causal, mask)
        close(out, r_out, np.float64, "attention out (blocks)")
        grads = AT.attention_bwd(q, k, v, out, lse, g, causal, mask)
        for got, want in zip(grads, R.attention_bwd_ref(q, k, v, r_out, r_lse, g, causal, mask)):
            close(got, want, np.float64, "attention grad (blocks)")


def test_attention_rejects_a_wrong_mask():
    q = np.zeros((2, 1, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"key_padding_mask must be \(B, T\) = \(2, 3\)"):
        AT.attention_fwd(q, q, q, False, np.ones((3, 2), bool))


def test_fast_exp_is_float32_accurate_and_exactly_zero_when_masked():
    x = np.linspace(-86.5, 0.0, 20001).astype(np.float32)
    y = np.concatenate([x, np.float32([-np.inf, -100.0])])
    bits = np.empty(y.size, np.int32)
    exp_inplace(y, y.size, np.float32(0), bits, bits.view(np.float32), False)
    want = np.exp(x.astype(np.float64))
    assert np.max(np.abs(y[:-2] / want - 1.0)) < 5e-7
    assert y[-2] == 0.0 and y[-1] == 0.0


# -- layer norm, softmax + cross-entropy, GELU ---------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@SETTINGS
@given(N=sides, C=sides, seed=seeds, layout=layouts)
def test_layernorm_matches_twin(dtype, N, C, seed, layout):
    x = make((N, C), seed, layout, dtype) * 3 + 1
    w, b, dy = make((C,), seed + 1, 0, dtype), make((C,), seed + 2, 0, dtype), make((N, C), seed + 3, 0, dtype)
    y, mean, rstd = LN.layernorm_fwd(x, w, b)
    ry, rmean, rrstd = R.layernorm_fwd_ref(x, w, b)
    close(y, ry, dtype, "layernorm y")
    close(mean, rmean, dtype, "layernorm mean")
    close(rstd, rrstd, dtype, "layernorm rstd")
    for name, got, want in zip(["dx", "dw", "db"], LN.layernorm_bwd(dy, x, w, mean, rstd),
                               R.layernorm_bwd_ref(dy, x, w, rmean, rrstd)):
        close(got, want, dtype, f"layernorm {name}")


@pytest.mark.parametrize("dtype", DTYPES)
@SETTINGS
@given(N=sides, C=sides, seed=seeds, layout=layouts)
def test_softmax_xent_matches_twin(dtype, N, C, seed, layout):
    logits = make((N, C), seed, layout, dtype, -5, 5)
    rng = np.random.default_rng(seed)
    target = rng.integers(0, C, N)
    target[rng.random(N) < 0.3] = -100             # some ignored rows
    dloss = make((N,), seed + 1, 0, dtype)
    loss, lse = SX.softmax_xent_fwd(logits, target)
    r_loss, r_lse = R.softmax_xent_fwd_ref(logits, target)
    close(loss, r_loss, dtype, "xent loss")
    close(lse, r_lse, dtype, "xent lse")
    close(SX.softmax_xent_bwd(logits, target, lse, dloss), R.softmax_xent_bwd_ref(logits, target, r_lse, dloss),
          dtype, "xent dlogits")
    assert not SX.softmax_xent_bwd(logits, target, lse, dloss)[target == -100].any()


def test_softmax_xent_names_a_bad_target():
    with pytest.raises(IndexError, match="target 7 out of range for 3 classes"):
        SX.softmax_xent_fwd(np.zeros((2, 3), np.float32), np.array([0, 7]))


@pytest.mark.parametrize("dtype", DTYPES)
@SETTINGS
@given(shape=st.lists(sides, min_size=0, max_size=3).map(tuple), seed=seeds, layout=layouts)
def test_gelu_matches_twin(dtype, shape, seed, layout):
    x = make(shape, seed, layout, dtype, -6, 6)
    dy = make(shape, seed + 1, 0, dtype)
    close(GE.gelu_fwd(x), R.gelu_fwd_ref(x), dtype, "gelu")
    close(GE.gelu_bwd(x, dy), R.gelu_bwd_ref(x, dy), dtype, "gelu backward")


# -- embedding backward, AdamW --------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@SETTINGS
@given(V=sides, C=sides, n=st.integers(1, 3 * SMALL), seed=seeds, layout=layouts)
def test_embedding_bwd_scatter_adds_repeated_ids(dtype, V, C, n, seed, layout):
    ids = np.random.default_rng(seed).integers(0, V, n)
    ids[-1] = ids[0]                                  # at least one id used twice
    dout = make((n, C), seed, layout, dtype)
    close(EM.embedding_bwd(ids, dout, V), R.embedding_bwd_ref(ids, dout, V), dtype, "embedding dweight")


def test_embedding_bwd_names_a_bad_id():
    with pytest.raises(IndexError, match="id 5 out of range for a table of 4 rows"):
        EM.embedding_bwd(np.array([1, 5]), np.zeros((2, 3)), 4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threaded", [False, True], ids=["serial", "threaded"])
@SETTINGS
@given(shape=st.lists(sides, min_size=1, max_size=2).map(tuple), seed=seeds,
       wd=st.sampled_from([0.0, 0.1]))
def test_adamw_matches_twin_over_steps(dtype, threaded, shape, seed, wd):
    if threaded:                                    # past SERIAL_BELOW the update runs on the thread pool
        shape = (AW.SERIAL_BELOW + shape[0],)
    p1 = make(shape, seed, 0, dtype)
    p2, m1, v1 = p1.copy(), np.zeros_like(p1), np.zeros_like(p1)
    m2, v2 = m1.copy(), v1.copy()
    for step in range(1, 4):
        g = make(shape, seed + step, 0, dtype)
        AW.adamw_update_(p1, g, m1, v1, step, 1e-2, 0.9, 0.999, 1e-8, wd)
        R.adamw_ref(p2, g, m2, v2, step, 1e-2, 0.9, 0.999, 1e-8, wd)
    close(p1, p2, dtype, "adamw param")
    close(m1, m2, dtype, "adamw m")
    close(v1, v2, dtype, "adamw v")


def test_adamw_refuses_a_copy_it_cannot_update_in_place():
    p = np.zeros((4, 4), np.float32).T[::2]
    with pytest.raises(ValueError, match="param must be C-contiguous"):
        AW.adamw_update_(p, p, p, p, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0)
