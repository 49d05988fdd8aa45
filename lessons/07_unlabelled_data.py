"""Lesson 07 -- unlabelled target-domain text: continue LM pretraining on tweets before the classifier (ULMFiT stage 2).

Notes' section: "Dữ Liệu Có Gắn Nhãn vs Không Gắn Nhãn" (labelled vs unlabelled data).

Read alongside:
  minitl/pretrain.py            pretrain(PretrainConfig(..., init=dir)): stage 2 continues from a checkpoint
  minitl/hub.py                 stage 1: the cached general-domain GPT (its card says what it read)
  minitl/transfer/methods.py    fit_predict("gpt:full", ...): stage 3, the classifier
  minitl/data/tweets.py         tweets-text: the tweets' own text with the labels thrown away

What you will see (ULMFiT's three stages):
  1. stage 1: the pretrained GPT from the cache, and its next-token loss on held-out tweets;
  2. stage 2: the same GPT trained a little more on *unlabelled* tweets (no label is used) --
     its held-out tweet loss before and after, and the training curve;
  3. stage 3: both models fine-tuned as classifiers on the same n labelled tweets, and the
     accuracy of each.  Unlabelled text is cheap; labels are not -- this is how to spend it.

Run:  python lessons/07_unlabelled_data.py [--smoke|--quick|--full] [--stage2_steps=100] [--out DIR]
"""
# %%
import os
import shutil
from dataclasses import replace

import numpy as np

from minitl import data, hub
from minitl.lesson import parse
from minitl.models import GPT
from minitl.pretrain import corpus_ids, evaluate_pretraining, pretrain
from minitl.transfer import methods as M
from minitl.transfer.experiments.base import SMOKE_RECIPES
from minitl.transfer.metrics import balanced_accuracy
from minitl.transfer.probe import balanced_subsample
from minitl.viz.curves import plot_bars, plot_lines

# -----------------------------------------------------------------------------
config = dict(stage2_steps=100, stage2_batch=16, stage2_lr=5e-4, target_corpus="tweets-text", n_train=100, seeds=1,
              method="gpt:full", held_out_windows=200, max_test=0)
# -----------------------------------------------------------------------------
args = parse(config, __doc__)
recipes = None
if args.mode == "smoke":
    hub.set_profile("smoke")
    args.stage2_steps, args.n_train, args.seeds, args.held_out_windows = 30, 40, 1, 50
    args.max_test, recipes, args.stage2_lr = args.max_test or 200, SMOKE_RECIPES(), 1e-3
elif args.mode == "full":
    args.stage2_steps, args.stage2_batch, args.seeds = max(args.stage2_steps, 1000), 32, max(args.seeds, 5)
os.makedirs(args.out, exist_ok=True)

# %% 1. Stage 1: the general-domain model
stage1 = hub.pretrained("gpt", progress=False)
card = hub.card("gpt")
gpt = GPT.from_pretrained(stage1)
print(f"1. Stage 1: GPT pretrained on {card['recipe']['corpus']} for {card['steps']} steps "
      f"({card['train_tokens']:,} tokens).")
if args.target_corpus in card["recipe"]["corpus"].split("+"):
    print(f"   Note: this model already read {args.target_corpus} in stage 1 (mixed into a bigger corpus);\n"
          f"   stage 2 below spends extra steps on it alone -- ULMFiT's stage 1 is general text only.")
ids = corpus_ids(gpt.tokenizer, args.target_corpus, "validation")
before = evaluate_pretraining(gpt, ids, limit=args.held_out_windows)["val_loss"]
print(f"   held-out {args.target_corpus} next-token loss: {before:.3f} nats")

# %% 2. Stage 2: LM fine-tuning on unlabelled target-domain text
run_dir = os.path.join(args.out, f"07_stage2_{args.mode}")
for old in ("checkpoint", "model", "run.json"):                # a fresh run; the id caches are kept
    path = os.path.join(run_dir, old)
    shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.path.exists(path) and os.remove(path)
print(f"\n2. Stage 2: {args.stage2_steps} more next-token steps of {args.stage2_batch} windows on {args.target_corpus} "
      f"(lr {args.stage2_lr:g}; no labels used)...")
