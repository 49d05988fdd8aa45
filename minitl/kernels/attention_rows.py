"""The row-level pieces of the fused attention kernels (``attention.py``), compiled as their own
Numba functions and inlined by LLVM into the two prange kernels: the register tile of the scores,
the packing of query rows, masking, one block of the online softmax, the recomputed probabilities,
and the gather of one (batch, head)'s rows from a strided buffer.  The block sizes are here too.
"""
import numba
import numpy as np
from numba import njit

from ._jit import FASTMATH, U32, exp_inplace, make_tile, row_max
from .machine import VECTOR_BYTES

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
    """Scores of keys that are padding (kp 0) or past ``lim`` (the future, when causal) -> -inf.
    An empty ``kp`` means no key is padding: then only keys past ``lim`` are touched, if any."""
    if kp.shape[0] == 0:
        for j in range(max(lim + 1 - j0, 0), n):
            s[j] = NEG_INF
        return
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


def _mask_pos(bh, T, i, j):
    """The dropout mask's position of query row i, key j of head bh: ((b*nh + h) * T + i) * T + j
    mod 2^32, as ``reference.dropout_keep_ref`` numbers it (``_jit.drop_row`` hashes from there)."""
    return np.uint64((bh * T + i) * T + j) & U32


def _gather(x, off, sb, sh, st, b, h, T, rows, cols):
    """Copy one (batch, head)'s T x hs block of a flat array -- element (b, h, t, c) at off + b*sb +
    h*sh + t*st + c -- into ``rows`` (>= T rows, hs; rows past T untouched) and, transposed, into
    ``cols`` (hs, T) unless that is (0, 0)."""
    hs = rows.shape[1]
    base = off + b * sb + h * sh
    for t in range(T):
        src = x[base + t * st:base + t * st + hs]     # a view, indexed by c >= 0 below: x[p + c] would
        dst = rows[t]                                  # carry Numba's negative-index wraparound, which
        for c in range(hs):                            # LLVM vectorized as slow hardware gathers
            dst[c] = src[c]
    for c in range(cols.shape[0]):
        for t in range(T):
            cols[c, t] = rows[t, c]


gather = njit(cache=True)(_gather)
mask_pos = njit(cache=True)(_mask_pos)
mask = njit(fastmath=FASTMATH, cache=True, error_model="numpy")(_mask)
scores = njit(fastmath=FASTMATH, cache=True, error_model="numpy")(_scores)
pack_rows = njit(fastmath=FASTMATH, cache=True, error_model="numpy")(_pack_rows)
softmax_block = njit(fastmath=FASTMATH, cache=True, error_model="numpy")(_softmax_block)
probs_block = njit(fastmath=FASTMATH, cache=True, error_model="numpy")(_probs_block)
