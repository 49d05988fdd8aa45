"""The two ops where the time goes: ``MatMul`` and ``Embedding``.

Both call numpy for now (``np.matmul``, ``np.add.at``); their bodies are kept
small so a faster kernel can replace exactly one line of each.

Shapes: MatMul takes a (..., n, k) and b (..., k, m) -> (..., n, m), batch
axes broadcast (1-D operands are reshaped by ``Tensor.__matmul__``).
Embedding takes weight (V, C) and integer ids of any shape (...) -> (..., C).
"""
import numpy as np

from minitl.tensor import Function, ShapeError


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a.shape[-1] != b.shape[-2]:
            raise ShapeError(
                f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
                f"{a.shape[-1]} (last dim of the first) != {b.shape[-2]} (second-to-last dim of the second)")
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = a @ b, so da = dy @ b^T and db = a^T @ dy
        # (batch axes that were broadcast are summed back by the engine)
        a, b = ctx.saved
        da = np.matmul(dy, b.swapaxes(-1, -2)) if ctx.needs_input_grad[0] else None
        db = np.matmul(a.swapaxes(-1, -2), dy) if ctx.needs_input_grad[1] else None
        return da, db


class Embedding(Function):
    """Row lookup ``weight[ids]``; ``ids`` is a keyword (integers have no gradient)."""

    @staticmethod
    def forward(ctx, weight, ids):
        if ids.size and (ids.min() < 0 or ids.max() >= weight.shape[0]):
            bad = ids.min() if ids.min() < 0 else ids.max()
            raise IndexError(f"embedding: id {bad} out of range for a table of {weight.shape[0]} rows")
        ctx.ids, ctx.shape = ids, weight.shape
        return weight[ids]

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = weight[ids], so dweight[ids[i]] += dy[i] (a scatter-add:
        # an id used twice in the batch gets both gradients)
        dw = np.zeros(ctx.shape, dtype=dy.dtype)
        np.add.at(dw, ctx.ids, dy)
        return dw
