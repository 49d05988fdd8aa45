"""Making tensors: ``zeros``, ``ones``, ``randn``, ``arange`` ... and joining them (``cat``, ``stack``, ``where``).

Floats default to float32; random draws come from ``minitl.random.rng()``
(so ``minitl.manual_seed(n)`` makes them repeatable).  ``cat``/``stack``/
``where`` are differentiable (``Cat``, ``Reshape``, ``Where``).
"""
import numpy as np

from minitl import random
from minitl.tensor import Tensor
from minitl.ops.elementwise import Where
from minitl.ops.movement import Cat
from minitl.ops.methods import lift, as_array, _shape_arg


def zeros(*shape, dtype=np.float32, requires_grad=False):
    """``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return Tensor(np.zeros(_shape_arg(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=np.float32, requires_grad=False):
    return Tensor(np.ones(_shape_arg(shape), dtype=dtype), requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return Tensor(np.zeros(t.shape, dtype=dtype or t.dtype), requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return Tensor(np.ones(t.shape, dtype=dtype or t.dtype), requires_grad=requires_grad)


def randn(*shape, dtype=np.float32, requires_grad=False):
    """Standard normal draws from the global generator."""
    data = random.rng().standard_normal(_shape_arg(shape)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape, dtype=np.float32, requires_grad=False):
    """Uniform draws in [0, 1) from the global generator."""
    data = random.rng().random(_shape_arg(shape)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False):
    """``arange(5)`` -> [0 1 2 3 4] (int64); float arguments give float32."""
    data = np.arange(start, end, step) if end is not None else np.arange(start, step=step)
    if dtype is None and data.dtype.kind == "f":
        dtype = np.float32
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def cat(tensors, dim=0):
    """Join along an existing axis: cat([(2, 3), (4, 3)], 0) -> (6, 3)."""
    return Cat.apply(*tensors, dim=dim)


def stack(tensors, dim=0):
    """Join along a new axis: stack([(2, 3), (2, 3)], 0) -> (2, 2, 3)."""
    return Cat.apply(*[t.unsqueeze(dim) for t in tensors], dim=dim)


def where(cond, a, b):
    """``a`` where ``cond`` is True, else ``b`` (all three broadcast)."""
    cond = as_array(cond).astype(bool, copy=False)
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else Tensor(a)
    return Where.apply(lift(a, like), lift(b, like), cond=cond)
