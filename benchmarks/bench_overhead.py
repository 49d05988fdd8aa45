"""Framework overhead per op: forward + backward on tiny (8, 8) tensors, where the
arithmetic is nothing and the bookkeeping (Function.apply, the tape walk) is all.

Each step runs 6 ops -- matmul, add, mul, tanh, sum ... -- and backward through
them; we report microseconds per op, and the same for PyTorch eager when it is
installed (2 threads); without it the torch row says "not installed".
Run: ``python benchmarks/bench_overhead.py [--quick]``.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# PyTorch runs in this process: keep minitl off GNU OpenMP, whose short spin (minitl/_process.py) PyTorch
# would share and be slowed by.  minitl's kernels run on Numba's workqueue pool here.
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
from _common import emit, peer_available, timeit  # noqa: E402

N = 8
OPS_PER_STEP = 6  # matmul, add, mul, tanh, sub, sum


def step(x, w, b):
    """One step of 6 ops on minitl or torch tensors alike; returns the scalar to call backward on."""
    h = x @ w            # MatMul
    h = h + b            # Add (broadcast)
    h = h * h            # Mul
    h = h.tanh()         # Tanh
    h = h - x            # Sub
    return h.sum()       # Sum


def run_minitl(iters: int, repeat: int) -> float:
    """Microseconds per op (forward + backward) of minitl."""
    import minitl
    rng = np.random.default_rng(0)
    x = minitl.tensor(rng.standard_normal((N, N)).astype(np.float32))
    w = minitl.tensor(rng.standard_normal((N, N)).astype(np.float32), requires_grad=True)
    b = minitl.tensor(rng.standard_normal(N).astype(np.float32), requires_grad=True)

    def loop():
        for _ in range(iters):
            step(x, w, b).backward()
    return timeit(loop, repeat=repeat, warmup=1) / (iters * OPS_PER_STEP) * 1e6


def run_torch(iters: int, repeat: int) -> float:
    """Microseconds per op (forward + backward) of PyTorch eager on 2 threads."""
    import torch
    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, N, generator=g)
    w = torch.randn(N, N, generator=g, requires_grad=True)
    b = torch.randn(N, generator=g, requires_grad=True)

    def loop():
        for _ in range(iters):
            step(x, w, b).backward()
    return timeit(loop, repeat=repeat, warmup=1) / (iters * OPS_PER_STEP) * 1e6


def main(argv=None) -> None:
    """Time both frameworks, print a table (torch "not installed" when it is absent) and a JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer iterations (seconds)")
    args = p.parse_args(argv)
    iters, repeat = (200, 3) if args.quick else (2000, 5)
    mine = run_minitl(iters, repeat)
    installed = peer_available("torch")
    theirs = run_torch(iters, repeat) if installed else None
    print(f"{'framework':<10} {'us/op (fwd+bwd)':>16}")
    print(f"{'minitl':<10} {mine:16.2f}")
    if theirs is not None:
        print(f"{'torch':<10} {theirs:16.2f}   (minitl / torch = {mine / theirs:.2f}x)")
    else:
        print(f"{'torch':<10} {'not installed':>16}   (pip install torch==2.13.0 to compare)")
    emit("overhead", {"shape": [N, N], "ops_per_step": OPS_PER_STEP, "iters": iters, "repeat": repeat,
                      "torch_threads": 2 if theirs is not None else None, "torch_installed": installed},
         {"minitl_us_per_op": round(mine, 3), "torch_us_per_op": None if theirs is None else round(theirs, 3)})


if __name__ == "__main__":
    main()
