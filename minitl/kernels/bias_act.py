"""The elementwise tails of a linear layer, fused into one pass each (twins: ``reference.bias_gelu_*_ref``,
``reference.bias_residual_ref``).

After ``pre = x @ W^T`` (BLAS), a transformer block either applies the bias
and GELU (the MLP's first layer) or the bias and the residual stream (the
projections that write into it).  Composed, each is two or three passes over
(N, C) and as many tape nodes; here each is one ``prange`` over rows:

* ``bias_gelu_fwd(pre, b)``: z = pre + b is written over ``pre`` (the backward
  needs it: GELU's derivative at z), y = gelu(z) into a new array;
* ``bias_gelu_bwd(z, dy)``: dz = dy gelu'(z) (``gelu.py``'s kernel) and
  db = the column sums of dz;
* ``bias_residual(pre, b, r)``: pre += b + r in place (r may be absent).

Shapes: pre, z, y, dy, r (N, C); b (C,).  float32 or float64, C-contiguous.
"""
import numpy as np
from numba import njit, prange

from ._jit import FASTMATH
from .gelu import K0, K1, gelu_bwd, tanh32


def _bias_gelu_fwd(x, b, y, exact):
    # z = x + b (written back into x); y = 0.5 z (1 + tanh(K0 (z + K1 z^3)))
    N, C = x.shape
    half, one = x.dtype.type(0.5), x.dtype.type(1)
    k0, k1 = x.dtype.type(K0), x.dtype.type(K1)
    for n in prange(N):
        xr, yr = x[n], y[n]
        for c in range(C):
            v = xr[c] + b[c]
            xr[c] = v
            u = k0 * (v + k1 * v * v * v)
            yr[c] = half * v * (one + (np.tanh(u) if exact else tanh32(u)))


def _bias_residual(x, b, r, has_r):
    N, C = x.shape
    for n in prange(N):
        xr = x[n]
        if has_r:
            rr = r[n]
            for c in range(C):
                xr[c] += b[c] + rr[c]
        else:
            for c in range(C):
                xr[c] += b[c]


def _check(x, b, what):
    if x.ndim != 2 or b.shape != (x.shape[1],):
        raise ValueError(f"{what}: expected x (N, C) and bias (C,), got {x.shape} and {b.shape}")
    if x.dtype not in (np.float32, np.float64) or not x.flags.c_contiguous:
        raise ValueError(f"{what}: x must be a C-contiguous float32/float64 array, got {x.dtype}")


def bias_gelu_fwd(pre, b):
    """pre (N, C), overwritten with z = pre + b; b (C,) -> (y = gelu(z), z)."""
    _check(pre, b, "bias_gelu_fwd")
    y = np.empty_like(pre)
    bias_gelu_fwd_kernel(pre, np.ascontiguousarray(b, pre.dtype), y, pre.dtype == np.float64)
    return y, pre


def bias_gelu_bwd(z, dy):
    """z (N, C) as bias_gelu_fwd returned it, dy (N, C) -> (dz (N, C), db (C,))."""
    dz = gelu_bwd(z, dy)
    return dz, dz.sum(axis=0)


def bias_residual(pre, b, r=None):
    """pre (N, C) += b (C,) + r (N, C, optional), in place; returns pre."""
    _check(pre, b, "bias_residual")
    if r is not None and r.shape != pre.shape:
        raise ValueError(f"bias_residual: residual {r.shape} must match {pre.shape}")
    r = pre if r is None else np.ascontiguousarray(r, pre.dtype)
    bias_residual_kernel(pre, np.ascontiguousarray(b, pre.dtype), r, r is not pre)
    return pre


bias_gelu_fwd_kernel = njit(parallel=True, fastmath=FASTMATH, cache=True, error_model="numpy")(_bias_gelu_fwd)
bias_residual_kernel = njit(parallel=True, fastmath=FASTMATH, cache=True, error_model="numpy")(_bias_residual)
