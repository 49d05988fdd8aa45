"""Benchmark the Numba kernels against their peers, measured side by side.

    python benchmarks/bench_kernels.py [--quick] [--threads 2]

AVX2 figures on an AVX-512 machine: ``NUMBA_CPU_NAME=haswell NUMBA_CPU_FEATURES=
OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2`` (the empty NUMBA_CPU_FEATURES
matters: with NUMBA_CPU_NAME alone Numba keeps the host's AVX-512 features).

1. Validates every kernel against its numpy twin (exits 1 on a mismatch).
2. Times each kernel beside its peer in the same run, alternating the two over
   several rounds and keeping the best time of each (the machine is shared):
   matmul vs numpy's BLAS; fused attention fwd+bwd vs the numpy composite
   (``reference.attention_ref`` + ``attention_bwd_ref``) and vs PyTorch's
   ``scaled_dot_product_attention``; the layer kernels vs their twins.
3. Extra memory of attention at T=2048 (tracemalloc: numpy's allocations,
   which is every array the kernels' wrappers make; the kernels' own per-task
   scratch -- each head's gathered (T, hs) rows and the row buffers -- is
   added as ``attention_scratch_bytes`` computes it from the
   kernels' constants), and Numba's compile time in fresh
   subprocesses (cold cache, then warm cache).

The last stdout line is one JSON object (see benchmarks/_common.py).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import PeerProcess, emit, peer_available  # noqa: E402  (also puts the repository on sys.path)
import minitl  # noqa: E402,F401  (before numpy: its OPENBLAS_THREAD_TIMEOUT must reach OpenBLAS as it loads)
import numpy as np  # noqa: E402

import numba  # noqa: E402

from minitl.kernels import reference as R  # noqa: E402
from minitl.kernels import matmul as MM, attention as AT, layernorm as LN, softmax_xent as SX  # noqa: E402
from minitl.kernels import gelu as GE, embedding as EM, adamw as AW  # noqa: E402


def set_threads(n):
    info = {"numba_threads": n}
    numba.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits, threadpool_info
        threadpool_limits(n)
        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if blas:
            b = blas[0]
            info["blas_kernel"] = f"{b.get('internal_api')} {b.get('version')} {b.get('architecture')}"
            info["blas_threads"] = b.get("num_threads")
    except ImportError:
        info["blas_kernel"] = None
    return info


class SelfTimed:
    """A callable that measures itself (a peer in another process): it returns its own seconds."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self):
        return self.fn()


def race(fns, rounds, repeat=3, clock=time.perf_counter):
    """Alternate the callables for ``rounds`` rounds; best seconds of each.

    ``clock=time.process_time`` (used for the 1-thread figures) counts CPU time
    only, so time spent descheduled on a shared machine does not count.  A
    ``SelfTimed`` callable reports its own seconds (measured with the same kind of clock).
    """
    for f in fns:
        f()                                   # warm up (and compile)
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, f in enumerate(fns):
            for _ in range(repeat):
                t0 = clock()
                r = f()
                best[i] = min(best[i], r if isinstance(f, SelfTimed) else clock() - t0)
    return best


