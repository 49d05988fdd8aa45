"""Fused scaled-dot-product attention, forward and backward (flash-attention style).

Twin: ``reference.attention_ref`` / ``attention_bwd_ref``, which build the full
(B, nh, T, T) score and probability matrices.  These kernels never do: a
thread takes a (batch, head) and walks its query rows, ``QB`` = 4 at a time
(each k and v value loaded serves 4 rows); for each row it computes scores for
a block of at most ``KBLK`` keys at a time and folds them into a running
softmax (the "online softmax"):

    m_new = max(m, max_j s[j]);   alpha = exp(m - m_new)
    l     = l * alpha + sum_j exp(s[j] - m_new)
    o     = o * alpha + sum_j exp(s[j] - m_new) v[j]
    ...after the last block: out = o / l,  lse = m + log(l)

so the extra memory is a few rows of ``KBLK`` numbers per task and the head's
gathered rows, growing with T, never with T^2.  The forward saves only ``lse``
(B, nh, T); the backward recomputes p = exp(s - lse) block by block.

Layout.  The kernels read q, k and v from flat buffers by element strides, so the models' one
packed projection qkv (B, T, 3C) is read in place (``attention_fwd_packed``): no split into heads,
no transposed copies in numpy.  Each prange task takes a run of (batch, head)s and first gathers
the head's rows into its own scratch -- q (padded with zero rows to a multiple of QB), k and v also
transposed, (hs, T), so that every inner loop runs along the keys j over contiguous memory and
vectorizes -- and the backward scatters d(q, k, v) back into the packed layout.  The copies are
the same ones numpy used to make, now done in parallel and in cache.  Masks: ``keep`` (B, T)
is 1.0 for a real key and 0.0 for padding, or (B, 0) when nothing is padded (no per-key test);
``causal`` hides keys j > i.  A
query row that can see no key gets out = 0, lse = -inf and zero gradients.

Four of the products run in a register tile (``_jit.make_tile``, the
micro-kernel of matmul.py), sums held in SIMD registers instead of a load
and a store of a score row per feature: the scores q.k (and dout.v in the
backward), QB rows x NR keys summed over hs features; p.v in the forward and
ds.k (dq) in the backward, QB rows x NR features summed over the keys.

Dropout (``dropout_p`` > 0): the probabilities that multiply v are p * keep,
keep = 0 or 1/(1-p), while l and lse stay undropped.  keep is not stored: it
is a hash of (seed, position) (``_jit.drop_row``, twin
``reference.dropout_keep_ref``), so the backward rebuilds the same mask
block by block and memory stays O(T).

Where it stands against PyTorch's SDPA and the numpy composite: the README's
"Speed" section (figures, machine, command: ``benchmarks/speed_report.py``).
Still done with plain loops: dv and dk in the backward (the sum over the
query rows is only QB=4 long, too short for the tile -- a larger query
block, flash-attention-2 style, would fix that).
"""
import numba
import numpy as np
from numba import njit, prange

from ._jit import FASTMATH, drop_row
from .attention_rows import (KBLK, NEG_INF, NV, QB, VB, gather, mask_pos, pack_rows,  # noqa: F401
                             probs_block, scores, softmax_block, tile)
from .reference import dropout_threshold

