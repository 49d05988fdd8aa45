"""Lesson 08 -- transfer strategies: light vs full vs gradual unfreezing (+- discriminative learning rates).

Notes' section: "Chiến Lược Transfer Learning" (transfer learning strategies).

Read alongside:
  minitl/transfer/strategies.py            every strategy as freeze_to(n); param_groups (discriminative lr)
  minitl/optim/schedules.py                LinearDecay (warmup + linear) and SlantedTriangular (ULMFiT)
  minitl/transfer/experiments/strategies.py  the ablation this lesson runs: run("strategies", mode, seeds)
  minitl/transfer/finetune.py              before_step: the strategy sets which groups train, each step

What you will see:
  1. gradual unfreezing as a schedule: which layer groups train in each epoch;
  2. discriminative learning rates: each layer group down learns 2.6x slower (checked);
  3. the slanted triangular schedule next to warmup + linear decay (a plot);
  4. the strategies experiment -- features, light, (freeze_bottom), full, gradual, with and
     without ULMFiT's modifiers -- on the same labelled tweets, and its verdict.

Run:  python lessons/08_strategies.py [--smoke|--quick|--full] [--seeds=1] [--factor=2.6] [--out DIR]
"""
# %%
import os
import shutil

import numpy as np

from minitl import hub
from minitl.lesson import parse
from minitl.optim import LinearDecay, SlantedTriangular
from minitl.transfer import methods as M
from minitl.transfer.experiments import run
from minitl.transfer.strategies import Strategy, param_groups
from minitl.viz.curves import plot_lines

# -----------------------------------------------------------------------------
# Cells are cached where `minitl experiment` keeps them, so the lesson and the command share work:
# a rerun (or a lesson after `minitl experiment NAME --quick`) recomputes nothing.  Delete
# EXPERIMENTS_OUT/cells/NAME after `minitl pretrain all` rebuilds the models.  --smoke uses --out.
config = dict(seeds=1, factor=2.6, lr=1e-3, schedule_steps=200, experiments_out="runs/experiments")
# -----------------------------------------------------------------------------
args = parse(config, __doc__)
if args.mode == "smoke":
    hub.set_profile("smoke")
elif args.mode == "full":
    args.seeds = max(args.seeds, 3)
os.makedirs(args.out, exist_ok=True)
ctx = M.hub_context(["gpt"])
clf, _ = M.classifier(ctx, "gpt:full", 2)
names = [n for n, _ in clf.layer_groups()]
G = len(names)

# %% 1. Gradual unfreezing, epoch by epoch
print(f"1. Gradual unfreezing (ULMFiT): {G} layer groups, input first; one more group trains each epoch,\n"
      "   from the top down ('x' = trains, '.' = frozen):\n")
print("   epoch  " + " ".join(f"{n:>10}" for n in names))
gradual = Strategy("gradual")
for epoch in range(G + 1):
    k = gradual.frozen_groups(G, epoch)
    print(f"   {epoch:>5}  " + " ".join(f"{'.' if i < k else 'x':>10}" for i in range(G)))
print("   'light' trains only the top block + head all along; 'full' trains everything from step 0.")

# %% 2. Discriminative learning rates
print(f"\n2. Discriminative learning rates, factor {args.factor} (param_groups(..., discriminative={args.factor})):\n")
groups = param_groups(clf, args.lr, discriminative=args.factor)
lrs = {}
for g in groups:
    lrs.setdefault(g["name"], g["lr"])
for n in names:
    print(f"   {n:<12} lr {lrs[n]:.3e}   (= lr / {args.factor}^{names[::-1].index(n)})")
ratios = [lrs[a] / lrs[b] for a, b in zip(names[1:], names[:-1])]
print(f"   check: each group learns {args.factor}x faster than the one under it: "
      f"{bool(np.allclose(ratios, args.factor))}")
print("   Why: the lower layers hold general features (pretraining learned them from far more text);\n"
      "   moving them slowly keeps that knowledge while the top adapts to the task.")

# %% 3. Schedules
T = args.schedule_steps
steps = list(range(T + 1))
lin, stlr = LinearDecay(T, warmup_steps=T // 10), SlantedTriangular(T, cut_frac=0.1, ratio=32)
path = plot_lines({"warmup 10% + linear decay ('linear')": (steps, [lin(s) for s in steps]),
                   "slanted triangular ('stlr', ULMFiT)": (steps, [stlr(s) for s in steps])},
                  os.path.join(args.out, "08_schedules.png"), xlabel="training step",
                  ylabel="learning-rate multiplier", title=f"Learning-rate schedules over {T} steps (exact values)")
gap = max(abs(lin(s) - stlr(s)) for s in steps)
print(f"\n3. Schedules: slanted triangular rises over the first 10% of steps, then decays to 1/32 of the peak\n"
      f"   (peak x {stlr(T // 10):.3f} at step {T // 10}, end x {stlr(T):.4f}); warmup + linear decays to 0.\n"
      f"   With the same 10% rise the two differ by at most {gap:.3f} of the peak: ULMFiT's schedule is\n"
      f"   mostly 'warm up, then decay' -- the same shape minitl's default uses.  plot: {path}")

# %% 4. The experiment
print(f"\n4. The strategies experiment ({args.mode}, {args.seeds} seed(s)): same pretrained GPT, same labels, "
      "same seeds per row.\n")
exp_mode = "smoke" if args.mode == "smoke" else args.mode
exp_out = os.path.join(args.out, "08_experiment") if args.mode == "smoke" else args.experiments_out
summary = run("strategies", mode=exp_mode, seeds=args.seeds, out=exp_out,
              progress=False)
shutil.copy(os.path.join(exp_out, "strategies.png"), os.path.join(args.out, "08_strategies.png"))
print("   Reading it:")
rows = sorted(summary["table"], key=lambda r: -r["accuracy"])
print(f"   {'strategy':<20}{'accuracy':>16}{'trainable':>12}{'s/epoch':>9}")
for r in rows:
    a = f"{100 * r['accuracy']:.1f}%" + (f" +- {100 * r['std']:.1f}" if r["seeds"] > 1 else "")
    print(f"   {r['strategy']:<20}{a:>16}{int(r['trainable_params']):>12,}{r['seconds_per_epoch']:>9.2f}")
print(f"   verdict on the notes' claim: {summary['verdict']} -- {summary['measured']}")
print("   A difference smaller than the std over seeds is not a difference: rerun with --seeds=3 before\n"
      "   believing one strategy beats another.")
if args.mode == "smoke":
    print("   (smoke mode: nano models, 20 labels, 2 epochs -- the accuracies mean nothing)")
print(f"\n   plots: {args.out}/08_schedules.png, 08_strategies.png")
