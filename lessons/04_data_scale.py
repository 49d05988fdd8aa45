"""Lesson 04 -- how much pretraining text vs how many labels: the ratio, and what more pretraining buys.

Notes' section: "Dữ Liệu Pre-training vs Tác Vụ Hạ Nguồn" (pretraining data vs the downstream task).

Read alongside:
  minitl/hub.py                                 the model cards: corpus, steps, training tokens
  minitl/data/registry.py                       the corpora (wiki, news, tweets-text) and their sizes
  minitl/transfer/experiments/data_scale.py     (when present) accuracy vs the fraction of the
                                                pretraining corpus used
  minitl/transfer/experiments/base.py           run(): cached cells, mean +- std over seeds

What you will see:
  1. the notes' arithmetic checked aloud: 800 GB of pretraining text vs 10 KB of labels is a
     ratio of 80,000,000, not the 80,000 the notes print;
  2. the same ratio for this run: the bytes and tokens the cached GPT was pretrained on vs the
     n labelled tweets a classifier gets;
  3. the data-scale experiment: downstream accuracy vs the fraction of the pretraining corpus
     (when this minitl has it; `minitl experiment --list`).

Run:  python lessons/04_data_scale.py [--smoke|--quick|--full] [--n_train=100] [--out DIR]
"""
# %%
import os
import shutil
import sys

import numpy as np

from minitl import data, hub
from minitl.lesson import parse
from minitl.models import GPT
from minitl.transfer import experiments
from minitl.transfer.probe import balanced_subsample
from minitl.viz.curves import plot_bars

# -----------------------------------------------------------------------------
# Cells are cached where `minitl experiment` keeps them, so the lesson and the command share work:
# a rerun (or a lesson after `minitl experiment NAME --quick`) recomputes nothing.  Delete
# EXPERIMENTS_OUT/cells/NAME after `minitl pretrain all` rebuilds the models.  --smoke uses --out.
config = dict(n_train=100, seeds=2, notes_pretrain_gb=800.0, notes_labelled_kb=10.0, notes_ratio=80_000.0,
              experiment=True, experiments_out="runs/experiments")   # experiment: run data-scale (section 3)
# -----------------------------------------------------------------------------
args = parse(config, __doc__)
if args.mode == "smoke":
    hub.set_profile("smoke")
    args.seeds = 1
    # data-scale pretrains models of its own: the test suite's smoke run leaves it out
    args.experiment = any(a.startswith("--experiment=") for a in sys.argv[1:]) and args.experiment
elif args.mode == "full":
    args.seeds = max(args.seeds, 3)
os.makedirs(args.out, exist_ok=True)

# %% 1. The notes' arithmetic, aloud
gb, kb = args.notes_pretrain_gb, args.notes_labelled_kb
decimal = gb * 1e9 / (kb * 1e3)
binary = gb * 2**30 / (kb * 2**10)
print(f"1. The notes: {gb:g} GB of pretraining text vs {kb:g} KB of labelled data, 'a ratio of "
      f"{args.notes_ratio:,.0f}x'.  Check it:\n")
print(f"   {gb:g} GB = {gb:g} x 10^9 bytes = {gb * 1e9:,.0f} bytes")
print(f"   {kb:g} KB = {kb:g} x 10^3 bytes = {kb * 1e3:,.0f} bytes")
print(f"   ratio = {gb * 1e9:,.0f} / {kb * 1e3:,.0f} = {decimal:,.0f}   (with GiB/KiB: {binary:,.0f})")
print(f"   The notes' {args.notes_ratio:,.0f}x is off by a factor of {decimal / args.notes_ratio:,.0f}: "
      f"GB -> KB is 10^6, not 10^3.")
print(f"   check: 800 GB / 10 KB == 80,000,000: {decimal == 80_000_000}")

# %% 2. This run's ratio
card = hub.card("gpt") or (hub.pretrained("gpt", progress=False) and hub.card("gpt"))
corpus = card["recipe"]["corpus"]
docs = data.corpus(corpus, "train")
pre_bytes = sum(len(d.encode("utf-8")) for d in docs)
train = data.load("tweets", "train")
idx = balanced_subsample(train.labels, args.n_train, np.random.default_rng(0))
lab_texts = [train.texts[i] for i in idx]
lab_bytes = sum(len(t.encode("utf-8")) for t in lab_texts)
gpt = GPT.from_pretrained(hub.model_dir("gpt"))
lab_tokens = sum(len(gpt.tokenizer.encode(t)) for t in lab_texts)
seen_tokens = card["steps"] * card["recipe"]["batch_size"] * gpt.config.block_size
print(f"\n2. This run: the cached GPT was pretrained on {corpus} ({len(docs):,} documents).\n")
print(f"   {'':<34}{'bytes':>14}{'tokens':>14}")
print(f"   {'pretraining corpus (train split)':<34}{pre_bytes:>14,}{card['train_tokens']:>14,}")
print(f"   {'tokens seen in pretraining':<34}{'':>14}{seen_tokens:>14,}"
      f"   ({card['steps']:,} steps x {card['recipe']['batch_size']} x block)")
print(f"   {f'{args.n_train} labelled tweets':<34}{lab_bytes:>14,}{lab_tokens:>14,}")
print(f"   ({args.n_train} labelled tweets are {lab_bytes / 1e3:.1f} KB: about the notes' 10 KB of labels)")
print(f"   ratio pretraining : labelled = {pre_bytes / lab_bytes:,.0f}x in bytes, "
      f"{card['train_tokens'] / lab_tokens:,.0f}x in tokens")
print(f"   The notes' 800 GB : 10 KB is {decimal / (pre_bytes / lab_bytes):,.0f}x more lopsided than this run --\n"
      f"   minitl's pretraining is tiny, one reason to expect smaller transfer gains than the notes promise.")
path = plot_bars(["notes, as printed", "notes, computed (800 GB / 10 KB)",
                  f"this run ({corpus} / {args.n_train} tweets)"],
                 [args.notes_ratio, decimal, pre_bytes / lab_bytes], os.path.join(args.out, "04_data_ratio.png"),
                 colors=["tab:red", "tab:green", "tab:blue"], log=True, annotate=True,
                 xlabel="pretraining bytes / labelled bytes (log scale)",
                 title="How much more unlabelled than labelled text (exact arithmetic, no error bars)")

# %% 3. The data-scale experiment
print("\n3. Downstream accuracy vs the fraction of the pretraining corpus used:")
ran = False
if not args.experiment:
    print("   skipped (--smoke leaves it out: it pretrains models of its own); "
          "add --experiment=true to run it")
elif "data-scale" in experiments.available():
    ran = True
    exp_out = os.path.join(args.out, "04_experiments") if args.mode == "smoke" else args.experiments_out
    summary = experiments.run("data-scale", mode=args.mode, seeds=args.seeds, out=exp_out, progress=False)
    shutil.copy(os.path.join(exp_out, "data-scale.png"), os.path.join(args.out, "04_data_scale.png"))
    print(f"   verdict on the notes' claim: {summary['verdict']} -- {summary['measured']}")
    if args.mode == "smoke":
        print("   (smoke mode: tiny models -- the numbers mean nothing)")
else:
    print("   this minitl has no data-scale experiment yet (`minitl experiment --list`); sections 1-2 stand.")
print(f"\n   plots: {path}" + (" and 04_data_scale.png" if ran else ""))
