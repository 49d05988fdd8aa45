"""Training tokens/second of minitl's GPT and BERT beside the same models in PyTorch eager.

    python benchmarks/bench_train_step.py [--quick] [--no-compile] [--threads 1 --cpu-time]

Shape: n_layer=4, n_head=4, d_model=128, block_size=64, vocab_size=8192, batch 32,
AdamW, 2 threads (Numba, BLAS and torch).  One step = forward, loss, backward,
AdamW update.  BERT computes its MLM logits only at the masked positions (15%)
on both sides.  Before timing, both sides start from the same weights and must
give the same loss (validate, then time).  Timing alternates minitl and torch
rounds and keeps each side's best round, so a noisy shared machine hurts both
alike.  PyTorch runs in a process of its own (``_common.PeerProcess``) that never imports
minitl, as a PyTorch user runs it: ``import minitl`` sets process-wide things that suit minitl and
not PyTorch (``minitl/_process.py``: GNU OpenMP's spin, which PyTorch shares and which made its
BERT step 5% slower: ``--peer-env GOMP_SPINCOUNT=3000`` shows it).  Only minitl's malloc setting
is given to the PyTorch process too (``_common.peer_malloc``: it is no framework's own, and spares
PyTorch's steps page faults as it does minitl's).
``--profile`` is the exception: it runs both sides in this process, on 1 thread.  Memory is
measured in a fresh subprocess per side, so one side's memory never counts for the other:
``gpt_train_rss_mb`` is the peak RSS during a few training steps minus the RSS after imports
and model build (what training adds: activations, gradients, optimizer state), ``gpt_peak_rss_mb``
the whole process's peak (imports, JIT code and all).
A third column times ``torch.compile`` of the same twin (inductor's CPU backend
needs a C++ compiler; when compiling fails the column is null and
``torch_compile_<kind>_note`` says why).

The PyTorch twins below (``TorchGPT``, ``TorchBERT``) use minitl's parameter
names, so ``state_dict`` copies across name for name; ``tests/test_torch_equivalence.py``
checks that they compute the same logits and gradients as minitl's models.
Last stdout line: {"benchmark": "train_step", "config": {...}, "results": {...}}.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

# --threads N must act before numpy/Numba/torch start their pools, so it is read here
THREADS = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv[:-1] else 2
for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # _common, also when loaded by a test
from _common import PeerProcess, emit, peer_available, peer_malloc  # noqa: E402  (also puts the repository on sys.path)
# PyTorch's side runs in a process of its own (``--torch-child``, ``--rss-child torch``) that never
# imports minitl: minitl's process-wide settings (minitl/_process.py) are not PyTorch's.
PEER = "--torch-child" in sys.argv or ("--rss-child" in sys.argv
                                      and sys.argv[sys.argv.index("--rss-child") + 1:][:1] == ["torch"])
if not PEER:
    import minitl  # noqa: E402,F401  (before numpy: its OPENBLAS_THREAD_TIMEOUT must reach OpenBLAS as it loads)
import numpy as np  # noqa: E402

CONFIG = dict(n_layer=4, n_head=4, d_model=128, block_size=64, vocab_size=8192, batch_size=32,
              mask_fraction=0.15, lr=1e-3, threads=THREADS)


# -- the PyTorch twins -----------------------------------------------------------
def torch_models():
    """Define TorchGPT / TorchBERT lazily (torch is optional)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as TF

    class Block(nn.Module):
        def __init__(self, C, nh):
            super().__init__()
            self.nh = nh
            self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
            self.attn = nn.Module()
            self.attn.qkv, self.attn.proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.mlp = nn.Module()
            self.mlp.fc, self.mlp.proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

        def forward(self, x, is_causal=False, key_padding_mask=None):
            B, T, C = x.shape
            h = self.attn.qkv(self.ln_1(x)).view(B, T, 3, self.nh, C // self.nh).permute(2, 0, 3, 1, 4)
            mask = None if key_padding_mask is None else key_padding_mask[:, None, None, :]
            y = TF.scaled_dot_product_attention(h[0], h[1], h[2], attn_mask=mask, is_causal=is_causal)
            x = x + self.attn.proj(y.transpose(1, 2).reshape(B, T, C))
            return x + self.mlp.proj(TF.gelu(self.mlp.fc(self.ln_2(x)), approximate="tanh"))

    class TorchGPT(nn.Module):
        def __init__(self, n_layer, n_head, d_model, block_size, vocab_size, **_):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab_size, d_model), nn.Embedding(block_size, d_model)
            self.blocks = nn.ModuleList([Block(d_model, n_head) for _ in range(n_layer)])
            self.ln_f = nn.LayerNorm(d_model)

        def forward(self, idx, targets=None):
            T = idx.shape[1]
            x = self.wte(idx) + self.wpe(torch.arange(T))
            for b in self.blocks:
                x = b(x, is_causal=True)
            logits = TF.linear(self.ln_f(x), self.wte.weight)
            if targets is None:
                return logits, None
            return logits, TF.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))

    class TorchBERT(nn.Module):
        def __init__(self, n_layer, n_head, d_model, block_size, vocab_size, type_vocab_size=2, **_):
            super().__init__()
            C = d_model
            self.wte, self.wpe = nn.Embedding(vocab_size, C), nn.Embedding(block_size, C)
            self.wtt = nn.Embedding(type_vocab_size, C)
            self.blocks = nn.ModuleList([Block(C, n_head) for _ in range(n_layer)])
            self.ln_f = nn.LayerNorm(C)
            self.mlm_dense, self.mlm_ln = nn.Linear(C, C), nn.LayerNorm(C)
            self.mlm_bias = nn.Parameter(torch.zeros(vocab_size))
            self.pooler = nn.Linear(C, C)

        def forward(self, idx, attention_mask=None, mlm_labels=None):
            B, T = idx.shape
            x = self.wte(idx) + self.wpe(torch.arange(T)) + self.wtt(torch.zeros_like(idx))
            kpm = None if attention_mask is None else attention_mask.bool()
            for b in self.blocks:
                x = b(x, key_padding_mask=kpm)
            h = self.ln_f(x).reshape(B * T, -1)
            labels = mlm_labels.reshape(-1)
            pos = torch.nonzero(labels != -100).squeeze(1)
            hm = self.mlm_ln(TF.gelu(self.mlm_dense(h[pos]), approximate="tanh"))
            logits = TF.linear(hm, self.wte.weight, self.mlm_bias)
            return logits, TF.cross_entropy(logits, labels[pos])

    return TorchGPT, TorchBERT


