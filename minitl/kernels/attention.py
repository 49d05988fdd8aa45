"""Fused scaled-dot-product attention, forward and backward (flash-attention style).

Twin: ``reference.attention_ref`` / ``attention_bwd_ref``, which build the full
(B, nh, T, T) score and probability matrices.  These kernels never do: one
thread takes one (batch, head) and walks its query rows, ``QB`` = 4 at a time
(each k and v value loaded serves 4 rows); for each row it computes scores for a block of at most ``KBLK`` keys at a time and folds them
into a running softmax (the "online softmax"):

    m_new = max(m, max_j s[j]);   alpha = exp(m - m_new)
    l     = l * alpha + sum_j exp(s[j] - m_new)
    o     = o * alpha + sum_j exp(s[j] - m_new) v[j]
    ...after the last block: out = o / l,  lse = m + log(l)

so the extra memory is a few rows of ``KBLK`` numbers per thread, growing with
T (the transposed copies of k and v), never with T^2.  The forward saves only
``lse`` (B, nh, T); the backward recomputes p = exp(s - lse) block by block.

Layout: k and v are passed transposed, (BH, hs, T), so every inner loop runs
along the keys j over contiguous memory and vectorizes.  Masks: ``keep`` (B, T)
is 1.0 for a real key and 0.0 for padding; ``causal`` hides keys j > i.  A
query row that can see no key gets out = 0, lse = -inf and zero gradients.
Query rows are padded to a multiple of QB by the wrappers (``_rows``).

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

from ._jit import FASTMATH, drop_row, exp_inplace, make_tile, row_max
from .machine import VECTOR_BYTES
from .reference import dropout_threshold

KBLK = 256  # keys per block of the online softmax (a multiple of the tile's NR keys)
QB = 4      # query rows per step: each k/v value loaded is used for 4 rows
NEG_INF = -np.inf
NV = 2      # scores q.k are computed QB rows x NV vectors of keys at a time in SIMD registers:
VB = VECTOR_BYTES   # 2 x 16 float32 keys with AVX-512, 2 x 8 with AVX2 (machine.py)


def _tile_py(kc, A, B, bo, D, ci, cj):
    """What the register tile computes (see ``_jit.make_tile``), in numpy: for NUMBA_DISABLE_JIT=1."""
    nr = NV * VB // B.itemsize
    D[ci:ci + QB, cj:cj + nr] += A[:QB, :kc] @ B[:kc, bo:bo + nr]


tile = _tile_py if numba.config.DISABLE_JIT else make_tile(QB, NV, VB)


def _scores(Qp, xT, j0, n, S):
    """S[r, :n] = sum_d Qp[d*QB + r] * xT[d, j0:j0+n]: QB query rows against n keys.

    Groups of NR keys go through the register tile (each k value loaded once,
    QB x NR sums in registers across all d).  The last group may run past n
    (those columns of S are scratch, never read) as long as it stays inside
    xT's row; only at the end of the row do the last n % NR keys take the
    plain loops.
    """
    hs, T = xT.shape
    NR = NV * VB // xT.itemsize
    zero = S.dtype.type(0)
    for r in range(QB):
        for j in range(n):
            S[r, j] = zero
    nt = -(-n // NR) * NR                 # n rounded up to whole groups (S has KBLK >= nt columns)
    if j0 + nt > T:
        nt = n - n % NR
    Qv = Qp.reshape((hs, QB)).T           # (QB, hs) view of the packed rows
    for jt in range(0, nt, NR):
        tile(hs, Qv, xT, j0 + jt, S, 0, jt)
    for d in range(hs):
        for r in range(QB):
            x = Qp[d * QB + r]
            for j in range(nt, n):
                S[r, j] += x * xT[d, j0 + j]


def _pack_rows(x, i0, scale, Qp):
    """Qp[d*QB + r] = x[i0 + r, d] * scale: QB rows, stored feature-major for the register tile."""
    for d in range(x.shape[1]):
        for r in range(QB):
            Qp[d * QB + r] = x[i0 + r, d] * scale


def _mask(s, n, j0, lim, kp):
    """Scores of keys that are padding (kp 0) or past ``lim`` (the future, when causal) -> -inf."""
    for j in range(n):
        s[j] = s[j] if (kp[j0 + j] != 0.0) & (j0 + j <= lim) else NEG_INF   # & not and: no branch


def _softmax_block(s, n, j0, lim, kp, m, bits, bits_f, exact):
    """Turn the scores s[:n] of keys j0.. into exp(s - m_new), masked ones 0; return (m_new, alpha, sum).

    m is the row's running max before this block; alpha = exp(m - m_new)
    rescales its running sums.  A block with nothing visible keeps m, alpha = 1.
    """
    zero = s.dtype.type(0)
    mask(s, n, j0, lim, kp)
    bmax = row_max(s, n)
    if bmax == NEG_INF:
        for j in range(n):
            s[j] = zero
        return m, s.dtype.type(1), zero
    m_new = max(m, bmax)
    exp_inplace(s, n, m_new, bits, bits_f, exact)
    total = zero
    for j in range(n):
        total += s[j]
    return m_new, np.exp(m - m_new), total


def _probs_block(s, n, j0, lim, kp, z, bits, bits_f, exact):
    """s[:n] <- exp(s - z): a row's probabilities recomputed from its log-sum-exp z (0 where masked)."""
    if z == NEG_INF:                                   # the row saw no key (or is past T)
        for j in range(n):
            s[j] = 0.0
        return
    mask(s, n, j0, lim, kp)
    exp_inplace(s, n, z, bits, bits_f, exact)


