"""A 200-step nano GPT's loss curve on this engine beside an older commit's, same seed, same data.

    python benchmarks/loss_curve_vs_old.py [--old fc5f10b] [--steps 200] [--out DIR]

Speed work (fused kernels, fused linear layers, another LSTM loop) must not
change what training does.  This trains the same nano GPT (``blocks.PRESETS``,
dropout 0) for ``--steps`` AdamW steps three times, each in its own Python
process: on the working tree (seed 0), on the commit ``--old`` unpacked with
``git archive`` into a temporary directory (seed 0), and on the working tree
again with seed 1.  The data are the same in all three: a token stream from a
fixed random Markov chain (each token has 4 likely successors: learnable, so
the loss falls), batches picked by a numpy generator that does not depend on
the engine.  The seed-1 run is the noise floor: how far two curves that should
only agree "statistically" lie apart.

Writes ``loss_curve.csv`` (step, loss_new, loss_old, loss_new_seed1) and
``loss_curve.png`` into ``--out`` (default: a new temporary directory) and
prints the max |difference| of the smoothed curves (moving average over 20
steps): new vs old, and new vs new-with-another-seed.  The last stdout line is
one JSON object.  Takes minutes, most of them Numba compiling the old tree's
kernels into its empty cache (7 min on 2 shared cores at load ~9).
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CFG = dict(preset="nano", batch_size=16, lr=3e-3, data_seed=1234, tokens=200_000, branch=4)


def markov_stream(n, vocab, branch, seed):
    """n tokens from a fixed random chain: each token moves to one of ``branch`` successors."""
    rng = np.random.default_rng(seed)
    succ = rng.integers(0, vocab, size=(vocab, branch))
    probs = rng.dirichlet(np.ones(branch), size=vocab)
    out = np.empty(n, np.int64)
    out[0] = 0
    pick = rng.random(n)
    for i in range(1, n):
        out[i] = succ[out[i - 1], np.searchsorted(np.cumsum(probs[out[i - 1]]), pick[i])]
    return out


def worker(root, seed, steps):
    """Train on the engine under ``root``; print the losses as JSON."""
    sys.path.insert(0, root)
    import minitl
    from minitl.models.gpt import GPT, GPTConfig
    from minitl.optim import AdamW
    where = os.path.realpath(os.path.dirname(minitl.__file__))
    if not where.startswith(os.path.realpath(root)):
        raise SystemExit(f"loss_curve_vs_old: imported minitl from {where}, not from {root}")
    cfg = GPTConfig.from_preset(CFG["preset"])
    stream = markov_stream(CFG["tokens"], cfg.vocab_size, CFG["branch"], CFG["data_seed"])
    batches = np.random.default_rng(CFG["data_seed"] + 1)
    minitl.manual_seed(seed)
    model = GPT(cfg)
    opt = AdamW(model.parameters(), lr=CFG["lr"])
    T, B = cfg.block_size, CFG["batch_size"]
    losses = []
    for _ in range(steps):
        pos = batches.integers(0, len(stream) - T - 1, B)
        x = np.stack([stream[p:p + T] for p in pos])
        y = np.stack([stream[p + 1:p + T + 1] for p in pos])
        opt.zero_grad()
        _, loss = model(x, y)
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    print(json.dumps({"root": where, "losses": losses}))


def run_worker(root, seed, steps):
    env = dict(os.environ, PYTHONPATH=root)
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", root, str(seed), str(steps)],
                         capture_output=True, text=True, env=env, cwd=root)
    if out.returncode:
        raise SystemExit(f"loss_curve_vs_old: the run on {root} failed:\n{out.stderr[-3000:]}")
    return np.array(json.loads(out.stdout.strip().splitlines()[-1])["losses"])


def unpack(commit, into):
    """``git archive commit`` -> a directory with that commit's tree."""
    tar_path = os.path.join(into, "old.tar")
    with open(tar_path, "wb") as f:
        subprocess.run(["git", "-C", ROOT, "archive", commit], stdout=f, check=True)
    with tarfile.open(tar_path) as tar:
        tar.extractall(os.path.join(into, "old"), filter="data")
    return os.path.join(into, "old")


def smooth(x, k=20):
    return np.convolve(x, np.ones(k) / k, mode="valid")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", default="fc5f10b", help="the commit to compare with (default fc5f10b)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--out", default=None, help="where the CSV and PNG go (default: a new temp dir)")
    ap.add_argument("--worker", nargs=3, metavar=("ROOT", "SEED", "STEPS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker[0], int(args.worker[1]), int(args.worker[2]))
    out_dir = args.out or tempfile.mkdtemp(prefix="loss_curve_")
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        old_root = unpack(args.old, tmp)
        new = run_worker(ROOT, 0, args.steps)
        old = run_worker(old_root, 0, args.steps)
    new1 = run_worker(ROOT, 1, args.steps)
    diff_old = float(np.abs(smooth(new) - smooth(old)).max())
    diff_seed = float(np.abs(smooth(new) - smooth(new1)).max())
    with open(os.path.join(out_dir, "loss_curve.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "loss_new", "loss_old", "loss_new_seed1"])
        for i in range(args.steps):
            w.writerow([i + 1, f"{new[i]:.6f}", f"{old[i]:.6f}", f"{new1[i]:.6f}"])
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = np.arange(1, args.steps + 1)
    ax.plot(steps, new, lw=1, label="this engine (seed 0)")
    ax.plot(steps, old, lw=1, ls="--", label=f"engine at {args.old} (seed 0)")
    ax.plot(steps, new1, lw=1, alpha=0.6, label="this engine (seed 1): the noise floor")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (nats/token)")
    ax.set_title(f"nano GPT, {args.steps} AdamW steps: max |smoothed diff| {diff_old:.4f} "
                 f"(seed to seed {diff_seed:.4f})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "loss_curve.png"), dpi=120)
    print(f"max |smoothed loss difference|, this engine vs {args.old}: {diff_old:.5f} "
          f"(another seed on this engine: {diff_seed:.5f}); final loss {new[-1]:.4f} vs {old[-1]:.4f}")
    print(f"wrote {out_dir}/loss_curve.csv and loss_curve.png")
    print(json.dumps({"benchmark": "loss_curve_vs_old",
                      "config": {**CFG, "steps": args.steps, "old": args.old},
                      "results": {"max_abs_smoothed_diff_vs_old": diff_old,
                                  "max_abs_smoothed_diff_other_seed": diff_seed,
                                  "final_loss_new": float(new[-1]), "final_loss_old": float(old[-1]),
                                  "within_noise": diff_old < diff_seed, "out": out_dir}}))


if __name__ == "__main__":
    sys.exit(main())