def copy_weights(source, torch_model):
    """A minitl model's state_dict (or that dict of arrays itself) -> torch model, name for name
    (shapes asserted)."""
    import torch
    sd = source.state_dict() if hasattr(source, "state_dict") else source
    tsd = torch_model.state_dict()
    if set(sd) != set(tsd):
        raise KeyError(f"name mismatch: minitl only {sorted(set(sd) - set(tsd))}, "
                       f"torch only {sorted(set(tsd) - set(sd))}")
    torch_model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()})


# -- one side's training step ----------------------------------------------------
def make_batch(kind, seed=0):
    c = CONFIG
    rng = np.random.default_rng(seed)
    x = rng.integers(0, c["vocab_size"], (c["batch_size"], c["block_size"] + 1)).astype(np.int64)
    if kind == "gpt":
        return x[:, :-1], x[:, 1:]
    idx = x[:, :-1].copy()
    chosen = rng.random(idx.shape) < c["mask_fraction"]
    labels = np.where(chosen, idx, -100)
    idx[chosen] = 3  # any fixed id stands in for [MASK]
    return idx, labels


def minitl_side(kind, seed=0):
    """(model, step_fn) where step_fn() runs one full training step and returns the loss."""
    import minitl
    from minitl.models import GPT, GPTConfig, BERT, BERTConfig
    from minitl.optim import AdamW
    minitl.manual_seed(seed)
    shape = {k: CONFIG[k] for k in ("n_layer", "n_head", "d_model", "block_size", "vocab_size")}
    model = GPT(GPTConfig(**shape)) if kind == "gpt" else BERT(BERTConfig(**shape))
    opt = AdamW(model.parameters(), lr=CONFIG["lr"])
    a, b = make_batch(kind, seed)

    def step():
        opt.zero_grad()
        _, loss = model(a, b) if kind == "gpt" else model(a, mlm_labels=b)
        loss.backward()
        opt.step()
        return float(loss.data)
    return model, step


def torch_side(kind, minitl_model=None, seed=0, compile=False):
    """(model, step_fn) for PyTorch eager, or ``torch.compile`` of the same model (``compile=True``);
    ``minitl_model``: a minitl model or its state_dict, whose weights the twin starts from."""
    import torch
    torch.set_num_threads(THREADS)
    torch.manual_seed(seed)
    TorchGPT, TorchBERT = torch_models()
    model = (TorchGPT if kind == "gpt" else TorchBERT)(**CONFIG)
    if minitl_model is not None:
        copy_weights(minitl_model, model)
    opt = torch.optim.AdamW(model.parameters(), lr=CONFIG["lr"])
    a, b = (torch.from_numpy(t) for t in make_batch(kind, seed))
    run = torch.compile(model) if compile else model

    def step():
        opt.zero_grad(set_to_none=True)
        _, loss = run(a, b) if kind == "gpt" else run(a, mlm_labels=b)
        loss.backward()
        opt.step()
        return float(loss.detach())
    return model, step