class one_thread:
    """Run a block on 1 thread (numba, BLAS, torch), then go back to ``threads``."""

    def __init__(self, threads):
        self.threads = threads

    def __enter__(self):
        set_threads(1)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)

    def __exit__(self, *exc):
        set_threads(self.threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(self.threads)


def rand(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# -- 1. validation -------------------------------------------------------------

def validate():
    rows = []

    def check(name, got, want, tol=2e-4):
        got, want = np.atleast_1d(got), np.atleast_1d(want)
        ok = got.shape == want.shape and np.allclose(got, want, rtol=tol, atol=tol)
        err = float(np.max(np.abs(got - want), initial=0.0)) if got.shape == want.shape else float("nan")
        rows.append((name, ok, err))

    a, b, g = rand((67, 45)), rand((45, 33), 1), rand((67, 33), 2)
    check("matmul", MM.matmul(a, b), R.matmul_ref(a, b))
    for n, x, y in zip(("matmul dA", "matmul dB"), MM.matmul_bwd(a, b, g), R.matmul_bwd_ref(a, b, g)):
        check(n, x, y)
    q, k, v, do = (rand((2, 3, 37, 8), i) for i in range(4))
    mask = np.random.default_rng(0).random((2, 37)) > 0.2
    mask[0] = False
    o, l = AT.attention_fwd(q, k, v, True, mask)
    ro, rl = R.attention_ref(q, k, v, True, mask)
    check("attention out", o, ro)
    check("attention lse", np.where(np.isinf(l), 0, l), np.where(np.isinf(rl), 0, rl))
    for n, x, y in zip(("attention dq", "dk", "dv"), AT.attention_bwd(q, k, v, o, l, do, True, mask),
                       R.attention_bwd_ref(q, k, v, ro, rl, do, True, mask)):
        check(n, x, y)
    x, w, bb, dy = rand((50, 96)), rand((96,), 1), rand((96,), 2), rand((50, 96), 3)
    y, mu, rs = LN.layernorm_fwd(x, w, bb)
    check("layernorm", y, R.layernorm_fwd_ref(x, w, bb)[0])
    for n, s, t in zip(("layernorm dx", "dw", "db"), LN.layernorm_bwd(dy, x, w, mu, rs),
                       R.layernorm_bwd_ref(dy, x, w, mu, rs)):
        check(n, s, t)
    tgt = np.random.default_rng(0).integers(0, 96, 50)
    tgt[::7] = -100
    loss, lse = SX.softmax_xent_fwd(x, tgt)
    check("softmax_xent", loss, R.softmax_xent_fwd_ref(x, tgt)[0])
    check("softmax_xent dlogits", SX.softmax_xent_bwd(x, tgt, lse, dy[:, 0]),
          R.softmax_xent_bwd_ref(x, tgt, lse, dy[:, 0]))
    check("gelu", GE.gelu_fwd(x), R.gelu_fwd_ref(x))
    check("gelu dx", GE.gelu_bwd(x, dy), R.gelu_bwd_ref(x, dy))
    check("embedding dW", EM.embedding_bwd(tgt % 11, dy, 11), R.embedding_bwd_ref(tgt % 11, dy, 11))
    p1, p2 = x.copy(), x.copy()
    s1, s2 = [np.zeros_like(x) for _ in range(2)], [np.zeros_like(x) for _ in range(2)]
    AW.adamw_update_(p1, dy, *s1, 1, 1e-2, 0.9, 0.999, 1e-8, 0.1)
    R.adamw_ref(p2, dy, *s2, 1, 1e-2, 0.9, 0.999, 1e-8, 0.1)
    check("adamw", p1, p2, 1e-5)
    print(f"{'validation (kernel vs numpy twin)':<36} {'ok':>4} {'max |diff|':>11}")
    for name, ok, err in rows:
        print(f"  {name:<34} {'yes' if ok else 'NO':>4} {err:11.2e}")
    return all(ok for _, ok, _ in rows)


# -- 2. timing ---------------------------------------------------------------------

def bench_matmul(n, rounds, clock=time.perf_counter):
    a, b = rand((n, n)), rand((n, n), 1)
    tk, tn = race([lambda: MM.matmul(a, b), lambda: a @ b], rounds, repeat=5, clock=clock)
    return tk, tn


HASWELL_SNIPPET = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import bench_kernels as bk
info = bk.set_threads(int(sys.argv[2]))
out = {"blas_kernel": info.get("blas_kernel")}
for n in (512, 1024):
    tk, tn = bk.bench_matmul(n, int(sys.argv[3]))
    out[n] = tn / tk
bk.set_threads(1)
for n in (512, 1024):
    tk, tn = bk.bench_matmul(n, int(sys.argv[3]), clock=time.process_time)
    out[f"{n}_1thread_cpu"] = tn / tk
print(json.dumps(out))
"""


def matmul_vs_haswell_blas(threads, rounds):
    """The same ratio with numpy's OpenBLAS forced to its Haswell kernel (OPENBLAS_CORETYPE=Haswell),
    in a subprocess: the kernel the issue assumed numpy runs here.  Supplementary, labelled as such."""
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, OPENBLAS_CORETYPE="Haswell")
    try:
        out = subprocess.run([sys.executable, "-c", HASWELL_SNIPPET, here, str(threads), str(rounds)], env=env,
                             capture_output=True, text=True, check=True, timeout=600)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except Exception as e:                      # a supplementary figure must not sink the benchmark
        print(f"(Haswell-BLAS comparison skipped: {e})", file=sys.stderr)
        return None


def crossover(rounds):
    """numpy/kernel per shape, 1 thread each, CPU time (robust on a shared machine)."""
    shapes = [((32, 32), (32, 32)), ((128, 128), (128, 128)), ((256, 256), (256, 256)),
              ((512, 128), (128, 512)), ((2048, 128), (128, 384)), ((64, 256, 32), (64, 32, 256))]
    out = []
    for sa, sb in shapes:
        a, b = rand(sa), rand(sb, 1)
        tk, tn = race([lambda: MM.matmul(a, b), lambda: np.matmul(a, b)], rounds, repeat=5,
                      clock=time.process_time)
        out.append((f"{sa}@{sb}", tk, tn))
    return out


def torch_attention(q, k, v, do, threads, clock):
    """PyTorch's SDPA forward + backward on the same inputs, timed in a process of its own
    (``_torch_peer.py``; ``_common.PeerProcess`` says why); None without torch."""
    if not peer_available("torch"):
        return None, None
    with tempfile.TemporaryDirectory() as tmp:         # the peer has read its inputs once it is ready
        path = os.path.join(tmp, "qkv.npz")
        np.savez(path, q=q, k=k, v=v, do=do)
        peer = PeerProcess([os.path.join(os.path.dirname(os.path.abspath(__file__)), "_torch_peer.py"), "sdpa",
                            path])
        peer.ready()
    req = {"threads": threads, "clock": "cpu" if clock is time.process_time else "wall"}
    return SelfTimed(lambda: peer.ask(req)["seconds"]), peer


def bench_attention(B, H, T, D, rounds, threads, clock=time.perf_counter):
    q, k, v, do = (rand((B, H, T, D), i) for i in range(4))

    def fused():
        o, l = AT.attention_fwd(q, k, v, True)
        return AT.attention_bwd(q, k, v, o, l, do, True)

    def composite():
        o, l = R.attention_ref(q, k, v, True)
        return R.attention_bwd_ref(q, k, v, o, l, do, True)

    fns = [fused, composite]
    tr, peer = torch_attention(q, k, v, do, threads, clock)
    if tr is not None:
        fns.append(tr)
    times = race(fns, rounds, repeat=2, clock=clock)
    if peer is not None:
        peer.close()
    return times[0], times[1], (times[2] if tr is not None else None)


def extra_memory(fn, *arrays):
    """Peak bytes numpy allocates while fn(*arrays) runs, beyond what exists before."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn(*arrays)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def attention_scratch_bytes(T, hs, itemsize, threads):
    """Bytes the attention kernels allocate per running task (Numba's allocator, which tracemalloc
    does not see), times ``threads``: what ``kernels/attention.py`` allocates per prange task.
    Both gather the head's rows (T rounded up to QB for q, out, dout and dq).  Forward: q, k
    transposed, v, a scratch copy (4 x T x hs), S (QB, KBLK), packed q rows (hs*QB), out rows
    (QB, hs), the dropout row (KBLK) and exp's int32 bits (KBLK).  Backward: q, k as rows and
    transposed, v transposed, a scratch copy, out, dout, dq, dk, dv (10 x T x hs), lse (T), P, Dp, Mk
    (QB, KBLK) each, two packed rows (hs*QB), bits (KBLK).  One thread runs one of the two at a time."""
    QB, KB = AT.QB, AT.KBLK
    Tq = -(-T // QB) * QB
    fwd = (4 * Tq * hs + QB * KB + hs * QB + QB * hs + KB) * itemsize + KB * 4
    bwd = (10 * Tq * hs + Tq + 3 * QB * KB + 2 * hs * QB) * itemsize + KB * 4
    return threads * max(fwd, bwd)


def attention_memory(B, H, T, D, threads):
    q, k, v, do = (rand((B, H, T, D), i) for i in range(4))

    def fused(q, k, v, do):
        o, l = AT.attention_fwd(q, k, v, True)
        AT.attention_bwd(q, k, v, o, l, do, True)

    def composite(q, k, v, do):
        o, l = R.attention_ref(q, k, v, True)
        R.attention_bwd_ref(q, k, v, o, l, do, True)

    fused(q[:, :, :8], k[:, :, :8], v[:, :, :8], do[:, :, :8])       # compile outside the measurement
    # tracemalloc sees numpy's allocations only; the kernels' scratch comes from Numba's allocator
    scratch = attention_scratch_bytes(T, D, q.itemsize, min(threads, B * H))
    mf = extra_memory(fused, q, k, v, do) + scratch
    mc = extra_memory(composite, q, k, v, do)
    return mf, mc


def bench_layer_ops(rounds, clock=time.perf_counter):
    x, dy = rand((4096, 256)), rand((4096, 256), 1)
    w, b = rand((256,), 2), rand((256,), 3)
    y, mu, rs = LN.layernorm_fwd(x, w, b)
    tgt = np.random.default_rng(0).integers(0, 256, 4096)
    _, lse = SX.softmax_xent_fwd(x, tgt)
    ids = np.random.default_rng(1).integers(0, 1000, 4096)
    p, m, v = x.copy(), np.zeros_like(x), np.zeros_like(x)
    pairs = {
        "layernorm_fwd_bwd": (lambda: LN.layernorm_bwd(dy, x, w, *LN.layernorm_fwd(x, w, b)[1:]),
                              lambda: R.layernorm_bwd_ref(dy, x, w, *R.layernorm_fwd_ref(x, w, b)[1:])),
        "softmax_xent_fwd_bwd": (lambda: SX.softmax_xent_bwd(x, tgt, SX.softmax_xent_fwd(x, tgt)[1], dy[:, 0]),
                                 lambda: R.softmax_xent_bwd_ref(x, tgt, R.softmax_xent_fwd_ref(x, tgt)[1],
                                                                dy[:, 0])),
        "gelu_fwd_bwd": (lambda: (GE.gelu_fwd(x), GE.gelu_bwd(x, dy)),
                         lambda: (R.gelu_fwd_ref(x), R.gelu_bwd_ref(x, dy))),
        "embedding_bwd": (lambda: EM.embedding_bwd(ids, dy, 1000), lambda: R.embedding_bwd_ref(ids, dy, 1000)),
        "adamw": (lambda: AW.adamw_update_(p, dy, m, v, 3, 1e-3, 0.9, 0.999, 1e-8, 0.01),
                  lambda: R.adamw_ref(p, dy, m, v, 3, 1e-3, 0.9, 0.999, 1e-8, 0.01)),
    }
    return {k: race(list(fs), rounds, clock=clock) for k, fs in pairs.items()}


# -- 3. compile time ------------------------------------------------------------------

COMPILE_SNIPPET = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
from minitl.kernels import matmul as MM, attention as AT, layernorm as LN, softmax_xent as SX
from minitl.kernels import gelu as GE, embedding as EM, adamw as AW
t_import = time.perf_counter() - t0
times = {}
for dt in (np.float32, np.float64):
    t0, c0 = time.perf_counter(), time.process_time()
    a = np.ones((5, 5), dt)
    MM.matmul(a, a)
    q = np.ones((1, 1, 3, 2), dt)
    o, l = AT.attention_fwd(q, q, q, True)
    AT.attention_bwd(q, q, q, o, l, q, True)
    y, mu, rs = LN.layernorm_fwd(a, a[0], a[0])
    LN.layernorm_bwd(a, a, a[0], mu, rs)
    t = np.zeros(5, np.int64)
    loss, lse = SX.softmax_xent_fwd(a, t)
    SX.softmax_xent_bwd(a, t, lse, lse)
    GE.gelu_bwd(a, GE.gelu_fwd(a))
    EM.embedding_bwd(t, a, 5)
    AW.adamw_update_(a, a.copy(), a.copy(), a.copy(), 1, 1e-3, 0.9, 0.999, 1e-8, 0.0)
    times[np.dtype(dt).name] = (time.perf_counter() - t0, time.process_time() - c0)
kernels = [MM.matmul_kernel, AT.attention_fwd_kernel, AT.attention_bwd_kernel,
           LN.layernorm_fwd_kernel, LN.layernorm_bwd_kernel, SX.softmax_xent_fwd_kernel,
           SX.softmax_xent_bwd_kernel, GE.gelu_fwd_kernel, GE.gelu_bwd_kernel,
           EM.embedding_bwd_kernel, AW.adamw_kernel]
print(json.dumps({"import": t_import, "first_calls": times["float32"][0] + times["float64"][0],
                  "first_calls_cpu": times["float32"][1] + times["float64"][1],
                  "float32_only": times["float32"][0], "float32_only_cpu": times["float32"][1],
                  "specializations": sum(len(k.signatures) for k in kernels), "kernels": len(kernels)}))
"""


def compile_times():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("NUMBA_DISABLE_JIT", None)
        runs = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", COMPILE_SNIPPET], env=env, capture_output=True,
                                 text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return runs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds and a smaller sweep (a minute or two)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rounds = 3 if args.quick else 6
    cfg = dict(quick=args.quick, threads=args.threads, numba=numba.__version__, numpy=np.__version__,
               attention_shape="B=16 H=4 T=256 D=32 float32 causal", memory_shape="B=1 H=4 T=2048 D=32",
               OPENBLAS_CORETYPE=os.environ.get("OPENBLAS_CORETYPE"))
    cfg.update(set_threads(args.threads))
    try:
        import llvmlite.binding as ll
        cfg["cpu"] = ll.get_host_cpu_name()
    except Exception:
        pass
    from minitl.kernels import machine_info
    info = machine_info()
    cfg.update(simd=info["simd"], numba_cpu_name=info["cpu_name"], matmul_tile=info["matmul_tile"],
               attention_tile=info["attention_tile"])
    print(f"kernels built for {info['simd']} ({info['cpu_name']}): matmul tile {info['matmul_tile']}, "
          f"KB={info['matmul_kb']}, attention tile {info['attention_tile']}")
    if not validate():
        print("validation FAILED: not timing kernels that disagree with their twins", file=sys.stderr)
        sys.exit(1)
    res = {"blas_kernel": cfg.get("blas_kernel")}

    print(f"\n{'matmul float32 (n x n)':<30} {'kernel ms':>10} {'numpy ms':>10} {'numpy/kernel':>13}")
    for n in (512, 1024):
        tk, tn = bench_matmul(n, rounds)
        res[f"matmul_speedup_vs_numpy_{n}"] = round(tn / tk, 3)
        res[f"matmul_gflops_kernel_{n}"] = round(2 * n ** 3 / tk / 1e9, 1)
        res[f"matmul_gflops_numpy_{n}"] = round(2 * n ** 3 / tn / 1e9, 1)
        print(f"  n={n:<26} {tk * 1e3:10.2f} {tn * 1e3:10.2f} {tn / tk:13.2f}")
    with one_thread(args.threads):
        for n in (512, 1024):
            tk, tn = bench_matmul(n, rounds, clock=time.process_time)
            res[f"matmul_speedup_vs_numpy_{n}_1thread_cpu"] = round(tn / tk, 3)
            print(f"  n={n}, 1 thread, CPU time{'':<9} {tk * 1e3:10.2f} {tn * 1e3:10.2f} {tn / tk:13.2f}")
    hw = matmul_vs_haswell_blas(args.threads, rounds)
    if hw:
        for n in (512, 1024):
            res[f"matmul_speedup_vs_numpy_haswell_{n}"] = round(hw[str(n)], 3)
            res[f"matmul_speedup_vs_numpy_haswell_{n}_1thread_cpu"] = round(hw[f"{n}_1thread_cpu"], 3)
        print(f"  vs numpy with OPENBLAS_CORETYPE=Haswell ({hw['blas_kernel']}): "
              f"n=512 {hw['512']:.2f}x, n=1024 {hw['1024']:.2f}x; "
              f"1 thread CPU: {hw['512_1thread_cpu']:.2f}x, {hw['1024_1thread_cpu']:.2f}x")
    print(f"\n{'matmul crossover sweep (1 thread, CPU)':<44} {'kernel ms':>10} {'numpy ms':>10} {'numpy/kernel':>13}")
    with one_thread(args.threads):
        sweep = crossover(2 if args.quick else 4)
    for name, tk, tn in sweep:
        print(f"  {name:<42} {tk * 1e3:10.3f} {tn * 1e3:10.3f} {tn / tk:13.2f}")
    res["matmul_crossover_shapes_kernel_faster"] = [name for name, tk, tn in sweep if tk < tn]

    tf, tc, tt = bench_attention(16, 4, 256, 32, rounds, args.threads)
    res["attention_ms_fused_T256"] = round(tf * 1e3, 2)
    res["attention_ms_numpy_T256"] = round(tc * 1e3, 2)
    res["attention_ms_torch_T256"] = round(tt * 1e3, 2) if tt else None
    res["attention_speedup_vs_numpy_T256"] = round(tc / tf, 3)
    res["attention_speedup_vs_torch_T256"] = round(tt / tf, 3) if tt else None
    print(f"\nattention fwd+bwd, B=16 H=4 T=256 D=32 causal float32: fused {tf * 1e3:.1f} ms, "
          f"numpy composite {tc * 1e3:.1f} ms ({tc / tf:.2f}x), torch SDPA "
          + (f"{tt * 1e3:.1f} ms ({tt / tf:.2f}x)" if tt else "not installed"))
    with one_thread(args.threads):
        tf1, tc1, tt1 = bench_attention(16, 4, 256, 32, rounds, 1, clock=time.process_time)
    res["attention_speedup_vs_numpy_T256_1thread_cpu"] = round(tc1 / tf1, 3)
    res["attention_speedup_vs_torch_T256_1thread_cpu"] = round(tt1 / tf1, 3) if tt1 else None
    print(f"  1 thread, CPU time: fused {tf1 * 1e3:.1f} ms, numpy {tc1 * 1e3:.1f} ms ({tc1 / tf1:.2f}x), torch "
          + (f"{tt1 * 1e3:.1f} ms ({tt1 / tf1:.2f}x)" if tt1 else "not installed"))
    mf, mc = attention_memory(1, 2 if args.quick else 4, 2048, 32, args.threads)
    res["attention_extra_mb_fused_T2048"] = round(mf / 2 ** 20, 2)
    res["attention_extra_mb_numpy_T2048"] = round(mc / 2 ** 20, 2)
    res["attention_peak_mem_ratio_T2048"] = round(mf / mc, 4)
    print(f"attention extra memory at T=2048: fused {mf / 2 ** 20:.1f} MiB, composite {mc / 2 ** 20:.1f} MiB "
          f"(ratio {mf / mc:.3f})")

    print(f"\n{'layer kernels (4096 x 256 float32)':<30} {'kernel ms':>10} {'numpy ms':>10} {'speedup':>9}")
    for name, (tk, tn) in bench_layer_ops(rounds).items():
        res[f"{name}_speedup_vs_numpy"] = round(tn / tk, 2)
        print(f"  {name:<28} {tk * 1e3:10.3f} {tn * 1e3:10.3f} {tn / tk:9.2f}")
    with one_thread(args.threads):
        for name, (tk, tn) in bench_layer_ops(rounds, clock=time.process_time).items():
            res[f"{name}_speedup_vs_numpy_1thread_cpu"] = round(tn / tk, 2)
            print(f"  {name + ', 1 thread CPU':<28} {tk * 1e3:10.3f} {tn * 1e3:10.3f} {tn / tk:9.2f}")

    cold, cached = compile_times()
    res["compile_seconds_cold"] = round(cold["first_calls"], 2)
    res["compile_cpu_seconds_cold"] = round(cold["first_calls_cpu"], 2)
    res["compile_seconds_cold_float32_only"] = round(cold["float32_only"], 2)
    res["compile_cpu_seconds_cold_float32_only"] = round(cold["float32_only_cpu"], 2)
    res["compile_seconds_cached"] = round(cached["first_calls"], 2)
    res["import_seconds_cached"] = round(cached["import"], 2)
    res["specializations"] = cold["specializations"]
    print(f"\nNumba compile, {cold['kernels']} kernels x float32/float64 = {cold['specializations']} "
          f"specializations: cold cache {cold['first_calls']:.1f} s ({cold['first_calls_cpu']:.1f} s CPU; "
          f"float32 alone, what a lesson compiles: {cold['float32_only']:.1f} s), "
          f"warm cache {cached['first_calls']:.2f} s")
    emit("kernels", cfg, res)


if __name__ == "__main__":
    main()
