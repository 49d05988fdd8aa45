"""Lesson 00b -- kernels: a Numba kernel next to its numpy twin, both timed.

Notes' section: (foundation -- not in the notes; what every later lesson runs on).

Read alongside:
  minitl/kernels/attention.py      the fused (flash-style) attention kernel: online softmax, O(T) memory
  minitl/kernels/softmax_xent.py   softmax + cross-entropy fused: saves one number per row (lse)
  minitl/kernels/reference.py      the numpy twins every kernel is tested against
  minitl/kernels/__init__.py       the threading layer; machine.py: what SIMD the kernels were built for

What you will see:
  1. fused attention, forward and backward: the kernel and its twin give the same numbers
     (max |difference| printed), and how long each takes (1 thread, CPU time, median of repeats);
  2. what the kernel does that the twin does not: the twin builds the whole (B, nh, T, T)
     score and probability matrices (its peak memory measured with tracemalloc), the kernel
     walks the keys in blocks with a running softmax and keeps only lse (B, nh, T);
  3. the same for softmax + cross-entropy.

Run:  python lessons/00b_kernels.py [--smoke|--quick|--full] [--T=256] [--out DIR]
"""
# %%
import contextlib
import os
import time
import tracemalloc

import numba
import numpy as np

from minitl.kernels import attention as att_kernel, machine_info, reference as ref, softmax_xent as xent_kernel
from minitl.lesson import parse
from minitl.viz.curves import plot_bars

# -----------------------------------------------------------------------------
config = dict(B=8, nh=4, T=256, hs=32, rows=4096, classes=8192, repeats=5, threads=1, seed=0)
# -----------------------------------------------------------------------------
args = parse(config, __doc__)
if args.mode == "smoke":
    args.B, args.T, args.rows, args.classes, args.repeats = 2, 64, 512, 1024, 3
elif args.mode == "full":
    args.T, args.repeats = 512, 9
os.makedirs(args.out, exist_ok=True)
numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
try:                                   # numpy's BLAS gets the same number of threads as Numba (optional peer)
    from threadpoolctl import threadpool_limits
    blas = threadpool_limits(args.threads, user_api="blas")
    blas_note = f"numpy's BLAS limited to {args.threads} thread(s)"
except ImportError:
    blas, blas_note = contextlib.nullcontext(), "BLAS threads not limited (pip install threadpoolctl)"
rng = np.random.default_rng(args.seed)
info = machine_info()
print(f"Machine: {info.get('simd', info)} build; {numba.get_num_threads()} Numba thread(s), {blas_note};\n"
      f"times are CPU seconds of the whole process (time.process_time), median of {args.repeats}.")


def cpu_time(fn, repeats):
    """(median CPU seconds of ``repeats`` calls, the last result); one untimed call first (JIT/cache load)."""
    fn()
    times, out = [], None
    for _ in range(repeats):
        t = time.process_time()
        out = fn()
        times.append(time.process_time() - t)
    return float(np.median(times)), out