def torch_child(kind, weights, compile):
    """The ``--torch-child`` process: build the twin from ``weights`` (an .npz of the minitl model's
    state_dict), run one step (it compiles, for ``torch.compile``) and print {"loss"} -- or
    {"error"} when that fails --, then answer every {"steps": n} line with {"seconds"} of n steps."""
    peer_malloc()
    try:
        with np.load(weights) as z:
            state = {k: z[k] for k in z.files}
        _, step = torch_side(kind, minitl_model=state, compile=compile)
        t0 = time.perf_counter()
        loss = step()
        print(json.dumps({"loss": loss, "setup_s": time.perf_counter() - t0}), flush=True)
    except Exception as e:                          # no C++ compiler, unsupported op, ...: a null column
        why = str(e).splitlines()[0][:200] if str(e) else ""
        print(json.dumps({"error": f"{type(e).__name__}: {why}"}), flush=True)
        return
    for line in sys.stdin:
        print(json.dumps({"seconds": time_steps(step, json.loads(line)["steps"])}), flush=True)


def start_peer(kind, weights, compile, args):
    """A PeerProcess running ``torch_child`` with this run's threads and clock; (peer, first reply)."""
    argv = [os.path.abspath(__file__), "--torch-child", kind, weights, "--threads", str(args.threads)]
    argv += (["--cpu-time"] if args.cpu_time else []) + (["--compile"] if compile else [])
    peer = PeerProcess(argv, env=dict(kv.split("=", 1) for kv in args.peer_env))
    return peer, peer.ready()


# -- where one step's time goes (--profile) -------------------------------------------
MINITL_BUCKETS = [("matmul", ("ops/matmul.py:",)), ("attention", ("kernels/attention.py", "FusedAttention")),
                  ("optimizer", ("kernels/adamw.py", "optim/")),
                  ("layer ops", ("kernels/", "ops/elementwise.py", "ops/reduce.py"))]
TORCH_BUCKETS = [("matmul", ("aten::mm", "aten::addmm", "aten::bmm")), ("attention", ("attention", "flash")),
                 ("optimizer", ("_foreach", "lerp", "addcdiv", "sqrt", "Optimizer")),
                 ("layer ops", ("layer_norm", "gelu", "softmax", "nll", "embedding", "add", "mul"))]


def _bucket(name, buckets):
    return next((b for b, keys in buckets if any(k in name for k in keys)), "python/tape/other")


PROFILE_STEPS = 3      # after as many warm-up steps (the first steps also pay page faults and caches)


def profile_step(kind, step, side):
    """{category: CPU seconds} of one step (the mean of PROFILE_STEPS), minitl via cProfile, torch via its
    profiler."""
    import cProfile
    import pstats

    def steps():
        for _ in range(PROFILE_STEPS):
            step()
    steps()
    out = {}
    if side == "minitl":
        pr = cProfile.Profile(time.process_time)
        pr.runcall(steps)
        for (fname, line, func), (_, _, tt, _, _) in pstats.Stats(pr).stats.items():
            b = _bucket(f"{fname}:{func}", MINITL_BUCKETS)
            out[b] = out.get(b, 0.0) + tt
    else:
        import torch
        c, w = time.process_time(), time.perf_counter()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            steps()
        cpu, wall = time.process_time() - c, time.perf_counter() - w
        # the profiler times ops by wall clock: split the steps' CPU seconds in the same proportions
        for e in prof.key_averages():
            if e.key.startswith("aten::") or "Optimizer" in e.key:
                b = _bucket(e.key, TORCH_BUCKETS)
                out[b] = out.get(b, 0.0) + cpu * (e.self_cpu_time_total / 1e6) / wall
        out["python/tape/other"] = out.get("python/tape/other", 0.0) + max(0.0, cpu - sum(out.values()))
    return {k: round(v / PROFILE_STEPS, 4) for k, v in sorted(out.items())}


CLOCK = time.perf_counter   # main() switches to time.process_time for --cpu-time


def time_steps(step, n):
    t = CLOCK()
    for _ in range(n):
        step()
    return CLOCK() - t


