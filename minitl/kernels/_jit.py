"""Shared pieces of the kernels: the fastmath flags, a vectorizable exp, the dropout hash, the register tile.

FASTMATH is Numba's ``fastmath=True`` minus ``ninf``: the attention kernels
use -inf as "masked", so the compiler must not assume infinities away (they
never form NaN: every -inf - -inf case is tested for first).  ``reassoc`` lets
sums vectorize, ``nnan`` lets max-reductions vectorize.
"""
import contextlib
import os
import sys
import tempfile

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc", "nnan"}

# exp(x) = 2^k * exp(f),  k = round(x / ln 2),  f = x - k ln 2 in [-0.35, 0.35]
LOG2E = np.float32(1.4426950408889634)
LN2_HI = np.float32(0.693359375)          # ln 2 split in two, so k*LN2_HI is exact
LN2_LO = np.float32(-2.12194440e-4)
XMIN = np.float32(-87.0)                  # exp(-87) ~ 1.6e-38, the smallest normal float32
XMAX = np.float32(88.0)
HALF = np.float32(0.5)
ONE = np.float32(1.0)
C2, C3, C4 = np.float32(1 / 2), np.float32(1 / 6), np.float32(1 / 24)
C5, C6, C7 = np.float32(1 / 120), np.float32(1 / 720), np.float32(1 / 5040)
BIAS = np.int32(127)


def _exp_inplace(x, n, shift, bits, bits_as_float, exact):
    """x[:n] <- exp(x[:n] - shift); inputs of -inf (masked) give exactly 0.

    ``exact`` (float64 inputs): ``np.exp``.  Otherwise a float32 exp that LLVM
    can vectorize (there is no SVML here, so ``np.exp`` in a loop is one libm
    call per element): Taylor to degree 7 on the reduced argument (relative
    error ~1e-7, one float32 ulp), and 2^k built as raw float bits,
    (k + 127) << 23, in an int32 scratch buffer ``bits`` that the caller also
    viewed as float32 (``bits_as_float``).  Below -87 the result is 0.
    """
    if exact:
        for j in range(n):
            x[j] = np.exp(x[j] - shift)
        return
    for j in range(n):
        v = min(max(x[j] - shift, XMIN), XMAX)
        k = np.floor(v * LOG2E + HALF)
        f = v - k * LN2_HI - k * LN2_LO
        p = ONE + f * (ONE + f * (C2 + f * (C3 + f * (C4 + f * (C5 + f * (C6 + f * C7))))))
        bits[j] = (np.int32(k) + BIAS) << 23
        x[j] = p if v > XMIN else x.dtype.type(0)       # select on the float, not the int: 25% faster
    for j in range(n):
        x[j] *= bits_as_float[j]


def _row_max(s, n):
    """max(s[:n]) with 8 running maxima: LLVM does not vectorize a float max-reduction,
    and one running max would wait on every compare (measured 4x slower)."""
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = s.dtype.type(-np.inf)
    n8 = n - n % 8
    for j in range(0, n8, 8):
        m0 = max(m0, s[j]); m1 = max(m1, s[j + 1]); m2 = max(m2, s[j + 2]); m3 = max(m3, s[j + 3])
        m4 = max(m4, s[j + 4]); m5 = max(m5, s[j + 5]); m6 = max(m6, s[j + 6]); m7 = max(m7, s[j + 7])
    m = max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))
    for j in range(n8, n):
        m = max(m, s[j])
    return m


U32 = np.uint64(0xFFFFFFFF)
GOLD, MIX1, MIX2 = np.uint64(0x9E3779B1), np.uint64(0x85EBCA6B), np.uint64(0xC2B2AE35)
SH16, SH13 = np.uint64(16), np.uint64(13)


def _drop_row(mk, n, base, seed, thresh, inv):
    """mk[:n] <- the dropout multipliers (inv or 0) of positions base.. (``reference.dropout_keep_ref``).

    A hash of the position, not a random stream: the backward rebuilds the same mask.
    Unsigned 64-bit arithmetic, reduced mod 2^32 after every step, as in the twin.
    """
    zero = mk.dtype.type(0)
    for j in range(n):
        h = ((base + np.uint64(j)) * GOLD + seed) & U32
        h ^= h >> SH16
        h = (h * MIX1) & U32
        h ^= h >> SH13
        h = (h * MIX2) & U32
        h ^= h >> SH16
        mk[j] = inv if h >= thresh else zero


exp_inplace = njit(fastmath=FASTMATH, cache=True, error_model="numpy")(_exp_inplace)
drop_row = njit(fastmath=FASTMATH, cache=True, error_model="numpy")(_drop_row)
row_max = njit(fastmath=FASTMATH, cache=True, error_model="numpy")(_row_max)


