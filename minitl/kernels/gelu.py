"""GELU, tanh approximation (GPT-2, BERT), forward and backward, elementwise.

Twin: ``reference.gelu_fwd_ref`` / ``gelu_bwd_ref``.  One ``prange`` loop over
a flat view.  float32 computes tanh with a rational function (Eigen's float
tanh: a degree-13 odd polynomial over a degree-6 even one, input clamped to
+-7.9988 where tanh is 1 in float32; max error ~2e-7 over [-10, 10]): only
multiplies, adds and one divide, so LLVM vectorizes the whole loop.  (The
earlier exp-based version went through a scratch buffer per chunk and its
divide blocked vectorization: several times slower.)
float64 uses ``np.tanh``.  Kernels compile with ``error_model="numpy"``: under
Numba's default Python error model every ``/`` tests for a zero divisor and
raises, which keeps loops scalar.  The backward recomputes tanh(u) from x
instead of saving it.
"""
import numpy as np
from numba import njit, prange

from ._jit import FASTMATH

K0 = 0.7978845608028654   # sqrt(2 / pi)
K1 = 0.044715
_f = np.float32
A1, A3, A5, A7 = _f(4.89352455891786e-03), _f(6.37261928875436e-04), _f(1.48572235717979e-05), _f(5.12229709037114e-08)
A9, A11, A13 = _f(-8.60467152213735e-11), _f(2.00018790482477e-13), _f(-2.76076847742355e-16)
B0, B2, B4, B6 = _f(4.89352518554385e-03), _f(2.26843463243900e-03), _f(1.18534705686654e-04), _f(1.19825839466702e-06)
CLAMP = _f(7.99881172180175781)


def _tanh32(u):
    """tanh(u) to float32 accuracy, vectorizable (see the module docstring)."""
    u = min(max(u, -CLAMP), CLAMP)
    x2 = u * u
    p = u * (A1 + x2 * (A3 + x2 * (A5 + x2 * (A7 + x2 * (A9 + x2 * (A11 + x2 * A13))))))
    return p / (B0 + x2 * (B2 + x2 * (B4 + x2 * B6)))


def _gelu_fwd(x, y, exact):
    # y = 0.5 x (1 + tanh(u)),  u = K0 (x + K1 x^3)
    half, one = x.dtype.type(0.5), x.dtype.type(1)
    k0, k1 = x.dtype.type(K0), x.dtype.type(K1)
    if exact:
        for i in prange(x.size):
            v = x[i]
            y[i] = half * v * (one + np.tanh(k0 * (v + k1 * v * v * v)))
    else:
        for i in prange(x.size):
            v = x[i]
            y[i] = half * v * (one + tanh32(k0 * (v + k1 * v * v * v)))


def _gelu_bwd(x, dy, dx, exact):
    # forward was: y = 0.5 x (1 + tanh(u)),  u = K0 (x + K1 x^3)
    # so:          dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) K0 (1 + 3 K1 x^2),  t = tanh(u)
    half, one = x.dtype.type(0.5), x.dtype.type(1)
    k0, k1, k13 = x.dtype.type(K0), x.dtype.type(K1), x.dtype.type(3 * K1)
    if exact:
        for i in prange(x.size):
            v = x[i]
            th = np.tanh(k0 * (v + k1 * v * v * v))
            dx[i] = dy[i] * (half * (one + th) + half * v * (one - th * th) * k0 * (one + k13 * v * v))
    else:
        for i in prange(x.size):
            v = x[i]
            th = tanh32(k0 * (v + k1 * v * v * v))
            dx[i] = dy[i] * (half * (one + th) + half * v * (one - th * th) * k0 * (one + k13 * v * v))


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


tanh32 = njit(fastmath=FASTMATH, cache=True, error_model="numpy")(_tanh32)
gelu_fwd_kernel = njit(parallel=True, fastmath=FASTMATH, cache=True, error_model="numpy")(_gelu_fwd)
gelu_bwd_kernel = njit(parallel=True, fastmath=FASTMATH, cache=True, error_model="numpy")(_gelu_bwd)
