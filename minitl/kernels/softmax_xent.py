"""Softmax + cross-entropy fused, forward and backward, with ``ignore_index``.

Twin: ``reference.softmax_xent_fwd_ref`` / ``softmax_xent_bwd_ref``.  The
composed version materializes softmax (N, C), its log, and a one-hot pick;
fused, the forward reads each row of logits twice (max, then sum of exp) and
saves one number per row, the log-sum-exp ``lse``.  float32 rows use the
vectorized exp of ``_jit.py`` (Numba's ``np.exp`` is one libm call per
element here, several times slower than numpy's SIMD exp).  The backward rebuilds the
softmax from it: p = exp(logits - lse).  Worked example, one row, C = 3::

    logits [1, 2, 3], target 2 -> lse = 3.4076, loss = lse - 3 = 0.4076
    dlogits = softmax - onehot = [0.090, 0.245, 0.665 - 1]
"""
import numpy as np
from numba import njit, prange

from ._jit import FASTMATH, exp_inplace, row_max


ROWS = 32  # rows per task: each task allocates its exp scratch once


def _softmax_xent_fwd(logits, target, ignore_index, exact, loss, lse):
    N, C = logits.shape
    zero = logits.dtype.type(0)
    for t0 in prange((N + ROWS - 1) // ROWS):
        e = np.empty(C, dtype=logits.dtype)          # exp of one row (scratch)
        bits = np.empty(C, dtype=np.int32)
        bits_f = bits.view(np.float32)
        for n in range(t0 * ROWS, min(N, (t0 + 1) * ROWS)):
            row = logits[n]
            for c in range(C):
                e[c] = row[c]
            m = row_max(e, C)
            exp_inplace(e, C, m, bits, bits_f, exact)   # e = exp(row - max)
            s = zero
            for c in range(C):
                s += e[c]
            z = m + np.log(s)
            lse[n] = z
            t = target[n]
            loss[n] = 0.0 if t == ignore_index else z - row[t]


def _softmax_xent_bwd(logits, target, lse, dloss, ignore_index, exact, dlogits):
    # forward was: loss[n] = lse[n] - logits[n, t]
    # so:          dlogits[n, c] = dloss[n] * (exp(logits[n, c] - lse[n]) - [c == t])
    N, C = logits.shape
    for t0 in prange((N + ROWS - 1) // ROWS):
        bits = np.empty(C, dtype=np.int32)
        bits_f = bits.view(np.float32)
        for n in range(t0 * ROWS, min(N, (t0 + 1) * ROWS)):
            t = target[n]
            d = dlogits[n]
            if t == ignore_index:
                for c in range(C):
                    d[c] = 0.0
                continue
            g = dloss[n]
            for c in range(C):
                d[c] = logits[n, c]
            exp_inplace(d, C, lse[n], bits, bits_f, exact)   # softmax, from the saved lse
            for c in range(C):
                d[c] *= g
            d[t] -= g


def _check(logits, target, ignore_index):
    if logits.ndim != 2 or target.shape != logits.shape[:1]:
        raise ValueError(f"softmax_xent: logits {logits.shape} must be (N, C) and target {target.shape} (N,)")
    C = logits.shape[1]
    bad = (target != ignore_index) & ((target < 0) | (target >= C))
    if bad.any():
        raise IndexError(f"softmax_xent: target {target[bad][0]} out of range for {C} classes "
                         f"(ignore_index={ignore_index})")
    return np.ascontiguousarray(logits), np.ascontiguousarray(target, dtype=np.int64)


def softmax_xent_fwd(logits, target, ignore_index=-100):
    """(loss per row (N,), lse (N,)) for logits (N, C) and integer targets (N,)."""
    logits, target = _check(logits, target, ignore_index)
    N = logits.shape[0]
    loss = np.empty(N, dtype=logits.dtype)
    lse = np.empty(N, dtype=logits.dtype)
    if logits.shape[1] == 0:
        raise ValueError("softmax_xent: logits have 0 classes")
    softmax_xent_fwd_kernel(logits, target, ignore_index, logits.dtype == np.float64, loss, lse)
    return loss, lse


def softmax_xent_bwd(logits, target, lse, dloss, ignore_index=-100):
    """dlogits (N, C) given d(loss)/d(loss per row) ``dloss`` (N,)."""
    logits, target = _check(logits, target, ignore_index)
    dlogits = np.empty_like(logits)
    softmax_xent_bwd_kernel(logits, target, np.ascontiguousarray(lse, dtype=logits.dtype),
                            np.ascontiguousarray(dloss, dtype=logits.dtype), ignore_index,
                            logits.dtype == np.float64, dlogits)
    return dlogits


softmax_xent_fwd_kernel = njit(parallel=True, fastmath=FASTMATH, cache=True, error_model="numpy")(_softmax_xent_fwd)
softmax_xent_bwd_kernel = njit(parallel=True, fastmath=FASTMATH, cache=True, error_model="numpy")(_softmax_xent_bwd)
