"""Blocked, ``prange``-parallel matrix multiply (float32 and float64, batched).

The whole file is one kernel, ``_matmul_nt``: ``C[b] += A[b] @ Bt[b].T`` where
every row it touches is contiguous along the reduction axis ``k``.  Its twin is
``reference.matmul_ref`` (three plain loops).  The three products autograd
needs are all this one kernel on transposed copies/views:

    forward   C  = A  @ B      ->  nt(A,      B.T copied)
    backward  dA = dC @ B.T    ->  nt(dC,     B)          (B's rows are already along k)
              dB = A.T @ dC    ->  nt(A.T copied, dC.T copied)

How it is fast (numbers for this machine, see benchmarks/bench_kernels.py):

* **register tile 4x4**: 16 running sums ``cXY`` stay in registers while the
  innermost loop walks ``k``; every value loaded from A is used 4 times and
  every value loaded from B 4 times.  ``fastmath=True`` lets LLVM reorder the
  sums, so it vectorizes the ``k`` loop (each ``cXY`` becomes a SIMD register
  of partial sums, added up once at the end of the tile).
* **512-bit vectors**: LLVM's cost model for this CPU prefers 256-bit vectors;
  the kernel is compiled with 16 float32 lanes forced (``_jit.wide_vectors``).
* **cache blocks**: the ``k`` axis is cut into blocks of ``KB`` and the output
  columns into panels of ``NB``, so one panel of Bt (NB x KB) stays in L1
  while 4-row strips of A stream past it from L2 (a task's A block is
  ``MB`` x KB).
* **threads**: ``prange`` over (batch, block of MB rows) pairs -- every thread
  owns whole rows of C, so no two threads ever write the same element.

Where it stands (1 thread, CPU time, float32): ~0.5x numpy's OpenBLAS at
n=512 and ~0.4x at n=1024, when OpenBLAS runs its AVX-512 "SkylakeX" kernel
(its default here); ~0.9x of its AVX2 "Haswell" kernel at both sizes.  The
rest is what BLAS does and this file does not: packing A and B into
cache-aligned micro-panels and an outer-product micro-kernel (a 16x16 or so
tile of C in registers, no horizontal sums).  Numba cannot hold such a tile in
registers, so the 4x4 dot-product tile here pays ~16 horizontal sums per tile.
"""
import numba
import numpy as np
from numba import njit, prange

from ._jit import wide_vectors

NB = 8        # rows of Bt per panel: NB x KB floats (16 KiB float32) stay in L1
KB = 512      # reduction block; a 4x4 tile sums KB products per register
MB_MAX = 128  # rows of C per task: its A block (MB x KB, 256 KiB) stays in L2


def _matmul_nt(A, Bt, C, MB):
    """C[b] += A[b] @ Bt[b].T for A (nb, M, K), Bt (nb, N, K), C (nb, M, N), all C-contiguous.

    Each task owns ``MB`` rows of C (a multiple of 4) of one batch entry.
    """
    nb, M, K = A.shape
    N = Bt.shape[1]
    nrb = (M + MB - 1) // MB
    zero = C.dtype.type(0)
    for task in prange(nb * nrb):
        b = task // nrb
        r0 = (task % nrb) * MB
        r1 = min(r0 + MB, M)
        m4 = r0 + (r1 - r0) - (r1 - r0) % 4
        for k0 in range(0, K, KB):
            k1 = min(k0 + KB, K)
            kk = k1 - k0
            for jp0 in range(0, N, NB):  # one panel of Bt: NB rows x KB, hot in L1
                jp1 = min(jp0 + NB, N)
                n4 = jp0 + (jp1 - jp0) - (jp1 - jp0) % 4
                for i0 in range(r0, m4, 4):  # strips of 4 rows of A stream past it
                    a0 = A[b, i0, k0:k1]
                    a1 = A[b, i0 + 1, k0:k1]
                    a2 = A[b, i0 + 2, k0:k1]
                    a3 = A[b, i0 + 3, k0:k1]
                    for j0 in range(jp0, n4, 4):  # the 4x4 register tile
                        # (range loops with 1-D slices: LLVM vectorizes the k loop only then)
                        b0 = Bt[b, j0, k0:k1]
                        b1 = Bt[b, j0 + 1, k0:k1]
                        b2 = Bt[b, j0 + 2, k0:k1]
                        b3 = Bt[b, j0 + 3, k0:k1]
                        # 16 running sums, started at zero (starting them from C's
                        # values blocks the vectorizer), added into C at the end
                        c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = zero
                        c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = zero
                        for k in range(kk):
                            x0 = a0[k]; x1 = a1[k]; x2 = a2[k]; x3 = a3[k]
                            y0 = b0[k]; y1 = b1[k]; y2 = b2[k]; y3 = b3[k]
                            c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3
                            c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3
                            c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3
                            c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3
                        C[b, i0, j0] += c00; C[b, i0, j0 + 1] += c01; C[b, i0, j0 + 2] += c02; C[b, i0, j0 + 3] += c03
                        C[b, i0 + 1, j0] += c10; C[b, i0 + 1, j0 + 1] += c11; C[b, i0 + 1, j0 + 2] += c12; C[b, i0 + 1, j0 + 3] += c13
                        C[b, i0 + 2, j0] += c20; C[b, i0 + 2, j0 + 1] += c21; C[b, i0 + 2, j0 + 2] += c22; C[b, i0 + 2, j0 + 3] += c23
                        C[b, i0 + 3, j0] += c30; C[b, i0 + 3, j0 + 1] += c31; C[b, i0 + 3, j0 + 2] += c32; C[b, i0 + 3, j0 + 3] += c33
                    for j in range(n4, jp1):  # leftover columns of the panel: 4 dot products
                        bj = Bt[b, j, k0:k1]
                        s0 = s1 = s2 = s3 = zero
                        for k in range(kk):
                            y = bj[k]
                            s0 += a0[k] * y; s1 += a1[k] * y; s2 += a2[k] * y; s3 += a3[k] * y
                        C[b, i0, j] += s0; C[b, i0 + 1, j] += s1; C[b, i0 + 2, j] += s2; C[b, i0 + 3, j] += s3
                for i in range(m4, r1):  # leftover rows of A: one dot product per element
                    ai = A[b, i, k0:k1]
                    for j in range(jp0, jp1):
                        bj = Bt[b, j, k0:k1]
                        s = zero
                        for k in range(kk):
                            s += ai[k] * bj[k]
                        C[b, i, j] += s


