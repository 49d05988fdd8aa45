"""The global gradient norm, and clipping by it, as ``torch.nn.utils.clip_grad_norm_``."""
import math
from typing import Iterable, Union

import numpy as np

from minitl.tensor import Tensor

Params = Union[Tensor, Iterable[Tensor]]


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _norm(grads, norm_type):
    if not grads:
        return 0.0
    if math.isinf(norm_type):
        return max(float(np.abs(g).max()) if g.size else 0.0 for g in grads)
    # Accumulate in float64 so many small float32 squares do not lose precision.
    total = sum(float(np.sum(np.abs(g.astype(np.float64)) ** norm_type)) for g in grads)
    return total ** (1.0 / norm_type)


def grad_norm(parameters: Params, norm_type: float = 2.0) -> float:
    """||(g_1, ..., g_n)||_p: the norm of all gradients as one long vector (what training logs).

    Args:
        parameters: a Tensor or iterable of Tensors; those with ``grad is None`` are ignored.
        norm_type: p of the norm (2.0, or ``float("inf")`` for the largest |g|).
    Returns:
        The norm as a float (0.0 when no parameter has a gradient).
    """
    return _norm(_grads(parameters), norm_type)


def clip_grad_norm_(parameters: Params, max_norm: float, norm_type: float = 2.0) -> float:
    """If the global norm (``grad_norm``) exceeds max_norm, scale every g by max_norm / (norm + 1e-6).

    Args:
        parameters: a Tensor or iterable of Tensors; those with ``grad is None`` are ignored.
        max_norm: the largest allowed global norm.
        norm_type: p of the norm (2.0, or ``float("inf")`` for the largest |g|).
    Returns:
        The global norm *before* clipping, as a float (what training logs show).
    """
    grads = _grads(parameters)
    total = _norm(grads, norm_type)
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= coef  # in place, keeps the grad's dtype
    return total
