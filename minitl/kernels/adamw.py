"""One AdamW step, in place, in a single pass over memory.

Twin: ``reference.adamw_ref``.  numpy's version makes about ten passes over
the parameters (one per ``*=``/``+=``/``sqrt``, plus temporaries); this kernel
reads param, grad, m, v once and writes param, m, v once.

Arrays under ``SERIAL_BELOW`` elements (biases, LayerNorm weights, small matrices: 47 of a BERT's
60 parameters) take the same loop compiled without threads: waking the thread pool costs more
than such an update (``python benchmarks/bench_train_step.py --profile --threads 1``, optimizer
column: BERT's went from 8 to 4 CPU ms a step with this).
"""
import math

import numpy as np
from numba import njit, prange


def _adamw(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, bc1, bc2_sqrt):
    for i in prange(param.size):
        g = grad[i]
        mi = beta1 * m[i] + (1.0 - beta1) * g
        vi = beta2 * v[i] + (1.0 - beta2) * g * g
        m[i] = mi
        v[i] = vi
        p = param[i] * (1.0 - lr * weight_decay)
        param[i] = p - (lr / bc1) * mi / (math.sqrt(vi) / bc2_sqrt + eps)


def _flat(name, a, dtype):
    if not a.flags.c_contiguous or a.dtype != dtype:
        raise ValueError(f"adamw_update_: {name} must be C-contiguous {dtype} (updated in place), "
                         f"got {a.dtype} with strides {a.strides}")
    return a.reshape(-1)


def adamw_update_(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay):
    """In place on param, m, v; step counts from 1.  Same maths as ``reference.adamw_ref``."""
    if not (param.shape == grad.shape == m.shape == v.shape):
        raise ValueError(f"adamw_update_: shapes differ: param {param.shape}, grad {grad.shape}, "
                         f"m {m.shape}, v {v.shape}")
    dt = param.dtype
    p, m1, v1 = _flat("param", param, dt), _flat("m", m, dt), _flat("v", v, dt)
    g = np.ascontiguousarray(grad, dtype=dt).reshape(-1)
    bc1 = 1.0 - beta1 ** step
    bc2_sqrt = math.sqrt(1.0 - beta2 ** step)
    kernel = adamw_kernel if p.size >= SERIAL_BELOW else adamw_kernel_serial
    kernel(p, g, m1, v1, float(lr), float(beta1), float(beta2), float(eps), float(weight_decay),
           bc1, bc2_sqrt)


SERIAL_BELOW = 32768
adamw_kernel = njit(parallel=True, fastmath=True, cache=True, error_model="numpy")(_adamw)
adamw_kernel_serial = njit(fastmath=True, cache=True, error_model="numpy")(_adamw)   # prange runs as range