def rows_per_task(nb, M, threads):
    """Rows of C per task: at most MB_MAX (A's block stays in L2), a multiple of 4,
    and small enough that there are at least ``2 * threads`` tasks when M allows."""
    want = -(-M * nb // (2 * threads))          # ceil(M * nb / (2 threads)) rows each
    mb = min(MB_MAX, max(4, -(-want // 4) * 4))
    return mb


def _as3d(x):
    return x.reshape((1,) + x.shape) if x.ndim == 2 else x


def _check(name, a, b):
    if a.ndim not in (2, 3) or b.ndim != a.ndim:
        raise ValueError(f"{name}: expected two 2-D or two 3-D (batched) arrays, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2] or (a.ndim == 3 and a.shape[0] != b.shape[0]):
        raise ValueError(f"{name}: shapes {a.shape} @ {b.shape} do not line up "
                         f"(inner sizes {a.shape[-1]} vs {b.shape[-2]})")


def _dtype(a, b):
    dt = np.result_type(a.dtype, b.dtype)
    return np.float64 if dt == np.float64 else np.float32


def matmul_nt(a, bt):
    """``a @ bt.swapaxes(-1, -2)`` for 2-D or batched 3-D arrays, via the kernel."""
    dt = _dtype(a, bt)
    A = np.ascontiguousarray(_as3d(a), dtype=dt)
    Bt = np.ascontiguousarray(_as3d(bt), dtype=dt)
    C = np.zeros((A.shape[0], A.shape[1], Bt.shape[1]), dtype=dt)
    mb = rows_per_task(A.shape[0], A.shape[1], numba.get_num_threads())
    if dt in _READY or numba.config.DISABLE_JIT:
        matmul_nt_kernel(A, Bt, C, mb)
    else:  # first call for this dtype compiles (or loads from cache) with 512-bit vectors
        with wide_vectors(16):
            matmul_nt_kernel(A, Bt, C, mb)
        _READY.add(dt)
    return C[0] if a.ndim == 2 else C


def matmul(a, b):
    """``a @ b`` (float32 or float64; 2-D, or 3-D batched with equal batch sizes)."""
    _check("matmul", a, b)
    return matmul_nt(a, b.swapaxes(-1, -2))  # B.T made contiguous = B packed by columns


def matmul_bwd(a, b, grad, need_a=True, need_b=True):
    """Gradients of ``c = a @ b``.

    forward was: c[i, j] = sum_k a[i, k] * b[k, j]
    so:          da[i, k] = sum_j grad[i, j] * b[k, j]   (grad @ b.T)
                 db[k, j] = sum_i a[i, k] * grad[i, j]   (a.T @ grad)
    """
    _check("matmul_bwd", a, b)
    da = matmul_nt(grad, b) if need_a else None
    db = matmul_nt(a.swapaxes(-1, -2), grad.swapaxes(-1, -2)) if need_b else None
    return da, db


# compiled at the bottom, so NUMBA_DISABLE_JIT=1 runs exactly the code above
# (lazily, on the first call of each dtype, inside ``wide_vectors``: see matmul_nt)
matmul_nt_kernel = njit(parallel=True, fastmath=True, cache=True)(_matmul_nt)
_READY = set()
