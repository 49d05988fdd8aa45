"""Packed, ``prange``-parallel matrix multiply (float32 and float64, batched).

One kernel, ``_matmul_gebp``: ``C[b] += A[b] @ B[b]`` for C-contiguous 3-D
arrays.  Its twin is ``reference.matmul_ref`` (three plain loops).  The three
products autograd needs are this one kernel on (copied) transposes:

    forward   C  = A   @ B
    backward  dA = dC  @ B.T     (B.T copied contiguous)
              dB = A.T @ dC      (A.T copied contiguous)

It is the GEBP ("general block times panel") layout of Goto & van de Geijn,
the one OpenBLAS and BLIS use.  The tile and block sizes are picked from the
machine at import (``machine.py``; ``minitl.kernels.machine_info()`` shows
them).  Sizes below are float32 on AVX-512 [and on AVX2 in brackets].

* **micro-kernel** (``_tile``): an MR x NR = 12 x 32 [6 x 16] block of C
  lives in 24 [12] vector registers (MR rows x 2 vectors of 16 [8] floats)
  for a whole reduction block.  Each step p is one rank-1 update: load 2
  vectors of B's row p, broadcast each of A's MR values of column p, 2 * MR
  fused multiply-adds.  No horizontal sums.  AVX-512 has 32 registers, AVX2
  16, hence two shapes: the 12 x 32 tile on AVX2 is 48 half-width registers
  and spills (several times slower than the 6 x 16 tile there; on AVX-512,
  12x32 and 6x64 beat 8x48 and 4x96).  Worked example, MR=2, NR=3, kc=2:

      Ap = [a00 a10 | a01 a11]          (A's 2x2 block, stored column by column)
      Bp = [b00 b01 b02 | b10 b11 b12]  (B's 2x3 block, stored row by row)
      p=0: c[i, j] += Ap[0*2 + i] * Bp[0*3 + j]   for all i, j
      p=1: c[i, j] += Ap[1*2 + i] * Bp[1*3 + j]   -> c = A_blk @ B_blk

  Numba has no SIMD vector type and LLVM did not keep such a tile in
  registers from scalar code (it vectorized along p and spilled), so
  ``_tile`` is a Numba ``@intrinsic`` (``_jit.make_tile``): ~40 lines that
  emit target-neutral LLVM IR (``<16 x float>`` [``<8 x float>``] loads,
  splats and ``llvm.fmuladd``) directly; other CPUs (SSE, ARM) get 16-byte
  vectors and the 6-row tile.  ``_tile_py`` is the same step in numpy; it
  runs under NUMBA_DISABLE_JIT=1.
* **packing**: B is copied once into micro-panels of NR columns, each stored
  k-major (``Bp[p*NR + j]``) so the micro-kernel reads it as one contiguous
  stream; every task copies its MB rows of A into micro-panels of MR rows
  (``Ap[p*MR + i]``).  Packing also pads the edges with zeros, so the
  micro-kernel only ever sees whole tiles (edge tiles go through the scratch
  tile ``Ct`` and only the valid part is added into C).
* **cache blocks**: the reduction axis is cut into blocks of ``KB`` = 128
  [256]: one B micro-panel (KB x NR, 16 KiB) stays in half of L1 while the
  task's A block (MB x KB, at most a quarter of L2, MB <= 132) streams past
  it from L2.  B's panels start on 64-byte boundaries.
* **threads**: ``prange`` over (batch, k-block) to pack B, then over
  (batch, block of MB rows): every task owns whole rows of C.

Where it stands against numpy's BLAS, AVX-512 and AVX2 builds
(``NUMBA_CPU_NAME=haswell NUMBA_CPU_FEATURES=``): the README's "Speed" section
(figures, machine, command: ``benchmarks/speed_report.py``).  Small and thin
products lose to BLAS (call overhead, packing cost, padded edges): see
``dispatch.CROSSOVER``.
"""
import math

import numba
import numpy as np
from numba import njit, prange

from ._jit import make_tile
from .machine import machine_info

