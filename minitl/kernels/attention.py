"""Fused scaled-dot-product attention, forward and backward (flash-attention style).

Twin: ``reference.attention_ref`` / ``attention_bwd_ref``, which build the full
(B, nh, T, T) score and probability matrices.  These kernels never do: one
thread takes one (batch, head) and walks its query rows; for each row it
computes scores for a block of at most ``KBLK`` keys at a time and folds them
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
"""
import numpy as np
from numba import njit, prange

from ._jit import FASTMATH, exp_inplace

KBLK = 256  # keys per block of the online softmax
NEG_INF = -np.inf


def _attention_fwd(q, kT, vT, keep, nh, causal, scale, exact, out, lse):
    BH, T, hs = q.shape
    zero = q.dtype.type(0)                           # float32 sums for float32 inputs (0.0 would
    for bh in prange(BH):                            # make every sum float64, at half the SIMD width)
        b = bh // nh
        s = np.empty(KBLK, dtype=q.dtype)            # scores, then probabilities, of one key block
        bits = np.empty(KBLK, dtype=np.int32)        # scratch of the vectorized exp
        bits_f = bits.view(np.float32)
        o = np.empty(hs, dtype=q.dtype)              # running (unnormalized) output row
        kp = keep[b]
        for i in range(T):
            jend = i + 1 if causal else T
            m = NEG_INF
            l = zero
            o[:] = zero
            for j0 in range(0, jend, KBLK):
                n = min(KBLK, jend - j0)
                s[:n] = 0.0
                for d in range(hs):                  # s[j] = q[i] . k[j] * scale
                    qd = q[bh, i, d] * scale
                    kr = kT[bh, d, j0:j0 + n]
                    for j in range(n):
                        s[j] += qd * kr[j]
                bmax = NEG_INF
                for j in range(n):                   # padded keys -> -inf
                    sj = s[j] if kp[j0 + j] != 0.0 else NEG_INF
                    s[j] = sj
                    bmax = max(bmax, sj)
                if bmax == NEG_INF:
                    continue                         # nothing visible in this block
                m_new = max(m, bmax)
                alpha = np.exp(m - m_new)            # rescales what earlier blocks summed
                for j in range(n):
                    s[j] -= m_new
                exp_inplace(s, n, bits, bits_f, exact)
                lsum = zero
                for j in range(n):
                    pj = s[j] * kp[j0 + j]           # exactly 0 for padded keys
                    s[j] = pj
                    lsum += pj
                l = l * alpha + lsum
                for c in range(hs):                  # o[c] = o[c] * alpha + p . v[:, c]
                    vr = vT[bh, c, j0:j0 + n]
                    acc = zero
                    for j in range(n):
                        acc += s[j] * vr[j]
                    o[c] = o[c] * alpha + acc
                m = m_new
            if l > 0.0:
                for c in range(hs):
                    out[bh, i, c] = o[c] / l
                lse[bh, i] = m + np.log(l)
            else:
                out[bh, i, :] = 0.0
                lse[bh, i] = NEG_INF