def _attention_fwd(q, kT, vT, keep, nh, causal, scale, exact, out, lse, seed, thresh, inv):
    BH, Tq, hs = q.shape                             # Tq = T rounded up to QB (extra rows: dummies)
    T = kT.shape[2]
    if Tq % QB != 0 or Tq < T:
        raise ValueError("attention kernel: query rows must be padded to a multiple of QB (use attention_fwd)")
    NR = NV * VB // q.itemsize                       # features per register tile
    hc = hs - hs % NR                                # features done by the tile
    zero = q.dtype.type(0)                           # float32 sums for float32 inputs (0.0 would
    for bh in prange(BH):                            # make every sum float64, at half the SIMD width)
        b = bh // nh
        S = np.empty((QB, KBLK), dtype=q.dtype)      # scores, then probabilities, of one key
        s0, s1, s2, s3 = S[0], S[1], S[2], S[3]      # block for each of the QB query rows
        Qp = np.empty(hs * QB, dtype=q.dtype)        # the QB query rows, packed feature-major
        Vr = np.ascontiguousarray(vT[bh].T)          # v as rows (T, hs): B of the p.v tile
        o = np.zeros((QB, hs), dtype=q.dtype)        # running (unnormalized) output rows
        bits = np.empty(KBLK, dtype=np.int32)        # scratch of the vectorized exp
        bits_f = bits.view(np.float32)
        mk = np.empty(KBLK, dtype=q.dtype)           # dropout multipliers of one row's block
        kp = keep[b]
        for i0 in range(0, Tq, QB):
            jend = min(i0 + QB, T) if causal else T
            lim = i0 if causal else T                # row i0 + r sees keys j <= lim + r
            m0 = m1 = m2 = m3 = NEG_INF
            l0 = l1 = l2 = l3 = zero
            o[:, :] = zero
            pack_rows(q[bh], i0, scale, Qp)
            for j0 in range(0, jend, KBLK):
                n = min(KBLK, jend - j0)
                scores(Qp, kT[bh], j0, n, S)         # s_r[j] = q[i0+r] . k[j] * scale
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
                        drop_row(mk, n, np.uint64((((bh * T + i0 + r) * T + j0)) & 0xFFFFFFFF), seed, thresh, inv)
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
                    vr = vT[bh, c, j0:j0 + n]
                    c0 = c1 = c2 = c3 = zero
                    for j in range(n):
                        vj = vr[j]
                        c0 += s0[j] * vj
                        c1 += s1[j] * vj
                        c2 += s2[j] * vj
                        c3 += s3[j] * vj
                    o[0, c] += c0
                    o[1, c] += c1
                    o[2, c] += c2
                    o[3, c] += c3
            for r, m, l in ((0, m0, l0), (1, m1, l1), (2, m2, l2), (3, m3, l3)):
                if l > 0.0:
                    for c in range(hs):
                        out[bh, i0 + r, c] = o[r, c] / l
                    lse[bh, i0 + r] = m + np.log(l)
                else:                                # saw no key: zeros, lse = -inf
                    for c in range(hs):
                        out[bh, i0 + r, c] = zero
                    lse[bh, i0 + r] = NEG_INF