# The tile and blocking come from the machine (machine.py, detected once at import):
# AVX-512: MR=12, NR=32, KB=128; AVX2: MR=6, NR=16, KB=256 (float32 NR; float64 NR is half).
_M = machine_info()
VB = _M["vector_bytes"]       # bytes per SIMD vector: 64 (AVX-512), 32 (AVX2), 16 (SSE, NEON, ...)
MR = _M["matmul_tile"][0]     # rows of the register tile
NV = _M["matmul_vectors_per_row"]   # SIMD vectors per tile row: NR = NV * VB / itemsize float32 columns
KB = _M["matmul_kb"]          # reduction block: a B micro-panel is KB x NR (half of L1)
NB = NV * VB // 4             # NR for float32, the width of a B micro-panel (for tests straddling it)
MB_MAX = _M["matmul_mb_max"]  # rows of C per task: the packed A block (MB x KB) stays in L2
ROW_STEP = MR * 4 // math.gcd(MR, 4)   # rows per task come in multiples of this


_tile = make_tile(MR, NV)   # the register-tile micro-kernel, emitted as LLVM IR: see _jit.py


def _tile_py(kc, A, B, bo, D, ci, cj):
    """What ``_tile`` computes, in numpy (the micro-kernel under NUMBA_DISABLE_JIT=1)."""
    nr = NV * VB // B.itemsize
    D[ci:ci + MR, cj:cj + nr] += A[:MR, :kc] @ B[:kc, bo:bo + nr]


tile = _tile_py if numba.config.DISABLE_JIT else _tile


def _aligned_empty(n, dtype):
    """np.empty(n, dtype) starting on a 64-byte boundary (a cache line, one zmm load)."""
    raw = np.empty(n + 64, dtype)
    off = (-raw.ctypes.data % 64) // raw.itemsize
    return raw[off:off + n]


def _pack_b(B, nkb, nbp, NR):
    """B (nb, K, N) -> micro-panels: for each (b, k-block), ``nbp`` panels of kc x NR, k-major.

    Panel (b, kb, jp) starts at ((b * nkb + kb) * nbp + jp) * KB * NR; columns past N are zeros.
    """
    nb, K, N = B.shape
    Bp = aligned_empty(nb * nkb * nbp * KB * NR, B.dtype)   # every vector load: one cache line
    for t in prange(nb * nkb):
        b = t // nkb
        k0 = (t % nkb) * KB
        kc = min(KB, K - k0)
        for p in range(kc):           # B's rows in order (contiguous reads)
            for jp in range(nbp):
                o = (t * nbp + jp) * KB * NR + p * NR
                nr = min(NR, N - jp * NR)
                dst = Bp[o:o + NR]           # views indexed by j >= 0: Bp[o + j] would carry Numba's
                src = B[b, k0 + p, jp * NR:jp * NR + nr]   # negative-index wraparound, which LLVM
                for j in range(nr):          # vectorizes as hardware gathers and scatters
                    dst[j] = src[j]
                for j in range(nr, NR):     # zero columns past N
                    dst[j] = 0
    return Bp


