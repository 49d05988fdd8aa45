"""Lesson 03 -- fine-tuning: Option A (train every layer) vs Option B (freeze the bottom, train the top + a new head).

Notes' section: "Fine-tuning Transfer Learning (Option A / B)".

Read alongside:
  minitl/transfer/classifier.py   SequenceClassifier: backbone + pooling + a new Linear head; layer_groups()
  minitl/transfer/strategies.py   "full" (Option A) and "freeze_bottom:k" (Option B) as freeze_to(n)
  minitl/transfer/finetune.py     finetune(): the recipe; evaluate()
  minitl/transfer/methods.py      classifier(ctx, "gpt:freeze_bottom:2"): the recipe each method uses

What you will see:
  1. the classifier's layer groups (embeddings, blocks.0 .. blocks.L-1, head) and what
     Option B with k frozen blocks freezes;
  2. for Option A and every k of Option B, on the same labelled tweets: trainable
     parameters, seconds per epoch, test balanced accuracy -- and a check that every
     frozen weight is byte-identical after fine-tuning while every trained group moved;
  3. a plot of accuracy and trainable parameters against k.

Run:  python lessons/03_fine_tuning.py [--smoke|--quick|--full] [--n_train=100] [--backbone=gpt] [--out DIR]
"""
# %%
import os

import numpy as np

from minitl import data, hub
from minitl.lesson import parse
from minitl.transfer import methods as M
from minitl.transfer.experiments.base import SMOKE_RECIPES
from minitl.transfer.finetune import evaluate, finetune
from minitl.transfer.probe import balanced_subsample
from minitl.viz.curves import plot_lines

# -----------------------------------------------------------------------------
config = dict(n_train=100, seeds=1, backbone="gpt", epochs=0, max_test=0, seed=0)   # epochs 0: the recipe's
# -----------------------------------------------------------------------------
args = parse(config, __doc__)
recipes = None
if args.mode == "smoke":
    hub.set_profile("smoke")
    args.n_train, args.seeds, args.max_test = min(args.n_train, 40), 1, args.max_test or 200
    recipes = SMOKE_RECIPES()
elif args.mode == "full":
    args.seeds = max(args.seeds, 5)
os.makedirs(args.out, exist_ok=True)
ctx = M.hub_context([args.backbone], recipes=recipes)
train, test = data.load("tweets", "train"), data.load("tweets", "test")
n_test = args.max_test or len(test)
test_x, test_y = test.texts[:n_test], test.labels[:n_test]

# %% 1. Layer groups
clf, recipe = M.classifier(ctx, f"{args.backbone}:full", 2)
groups = clf.layer_groups()
L = len(groups) - 2
print(f"1. The classifier's layer groups, input first ({args.backbone.upper()}, {L} blocks):\n")
for name, params in groups:
    print(f"   {name:<12}{sum(p.size for p in params):>10,} parameters")
print(f"\n   Option A ('full') trains all {len(groups)} groups.  Option B ('freeze_bottom:k') freezes the\n"
      f"   embeddings and blocks 0..k-1 and trains the rest + the new head; k runs 0..{L} here.")

# %% 2. Option A vs every k of Option B
strategies = ["full"] + [f"freeze_bottom:{k}" for k in range(L + 1)]
print(f"\n2. Fine-tuning on {args.n_train} labelled tweets x {args.seeds} seeds, each strategy from the same\n"
      f"   pretrained weights with the same recipe (lr {recipe.lr:g}, {args.epochs or recipe.epochs} epochs, "
      f"{recipe.schedule} schedule); test: {n_test} tweets.\n")
rows, all_ok = [], True
for s in strategies:
    accs, info = [], {}
    for seed in range(args.seeds):
        idx = balanced_subsample(train.labels, args.n_train, np.random.default_rng(seed))
        clf, recipe = M.classifier(ctx, f"{args.backbone}:{s}", 2, seed=seed)
        before = {name: [p.data.copy() for p in ps] for name, ps in clf.layer_groups()}
        res = finetune(clf, [train.texts[i] for i in idx], train.labels[idx], recipe, progress=False,
                       **({"epochs": args.epochs} if args.epochs else {}))
        accs.append(evaluate(clf, test_x, test_y)["balanced_accuracy"])
        n_frozen = 0 if s == "full" else 1 + int(s.split(":")[1])
        for i, (name, ps) in enumerate(clf.layer_groups()):
            same = all(np.array_equal(a, p.data) for a, p in zip(before[name], ps))
            all_ok &= same == (i < n_frozen)      # frozen -> identical, trained -> moved
        info = dict(trainable=res.trainable_params, spe=res.seconds_per_epoch, frozen=n_frozen)
    rows.append(dict(strategy=s, accs=accs, **info))
print(f"   {'strategy':<18}{'frozen groups':>14}{'trainable':>12}{'s/epoch':>9}{'accuracy':>18}")
for r in rows:
    a = f"{100 * np.mean(r['accs']):.1f}%" + (f" +- {100 * np.std(r['accs']):.1f}" if args.seeds > 1 else "")
    print(f"   {r['strategy']:<18}{r['frozen']:>14}{r['trainable']:>12,}{r['spe']:>9.2f}{a:>18}")
print("   (accuracy: balanced accuracy on the test tweets, mean +- std over seeds; chance 50%)")
print(f"\n   check: frozen groups byte-identical and trained groups changed, for every run: {all_ok}")
full, fb = rows[0], rows[1:]
best_b = max(fb, key=lambda r: np.mean(r["accs"]))
print(f"   Option A {100 * np.mean(full['accs']):.1f}% with {full['trainable']:,} trainable parameters; best "
      f"Option B ({best_b['strategy']}) {100 * np.mean(best_b['accs']):.1f}% with {best_b['trainable']:,}.")
print("   Freezing more costs accuracy only when the frozen layers' features do not fit the task;\n"
      "   it saves backward work (a frozen group gets no gradient) -- compare the s/epoch column.")
if args.mode == "smoke":
    print("   (smoke mode: nano models, 2 epochs -- the accuracies mean nothing, the checks do)")

# %% 3. Plot
ks = list(range(L + 1))
path = plot_lines({"Option B: freeze_bottom:k": (ks, [np.mean(r["accs"]) for r in fb], [np.std(r["accs"]) for r in fb]),
                   "Option A: full (all layers)": (ks, [np.mean(full["accs"])] * len(ks), None)},
                  os.path.join(args.out, "03_fine_tuning.png"), xlabel="k = number of frozen blocks (+ embeddings)",
                  ylabel="test balanced accuracy (%)", percent=True, reference=(0.5, "chance"),
                  error_label=f"+- std over {args.seeds} seed(s)", styles={"Option A: full (all layers)": "--"},
                  title=f"Option A vs Option B on {args.backbone.upper()}, {args.n_train} labelled tweets")
print(f"\n   plot: {path}")