@contextlib.contextmanager
def wide_vectors(width=None):
    """Compile what runs inside with LLVM's loop vectorizer forced to ``width`` lanes
    (default: the machine's float32 lanes, ``machine.py``).

    LLVM's cost model for AVX-512 Xeons prefers 256-bit vectors ("prefer-256-bit":
    wide vectors can lower the clock), and Numba has no per-function switch.  For
    the FMA-bound matmul tile, 512-bit vectors (16 float32 lanes) measured faster
    here, so ``matmul.py`` compiles (or loads from cache) its kernel inside
    this context: LLVM's global ``-force-vector-width`` is set for the duration
    and restored after.  LLVM then prints a "remark: loop not vectorized" line to
    stderr for each loop it cannot vectorize at that width; those lines are
    dropped, everything else written to stderr meanwhile is passed on.
    """
    import llvmlite.binding as llvm
    from .machine import INFO
    width = INFO["float32_lanes"] if width is None else width
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        llvm.set_option("", f"-force-vector-width={width}")
        try:
            yield
        finally:
            llvm.set_option("", "-force-vector-width=0")
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            rest = [ln for ln in tmp.read().decode(errors="replace").splitlines(True)
                    if not ln.startswith("remark: ")]
            if rest:
                sys.stderr.write("".join(rest))


def make_tile(MR, NV, VB=None):
    """A register-tile micro-kernel: ``tile(kc, A, B, bo, D, ci, cj)`` does

        D[ci:ci+MR, cj:cj+NR] += A[:MR, :kc] @ B[:kc, bo:bo+NR]

    with NR = NV vectors of VB bytes (default: the machine's, ``machine.py``;
    64 on AVX-512 = 16 float32, 32 on AVX2 = 8 float32).  A is 2-D with any
    strides (its values are broadcast one at a time: a packed k-major panel
    viewed transposed, or plain rows); B and D are 2-D with contiguous rows
    (any row stride).  The MR x NV accumulator vectors stay in registers for
    the whole loop over p (the caller picks MR * NV to fit the register file
    with room for B's vectors and the broadcast); each step is one rank-1
    update.  Numba has no SIMD type and LLVM does not build this from scalar
    code, hence the IR.  The IR is target-neutral (``<W x float>`` and
    ``llvm.fmuladd``, a multiply-add fused where the target has FMA and a
    multiply then an add where it has not): LLVM lowers it for x86, ARM or
    anything else it targets.
    """
    from .machine import VECTOR_BYTES
    VB = VECTOR_BYTES if VB is None else VB
    @intrinsic
    def tile(typingctx, kc, A, B, bo, D, ci, cj):
        sig = types.void(kc, A, B, bo, D, ci, cj)

        def codegen(context, builder, signature, args):
            kc_, A_, B_, bo_, D_, ci_, cj_ = args
            elt = context.get_data_type(signature.args[1].dtype)     # float or double
            size = context.get_abi_sizeof(elt)
            W = VB // size                                            # lanes per SIMD vector
            vec, i64, i32 = ir.VectorType(elt, W), ir.IntType(64), ir.IntType(32)
            vecp = vec.as_pointer()
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3),
                                                 f"llvm.fmuladd.v{W}f{8 * size}")
            aarr = context.make_array(signature.args[1])(context, builder, A_)
            barr = context.make_array(signature.args[2])(context, builder, B_)
            darr = context.make_array(signature.args[4])(context, builder, D_)
            lai = builder.sdiv(builder.extract_value(aarr.strides, 0), ir.Constant(i64, size))
            lap = builder.sdiv(builder.extract_value(aarr.strides, 1), ir.Constant(i64, size))
            if signature.args[1].layout == "F":       # a packed panel: A[i+1, p] is the next value,
                lai = ir.Constant(i64, 1)             # so the MR addresses are constant offsets
            elif signature.args[1].layout == "C":
                lap = ir.Constant(i64, 1)
            ldb = builder.sdiv(builder.extract_value(barr.strides, 0), ir.Constant(i64, size))
            ldd = builder.sdiv(builder.extract_value(darr.strides, 0), ir.Constant(i64, size))
            b0 = builder.gep(barr.data, [bo_])
            c0 = builder.gep(darr.data, [builder.add(builder.mul(ci_, ldd), cj_)])
            # the MR x NV accumulators: stack slots that LLVM promotes to registers
            acc = [[cgutils.alloca_once_value(builder, ir.Constant(vec, [0.0] * W)) for _ in range(NV)]
                   for _ in range(MR)]
            splat = ir.Constant(ir.VectorType(i32, W), [0] * W)
            with cgutils.for_range(builder, kc_) as loop:              # for p in range(kc):
                p = loop.index
                brow = builder.bitcast(builder.gep(b0, [builder.mul(p, ldb)]), vecp)
                bv = [builder.load(builder.gep(brow, [ir.Constant(i64, v)]), align=size) for v in range(NV)]
                acol = builder.gep(aarr.data, [builder.mul(p, lap)])
                for i in range(MR):                                    # rank-1 update
                    x = builder.load(builder.gep(acol, [builder.mul(lai, ir.Constant(i64, i))]))
                    x = builder.insert_element(ir.Constant(vec, None), x, ir.Constant(i32, 0))
                    x = builder.shuffle_vector(x, ir.Constant(vec, None), splat)   # broadcast A[i, p]
                    for v in range(NV):
                        builder.store(builder.call(fma, [x, bv[v], builder.load(acc[i][v])]), acc[i][v])
            for i in range(MR):                                        # D's rows += the tile
                crow = builder.bitcast(builder.gep(c0, [builder.mul(ldd, ir.Constant(i64, i))]), vecp)
                for v in range(NV):
                    q = builder.gep(crow, [ir.Constant(i64, v)])
                    builder.store(builder.fadd(builder.load(q, align=size), builder.load(acc[i][v])), q,
                                  align=size)
        return sig, codegen
    return tile