def rss_child(side, kind, steps):
    """Run in a fresh process: build one side (imports, model, optimizer, batch), one warm-up step
    (JIT code, allocator), then ``steps`` steps; print the memory they take in MB.

    ``train_mb`` = peak RSS during the timed steps minus RSS after imports and model build: what
    training adds on top of the loaded framework and the model (activations, gradients, optimizer
    state).  The kernel's high-water mark is reset after the warm-up (``/proc/self/clear_refs``,
    Linux >= 4.0); where it cannot be, the peak is the whole process's and ``hwm_reset`` is False."""
    if side == "torch":
        peer_malloc()
    _, step = minitl_side(kind) if side == "minitl" else torch_side(kind)
    built = _status_mb("VmRSS")
    step()
    warm = _status_mb("VmRSS")
    reset = _reset_peak()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        step()
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps   # pages faulted in per step
    peak = _status_mb("VmHWM") if reset else _peak_rss_mb()
    print(json.dumps({"peak_rss_mb": _peak_rss_mb(), "after_build_mb": built, "after_warmup_mb": warm,
                      "peak_steps_mb": peak, "train_mb": peak - built, "hwm_reset": reset,
                      "page_faults_per_step": faults}))


def _status_mb(field):
    """A /proc/self/status field (VmRSS, VmHWM) in MB, or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak():
    """Reset this process's peak RSS (VmHWM) to its current RSS; False where the kernel cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mb():
    # VmHWM belongs to this process's own address space; ru_maxrss can carry the
    # parent's peak across fork+exec on Linux, which would blur the two sides.
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss(side, kind, steps):
    """The rss_child figures of one side, run in a fresh subprocess."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--rss-child", side, kind,
                          "--steps", str(steps)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (about a minute)")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None, help="steps per timed round")
    ap.add_argument("--threads", type=int, default=2, help="threads for Numba, BLAS and torch (default 2)")
    ap.add_argument("--cpu-time", action="store_true", help="time CPU seconds of this process instead of "
                    "wall clock (steadier on a shared machine; meaningful with --threads 1)")
    ap.add_argument("--profile", action="store_true", help="print where one step's CPU time goes "
                    "(matmul, attention, layer ops, optimizer, Python/tape), minitl beside torch, and exit")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile column (its compile "
                    "takes minutes)")
    ap.add_argument("--rss-child", nargs=2, metavar=("SIDE", "KIND"), help=argparse.SUPPRESS)
    ap.add_argument("--peer-env", action="append", default=[], metavar="KEY=VALUE",
                    help="an environment variable for the PyTorch processes (e.g. GOMP_SPINCOUNT=3000, to see "
                    "what minitl's OpenMP spin does to PyTorch)")
    ap.add_argument("--torch-child", nargs=2, metavar=("KIND", "WEIGHTS"), help=argparse.SUPPRESS)
    ap.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.cpu_time else time.perf_counter
    if args.rss_child:
        return rss_child(*args.rss_child, args.steps or 3)
    if args.torch_child:
        return torch_child(*args.torch_child, args.compile)
    if args.profile:
        prof = {}
        for kind in ("gpt", "bert"):
            model, step = minitl_side(kind)
            prof[f"{kind}_minitl"] = profile_step(kind, step, "minitl")
            try:
                prof[f"{kind}_torch"] = profile_step(kind, torch_side(kind, minitl_model=model)[1], "torch")
            except ImportError:
                prof[f"{kind}_torch"] = None
            for side in ("minitl", "torch"):
                row = prof[f"{kind}_{side}"] or {}
                print(f"{kind} {side:<7} " + "  ".join(f"{k} {v * 1e3:.0f} ms" for k, v in row.items()))
        return emit("train_step_profile", {**CONFIG, "clock": "cpu"}, prof)
    rounds = args.rounds or (2 if args.quick else 5)
    steps = args.steps or (3 if args.quick else 8)
    have_torch = peer_available("torch")
    if not have_torch:
        print("torch is not installed: PyTorch columns are null")
    tokens = CONFIG["batch_size"] * CONFIG["block_size"]
    results = {}
    tmp = tempfile.TemporaryDirectory()     # the weights handed to the PyTorch processes (removed at exit too)
    for kind in ("gpt", "bert"):
        model, step = minitl_side(kind)
        sides, peers = {"minitl": lambda n: time_steps(step, n)}, []
        if have_torch:                  # PyTorch in processes of its own, from the same weights
            weights = os.path.join(tmp.name, f"{kind}.npz")
            np.savez(weights, **{k: np.asarray(v) for k, v in model.state_dict().items()})
            peer, first = start_peer(kind, weights, False, args)
            peers.append(peer)
            l_m, l_t = step(), first.get("loss", float("nan"))   # validate before timing: same loss
            print(f"{kind}: first-step loss minitl {l_m:.6f} vs torch {l_t:.6f}")
            if not abs(l_m - l_t) <= 1e-3:
                raise SystemExit(f"{kind}: minitl and torch disagree before timing ({l_m} vs {first})")
            sides["torch"] = lambda n, p=peer: p.ask({"steps": n})["seconds"]
            if not args.no_compile:
                cpeer, cfirst = start_peer(kind, weights, True, args)     # compiles here (minutes on 2 cores)
                peers.append(cpeer)
                if "error" in cfirst:
                    why = f"torch.compile failed: {cfirst['error']}"
                elif abs(cfirst["loss"] - l_m) > 1e-3:
                    why = f"torch.compile's first-step loss {cfirst['loss']:.4f} != eager's {l_t:.4f}"
                else:
                    why = f"torch compile OK in {cfirst['setup_s']:.0f} s"
                    sides["torch_compile"] = lambda n, p=cpeer: p.ask({"steps": n})["seconds"]
                results[f"torch_compile_{kind}_note"] = why
        for time_n in sides.values():
            time_n(1)  # warm-up (JIT compilation, allocator)
        every = {name: [] for name in sides}        # seconds per step of each round
        for r in range(rounds):
            for name, time_n in sides.items():
                every[name].append(time_n(steps) / steps)
            print(f"{kind} round {r + 1}/{rounds}: " + ", ".join(
                f"{n} {tokens / min(every[n]):,.0f} tok/s" for n in sides))
        for peer in peers:
            peer.close()
        best = {name: min(times) for name, times in every.items()}
        results[f"{kind}_tokens_per_s"] = round(tokens / best["minitl"], 1)
        for name in sides:              # the median round beside the best: how much the steps vary
            results[f"{kind}_{name}_median_round_tokens_per_s"] = round(tokens / float(np.median(every[name])), 1)
        t = round(tokens / best["torch"], 1) if have_torch else None
        results[f"torch_{kind}_tokens_per_s"] = t
        results[f"{kind}_speedup_vs_torch"] = round(best["torch"] / best["minitl"], 3) if have_torch else None
        c = best.get("torch_compile")
        results[f"torch_compile_{kind}_tokens_per_s"] = round(tokens / c, 1) if c else None
        results[f"{kind}_speedup_vs_torch_compile"] = round(c / best["minitl"], 3) if c else None
    tmp.cleanup()
    for side, prefix in (("minitl", ""), ("torch", "torch_")):
        mem = peak_rss(side, "gpt", 3) if side == "minitl" or have_torch else {}
        results[f"{prefix}gpt_peak_rss_mb"] = round(mem["peak_rss_mb"], 1) if mem else None   # whole process
        results[f"{prefix}gpt_train_rss_mb"] = round(mem["train_mb"], 1) if mem else None     # from after build
        results[f"{prefix}gpt_rss_after_build_mb"] = round(mem["after_build_mb"], 1) if mem else None
        results[f"{prefix}gpt_page_faults_per_step"] = round(mem["page_faults_per_step"]) if mem else None
    print(f"{'':8}{'minitl tok/s':>14}{'torch tok/s':>14}{'speedup':>9}{'compiled tok/s':>16}{'speedup':>9}")
    for kind in ("gpt", "bert"):
        t, c = results[f"torch_{kind}_tokens_per_s"], results.get(f"torch_compile_{kind}_tokens_per_s")
        print(f"{kind:8}{results[f'{kind}_tokens_per_s']:>14,.0f}{(t or 0):>14,.0f}"
              f"{(results[f'{kind}_speedup_vs_torch'] or 0):>9.2f}{(c or 0):>16,.0f}"
              f"{(results.get(f'{kind}_speedup_vs_torch_compile') or 0):>9.2f}")
    print(f"RSS (GPT): training steps' peak above imports + model build: minitl {results['gpt_train_rss_mb']} MB, "
          f"torch {results['torch_gpt_train_rss_mb']} MB (after build: {results['gpt_rss_after_build_mb']} vs "
          f"{results['torch_gpt_rss_after_build_mb']} MB; whole-process peak {results['gpt_peak_rss_mb']} vs "
          f"{results['torch_gpt_peak_rss_mb']} MB); page faults per step {results['gpt_page_faults_per_step']} vs "
          f"{results['torch_gpt_page_faults_per_step']}")
    from minitl.kernels import machine_info
    config = {**CONFIG, "rounds": rounds, "steps_per_round": steps, "torch": have_torch,
              "clock": "cpu" if args.cpu_time else "wall", "simd": machine_info()["simd"],
              "torch_compile": have_torch and not args.no_compile}
    emit("train_step", config, results)


if __name__ == "__main__":
    main()