def _attention_bwd(q, kT, vT, keep, nh, causal, scale, exact, out, lse, dout, dq, dkT, dvT, seed, thresh,
                   inv):
    # forward was: s = q k^T * scale (masked -inf);  p = exp(s - lse);  out = p v
    # so:          dv = p^T dout;  dp = dout v^T;  ds = p * (dp - D),  D[i] = dout[i] . out[i]
    # (dropout: out = (p * keep) v, so dv = (p * keep)^T dout, dp = (dout v^T) * keep; D is unchanged)
    #              dq = ds k * scale;  dk = ds^T q * scale
    BH, Tq, hs = q.shape
    T = kT.shape[2]
    if Tq % QB != 0 or Tq < T:
        raise ValueError("attention kernel: query rows must be padded to a multiple of QB (use attention_bwd)")
    zero = q.dtype.type(0)
    one = q.dtype.type(1)
    NR = NV * VB // q.itemsize
    hc = hs - hs % NR
    for bh in prange(BH):                            # one thread owns dk, dv of its head: no races
        b = bh // nh
        P = np.empty((QB, KBLK), dtype=q.dtype)      # scores, then probabilities
        p0, p1, p2, p3 = P[0], P[1], P[2], P[3]
        Dp = np.empty((QB, KBLK), dtype=q.dtype)     # dp, then ds * scale
        d0, d1, d2, d3 = Dp[0], Dp[1], Dp[2], Dp[3]
        Qp = np.empty(hs * QB, dtype=q.dtype)        # q rows * scale, and dout rows, packed
        Gp = np.empty(hs * QB, dtype=q.dtype)
        Kr = np.ascontiguousarray(kT[bh].T)          # k as rows (T, hs): B of the ds.k tile
        bits = np.empty(KBLK, dtype=np.int32)
        bits_f = bits.view(np.float32)
        Mk = np.empty((QB, KBLK), dtype=q.dtype)     # dropout multipliers of the QB rows' block
        kp = keep[b]
        for i0 in range(0, Tq, QB):
            D0 = D1 = D2 = D3 = zero
            for c in range(hs):
                D0 += dout[bh, i0, c] * out[bh, i0, c]
                D1 += dout[bh, i0 + 1, c] * out[bh, i0 + 1, c]
                D2 += dout[bh, i0 + 2, c] * out[bh, i0 + 2, c]
                D3 += dout[bh, i0 + 3, c] * out[bh, i0 + 3, c]
                dq[bh, i0, c] = zero
                dq[bh, i0 + 1, c] = zero
                dq[bh, i0 + 2, c] = zero
                dq[bh, i0 + 3, c] = zero
            jend = min(i0 + QB, T) if causal else T
            lim = i0 if causal else T
            pack_rows(q[bh], i0, scale, Qp)
            pack_rows(dout[bh], i0, one, Gp)
            for j0 in range(0, jend, KBLK):
                n = min(KBLK, jend - j0)
                scores(Qp, kT[bh], j0, n, P)         # recompute s
                scores(Gp, vT[bh], j0, n, Dp)        # dp = dout[i] . v[j]
                probs_block(p0, n, j0, lim + 0, kp, lse[bh, i0], bits, bits_f, exact)
                probs_block(p1, n, j0, lim + 1, kp, lse[bh, i0 + 1], bits, bits_f, exact)
                probs_block(p2, n, j0, lim + 2, kp, lse[bh, i0 + 2], bits, bits_f, exact)
                probs_block(p3, n, j0, lim + 3, kp, lse[bh, i0 + 3], bits, bits_f, exact)
                if thresh > 0:                       # dropout: dp *= keep (p itself after ds)
                    for r in range(QB):
                        drop_row(Mk[r], n, np.uint64((((bh * T + i0 + r) * T + j0)) & 0xFFFFFFFF), seed, thresh, inv)
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
                    g0 = dout[bh, i0, c]
                    g1 = dout[bh, i0 + 1, c]
                    g2 = dout[bh, i0 + 2, c]
                    g3 = dout[bh, i0 + 3, c]
                    q0 = q[bh, i0, c]
                    q1 = q[bh, i0 + 1, c]
                    q2 = q[bh, i0 + 2, c]
                    q3 = q[bh, i0 + 3, c]
                    dvr = dvT[bh, c, j0:j0 + n]
                    dkr = dkT[bh, c, j0:j0 + n]
                    for j in range(n):
                        dvr[j] += g0 * p0[j] + g1 * p1[j] + g2 * p2[j] + g3 * p3[j]
                        dkr[j] += q0 * d0[j] + q1 * d1[j] + q2 * d2[j] + q3 * d3[j]
                for cg in range(0, hc, NR):          # dq[:, cg:cg+NR] += ds @ k[:, cg:cg+NR], in registers
                    tile(n, Dp, Kr[j0:j0 + n], cg, dq[bh], i0, cg)
                for c in range(hc, hs):              # features past the last whole group
                    kr = kT[bh, c, j0:j0 + n]
                    a0 = a1 = a2 = a3 = zero
                    for j in range(n):
                        kj = kr[j]
                        a0 += d0[j] * kj
                        a1 += d1[j] * kj
                        a2 += d2[j] * kj
                        a3 += d3[j] * kj
                    dq[bh, i0, c] += a0
                    dq[bh, i0 + 1, c] += a1
                    dq[bh, i0 + 2, c] += a2
                    dq[bh, i0 + 3, c] += a3


