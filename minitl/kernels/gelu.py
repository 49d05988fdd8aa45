"""GELU, tanh approximation (GPT-2, BERT), forward and backward, elementwise.

Twin: ``reference.gelu_fwd_ref`` / ``gelu_bwd_ref``.  A ``prange`` over chunks
of a flat view.  tanh is written through exp, tanh(u) = 1 - 2 / (exp(2u) + 1),
so float32 uses the vectorized exp of ``_jit.py`` (Numba's ``np.tanh`` is one
libm call per element here).  The backward recomputes tanh(u) from x instead
of saving it: one more exp per element is cheaper than one more array of the
activations' size.
"""
import numpy as np
from numba import njit, prange

from ._jit import FASTMATH, exp_inplace

K0 = 0.7978845608028654   # sqrt(2 / pi)
K1 = 0.044715
CHUNK = 4096              # elements per task (one scratch buffer each)


def _tanh_u(x, i0, m, e, bits, bits_f, exact):
    """e[:m] <- tanh(u), u = K0 (x + K1 x^3), for x[i0:i0+m]."""
    one = e.dtype.type(1)
    two_k0 = e.dtype.type(2 * K0)
    k1 = e.dtype.type(K1)
    for j in range(m):
        v = x[i0 + j]
        e[j] = two_k0 * (v + k1 * v * v * v)         # 2u
    exp_inplace(e, m, e.dtype.type(0), bits, bits_f, exact)   # exp(2u), capped at exp(88)
    for j in range(m):
        e[j] = one - (one + one) / (e[j] + one)


def _gelu_fwd(x, y, exact):
    n = x.size
    half = x.dtype.type(0.5)
    one = x.dtype.type(1)
    for t in prange((n + CHUNK - 1) // CHUNK):
        i0 = t * CHUNK
        m = min(CHUNK, n - i0)
        e = np.empty(m, dtype=x.dtype)
        bits = np.empty(m, dtype=np.int32)
        tanh_u(x, i0, m, e, bits, bits.view(np.float32), exact)
        for j in range(m):
            y[i0 + j] = half * x[i0 + j] * (one + e[j])


def _gelu_bwd(x, dy, dx, exact):
    # forward was: y = 0.5 x (1 + tanh(u)),  u = K0 (x + K1 x^3)
    # so:          dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) K0 (1 + 3 K1 x^2),  t = tanh(u)
    n = x.size
    half = x.dtype.type(0.5)
    one = x.dtype.type(1)
    k0 = x.dtype.type(K0)
    k13 = x.dtype.type(3 * K1)
    for t in prange((n + CHUNK - 1) // CHUNK):
        i0 = t * CHUNK
        m = min(CHUNK, n - i0)
        e = np.empty(m, dtype=x.dtype)
        bits = np.empty(m, dtype=np.int32)
        tanh_u(x, i0, m, e, bits, bits.view(np.float32), exact)
        for j in range(m):
            v = x[i0 + j]
            th = e[j]
            dx[i0 + j] = dy[i0 + j] * (half * (one + th) + half * v * (one - th * th) * k0 * (one + k13 * v * v))


def gelu_fwd(x):
    xf = np.ascontiguousarray(x).reshape(-1)
    if xf.dtype not in (np.float32, np.float64):
        xf = xf.astype(np.float32)
    y = np.empty_like(xf)
    gelu_fwd_kernel(xf, y, xf.dtype == np.float64)
    return y.reshape(x.shape)


def gelu_bwd(x, dy):
    xf = np.ascontiguousarray(x).reshape(-1)
    if xf.dtype not in (np.float32, np.float64):
        xf = xf.astype(np.float32)
    dyf = np.ascontiguousarray(dy, dtype=xf.dtype).reshape(-1)
    if dyf.size != xf.size:
        raise ValueError(f"gelu_bwd: dy {dy.shape} != x {x.shape}")
    dx = np.empty_like(xf)
    gelu_bwd_kernel(xf, dyf, dx, xf.dtype == np.float64)
    return dx.reshape(x.shape)


tanh_u = njit(fastmath=FASTMATH, cache=True)(_tanh_u)
gelu_fwd_kernel = njit(parallel=True, fastmath=FASTMATH, cache=True)(_gelu_fwd)
gelu_bwd_kernel = njit(parallel=True, fastmath=FASTMATH, cache=True)(_gelu_bwd)
