"""Embedding backward: a scatter-add of gradient rows into the table's rows.

Twin: ``reference.embedding_bwd_ref`` (``np.add.at``).  forward was
``out[n] = weight[ids[n]]``; an id that appears twice collects both rows, so
two threads could race on the same table row.  Here threads split the table's
*columns* instead: each owns a slice of every row and walks all ids in order,
so nothing races and the sums come out in the same order on any thread count.
"""
import numpy as np
from numba import njit, prange

COLS = 16  # columns per task


def _embedding_bwd(ids, dout, dweight):
    # forward was: out[n, :] = weight[ids[n], :]
    # so:          dweight[ids[n], :] += dout[n, :]   for n in order
    N, C = dout.shape
    ntask = (C + COLS - 1) // COLS
    for t in prange(ntask):
        c0 = t * COLS
        c1 = min(c0 + COLS, C)
        for n in range(N):
            r = ids[n]
            for c in range(c0, c1):
                dweight[r, c] += dout[n, c]


def embedding_bwd(ids, dout, num_embeddings):
    """dweight (V, C) from integer ids (...) and dout (..., C)."""
    ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
    C = dout.shape[-1]
    d2 = np.ascontiguousarray(dout).reshape(-1, C)
    if d2.shape[0] != ids.size:
        raise ValueError(f"embedding_bwd: {ids.size} ids but dout {dout.shape} has {d2.shape[0]} rows")
    if ids.size and (ids.min() < 0 or ids.max() >= num_embeddings):
        bad = ids.min() if ids.min() < 0 else ids.max()
        raise IndexError(f"embedding_bwd: id {bad} out of range for a table of {num_embeddings} rows")
    dw = np.zeros((num_embeddings, C), dtype=d2.dtype)
    embedding_bwd_kernel(ids, d2, dw)
    return dw


embedding_bwd_kernel = njit(parallel=True, cache=True, error_model="numpy")(_embedding_bwd)
