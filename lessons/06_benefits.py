"""Lesson 06 -- the benefits of transfer: learning curves, data efficiency, time to accuracy.

Notes' section: "Lợi Ích của Transfer Learning" (the benefits of transfer learning).

Read alongside:
  minitl/transfer/experiments/learning_curve.py    accuracy vs number of labels; the labels-equivalence factor
  minitl/transfer/experiments/time_to_accuracy.py  (when present) training time needed to reach an accuracy
  minitl/transfer/experiments/base.py              run(): cached cells, mean +- std over seeds, CSV/MD/PNG
  minitl/transfer/methods.py                       the methods on each curve

What you will see:
  1. learning curves: test accuracy against the number of labelled tweets, transfer methods
     (solid) and from-scratch ones (dashed), error bars = std over seeds;
  2. data efficiency: how many labels the best from-scratch method needs to match the best
     transfer method at 100 (the labels-equivalence factor), and the notes' claim checked;
  3. time: the seconds each fit took at each n, and the time-to-accuracy experiment when
     this minitl has it.

Run:  python lessons/06_benefits.py [--smoke|--quick|--full] [--seeds=2] [--out DIR]
"""
# %%
import os
import shutil

from minitl.lesson import parse
from minitl.transfer import experiments
from minitl.transfer import methods as M

# -----------------------------------------------------------------------------
# Cells are cached where `minitl experiment` keeps them, so the lesson and the command share work:
# a rerun (or a lesson after `minitl experiment NAME --quick`) recomputes nothing.  Delete
# EXPERIMENTS_OUT/cells/NAME after `minitl pretrain all` rebuilds the models.  --smoke uses --out.
config = dict(seeds=2, experiments_out="runs/experiments")
# -----------------------------------------------------------------------------
args = parse(config, __doc__)
if args.mode == "smoke":
    args.seeds = 1
elif args.mode == "full":
    args.seeds = max(args.seeds, 3)
os.makedirs(args.out, exist_ok=True)
exp_out = os.path.join(args.out, "06_experiments") if args.mode == "smoke" else args.experiments_out

# %% 1. Learning curves
print(f"1. Learning curves ({args.mode}, {args.seeds} seed(s)); every cell is cached in {exp_out}/cells, so a\n"
      "   rerun with the same settings recomputes nothing (the first --quick run takes the experiment's time).\n")
lc = experiments.run("learning-curve", mode=args.mode, seeds=args.seeds, out=exp_out, progress=False)
shutil.copy(os.path.join(exp_out, "learning-curve.png"), os.path.join(args.out, "06_learning_curves.png"))
ns = sorted({r["n"] for r in lc["table"]})
methods = list(dict.fromkeys(r["method"] for r in lc["table"]))
acc = {(r["method"], r["n"]): r for r in lc["table"]}
print("   test balanced accuracy (%), mean over seeds:")
print(f"   {'method':<38}" + "".join(f"{n:>8,}" for n in ns))
for m in methods:
    print(f"   {M.describe(m):<38}" + "".join(f"{100 * acc[m, n]['accuracy']:>8.1f}" if (m, n) in acc else f"{'':>8}"
                                          for n in ns))
print(f"   check: every method measured at every n ({len(methods)} x {len(ns)} points): "
      f"{all((m, n) in acc for m in methods for n in ns)}")

# %% 2. Data efficiency
print("\n2. Data efficiency.")
f = lc.get("equivalence_factor")
print(f"   {lc['measured']}")
if f is not None and f > 1:
    print(f"   labels-equivalence factor: {f:.1f}x -- one labelled tweet with transfer is worth {f:.1f} without it")
print(f"   the notes' claim ('~60% from scratch, ~85% with transfer at 100 labels; 10-20x fewer labels'): "
      f"{lc['verdict']}")

# %% 3. Time
print("\n3. Time: seconds per fit (training + predicting the test split), mean over seeds:")
print(f"   {'method':<38}" + "".join(f"{n:>8,}" for n in ns))
for m in methods:
    print(f"   {M.describe(m):<38}" + "".join(f"{acc[m, n]['seconds']:>8.1f}" if (m, n) in acc else f"{'':>8}"
                                          for n in ns))
print("   Transfer methods pay for pretraining once (minitl pretrain all); each fit afterwards is\n"
      "   small.  The bag of words needs no pretraining at all -- count that when comparing.")
if "time-to-accuracy" in experiments.available():
    tta = experiments.run("time-to-accuracy", mode=args.mode, seeds=args.seeds, out=exp_out, progress=False)
    shutil.copy(os.path.join(exp_out, "time-to-accuracy.png"), os.path.join(args.out, "06_time_to_accuracy.png"))
    print(f"   time-to-accuracy: {tta['verdict']} -- {tta['measured']}")
else:
    print("   time-to-accuracy: this minitl has no time-to-accuracy experiment yet "
          "(`minitl experiment --list`); the table above is the time measured so far.")
if args.mode == "smoke":
    print("   (smoke mode: tiny models, 2 epochs, 200 test tweets -- the numbers mean nothing)")
print(f"\n   plots: {args.out}/06_learning_curves.png" +
      (", 06_time_to_accuracy.png" if "time-to-accuracy" in experiments.available() else ""))
