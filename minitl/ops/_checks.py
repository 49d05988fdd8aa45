"""Input checks shared by the composed ops, the fused ops and the layers: written once here.

Each takes plain numpy arrays or shapes, raises with a message that names the op (``what``)
and the numbers, and returns the input in the form the op uses next.
"""
import numpy as np

from minitl.tensor import ShapeError

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction, what):
    """Raise ValueError unless ``reduction`` is "mean", "sum" or "none" (PyTorch's three)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{what}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def check_ids(ids, num_rows, what="embedding"):
    """Integer ids, each in [0, num_rows): the rows of a table of ``num_rows`` rows.

    Args:
        ids: numpy array of any shape.
        num_rows: the table's length (an embedding's vocabulary size).
        what: the name in the error message (``"Embedding(8192, 64)"``).
    Returns:
        ``ids`` unchanged.
    Raises:
        TypeError for a non-integer dtype, IndexError naming the first bad id.
    """
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{what}: ids must be integers, got dtype {ids.dtype} (shape {ids.shape})")
    if ids.size:
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= num_rows:
            bad = lo if lo < 0 else hi
            raise IndexError(f"{what}: id {bad} out of range for a table of {num_rows} rows "
                             f"(ids must be in [0, {num_rows}), shape {ids.shape})")
    return ids


def check_targets(logits_shape, target, ignore_index=-100, reduction="mean", what="cross_entropy"):
    """Class targets for logits (N, C): integer (N,), each in [0, C) or equal to ``ignore_index``.

    Returns:
        ``target`` as int64.
    Raises:
        ShapeError for shapes, ValueError for ``reduction``, TypeError for a float target,
        IndexError naming the first target out of range.
    """
    if len(logits_shape) != 2 or target.shape != tuple(logits_shape[:1]):
        raise ShapeError(f"{what}: logits {tuple(logits_shape)} must be (N, C) and target {target.shape} (N,)")
    check_reduction(reduction, what)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{what}: target must hold integers (class indices), got dtype {target.dtype}")
    c = logits_shape[1]
    bad = (target != ignore_index) & ((target < 0) | (target >= c))
    if bad.any():
        raise IndexError(f"{what}: target {target[bad][0]} out of range for {c} classes "
                         f"(ignore_index={ignore_index})")
    return target.astype(np.int64, copy=False)


def normalized_shape(x_shape, normalized_shape, what="layer_norm"):
    """``normalized_shape`` as a tuple, checked to be the trailing axes of ``x_shape``."""
    shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) \
        else tuple(int(n) for n in normalized_shape)
    if len(shape) > len(x_shape) or tuple(x_shape[len(x_shape) - len(shape):]) != shape:
        raise ShapeError(f"{what}: input shape {tuple(x_shape)} does not end with normalized_shape {shape}")
    return shape
