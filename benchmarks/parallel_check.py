"""Print Numba's parallel diagnostics for every ``prange`` kernel (minitorch's parallel_check.py).

    python benchmarks/parallel_check.py [--level 1..4] [--only matmul,attention_fwd,...] [--quick]

For each kernel it compiles a fresh, uncached copy of the plain Python function
(so the diagnostics exist: cached code carries none) with ``parallel=True``,
runs it once on small float32 inputs, and prints
``dispatcher.parallel_diagnostics(level=...)``: which loops became parallel
(the ``prange`` ones), what was fused or hoisted, and allocation hoisting.
Then a one-line summary per kernel: parallel loops found, and whether the
compiled code uses 512-bit (zmm), 256-bit (ymm) or only scalar floating
point (``NUMBA_CPU_NAME=haswell NUMBA_CPU_FEATURES=`` shows the AVX2 build).  Last stdout line: one JSON object (benchmarks/_common.py).
"""
import argparse
import contextlib
import io
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit  # noqa: E402

from numba import njit  # noqa: E402

from minitl.kernels import matmul as MM, attention as AT, layernorm as LN, softmax_xent as SX  # noqa: E402
from minitl.kernels import gelu as GE, embedding as EM, adamw as AW  # noqa: E402
from minitl.kernels._jit import FASTMATH, wide_vectors  # noqa: E402
from minitl.kernels import machine_info  # noqa: E402


def _inputs():
    f = np.float32
    r = np.random.default_rng(0)
    a3 = r.standard_normal((1, 9, 9)).astype(f)
    qkv = r.standard_normal(5 * 24).astype(f)                  # a packed (B=1, T=5, 3 x 2 heads x 4) qkv, flat
    src = np.array([0, 8, 16, 5 * 24, 4, 24], np.int64)         # q, k, v offsets; batch, head, step strides
    out, dst = np.zeros(5 * 8, f), np.array([0, 40, 4, 8], np.int64)
    lse3, dqkv = np.zeros((1, 2, 5), f), np.empty_like(qkv)
    drop = (np.uint64(0), np.uint64(0), f(1.0))
    keep = np.ones((1, 5), f)
    x, w = r.standard_normal((6, 8)).astype(f), np.ones(8, f)
    t = np.zeros(6, np.int64)
    lse = np.zeros(6, f)
    flat = x.reshape(-1)
    s = f(0.5)
    return {
        "matmul": (MM._matmul_gebp, True, (a3, a3, np.zeros_like(a3), 4)),
        "attention_fwd": (AT._attention_fwd, FASTMATH, (qkv, qkv, qkv, src, keep, 2, 4, True, s, False, out, dst,
                                                        lse3, *drop, 2)),
        "attention_bwd": (AT._attention_bwd, FASTMATH, (qkv, qkv, qkv, src, keep, 2, 4, True, s, False, out, out,
                                                        dst, lse3, dqkv, dqkv, dqkv, *drop, 2)),
        "layernorm_fwd": (LN._layernorm_fwd, True, (x, w, w, f(1e-5), np.empty_like(x), lse, lse.copy())),
        "layernorm_bwd": (LN._layernorm_bwd, True, (x, x, w, lse, lse + 1, np.empty_like(x), np.zeros((2, 8), f),
                                                    np.zeros((2, 8), f))),
        "softmax_xent_fwd": (SX._softmax_xent_fwd, FASTMATH, (x, t, -100, False, lse.copy(), lse.copy())),
        "softmax_xent_bwd": (SX._softmax_xent_bwd, FASTMATH, (x, t, lse, lse, -100, False, np.empty_like(x))),
        "gelu_fwd": (GE._gelu_fwd, FASTMATH, (flat, np.empty_like(flat), False)),
        "gelu_bwd": (GE._gelu_bwd, FASTMATH, (flat, flat, np.empty_like(flat), False)),
        "embedding_bwd": (EM._embedding_bwd, False, (t, x, np.zeros((3, 8), f))),
        "adamw": (AW._adamw, True, (flat.copy(), flat, np.zeros_like(flat), np.zeros_like(flat), 1e-3, 0.9, 0.999,
                                   1e-8, 0.0, 0.1, 0.03)),
    }


def vector_width(dispatcher):
    """Count float arithmetic by register width in the compiled code, outlined prange bodies included."""
    lib = dispatcher.overloads[dispatcher.signatures[0]].library
    asm = lib.get_asm_str()
    for linked in getattr(lib, "_linking_libraries", ()):   # the gufuncs Numba outlines for prange
        asm += linked.get_asm_str()
    ops = r"v(?:fmadd|fmsub|fnmadd|mul|add|sub|div|max)[0-9a-z]*"
    return {"zmm_ops": len(re.findall(ops + r"p[sd]\s+[^\n]*zmm", asm)),
            "ymm_ops": len(re.findall(ops + r"p[sd]\s+[^\n]*ymm", asm)),
            "scalar_ops": len(re.findall(ops + r"s[sd]\s", asm)),
            # hardware gathers/scatters: often a flat index like x[p + c] whose negative-index
            # wraparound LLVM could not rule out (copy through a slice view instead)
            "gathers": len(re.findall(r"vgather", asm)), "scatters": len(re.findall(r"vscatter", asm))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--level", type=int, default=1, help="diagnostics detail, 1 (summary) to 4 (everything)")
    ap.add_argument("--only", default="", help="comma-separated kernel names")
    ap.add_argument("--quick", action="store_true", help="accepted for symmetry with the other benchmarks")
    args = ap.parse_args()
    table = _inputs()
    names = [n for n in table if not args.only or n in args.only.split(",")]
    summary = {}
    for name in names:
        fn, fastmath, inputs = table[name]
        kernel = njit(parallel=True, fastmath=fastmath)(fn)
        if name == "matmul":                       # loop vectorizer at the machine's width (machine.py)
            with wide_vectors():
                kernel(*inputs)
        else:
            kernel(*inputs)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            kernel.parallel_diagnostics(level=args.level)
        text = buf.getvalue()
        print(f"\n{'=' * 30} {name} {'=' * 30}\n{text}")
        n_par = len(set(re.findall(r"\| #(\d+)", text)))          # loop ids in the parallel listing
        summary[name] = {"parallel_loops": n_par, **vector_width(kernel)}
    print(f"\n{'kernel':<18} {'parallel loops':>14} {'zmm':>6} {'ymm':>6} {'scalar':>7} {'gathers':>8} {'scatters':>9}")
    for name, s in summary.items():
        print(f"{name:<18} {s['parallel_loops']:>14} {s['zmm_ops']:>6} {s['ymm_ops']:>6} {s['scalar_ops']:>7} "
              f"{s['gathers']:>8} {s['scatters']:>9}")
    info = machine_info()
    emit("parallel_check", {"level": args.level, "simd": info["simd"], "matmul_tile": info["matmul_tile"]}, summary)


if __name__ == "__main__":
    main()
