"""Lesson 09 -- when transfer fails: forgetting, too high a learning rate, domain and pretext mismatch.

Notes' section: "Khi Transfer Learning Thất Bại" (when transfer learning fails).

Read alongside:
  minitl/transfer/experiments/forgetting.py         held-out LM loss before/after fine-tuning, per strategy and lr
  minitl/transfer/experiments/domain_shift.py       (when present) pretrained on one domain, tested on another
  minitl/transfer/experiments/pretext_mismatch.py   (when present) a pretraining objective far from the task
  minitl/pretrain.py                                evaluate_pretraining: the pretraining loss, measured again

What you will see:
  1. catastrophic forgetting and the learning rate: fine-tune the pretrained GPT at several
     learning rates and measure its *pretraining* loss on held-out Wikipedia before and after --
     too high a rate wrecks what pretraining learned, and freezing / gradual unfreezing protect it;
  2. domain mismatch and 3. pretext mismatch: the experiments that test them, when this minitl has
     them (`minitl experiment --list`).

Run:  python lessons/09_when_it_fails.py [--smoke|--quick|--full] [--seeds=1] [--out DIR]
"""
# %%
import os
import shutil
import sys

from minitl.lesson import parse
from minitl.transfer import experiments

# -----------------------------------------------------------------------------
# Cells are cached where `minitl experiment` keeps them, so the lesson and the command share work:
# a rerun (or a lesson after `minitl experiment NAME --quick`) recomputes nothing.  Delete
# EXPERIMENTS_OUT/cells/NAME after `minitl pretrain all` rebuilds the models.  --smoke uses --out.
config = dict(seeds=1, also="domain-shift,pretext-mismatch", experiments_out="runs/experiments")
TITLES = {"domain-shift": "2. Domain mismatch: pretrained on one kind of text, used on another",
          "pretext-mismatch": "3. Pretext mismatch: a pretraining objective far from the downstream task"}
# -----------------------------------------------------------------------------
args = parse(config, __doc__)
skipped = []
if args.mode == "smoke" and not any(a.startswith("--also=") for a in sys.argv[1:]):
    # domain-shift and pretext-mismatch pretrain models of their own (~30 s of CPU even in smoke mode):
    # the test suite's smoke run leaves them out; --also=domain-shift runs one anyway
    skipped, args.also = [n for n in args.also.split(",") if n], ""
elif args.mode == "full":
    args.seeds = max(args.seeds, 3)
os.makedirs(args.out, exist_ok=True)
exp_out = os.path.join(args.out, "09_experiments") if args.mode == "smoke" else args.experiments_out

# %% 1. Forgetting and the learning rate
print(f"1. Catastrophic forgetting ({args.mode}, {args.seeds} seed(s)).  The pretrained GPT keeps its LM head,\n"
      "   so after fine-tuning on tweets we can ask it again to predict Wikipedia's next tokens.\n")
fg = experiments.run("forgetting", mode=args.mode, seeds=args.seeds, out=exp_out, progress=False)
shutil.copy(os.path.join(exp_out, "forgetting.png"), os.path.join(args.out, "09_forgetting.png"))
print("   Reading it:")
print(f"   {'strategy':<10}{'lr':>9}{'LM loss before':>16}{'after':>9}{'increase':>10}{'val accuracy':>14}")
for r in sorted(fg["table"], key=lambda r: (r["strategy"], r["lr"])):
    print(f"   {r['strategy']:<10}{r['lr']:>9g}{r['lm_loss_before']:>16.3f}{r['lm_loss_after']:>9.3f}"
          f"{r['lm_loss_increase']:>+10.3f}{100 * r['accuracy']:>13.1f}%")
full = sorted((r for r in fg["table"] if r["strategy"] == "full"), key=lambda r: r["lr"])
lo, hi = full[0], full[-1]
print(f"\n   check: the highest learning rate ({hi['lr']:g}) raised the pretraining loss more than the lowest "
      f"({lo['lr']:g}): {hi['lm_loss_increase'] > lo['lm_loss_increase']}")
print(f"   verdict on the notes' claim: {fg['verdict']} -- {fg['measured']}")
print("   Too high a learning rate is the most common way to fail: the updates that fit the task\n"
      "   overwrite the weights that held what pretraining learned (the 'increase' column).  Remedies:\n"
      "   a smaller lr, warmup, freezing the bottom (lesson 03), gradual unfreezing and discriminative\n"
      "   learning rates (lesson 08).")

# %% 2-3. Domain and pretext mismatch
have = experiments.available()
ran = []
for name in TITLES:
    print(f"\n{TITLES[name]}:")
    if name in skipped:
        print(f"   skipped in --smoke (it pretrains its own models); add --also={name} to run it here")
        continue
    if name not in args.also.split(","):
        continue
    if name not in have:
        print(f"   this minitl has no {name} experiment yet (`minitl experiment --list`).")
        continue
    s = experiments.run(name, mode=args.mode, seeds=args.seeds, out=exp_out, progress=False)
    shutil.copy(os.path.join(exp_out, f"{name}.png"), os.path.join(args.out, f"09_{name.replace('-', '_')}.png"))
    print(f"   verdict on the notes' claim: {s['verdict']} -- {s['measured']}")
    ran.append(name)
if args.mode == "smoke":
    print("\n   (smoke mode: tiny models, few steps -- the numbers mean nothing, only the checks)")
print(f"\n   plots: {args.out}/09_forgetting.png" + "".join(f", 09_{n.replace('-', '_')}.png" for n in ran))
