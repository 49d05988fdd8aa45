"""Gradient clipping by global norm, as ``torch.nn.utils.clip_grad_norm_``."""
import math

import numpy as np

from minitl.tensor import Tensor


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    """total = ||(g_1, ..., g_n)||_p over all grads; if total > max_norm, every g *= max_norm / (total + 1e-6).

    Args:
        parameters: a Tensor or iterable of Tensors; those with ``grad is None`` are ignored.
        max_norm: the largest allowed global norm.
        norm_type: p of the norm (2.0, or ``float("inf")`` for the largest |g|).
    Returns:
        The global norm *before* clipping, as a float (what training logs show).
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    if math.isinf(norm_type):
        total = max(float(np.abs(g).max()) if g.size else 0.0 for g in grads)
    else:
        # Accumulate in float64 so many small float32 squares do not lose precision.
        total = sum(float(np.sum(np.abs(g.astype(np.float64)) ** norm_type)) for g in grads)
        total = total ** (1.0 / norm_type)
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= coef  # in place, keeps the grad's dtype
    return total