def _rows(x, dt):
    """(BH, Tq, hs) contiguous copy with T rounded up to a multiple of QB (zero rows past T)."""
    B, nh, T, hs = x.shape
    Tq = -(-T // QB) * QB
    x3 = np.zeros((B * nh, Tq, hs), dtype=dt)
    x3[:, :T] = x.reshape(B * nh, T, hs)
    return x3


def _prepare(q, k, v, key_padding_mask):
    if q.ndim != 4 or k.shape != q.shape or v.shape != q.shape:
        raise ValueError(f"attention: q, k, v must share one shape (B, nh, T, hs), got "
                         f"{q.shape}, {k.shape}, {v.shape}")
    B, nh, T, hs = q.shape
    dt = np.float64 if q.dtype == np.float64 else np.float32
    q3 = _rows(q, dt)
    kT = np.ascontiguousarray(k.reshape(B * nh, T, hs).swapaxes(1, 2), dtype=dt)   # (BH, hs, T)
    vT = np.ascontiguousarray(v.reshape(B * nh, T, hs).swapaxes(1, 2), dtype=dt)
    if key_padding_mask is None:
        keep = np.ones((B, T), dtype=dt)
    else:
        kpm = np.asarray(key_padding_mask)
        if kpm.shape != (B, T):
            raise ValueError(f"attention: key_padding_mask must be (B, T) = {(B, T)}, got {kpm.shape}")
        keep = kpm.astype(bool).astype(dt)
    return q3, kT, vT, keep, dt


def _dropout_args(dropout_p, seed, dt):
    """(seed, threshold, 1/(1-p)) for the kernels; threshold 0 = no dropout."""
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"attention: dropout_p must be in [0, 1), got {dropout_p}")
    if dropout_p == 0.0:
        return np.uint64(0), np.uint64(0), dt(1.0)
    return (np.uint64(int(seed) & 0xFFFFFFFF), np.uint64(dropout_threshold(dropout_p)),
            dt(1.0 / (1.0 - dropout_p)))


def attention_fwd(q, k, v, causal=False, key_padding_mask=None, dropout_p=0.0, seed=0):
    """(out (B, nh, T, hs), lse (B, nh, T)) -- same contract as ``reference.attention_ref``.

    ``dropout_p`` > 0 drops attention probabilities with the mask hashed from ``seed``
    (``reference.dropout_keep_ref``); pass the same seed to ``attention_bwd``.
    """
    q3, kT, vT, keep, dt = _prepare(q, k, v, key_padding_mask)
    drop = _dropout_args(dropout_p, seed, dt)
    B, nh, T, hs = q.shape
    out = np.empty_like(q3)
    lse = np.empty(q3.shape[:2], dtype=dt)
    attention_fwd_kernel(q3, kT, vT, keep, nh, bool(causal), dt(1.0 / np.sqrt(hs)), dt == np.float64, out, lse,
                         *drop)
    return out[:, :T].reshape(q.shape), lse[:, :T].reshape(B, nh, T)


def attention_bwd(q, k, v, out, lse, dout, causal=False, key_padding_mask=None, dropout_p=0.0, seed=0):
    """(dq, dk, dv) from the forward's inputs, its out and lse, and d(loss)/d(out)."""
    q3, kT, vT, keep, dt = _prepare(q, k, v, key_padding_mask)
    drop = _dropout_args(dropout_p, seed, dt)
    B, nh, T, hs = q.shape
    o3, g3 = _rows(out, dt), _rows(dout, dt)
    z = np.full(q3.shape[:2], -np.inf, dtype=dt)      # rows past T: lse -inf, so no gradient
    z[:, :T] = lse.reshape(B * nh, T)
    dq = np.empty_like(q3)
    dkT = np.zeros_like(kT)
    dvT = np.zeros_like(vT)
    attention_bwd_kernel(q3, kT, vT, keep, nh, bool(causal), dt(1.0 / np.sqrt(hs)), dt == np.float64,
                         o3, z, g3, dq, dkT, dvT, *drop)
    return (dq[:, :T].reshape(q.shape), dkT.swapaxes(1, 2).reshape(q.shape),
            dvT.swapaxes(1, 2).reshape(q.shape))


mask = njit(fastmath=FASTMATH, cache=True, error_model="numpy")(_mask)
scores = njit(fastmath=FASTMATH, cache=True, error_model="numpy")(_scores)
pack_rows = njit(fastmath=FASTMATH, cache=True, error_model="numpy")(_pack_rows)
softmax_block = njit(fastmath=FASTMATH, cache=True, error_model="numpy")(_softmax_block)
probs_block = njit(fastmath=FASTMATH, cache=True, error_model="numpy")(_probs_block)
attention_fwd_kernel = njit(parallel=True, fastmath=FASTMATH, cache=True, error_model="numpy")(_attention_fwd)
attention_bwd_kernel = njit(parallel=True, fastmath=FASTMATH, cache=True, error_model="numpy")(_attention_bwd)
