"""Benchmark the LSTM layer: Numba kernel vs its numpy twin vs PyTorch's ``nn.LSTM`` (CPU).

    python benchmarks/bench_lstm.py [--quick] [--threads 2]

One LSTM layer, forward + backward through the tape (input projection, time
loop, gradients of x and every weight), at the sizes ELMo uses
(``minitl/models/elmo.py``): each direction of a layer has hidden size
H = d_model / 2 and reads the d_model-wide embedding (layer 0).  The three
contenders alternate over several rounds and each keeps its best time (the
machine is shared).  The main figures are CPU time on 1 thread
(``time.process_time``: time spent descheduled does not count); wall-clock
times on ``--threads`` threads are reported beside them.  First the kernel
is checked against the twin and against torch's numbers (same weights).

The last stdout line is one JSON object; ``lstm_speedup_vs_torch`` is torch's
time over the kernel's, 1 thread, at the largest size (> 1: the kernel is faster).
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# PyTorch runs in this process: keep minitl off GNU OpenMP, whose short spin (minitl/_process.py) PyTorch
# would share and be slowed by.  minitl's kernels run on Numba's workqueue pool here.
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
from _common import emit, peer_available  # noqa: E402
from bench_kernels import one_thread, race, set_threads  # noqa: E402

import minitl  # noqa: E402
from minitl import config  # noqa: E402
from minitl.ops.lstm import lstm  # noqa: E402
from minitl.models.elmo import PRESETS  # noqa: E402


def sizes(quick):
    """(name, B, T, I, H) per preset: batch 32 of block_size tokens, H = d_model / 2."""
    out = []
    for name in (("nano",) if quick else ("nano", "micro")):
        p = PRESETS[name]
        out.append((name, 32, p["block_size"], p["d_model"], p["d_model"] // 2))
    return out


def make_inputs(B, T, I, H, seed=0):
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H)
    return {"x": rng.standard_normal((B, T, I)).astype(np.float32),
            "w_ih": rng.uniform(-k, k, (4 * H, I)).astype(np.float32),
            "w_hh": rng.uniform(-k, k, (4 * H, H)).astype(np.float32),
            "bias": rng.uniform(-k, k, 4 * H).astype(np.float32),
            "dy": rng.standard_normal((B, T, H)).astype(np.float32)}


def minitl_step(inp, backend):
    """A closure: forward + backward of one layer on ``backend``; returns (h, grads)."""
    def run():
        with config.backend(backend):
            ts = {k: minitl.Tensor(inp[k], requires_grad=True) for k in ("x", "w_ih", "w_hh", "bias")}
            h = lstm(ts["x"], ts["w_ih"], ts["w_hh"], ts["bias"])
            h.backward(inp["dy"])
        return h.data, {k: t.grad for k, t in ts.items()}
    return run


def torch_step(inp):
    import torch
    B, T, I = inp["x"].shape
    H = inp["w_hh"].shape[1]
    m = torch.nn.LSTM(I, H, batch_first=True)
    with torch.no_grad():
        m.weight_ih_l0.copy_(torch.from_numpy(inp["w_ih"]))
        m.weight_hh_l0.copy_(torch.from_numpy(inp["w_hh"]))
        m.bias_ih_l0.copy_(torch.from_numpy(inp["bias"]))
        m.bias_hh_l0.zero_()
    dy = torch.from_numpy(inp["dy"])

    def run():
        x = torch.from_numpy(inp["x"]).requires_grad_(True)
        m.zero_grad()
        h, _ = m(x)
        h.backward(dy)
        return h.detach().numpy(), {"x": x.grad.numpy(), "w_ih": m.weight_ih_l0.grad.numpy(),
                                     "w_hh": m.weight_hh_l0.grad.numpy(), "bias": m.bias_ih_l0.grad.numpy()}
    return run


def validate(inp, have_torch):
    """Largest relative difference of the kernel's outputs and gradients vs the twin and torch."""
    k_h, k_g = minitl_step(inp, "numba")()
    pairs = {"reference": minitl_step(inp, "reference")()}
    if have_torch:
        pairs["torch"] = torch_step(inp)()
    out = {}
    for name, (h, g) in pairs.items():
        errs = [np.abs(k_h - h).max() / (np.abs(h).max() + 1e-12)]
        errs += [np.abs(k_g[k] - g[k]).max() / (np.abs(g[k]).max() + 1e-12) for k in g]
        out[name] = float(max(errs))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="nano size only, fewer rounds")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    info = set_threads(args.threads)
    have_torch = peer_available("torch")
    if have_torch:
        import torch
        torch.set_num_threads(args.threads)
        info["torch"] = torch.__version__
    rounds = 3 if args.quick else 6
    results, ok = {}, True
    for name, B, T, I, H in sizes(args.quick):
        inp = make_inputs(B, T, I, H)
        err = validate(inp, have_torch)
        ok &= all(e < 1e-4 for e in err.values())
        fns = [minitl_step(inp, "numba"), minitl_step(inp, "reference")] + ([torch_step(inp)] if have_torch else [])
        with one_thread(args.threads):
            cpu1 = race(fns, rounds, clock=time.process_time)
        wall = race(fns, rounds)
        row = {"shape": {"B": B, "T": T, "I": I, "H": H}, "max_rel_err": err,
               "kernel_ms_1t": 1e3 * cpu1[0], "reference_ms_1t": 1e3 * cpu1[1],
               "kernel_ms_wall": 1e3 * wall[0], "reference_ms_wall": 1e3 * wall[1],
               "speedup_vs_reference_1t": cpu1[1] / cpu1[0]}
        line = (f"{name:>6} B{B} T{T} I{I} H{H}: kernel {1e3 * cpu1[0]:7.2f} ms  twin {1e3 * cpu1[1]:7.2f} ms")
        if have_torch:
            row.update(torch_ms_1t=1e3 * cpu1[2], torch_ms_wall=1e3 * wall[2], speedup_vs_torch_1t=cpu1[2] / cpu1[0],
                       speedup_vs_torch_wall=wall[2] / wall[0])
            line += f"  torch {1e3 * cpu1[2]:7.2f} ms  -> {cpu1[2] / cpu1[0]:.2f}x torch"
        print(line + f"   (1-thread CPU time, fwd+bwd; wall on {args.threads} threads: kernel "
                     f"{1e3 * wall[0]:.2f} ms" + (f", torch {1e3 * wall[2]:.2f} ms)" if have_torch else ")"))
        results[name] = row
    last = results[list(results)[-1]]
    results["lstm_speedup_vs_torch"] = last.get("speedup_vs_torch_1t")
    results["validated"] = bool(ok)
    emit("lstm", {"quick": args.quick, "threads": args.threads, **info}, results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