def peak_mb(fn):
    """Peak of Python/numpy allocations during fn() in MB (tracemalloc; Numba's own buffers are not seen)."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


# %% 1. Fused attention vs its twin
B, nh, T, hs = args.B, args.nh, args.T, args.hs
q, k, v = (rng.standard_normal((B, nh, T, hs)).astype(np.float32) for _ in range(3))
dout = rng.standard_normal((B, nh, T, hs)).astype(np.float32)
print(f"\n1. Causal attention, q k v of shape (B, nh, T, hs) = {(B, nh, T, hs)}, float32:\n")
t_kf, (o_k, lse_k) = cpu_time(lambda: att_kernel.attention_fwd(q, k, v, causal=True), args.repeats)
t_rf, (o_r, lse_r) = cpu_time(lambda: ref.attention_ref(q, k, v, causal=True), args.repeats)
t_kb, g_k = cpu_time(lambda: att_kernel.attention_bwd(q, k, v, o_k, lse_k, dout, causal=True), args.repeats)
t_rb, g_r = cpu_time(lambda: ref.attention_bwd_ref(q, k, v, o_r, lse_r, dout, causal=True), args.repeats)
d_fwd = float(max(np.abs(o_k - o_r).max(), np.abs(lse_k - lse_r).max()))
d_bwd = float(max(np.abs(a - b).max() for a, b in zip(g_k, g_r)))
print(f"   {'':<22}{'kernel (ms)':>12}{'twin (ms)':>12}{'twin/kernel':>13}{'max |diff|':>12}")
print(f"   {'forward':<22}{1e3 * t_kf:>12.2f}{1e3 * t_rf:>12.2f}{t_rf / max(t_kf, 1e-9):>13.2f}{d_fwd:>12.2e}")
print(f"   {'backward (dq, dk, dv)':<22}{1e3 * t_kb:>12.2f}{1e3 * t_rb:>12.2f}{t_rb / max(t_kb, 1e-9):>13.2f}"
      f"{d_bwd:>12.2e}")
print(f"   check: kernel == twin within 1e-4 (forward and backward): {d_fwd < 1e-4 and d_bwd < 1e-4}")
promoted = (np.ones(1, np.float32) / np.sqrt(hs)).dtype
print(f"   (the twin divides by np.sqrt(hs), a float64 scalar: under numpy {np.__version__} float32 / that is "
      f"{promoted},\n   so its scores are computed in {promoted}; the kernel stays in float32 throughout)")

# %% 2. What the kernel does that the twin does not
mb_twin = peak_mb(lambda: ref.attention_ref(q, k, v, causal=True))
scores_mb = B * nh * T * T * 4 / 2**20
h = T // 2
mb_half = peak_mb(lambda: ref.attention_ref(q[:, :, :h], k[:, :, :h], v[:, :, :h], causal=True))
print(f"\n2. Memory.  The twin computes s = q k^T / sqrt(hs) as one (B, nh, T, T) array ({scores_mb:.1f} MB in\n"
      f"   float32), then exp, the sum, p: its measured peak is {mb_twin:.1f} MB of temporaries.  The kernel\n"
      f"   takes one (batch, head) per thread, walks the keys in blocks, and folds each block into a\n"
      f"   running max m, sum l and output o (the 'online softmax'); it saves only lse, (B, nh, T) =\n"
      f"   {B * nh * T * 4 / 2**10:.1f} KB, and the backward recomputes p from it.\n"
      f"   The twin's peak at T = {h} was {mb_half:.2f} MB: doubling T multiplied it by {mb_twin / mb_half:.1f}\n"
      f"   (T^2 grows 4x); the kernel's scratch (transposed k and v, a few rows) grows only 2x.")
print(f"   check: the twin's peak is at least the size of one score matrix: {mb_twin >= scores_mb}")

# %% 3. Softmax + cross-entropy
N, C = args.rows, args.classes
logits = rng.standard_normal((N, C)).astype(np.float32)
target = rng.integers(0, C, N)
t_kx, (loss_k, lse_k) = cpu_time(lambda: xent_kernel.softmax_xent_fwd(logits, target), args.repeats)
t_rx, (loss_r, lse_r) = cpu_time(lambda: ref.softmax_xent_fwd_ref(logits, target), args.repeats)
d_x = float(np.abs(loss_k - loss_r).max())
print(f"\n3. Softmax + cross-entropy forward, logits ({N}, {C}):\n")
print(f"   kernel {1e3 * t_kx:.2f} ms, twin {1e3 * t_rx:.2f} ms (twin/kernel {t_rx / max(t_kx, 1e-9):.2f}), "
      f"max |diff| {d_x:.2e}")
print(f"   The twin makes exp(logits - max) as a new ({N}, {C}) array; the kernel reads each row twice\n"
      f"   (max, then the sum of exp into a per-thread scratch row) and keeps one number per row, lse.")
print(f"   check: kernel == twin within 1e-4: {d_x < 1e-4}")
print("   (timings on a shared machine are noisy: rerun, and compare ratios rather than milliseconds)")

path = plot_bars(["attention forward", "attention backward", "softmax+xent forward"],
                 [t_rf / t_kf, t_rb / t_kb, t_rx / t_kx], os.path.join(args.out, "00b_kernels.png"),
                 xlabel="twin CPU time / kernel CPU time (> 1: the kernel is faster)", reference=(1.0, "same speed"),
                 title=f"Numba kernels vs numpy twins, {numba.get_num_threads()} thread(s), median of "
                       f"{args.repeats} (one run per bar, no error bars)")
print(f"\n   plot: {path}")