def _attention_fwd(xq, xk, xv, src, keep, nh, hs, causal, scale, exact, out, dst, lse, seed, thresh, inv, nt):
    # xq, xk, xv: flat buffers (one and the same for a packed qkv) holding q, k, v (B, nh, T, hs) at
    # element offsets src[0:3] with strides src[3:6] (a batch, a head, a time step; features
    # contiguous).  out: flat, written at offset dst[0] with strides dst[1:4].  lse: (B, nh, T).
    B = keep.shape[0]
    T = lse.shape[2]
    Tq = -(-T // QB) * QB                            # query rows padded to whole QB blocks (dummies)
    NR = NV * VB // xq.itemsize                      # features per register tile
    hc = hs - hs % NR                                # features done by the tile
    zero = xq.dtype.type(0)                          # float32 sums for float32 inputs (0.0 would make
    #                                                  every sum float64, at half the SIMD width)
    for w in prange(nt):                             # nt tasks (``_tasks``), each a run of (batch, head)s
        q = np.zeros((Tq, hs), dtype=xq.dtype)       # this head's rows, gathered: q (padded with 0),
        kT = np.empty((hs, T), dtype=xq.dtype)       # k transposed (A of the scores tile),
        Vr = np.empty((T, hs), dtype=xq.dtype)       # v as rows (B of the p.v tile)
        scratch = np.empty((T, hs), dtype=xq.dtype)
        none = np.empty((0, 0), dtype=xq.dtype)
        S = np.empty((QB, KBLK), dtype=xq.dtype)     # scores, then probabilities, of one key
        s0, s1, s2, s3 = S[0], S[1], S[2], S[3]      # block for each of the QB query rows
        Qp = np.empty(hs * QB, dtype=xq.dtype)       # the QB query rows, packed feature-major
        o = np.zeros((QB, hs), dtype=xq.dtype)       # running (unnormalized) output rows
        bits = np.empty(KBLK, dtype=np.int32)        # scratch of the vectorized exp
        bits_f = bits.view(np.float32)
        mk = np.empty(KBLK, dtype=xq.dtype)          # dropout multipliers of one row's block
        for bh in range(w * (B * nh) // nt, (w + 1) * (B * nh) // nt):
            b = bh // nh
            h = bh - b * nh
            gather(xq, src[0], src[3], src[4], src[5], b, h, T, q, none)
            gather(xk, src[1], src[3], src[4], src[5], b, h, T, scratch, kT)
            gather(xv, src[2], src[3], src[4], src[5], b, h, T, Vr, none)
            kp = keep[b]
            for i0 in range(0, Tq, QB):
                jend = min(i0 + QB, T) if causal else T
                lim = i0 if causal else T                # row i0 + r sees keys j <= lim + r
                m0 = m1 = m2 = m3 = NEG_INF
                l0 = l1 = l2 = l3 = zero
                o[:, :] = zero
                pack_rows(q, i0, scale, Qp)
                for j0 in range(0, jend, KBLK):
                    n = min(KBLK, jend - j0)
                    scores(Qp, kT, j0, n, S)             # s_r[j] = q[i0+r] . k[j] * scale
                    m0, a0, t0 = softmax_block(s0, n, j0, lim + 0, kp, m0, bits, bits_f, exact)
                    m1, a1, t1 = softmax_block(s1, n, j0, lim + 1, kp, m1, bits, bits_f, exact)
                    m2, a2, t2 = softmax_block(s2, n, j0, lim + 2, kp, m2, bits, bits_f, exact)
                    m3, a3, t3 = softmax_block(s3, n, j0, lim + 3, kp, m3, bits, bits_f, exact)
                    l0 = l0 * a0 + t0
                    l1 = l1 * a1 + t1
                    l2 = l2 * a2 + t2
                    l3 = l3 * a3 + t3
                    if thresh > 0:                       # dropout: l keeps the undropped sums, o gets p * keep
                        for r in range(QB):
                            drop_row(mk, n, mask_pos(bh, T, i0 + r, j0), seed, thresh, inv)
                            for j in range(n):
                                S[r, j] *= mk[j]
                    for c in range(hs):                  # o_r = o_r * alpha_r + p_r . v
                        o[0, c] *= a0
                        o[1, c] *= a1
                        o[2, c] *= a2
                        o[3, c] *= a3
                    for cg in range(0, hc, NR):          # o[:, cg:cg+NR] += P @ v[:, cg:cg+NR], in registers
                        tile(n, S, Vr[j0:j0 + n], cg, o, 0, cg)
                    for c in range(hc, hs):              # features past the last whole group
                        c0 = c1 = c2 = c3 = zero
                        for j in range(n):
                            vj = Vr[j0 + j, c]
                            c0 += s0[j] * vj
                            c1 += s1[j] * vj
                            c2 += s2[j] * vj
                            c3 += s3[j] * vj
                        o[0, c] += c0
                        o[1, c] += c1
                        o[2, c] += c2
                        o[3, c] += c3
                for r, m, l in ((0, m0, l0), (1, m1, l1), (2, m2, l2), (3, m3, l3)):
                    t = i0 + r
                    if t >= T:                           # a dummy row
                        continue
                    p = dst[0] + b * dst[1] + h * dst[2] + t * dst[3]
                    orow = out[p:p + hs]                 # a view: see ``_gather`` on x[p + c]
                    if l > 0.0:
                        for c in range(hs):
                            orow[c] = o[r, c] / l
                        lse[b, h, t] = m + np.log(l)
                    else:                                # saw no key: zeros, lse = -inf
                        for c in range(hs):
                            orow[c] = zero
                        lse[b, h, t] = NEG_INF


def _attention_bwd(xq, xk, xv, src, keep, nh, hs, causal, scale, exact, xo, xg, dst, lse, gq, gk, gv, seed,
                   thresh, inv, nt):
    # forward was: s = q k^T * scale (masked -inf);  p = exp(s - lse);  out = p v
    # so:          dv = p^T dout;  dp = dout v^T;  ds = p * (dp - D),  D[i] = dout[i] . out[i]
    # (dropout: out = (p * keep) v, so dv = (p * keep)^T dout, dp = (dout v^T) * keep; D is unchanged)
    #              dq = ds k * scale;  dk = ds^T q * scale
    # Layouts: q, k, v as in the forward (src); out (xo) and dout (xg) as the forward's out (dst);
    # the gradients gq, gk, gv are written in q, k, v's layout (src): for a packed qkv, one buffer.
    B = keep.shape[0]
    T = lse.shape[2]
    Tq = -(-T // QB) * QB
    zero = xq.dtype.type(0)
    one = xq.dtype.type(1)
    NR = NV * VB // xq.itemsize
    hc = hs - hs % NR
    for w in prange(nt):                             # nt tasks as in the forward; each (batch, head) is
        #                                              one task's: it alone writes its dq, dk, dv
        none = np.empty((0, 0), dtype=xq.dtype)
        q = np.zeros((Tq, hs), dtype=xq.dtype)       # this head's rows, gathered (q, out, dout padded
        Kr = np.empty((T, hs), dtype=xq.dtype)       # with 0 rows past T); k as rows (B of the ds.k
        kT = np.empty((hs, T), dtype=xq.dtype)       # tile) and transposed (scores), v transposed
        vT = np.empty((hs, T), dtype=xq.dtype)
        scratch = np.empty((T, hs), dtype=xq.dtype)
        o = np.zeros((Tq, hs), dtype=xq.dtype)
        g = np.zeros((Tq, hs), dtype=xq.dtype)
        z = np.full(Tq, NEG_INF, dtype=xq.dtype)     # lse; rows past T: -inf, so no gradient
        dq = np.empty((Tq, hs), dtype=xq.dtype)
        dkT = np.empty((hs, T), dtype=xq.dtype)
        dvT = np.empty((hs, T), dtype=xq.dtype)
        P = np.empty((QB, KBLK), dtype=xq.dtype)     # scores, then probabilities
        p0, p1, p2, p3 = P[0], P[1], P[2], P[3]
        Dp = np.empty((QB, KBLK), dtype=xq.dtype)    # dp, then ds * scale
        d0, d1, d2, d3 = Dp[0], Dp[1], Dp[2], Dp[3]
        Qp = np.empty(hs * QB, dtype=xq.dtype)       # q rows * scale, and dout rows, packed
        Gp = np.empty(hs * QB, dtype=xq.dtype)
        bits = np.empty(KBLK, dtype=np.int32)
        bits_f = bits.view(np.float32)
        Mk = np.empty((QB, KBLK), dtype=xq.dtype)    # dropout multipliers of the QB rows' block
        for bh in range(w * (B * nh) // nt, (w + 1) * (B * nh) // nt):
            b = bh // nh
            h = bh - b * nh
            gather(xq, src[0], src[3], src[4], src[5], b, h, T, q, none)
            gather(xk, src[1], src[3], src[4], src[5], b, h, T, Kr, kT)
            gather(xv, src[2], src[3], src[4], src[5], b, h, T, scratch, vT)
            gather(xo, dst[0], dst[1], dst[2], dst[3], b, h, T, o, none)
            gather(xg, dst[0], dst[1], dst[2], dst[3], b, h, T, g, none)
            for t in range(T):
                z[t] = lse[b, h, t]
            dkT[:, :] = zero                             # summed over the query rows below
            dvT[:, :] = zero
            kp = keep[b]
            for i0 in range(0, Tq, QB):
                D0 = D1 = D2 = D3 = zero
                for c in range(hs):
                    D0 += g[i0, c] * o[i0, c]
                    D1 += g[i0 + 1, c] * o[i0 + 1, c]
                    D2 += g[i0 + 2, c] * o[i0 + 2, c]
                    D3 += g[i0 + 3, c] * o[i0 + 3, c]
                    dq[i0, c] = zero
                    dq[i0 + 1, c] = zero
                    dq[i0 + 2, c] = zero
                    dq[i0 + 3, c] = zero
                jend = min(i0 + QB, T) if causal else T
                lim = i0 if causal else T
                pack_rows(q, i0, scale, Qp)
                pack_rows(g, i0, one, Gp)
                for j0 in range(0, jend, KBLK):
                    n = min(KBLK, jend - j0)
                    scores(Qp, kT, j0, n, P)             # recompute s
                    scores(Gp, vT, j0, n, Dp)            # dp = dout[i] . v[j]
                    probs_block(p0, n, j0, lim + 0, kp, z[i0], bits, bits_f, exact)
                    probs_block(p1, n, j0, lim + 1, kp, z[i0 + 1], bits, bits_f, exact)
                    probs_block(p2, n, j0, lim + 2, kp, z[i0 + 2], bits, bits_f, exact)
                    probs_block(p3, n, j0, lim + 3, kp, z[i0 + 3], bits, bits_f, exact)
                    if thresh > 0:                       # dropout: dp *= keep (p itself after ds)
                        for r in range(QB):
                            drop_row(Mk[r], n, mask_pos(bh, T, i0 + r, j0), seed, thresh, inv)
                            for j in range(n):
                                Dp[r, j] *= Mk[r, j]
                    for j in range(n):                   # ds * scale, used by both dq and dk
                        d0[j] = p0[j] * (d0[j] - D0) * scale
                        d1[j] = p1[j] * (d1[j] - D1) * scale
                        d2[j] = p2[j] * (d2[j] - D2) * scale
                        d3[j] = p3[j] * (d3[j] - D3) * scale
                    if thresh > 0:                       # dv sums the dropped probabilities
                        for r in range(QB):
                            for j in range(n):
                                P[r, j] *= Mk[r, j]
                    for c in range(hs):
                        g0 = g[i0, c]
                        g1 = g[i0 + 1, c]
                        g2 = g[i0 + 2, c]
                        g3 = g[i0 + 3, c]
                        q0 = q[i0, c]
                        q1 = q[i0 + 1, c]
                        q2 = q[i0 + 2, c]
                        q3 = q[i0 + 3, c]
                        dvr = dvT[c, j0:j0 + n]
                        dkr = dkT[c, j0:j0 + n]
                        for j in range(n):
                            dvr[j] += g0 * p0[j] + g1 * p1[j] + g2 * p2[j] + g3 * p3[j]
                            dkr[j] += q0 * d0[j] + q1 * d1[j] + q2 * d2[j] + q3 * d3[j]
                    for cg in range(0, hc, NR):          # dq[:, cg:cg+NR] += ds @ k[:, cg:cg+NR], in registers
                        tile(n, Dp, Kr[j0:j0 + n], cg, dq, i0, cg)
                    for c in range(hc, hs):              # features past the last whole group
                        a0 = a1 = a2 = a3 = zero
                        for j in range(n):
                            kj = kT[c, j0 + j]
                            a0 += d0[j] * kj
                            a1 += d1[j] * kj
                            a2 += d2[j] * kj
                            a3 += d3[j] * kj
                        dq[i0, c] += a0
                        dq[i0 + 1, c] += a1
                        dq[i0 + 2, c] += a2
                        dq[i0 + 3, c] += a3
            base = b * src[3] + h * src[4]               # scatter the head's gradients into q, k, v's layout
            for t in range(T):
                p = base + t * src[5]
                gqr = gq[src[0] + p:src[0] + p + hs]     # views: see ``_gather`` on x[p + c]
                gkr = gk[src[1] + p:src[1] + p + hs]
                gvr = gv[src[2] + p:src[2] + p + hs]
                for c in range(hs):
                    gqr[c] = dq[t, c]
                    gkr[c] = dkT[c, t]
                    gvr[c] = dvT[c, t]


def _tasks(B, nh):
    """How many prange tasks the kernels split the B * nh heads into: 4 per thread (a thread that
    finishes early takes another), each allocating its scratch once for its run of heads."""
    return min(B * nh, 4 * numba.get_num_threads())


def _dtype(x):
    return np.float64 if x.dtype == np.float64 else np.float32


def _keep(key_padding_mask, B, T, dt):
    """(B, T) 1.0 for a real key, 0.0 for padding; (B, 0) when no key is padding (the kernels then
    skip the padding test)."""
    if key_padding_mask is None:
        return np.ones((B, 0), dtype=dt)
    kpm = np.asarray(key_padding_mask)
    if kpm.shape != (B, T):
        raise ValueError(f"attention: key_padding_mask must be (B, T) = {(B, T)}, got {kpm.shape}")
    if kpm.all():
        return np.ones((B, 0), dtype=dt)
    return kpm.astype(bool).astype(dt)


def _split(q, k, v):
    """q, k, v (B, nh, T, hs) -> (flat buffers, their layout src, out's layout dst, (B, nh, T, hs));
    out and the gradients are (B, nh, T, hs) like q."""
    if q.ndim != 4 or k.shape != q.shape or v.shape != q.shape:
        raise ValueError(f"attention: q, k, v must share one shape (B, nh, T, hs), got "
                         f"{q.shape}, {k.shape}, {v.shape}")
    dt = _dtype(q)
    B, nh, T, hs = q.shape
    xs = tuple(np.ascontiguousarray(x, dtype=dt).reshape(-1) for x in (q, k, v))
    strides = [nh * T * hs, T * hs, hs]
    return (xs, np.array([0, 0, 0, *strides], dtype=np.int64), np.array([0, *strides], dtype=np.int64),
            (B, nh, T, hs))


def _packed(qkv, n_head):
    """qkv (B, T, 3C) -> (flat buffer three times, src, dst, (B, nh, T, hs)): q, k, v side by side in
    qkv, heads side by side within each; out (B, T, C) likewise, d(qkv) in qkv's layout."""
    if qkv.ndim != 3 or qkv.shape[2] % 3 != 0 or (qkv.shape[2] // 3) % n_head != 0:
        raise ValueError(f"attention: a packed qkv must be (B, T, 3 * n_head * hs), got {qkv.shape} "
                         f"with n_head={n_head}")
    B, T, C3 = qkv.shape
    C = C3 // 3
    x = np.ascontiguousarray(qkv, dtype=_dtype(qkv)).reshape(-1)
    hs = C // n_head
    return ((x, x, x), np.array([0, C, 2 * C, T * C3, hs, C3], dtype=np.int64),
            np.array([0, T * C, hs, C], dtype=np.int64), (B, n_head, T, hs))


def _dropout_args(dropout_p, seed, dt):
    """(seed, threshold, 1/(1-p)) for the kernels; threshold 0 = no dropout."""
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"attention: dropout_p must be in [0, 1), got {dropout_p}")
    if dropout_p == 0.0:
        return np.uint64(0), np.uint64(0), dt(1.0)
    return (np.uint64(int(seed) & 0xFFFFFFFF), np.uint64(dropout_threshold(dropout_p)),
            dt(1.0 / (1.0 - dropout_p)))


def _fwd(xs, src, shape, dst, causal, key_padding_mask, dropout_p, seed):
    """The forward kernel on gathered-by-stride inputs: (flat out, lse (B, nh, T))."""
    B, nh, T, hs = shape
    dt = xs[0].dtype.type
    keep = _keep(key_padding_mask, B, T, dt)
    out = np.empty(B * nh * T * hs, dtype=dt)
    lse = np.empty((B, nh, T), dtype=dt)
    attention_fwd_kernel(*xs, src, keep, nh, hs, bool(causal), dt(1.0 / np.sqrt(hs)), dt == np.float64,
                         out, dst, lse, *_dropout_args(dropout_p, seed, dt), _tasks(B, nh))
    return out, lse


def _bwd(xs, src, shape, dst, out, lse, dout, grads, causal, key_padding_mask, dropout_p, seed):
    """The backward kernel: writes d(q, k, v) into ``grads`` (flat, in q, k, v's layout)."""
    B, nh, T, hs = shape
    dt = xs[0].dtype.type
    keep = _keep(key_padding_mask, B, T, dt)
    xo, xg = (np.ascontiguousarray(a, dtype=dt).reshape(-1) for a in (out, dout))
    lse = np.ascontiguousarray(lse, dtype=dt).reshape(B, nh, T)
    attention_bwd_kernel(*xs, src, keep, nh, hs, bool(causal), dt(1.0 / np.sqrt(hs)), dt == np.float64,
                         xo, xg, dst, lse, *grads, *_dropout_args(dropout_p, seed, dt), _tasks(B, nh))


def attention_fwd(q, k, v, causal=False, key_padding_mask=None, dropout_p=0.0, seed=0):
    """(out (B, nh, T, hs), lse (B, nh, T)) -- same contract as ``reference.attention_ref``.

    ``dropout_p`` > 0 drops attention probabilities with the mask hashed from ``seed``
    (``reference.dropout_keep_ref``); pass the same seed to ``attention_bwd``.
    """
    xs, src, dst, shape = _split(q, k, v)
    out, lse = _fwd(xs, src, shape, dst, causal, key_padding_mask, dropout_p, seed)
    return out.reshape(shape), lse


def attention_bwd(q, k, v, out, lse, dout, causal=False, key_padding_mask=None, dropout_p=0.0, seed=0):
    """(dq, dk, dv) from the forward's inputs, its out and lse, and d(loss)/d(out)."""
    xs, src, dst, shape = _split(q, k, v)
    grads = tuple(np.empty(q.size, dtype=xs[0].dtype) for _ in range(3))
    _bwd(xs, src, shape, dst, out, lse, dout, grads, causal, key_padding_mask, dropout_p, seed)
    return tuple(gr.reshape(shape) for gr in grads)


def attention_fwd_packed(qkv, n_head, causal=False, key_padding_mask=None, dropout_p=0.0, seed=0):
    """The forward on one packed projection: qkv (B, T, 3C), q, k and v side by side and each
    C = n_head * hs wide, heads side by side within each -> (out (B, T, C), lse (B, nh, T)).
    The kernel reads each head's rows from qkv by stride: no split, no transposed copies."""
    xs, src, dst, shape = _packed(qkv, n_head)
    out, lse = _fwd(xs, src, shape, dst, causal, key_padding_mask, dropout_p, seed)
    return out.reshape(qkv.shape[0], qkv.shape[1], qkv.shape[2] // 3), lse


def attention_bwd_packed(qkv, n_head, out, lse, dout, causal=False, key_padding_mask=None, dropout_p=0.0,
                         seed=0):
    """d(qkv) (B, T, 3C) from the packed forward's qkv, out (B, T, C), lse and d(loss)/d(out) (B, T, C)."""
    xs, src, dst, shape = _packed(qkv, n_head)
    dqkv = np.empty(qkv.size, dtype=xs[0].dtype)                       # q, k, v parts all written
    _bwd(xs, src, shape, dst, out, lse, dout, (dqkv, dqkv, dqkv), causal, key_padding_mask, dropout_p, seed)
    return dqkv.reshape(qkv.shape)


attention_fwd_kernel = njit(parallel=True, fastmath=FASTMATH, cache=True, error_model="numpy")(_attention_fwd)
attention_bwd_kernel = njit(parallel=True, fastmath=FASTMATH, cache=True, error_model="numpy")(_attention_bwd)