def _matmul_gebp(A, B, C, MB):
    """C[b] += A[b] @ B[b] for A (nb, M, K), B (nb, K, N), C (nb, M, N), all C-contiguous.

    Each task owns ``MB`` rows of C of one batch entry.
    """
    nb, M, K = A.shape
    N = B.shape[2]
    NR = NV * VB // A.itemsize
    nkb = (K + KB - 1) // KB          # reduction blocks
    nbp = (N + NR - 1) // NR          # B micro-panels (the last one zero-padded)
    Bp = pack_b(B, nkb, nbp, NR)
    nrb = (M + MB - 1) // MB
    for task in prange(nb * nrb):
        b = task // nrb
        r0 = (task % nrb) * MB
        r1 = min(r0 + MB, M)
        npan = (r1 - r0 + MR - 1) // MR
        Ap = np.zeros(npan * MR * KB, A.dtype)
        Ct = np.zeros((MR, NR), A.dtype)      # scratch tile for the edges of C
        for kb in range(nkb):
            k0 = kb * KB
            kc = min(KB, K - k0)
            for ip in range(npan):            # pack A's rows r0..r1: panels of MR rows, kc x MR each
                o = ip * kc * MR
                ra = r0 + ip * MR
                for i in range(MR):           # row by row: contiguous reads of A, stores MR apart
                    if ra + i < r1:
                        src = A[b, ra + i, k0:k0 + kc]
                        for p in range(kc):
                            Ap[o + p * MR + i] = src[p]
                    else:                     # the last panel: rows past r1 are zeros
                        for p in range(kc):
                            Ap[o + p * MR + i] = 0
            Ap3 = Ap[:npan * kc * MR].reshape((npan, kc, MR))   # Ap3[ip].T: panel ip as an (MR, kc) view
            for jp in range(nbp):             # one B micro-panel (L1) ...
                j0 = jp * NR
                nr = min(NR, N - j0)
                o = ((b * nkb + kb) * nbp + jp) * KB * NR
                Bv = Bp[o:o + kc * NR].reshape((kc, NR))
                for ip in range(npan):        # ... times every A micro-panel of the task (L2)
                    i0 = r0 + ip * MR
                    Av = Ap3[ip].T
                    if i0 + MR <= r1 and nr == NR:
                        tile(kc, Av, Bv, 0, C[b], i0, j0)
                    else:
                        Ct[:] = 0
                        tile(kc, Av, Bv, 0, Ct, 0, 0)
                        for i in range(min(MR, r1 - i0)):
                            for j in range(nr):
                                C[b, i0 + i, j0 + j] += Ct[i, j]


def rows_per_task(nb, M, threads):
    """Rows of C per task: at most MB_MAX (A's packed block stays in L2), a multiple of 4,
    and small enough that there are at least ``2 * threads`` tasks when M allows."""
    want = -(-M * nb // (2 * threads))          # ceil(M * nb / (2 threads)) rows each
    mb = min(MB_MAX, max(4, -(-want // 4) * 4))
    if mb >= 4 * MR:                            # big blocks: whole MR-row panels (no padded panel)
        mb = min(MB_MAX, -(-mb // ROW_STEP) * ROW_STEP)
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


def _run(a, b):
    """``a @ b`` for 2-D or batched 3-D arrays (any strides), via the kernel."""
    dt = _dtype(a, b)
    A = np.ascontiguousarray(_as3d(a), dtype=dt)
    B = np.ascontiguousarray(_as3d(b), dtype=dt)
    shape = (A.shape[0], A.shape[1], B.shape[2])
    raw = np.zeros(int(np.prod(shape)) + 16, dtype=dt)              # C aligned to 64 bytes, like Bp
    off = (-raw.ctypes.data % 64) // raw.itemsize
    C = raw[off:off + raw.size - 16].reshape(shape)
    matmul_kernel(A, B, C, rows_per_task(A.shape[0], A.shape[1], numba.get_num_threads()))
    return C[0] if a.ndim == 2 else C


def matmul(a, b):
    """``a @ b`` (float32 or float64; 2-D, or 3-D batched with equal batch sizes)."""
    _check("matmul", a, b)
    return _run(a, b)


def matmul_bwd(a, b, grad, need_a=True, need_b=True):
    """Gradients of ``c = a @ b``.

    forward was: c[i, j] = sum_k a[i, k] * b[k, j]
    so:          da[i, k] = sum_j grad[i, j] * b[k, j]   (grad @ b.T)
                 db[k, j] = sum_i a[i, k] * grad[i, j]   (a.T @ grad)
    """
    _check("matmul_bwd", a, b)
    da = _run(grad, b.swapaxes(-1, -2)) if need_a else None
    db = _run(a.swapaxes(-1, -2), grad) if need_b else None
    return da, db


# compiled at the bottom, so NUMBA_DISABLE_JIT=1 runs exactly the code above
aligned_empty = njit(cache=True, error_model="numpy")(_aligned_empty)
pack_b = njit(parallel=True, cache=True, error_model="numpy")(_pack_b)
matmul_kernel = njit(parallel=True, fastmath=True, cache=True, error_model="numpy")(_matmul_gebp)
