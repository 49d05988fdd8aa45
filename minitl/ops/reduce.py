"""Reductions: ``Sum`` and ``Max`` over some axes (``mean`` is ``sum / n``).

``dim`` is None (all axes), an int, or a tuple of ints; ``keepdim`` keeps the
reduced axes as size 1, as in PyTorch.  Backward first puts the reduced axes
back as size 1 (``_keep``), then spreads the gradient over them.
"""
import numpy as np

from minitl.tensor import Function


def _keep(dy, ndim, dim, keepdim):
    """Re-insert the reduced axes of ``dy`` as size 1: (B, C) summed over 1 -> (B,) -> (B, 1)."""
    if keepdim:
        return dy
    if dim is None:
        return dy.reshape((1,) * ndim)
    return np.expand_dims(dy, dim)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dim=None, keepdim=False):
        ctx.shape, ctx.dim, ctx.keepdim = x.shape, dim, keepdim
        return np.asarray(x.sum(axis=dim, keepdims=keepdim))

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = x.sum(dim), so every x in a summed group gets dx = dy
        dy = _keep(dy, len(ctx.shape), ctx.dim, ctx.keepdim)
        return np.broadcast_to(dy, ctx.shape)


class Max(Function):
    @staticmethod
    def forward(ctx, x, dim=None, keepdim=False):
        y = np.asarray(x.max(axis=dim, keepdims=True))
        ctx.save_for_backward(x, y)
        ctx.dim, ctx.keepdim = dim, keepdim
        return y if keepdim else np.asarray(y.reshape(()) if dim is None else np.squeeze(y, dim))

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = x.max(dim), so dx = dy at the maximum, 0 elsewhere
        # (ties share dy equally, like torch.amax)
        x, y = ctx.saved
        dy = _keep(dy, x.ndim, ctx.dim, ctx.keepdim)
        hit = x == y
        return hit * (dy / hit.sum(axis=ctx.dim, keepdims=True))
