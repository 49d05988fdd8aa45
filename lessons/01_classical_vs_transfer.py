"""Lesson 01 -- classical training vs transfer learning, on the same 100 labels.

Notes' section: "Phương Pháp Cổ Điển vs Transfer Learning" (the classical method vs transfer learning).

Read alongside:
  minitl/transfer/tour.py      run(): the whole comparison this lesson turns the knobs of
  minitl/transfer/methods.py   fit_predict(method, ...): every method behind one call, and RECIPES
  minitl/pretrain.py           evaluate_pretraining: what "pretrained" buys before any label is seen
  minitl/hub.py                the cached pretrained models (``minitl pretrain all`` builds them)

What you will see:
  1. what pretraining already knows: the pretrained GPT's next-token loss on held-out
     tweets vs the same architecture with random weights (no labels involved yet);
  2. the classical way -- learn everything from the n labelled tweets (a bag of words,
     the GPT architecture from random init) -- against transfer (word2vec features, the
     pretrained GPT fine-tuned), every method on the same n tweets and the same test split;
  3. the verdict on the notes' claim "transfer beats scratch by >= 10 points".

Run:  python lessons/01_classical_vs_transfer.py [--smoke|--quick|--full] [--n_train=100] [--out DIR]
"""
# %%
import os
import shutil

import numpy as np

import minitl
from minitl import hub
from minitl.lesson import parse
from minitl.models import GPT
from minitl.pretrain import corpus_ids, evaluate_pretraining
from minitl.transfer import tour
from minitl.transfer.experiments.base import SMOKE_RECIPES

# -----------------------------------------------------------------------------
config = dict(n_train=100, seeds=1, methods="bow,scratch:gpt,w2v,gpt:full", held_out_windows=200, seed=0)
# quick: 1 draw of the labels (the scratch GPT, 40 epochs, is the slowest fit); --full: 5 draws, more methods
# -----------------------------------------------------------------------------
args = parse(config, __doc__)
recipes, max_test = None, None
if args.mode == "smoke":                 # tiny models trained in seconds, 2 epochs, 200 test tweets
    hub.set_profile("smoke")
    args.n_train, args.seeds, args.held_out_windows = min(args.n_train, 40), 1, 50
    args.methods = "bow,scratch:gpt,w2v,gpt:full"
    recipes, max_test = SMOKE_RECIPES(), 200
elif args.mode == "full":
    args.seeds = max(args.seeds, 5)
    args.methods += ",bert:full,gpt:features"
methods = tuple(m for m in args.methods.split(",") if m)
os.makedirs(args.out, exist_ok=True)

# %% 1. What pretraining knows before any label
print("1. Before any label: the pretrained GPT vs the same architecture with random weights,\n"
      "   scored on held-out tweets by the pretraining objective (mean next-token cross-entropy, nats).\n")
gpt = GPT.from_pretrained(hub.pretrained("gpt", progress=False))
minitl.manual_seed(args.seed)
scratch = GPT(gpt.config)
scratch.tokenizer = gpt.tokenizer
ids = corpus_ids(gpt.tokenizer, "tweets-text", "validation")
loss_pre = evaluate_pretraining(gpt, ids, limit=args.held_out_windows)["val_loss"]
loss_rand = evaluate_pretraining(scratch, ids, limit=args.held_out_windows)["val_loss"]
V = gpt.config.vocab_size
print(f"   {'model':<34}{'loss (nats)':>12}{'perplexity':>12}")
print(f"   {'GPT, random init':<34}{loss_rand:>12.3f}{np.exp(loss_rand):>12.1f}")
print(f"   {'GPT, pretrained':<34}{loss_pre:>12.3f}{np.exp(loss_pre):>12.1f}")
print(f"   (a uniform guess over the {V} tokens scores ln {V} = {np.log(V):.3f})")
print(f"   check: pretrained loss < random-init loss: {loss_pre < loss_rand}")

# %% 2. The same n labels for every method
print(f"\n2. Every method gets the same {args.n_train} labelled tweets (per seed), and the same test split.\n"
      "   'scratch' learns everything from those labels; 'transfer' starts from what pretraining learned.\n")
result = tour.run(n_train=args.n_train, seeds=args.seeds, out=os.path.join(args.out, "01_tour"),
                  methods=methods, recipes=recipes, progress=False, max_test=max_test)
shutil.copy(os.path.join(args.out, "01_tour", "tour.png"), os.path.join(args.out, "01_classical_vs_transfer.png"))

# %% 3. What the numbers say
rows = {r["id"]: r for r in result["rows"]}
best = {k: max((r for r in result["rows"] if r["kind"] == k), key=lambda r: r["mean"]) for k in ("scratch", "transfer")}
print("\n3. Reading the table:")
print(f"   best from scratch: {best['scratch']['method']} {100 * best['scratch']['mean']:.1f}%;"
      f" best transfer: {best['transfer']['method']} {100 * best['transfer']['mean']:.1f}%")
if "scratch:gpt" in rows and "gpt:full" in rows:
    d = 100 * (rows["gpt:full"]["mean"] - rows["scratch:gpt"]["mean"])
    print(f"   same architecture, same recipe family, same labels: pretrained GPT vs random-init GPT "
          f"{d:+.1f} points -- the only difference is the starting weights")
print("   The bag of words is the honest classical baseline: with its regularisation chosen by\n"
      "   cross-validation it is often hard to beat at small n when pretraining was small.")
if args.mode == "smoke":
    print("   (smoke mode: 30-step nano models and 2 epochs -- the numbers mean nothing, only that it runs)")
print(f"\n   plot: {os.path.join(args.out, '01_classical_vs_transfer.png')}")
