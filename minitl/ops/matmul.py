"""The two ops where the time goes: ``MatMul`` and ``Embedding``.

MatMul runs numpy's BLAS (``np.matmul``) or the Numba kernel
(``minitl/kernels/matmul.py``): forced by the switch ``minitl.config.MATMUL``
(``"numba"|"blas"``, env ``MINITL_MATMUL``), else chosen per shape by
``minitl.kernels.dispatch.matmul_choice`` (a measured crossover) -- and says which in its debug note
(``MINITL_DEBUG=1``).  ``minitl.config.BACKEND == "reference"`` always means
numpy.  Embedding's backward is the Numba scatter-add kernel
(``minitl/kernels/embedding.py``), or ``np.add.at`` on the reference backend.

Shapes: MatMul takes a (..., n, k) and b (..., k, m) -> (..., n, m), batch
axes broadcast (1-D operands are reshaped by ``Tensor.__matmul__``).
Embedding takes weight (V, C) and integer ids of any shape (...) -> (..., C).
"""
import numpy as np

from minitl import config
from minitl.tensor import Function, ShapeError
from minitl.kernels import dispatch, matmul as mm_kernel, embedding as emb_kernel, reference as R
from minitl.ops._checks import check_ids


def _kernel_matmul(a, b):
    """The kernel on (nb, n, k) @ (nb, k, m) after broadcasting the batch axes."""
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a3 = np.broadcast_to(a, batch + a.shape[-2:]).reshape((-1,) + a.shape[-2:])
    b3 = np.broadcast_to(b, batch + b.shape[-2:]).reshape((-1,) + b.shape[-2:])
    return mm_kernel.matmul(a3, b3).reshape(batch + (a.shape[-2], b.shape[-1]))


def _matmul(ctx, a, b):
    if config.BACKEND != "numba":
        which, why = "blas", "reference backend"
    elif a.size == 0 or b.size == 0:
        which, why = "blas", "empty operand"
    elif config.MATMUL != "auto" and np.result_type(a, b) in (np.float32, np.float64):
        which, why = config.MATMUL, f"forced (minitl.config.MATMUL={config.MATMUL})"
    else:
        which, why = dispatch.matmul_choice(a.shape, b.shape, np.result_type(a, b))
    ctx.note = f"{'numba kernel' if which == 'numba' else 'numpy BLAS'} ({why})"
    if which == "numba":
        return _kernel_matmul(a, b).astype(np.result_type(a, b), copy=False)
    return np.matmul(a, b)


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a.shape[-1] != b.shape[-2]:
            raise ShapeError(
                f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
                f"{a.shape[-1]} (last dim of the first) != {b.shape[-2]} (second-to-last dim of the second)")
        ctx.save_for_backward(a, b)
        return _matmul(ctx, a, b)

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = a @ b, so da = dy @ b^T and db = a^T @ dy
        # (batch axes that were broadcast are summed back by the engine)
        a, b = ctx.saved
        da = _matmul(ctx, dy, b.swapaxes(-1, -2)) if ctx.needs_input_grad[0] else None
        db = _matmul(ctx, a.swapaxes(-1, -2), dy) if ctx.needs_input_grad[1] else None
        return da, db


class Embedding(Function):
    """Row lookup ``weight[ids]``; ``ids`` is a keyword (integers have no gradient)."""

    @staticmethod
    def forward(ctx, weight, ids):
        check_ids(ids, weight.shape[0], "embedding")
        ctx.ids, ctx.shape = ids, weight.shape
        ctx.note = "scatter-add: numba kernel" if config.BACKEND == "numba" else "scatter-add: np.add.at"
        return weight[ids]

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = weight[ids], so dweight[ids[i]] += dy[i] (a scatter-add:
        # an id used twice in the batch gets both gradients)
        if config.BACKEND == "numba" and ctx.shape[-1] > 0:
            return emb_kernel.embedding_bwd(ctx.ids, dy, ctx.shape[0])
        return R.embedding_bwd_ref(ctx.ids, dy, ctx.shape[0])     # np.add.at, the kernel's twin
