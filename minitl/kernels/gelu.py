"""GELU, tanh approximation (GPT-2, BERT), forward and backward, elementwise.

Twin: ``reference.gelu_fwd_ref`` / ``gelu_bwd_ref``.  One ``prange`` over a
flat view; the backward recomputes tanh(u) from x instead of saving it (saving
would cost one more array of the activations' size for one tanh per element).
"""
import numpy as np
from numba import njit, prange

K0 = 0.7978845608028654   # sqrt(2 / pi)
K1 = 0.044715


def _gelu_fwd(x, y):
    for i in prange(x.size):
        v = x[i]
        y[i] = 0.5 * v * (1.0 + np.tanh(K0 * (v + K1 * v * v * v)))


def _gelu_bwd(x, dy, dx):
    # forward was: y = 0.5 x (1 + tanh(u)),  u = K0 (x + K1 x^3)
    # so:          dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) K0 (1 + 3 K1 x^2),  t = tanh(u)
    for i in prange(x.size):
        v = x[i]
        t = np.tanh(K0 * (v + K1 * v * v * v))
        dx[i] = dy[i] * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * K0 * (1.0 + 3.0 * K1 * v * v))


def gelu_fwd(x):
    xf = np.ascontiguousarray(x).reshape(-1)
    y = np.empty_like(xf)
    gelu_fwd_kernel(xf, y)
    return y.reshape(x.shape)


def gelu_bwd(x, dy):
    xf = np.ascontiguousarray(x).reshape(-1)
    dyf = np.ascontiguousarray(dy, dtype=xf.dtype).reshape(-1)
    if dyf.size != xf.size:
        raise ValueError(f"gelu_bwd: dy {dy.shape} != x {x.shape}")
    dx = np.empty_like(xf)
    gelu_bwd_kernel(xf, dyf, dx)
    return dx.reshape(x.shape)


gelu_fwd_kernel = njit(parallel=True, fastmath=True, cache=True)(_gelu_fwd)
gelu_bwd_kernel = njit(parallel=True, fastmath=True, cache=True)(_gelu_bwd)