def _attention_bwd(q, kT, vT, keep, nh, causal, scale, exact, out, lse, dout, dq, dkT, dvT):
    # forward was: s = q k^T * scale (masked -inf);  p = exp(s - lse);  out = p v
    # so:          dv = p^T dout;  dp = dout v^T;  ds = p * (dp - D),  D[i] = dout[i] . out[i]
    #              dq = ds k * scale;  dk = ds^T q * scale
    BH, T, hs = q.shape
    zero = q.dtype.type(0)
    for bh in prange(BH):                            # one thread owns dk, dv of its head: no races
        b = bh // nh
        p = np.empty(KBLK, dtype=q.dtype)
        dp = np.empty(KBLK, dtype=q.dtype)
        bits = np.empty(KBLK, dtype=np.int32)
        bits_f = bits.view(np.float32)
        kp = keep[b]
        for i in range(T):
            z = lse[bh, i]
            dq[bh, i, :] = 0.0
            if z == NEG_INF:
                continue                             # saw no key: no gradient anywhere
            D = zero
            for c in range(hs):
                D += dout[bh, i, c] * out[bh, i, c]
            jend = i + 1 if causal else T
            for j0 in range(0, jend, KBLK):
                n = min(KBLK, jend - j0)
                p[:n] = 0.0
                dp[:n] = 0.0
                for d in range(hs):                  # recompute s, and dp = dout[i] . v[j]
                    qd = q[bh, i, d] * scale
                    gd = dout[bh, i, d]
                    kr = kT[bh, d, j0:j0 + n]
                    vr = vT[bh, d, j0:j0 + n]
                    for j in range(n):
                        p[j] += qd * kr[j]
                        dp[j] += gd * vr[j]
                for j in range(n):
                    p[j] = p[j] - z if kp[j0 + j] != 0.0 else NEG_INF
                exp_inplace(p, n, bits, bits_f, exact)
                for j in range(n):
                    pj = p[j] * kp[j0 + j]
                    p[j] = pj
                    dp[j] = pj * (dp[j] - D) * scale   # ds * scale, reused by dq and dk
                for c in range(hs):
                    gc = dout[bh, i, c]
                    qc = q[bh, i, c]
                    dvr = dvT[bh, c, j0:j0 + n]
                    dkr = dkT[bh, c, j0:j0 + n]
                    kr = kT[bh, c, j0:j0 + n]
                    acc = zero
                    for j in range(n):
                        dvr[j] += gc * p[j]
                        dkr[j] += qc * dp[j]
                        acc += dp[j] * kr[j]
                    dq[bh, i, c] += acc


def _prepare(q, k, v, key_padding_mask):
    if q.ndim != 4 or k.shape != q.shape or v.shape != q.shape:
        raise ValueError(f"attention: q, k, v must share one shape (B, nh, T, hs), got "
                         f"{q.shape}, {k.shape}, {v.shape}")
    B, nh, T, hs = q.shape
    dt = np.float64 if q.dtype == np.float64 else np.float32
    q3 = np.ascontiguousarray(q, dtype=dt).reshape(B * nh, T, hs)
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


def attention_fwd(q, k, v, causal=False, key_padding_mask=None):
    """(out (B, nh, T, hs), lse (B, nh, T)) -- same contract as ``reference.attention_ref``."""
    q3, kT, vT, keep, dt = _prepare(q, k, v, key_padding_mask)
    B, nh, T, hs = q.shape
    out = np.empty_like(q3)
    lse = np.empty((B * nh, T), dtype=dt)
    attention_fwd_kernel(q3, kT, vT, keep, nh, bool(causal), dt(1.0 / np.sqrt(hs)), dt == np.float64, out, lse)
    return out.reshape(q.shape), lse.reshape(B, nh, T)


def attention_bwd(q, k, v, out, lse, dout, causal=False, key_padding_mask=None):
    """(dq, dk, dv) from the forward's inputs, its out and lse, and d(loss)/d(out)."""
    q3, kT, vT, keep, dt = _prepare(q, k, v, key_padding_mask)
    B, nh, T, hs = q.shape
    o3 = np.ascontiguousarray(out, dtype=dt).reshape(B * nh, T, hs)
    g3 = np.ascontiguousarray(dout, dtype=dt).reshape(B * nh, T, hs)
    z = np.ascontiguousarray(lse, dtype=dt).reshape(B * nh, T)
    dq = np.empty_like(q3)
    dkT = np.zeros_like(kT)
    dvT = np.zeros_like(vT)
    attention_bwd_kernel(q3, kT, vT, keep, nh, bool(causal), dt(1.0 / np.sqrt(hs)), dt == np.float64,
                         o3, z, g3, dq, dkT, dvT)
    return (dq.reshape(q.shape), dkT.swapaxes(1, 2).reshape(q.shape),
            dvT.swapaxes(1, 2).reshape(q.shape))


attention_fwd_kernel = njit(parallel=True, fastmath=FASTMATH, cache=True)(_attention_fwd)
attention_bwd_kernel = njit(parallel=True, fastmath=FASTMATH, cache=True)(_attention_bwd)