cfg = replace(hub.RECIPES["gpt"], init=stage1, corpus=args.target_corpus, steps=args.stage2_steps,
              batch_size=args.stage2_batch,
              lr=args.stage2_lr, warmup=max(1, args.stage2_steps // 10), eval_every=max(1, args.stage2_steps // 5),
              ckpt_every=0, progress=False)
run = pretrain(cfg, run_dir)
stage2 = run["model_dir"]
after = evaluate_pretraining(GPT.from_pretrained(stage2), ids, limit=args.held_out_windows)["val_loss"]
print(f"\n   held-out {args.target_corpus} next-token loss: {before:.3f} -> {after:.3f} nats "
      f"(perplexity {np.exp(before):.1f} -> {np.exp(after):.1f})")
print(f"   check: stage 2 lowered the held-out target-domain loss: {after < before}")
train_curve = [(r["step"], r["loss"]) for r in run["history"] if "loss" in r and "split" not in r]
val_curve = [(0, before)] + [(r["step"], r["val_loss"]) for r in run["history"] if r.get("split") == "validation"]
plot_lines({"training loss (a batch)": ([s for s, _ in train_curve], [v for _, v in train_curve]),
            "held-out tweets": ([s for s, _ in val_curve], [v for _, v in val_curve])},
           os.path.join(args.out, "07_stage2_loss.png"), xlabel="stage-2 step", ylabel="next-token loss (nats)",
           title=f"ULMFiT stage 2: GPT on unlabelled {args.target_corpus} (one run, no error bars)")

# %% 3. Stage 3: the classifier, from each
train, test = data.load("tweets", "train"), data.load("tweets", "test")
n_test = args.max_test or len(test)
print(f"\n3. Stage 3: {args.method} on the same {args.n_train} labelled tweets x {args.seeds} seed(s), from each "
      f"model;\n   test {n_test} tweets.\n")
scores = {"stage 1 only": [], "stage 1 + stage 2": []}
for seed in range(args.seeds):
    idx = balanced_subsample(train.labels, args.n_train, np.random.default_rng(seed))
    for name, path in (("stage 1 only", stage1), ("stage 1 + stage 2", stage2)):
        ctx = M.Context(backbones={"gpt": path}, recipes=recipes)
        pred, _ = M.fit_predict(args.method, ctx, [train.texts[i] for i in idx], train.labels[idx],
                                test.texts[:n_test], seed=seed)
        scores[name].append(balanced_accuracy(test.labels[:n_test], pred))
print(f"   {'backbone':<22}{'held-out LM loss':>18}{'balanced accuracy':>20}")
for (name, s), lm in zip(scores.items(), (before, after)):
    a = f"{100 * np.mean(s):.1f}%" + (f" +- {100 * np.std(s):.1f}" if args.seeds > 1 else "")
    print(f"   {name:<22}{lm:>18.3f}{a:>20}")
d = 100 * (np.mean(scores["stage 1 + stage 2"]) - np.mean(scores["stage 1 only"]))
print(f"   stage 2 changed accuracy by {d:+.1f} points "
      + ("(mean over seeds; compare with the std before believing it)" if args.seeds > 1
         else "(one seed, so no spread to judge it by: rerun with --seeds=3)"))
print("   A lower LM loss on tweets means the model predicts tweet text better; whether that turns into\n"
      "   accuracy depends on how far the pretraining text was from tweets to begin with.")
if args.mode == "smoke":
    print("   (smoke mode: a nano model pretrained on news for 30 steps, 30 stage-2 steps -- the loss check\n"
          "   is real, the accuracies mean nothing)")
plot_bars(list(scores), [np.mean(s) for s in scores.values()], os.path.join(args.out, "07_unlabelled_data.png"),
          errors=[np.std(s) for s in scores.values()], points=list(scores.values()), percent=True,
          xlabel="test balanced accuracy (%)", error_label=f"+- std over {args.seeds} seed(s)",
          reference=(0.5, "chance"), title=f"{args.method} with and without ULMFiT stage 2, {args.n_train} labels")
print(f"\n   plots: {args.out}/07_stage2_loss.png, 07_unlabelled_data.png")
