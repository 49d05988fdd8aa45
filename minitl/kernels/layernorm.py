"""Layer norm over the last axis, forward and backward (twin: ``reference.layernorm_*_ref``).

Rows are independent, so both kernels are a ``prange`` over rows.  The forward
saves exactly what the backward reads: ``mean`` and ``rstd`` per row (two
numbers, instead of the normalized (N, C) activations).  The backward's
``dw``/``db`` are sums over all rows; each of a fixed number of row chunks
sums into its own slot of ``partial`` (no two threads write one address), and
the slots are added in order at the end, so the result does not depend on the
thread count.
"""
import numpy as np
from numba import njit, prange

CHUNKS = 16  # row chunks of the dw/db reduction (fixed: same numbers on any thread count)


def _layernorm_fwd(x, w, b, eps, y, mean, rstd):
    N, C = x.shape
    zero = x.dtype.type(0)                # float32 sums for float32 rows (0.0 would make them float64)
    for n in prange(N):
        row = x[n]
        s = zero
        for c in range(C):
            s += row[c]
        mu = s / C
        s2 = zero
        for c in range(C):  # two passes: var of (x - mean), no cancellation
            d = row[c] - mu
            s2 += d * d
        r = 1.0 / np.sqrt(s2 / C + eps)
        for c in range(C):
            y[n, c] = (row[c] - mu) * r * w[c] + b[c]
        mean[n] = mu
        rstd[n] = r


def _layernorm_bwd(dy, x, w, mean, rstd, dx, partial_w, partial_b):
    # forward was: xhat = (x - mean) * rstd;  y = xhat * w + b
    # so:          dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  g = dy * w
    #              dw = sum_rows dy * xhat;  db = sum_rows dy
    N, C = x.shape
    nchunk = partial_w.shape[0]
    per = (N + nchunk - 1) // nchunk
    zero = x.dtype.type(0)
    for ch in prange(nchunk):
        pw = partial_w[ch]
        pb = partial_b[ch]
        for n in range(ch * per, min(N, (ch + 1) * per)):
            mu = mean[n]
            r = rstd[n]
            sg = zero
            sgx = zero
            for c in range(C):
                xh = (x[n, c] - mu) * r
                g = dy[n, c] * w[c]
                sg += g
                sgx += g * xh
                pw[c] += dy[n, c] * xh
                pb[c] += dy[n, c]
            sg /= C
            sgx /= C
            for c in range(C):
                xh = (x[n, c] - mu) * r
                dx[n, c] = r * (dy[n, c] * w[c] - sg - xh * sgx)


def _rows(name, x):
    if x.ndim != 2:
        raise ValueError(f"{name}: expected x of shape (N, C), got {x.shape}")
    return np.ascontiguousarray(x)


def layernorm_fwd(x, w, b, eps=1e-5):
    """(y, mean, rstd) for x (N, C), w and b (C,); dtype follows x."""
    x = _rows("layernorm_fwd", x)
    N, C = x.shape
    if w.shape != (C,) or b.shape != (C,):
        raise ValueError(f"layernorm_fwd: x {x.shape} needs w and b of shape ({C},), got {w.shape} and {b.shape}")
    w = np.ascontiguousarray(w, dtype=x.dtype)
    b = np.ascontiguousarray(b, dtype=x.dtype)
    y = np.empty_like(x)
    mean = np.empty(N, dtype=x.dtype)
    rstd = np.empty(N, dtype=x.dtype)
    layernorm_fwd_kernel(x, w, b, x.dtype.type(eps), y, mean, rstd)
    return y, mean, rstd


def layernorm_bwd(dy, x, w, mean, rstd):
    """(dx, dw, db) given the forward's saved x, w, mean, rstd."""
    x = _rows("layernorm_bwd", x)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    if dy.shape != x.shape:
        raise ValueError(f"layernorm_bwd: dy {dy.shape} != x {x.shape}")
    N, C = x.shape
    nchunk = max(1, min(CHUNKS, N))
    dx = np.empty_like(x)
    pw = np.zeros((nchunk, C), dtype=x.dtype)
    pb = np.zeros((nchunk, C), dtype=x.dtype)
    layernorm_bwd_kernel(dy, x, np.ascontiguousarray(w, dtype=x.dtype), mean, rstd, dx, pw, pb)
    return dx, pw.sum(axis=0), pb.sum(axis=0)


layernorm_fwd_kernel = njit(parallel=True, fastmath=True, cache=True, error_model="numpy")(_layernorm_fwd)
layernorm_bwd_kernel = njit(parallel=True, fastmath=True, cache=True, error_model="numpy")(_layernorm_bwd)
