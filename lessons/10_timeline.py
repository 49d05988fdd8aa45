"""Lesson 10 -- the timeline: word2vec -> ELMo -> GPT -> BERT -> T5 on the same task, side by side.

Notes' section: "Dòng Thời Gian Lịch Sử" (historical timeline).

Read alongside:
  minitl/models/word2vec.py, keyedvectors.py   2013: one static vector per word
  minitl/models/elmo.py          2018: two LSTM language models, contextual vectors (contextual_similarity)
  minitl/models/gpt.py, bert.py  2018: transformers pretrained as a left-to-right LM / a masked LM
  minitl/models/t5.py            2019: encoder-decoder, every task as text -> text
  minitl/transfer/text2text.py   T5 fine-tuned to write the label name, greedy decoding
  minitl/transfer/methods.py     fit_predict("w2v" | "elmo:features" | "gpt:full" | "t5:text2text" | ...)

What you will see:
  1. the timeline with the correct years -- and where the course notes got them wrong
     (ELMo is 2018, not 2015; GPT-2, RoBERTa and XLNet are 2019, not "2020+");
  2. ELMo from the model cache: its layer 0 is context-free (like word2vec), its mix of
     layers is contextual ("bank" in two senses);
  3. all five models on the same labelled tweets, each transferred the way its paper did
     (word2vec and ELMo: frozen features + a cross-validated logistic regression; GPT and BERT:
     fine-tuned; T5: fine-tuned to *write* "positive" / "negative") and, like for like, GPT, BERT
     and T5 as frozen features too -- at n_train labels and at n_large labels (0 = all ~16k);
     with each method's trainable parameters and each model's pretraining time (its model card).

The models come from the cache (`minitl pretrain all --with elmo,t5` builds all five; a missing
one is built on first use, ~8 min each).  --quick: n_train=100 for every method, n_large=2000 for
the frozen-feature methods only -- fine-tuning at 2000 labels takes 20x the steps of 100 (the
table says "not run"); its time on this machine is on the last line of
lessons/expected/10_timeline.quick.txt.
--full: 3 seeds, n_large=0 (all ~16k labels) for the frozen-feature methods; fine-tuning at all
labels too only with --large_fine_tune=true (~10k steps each for GPT and BERT and ~30k for T5's
30 epochs: hours on 2 cores).

Run:  python lessons/10_timeline.py [--smoke|--quick|--full] [--n_train=100] [--n_large=2000]
      [--large_fine_tune=true] [--seeds=1] [--out DIR]
"""
# %%
import os
import time

import numpy as np

from minitl import data, hub
from minitl.lesson import parse
from minitl.report import machine
from minitl.transfer import methods as M
from minitl.transfer.experiments.base import SMOKE_RECIPES
from minitl.transfer.metrics import balanced_accuracy
from minitl.transfer.probe import balanced_subsample
from minitl.viz.curves import plot_bars

# -----------------------------------------------------------------------------
config = dict(n_train=100, n_large=2000, seeds=1, max_test=0, large_fine_tune=False)
# (model, year, what it is, the notes' year where the notes got it wrong)
TIMELINE = [("word2vec", 2013, "static word vectors (Mikolov et al.)", None),
            ("ULMFiT", 2018, "LSTM LM fine-tuned in 3 stages (Howard & Ruder)", None),
            ("ELMo", 2018, "contextual vectors from 2 LSTM LMs (Peters et al., NAACL 2018)", "2015"),
            ("GPT", 2018, "transformer left-to-right LM, fine-tuned (Radford et al.)", None),
            ("BERT", 2018, "transformer masked LM (Devlin et al., arXiv Oct 2018)", None),
            ("GPT-2", 2019, "bigger GPT, zero-shot (Radford et al., Feb 2019)", "2020+"),
            ("XLNet", 2019, "permutation LM (Yang et al., Jun 2019)", "2020+"),
            ("RoBERTa", 2019, "BERT trained longer, no NSP (Liu et al., Jul 2019)", "2020+"),
            ("T5", 2019, "encoder-decoder, text-to-text (Raffel et al., arXiv Oct 2019; JMLR 2020)", None)]
# each model as its paper transferred it, then GPT/BERT/T5 as frozen features (like for like)
METHODS = ["w2v", "elmo:features", "gpt:full", "bert:full", "t5:text2text", "gpt:features", "bert:features",
           "t5:features"]
MODEL = {"w2v": ("word2vec", 2013), "elmo": ("ELMo", 2018), "gpt": ("GPT", 2018), "bert": ("BERT", 2018),
         "t5": ("T5", 2019)}
BANK = ["I sat on the river bank and watched the water.", "The bank raised its interest rates again."]
# -----------------------------------------------------------------------------
args = parse(config, __doc__)
recipes = None
if args.mode == "smoke":
    hub.set_profile("smoke")
    args.n_train, args.n_large, args.max_test = min(args.n_train, 40), 100, args.max_test or 200
    recipes = SMOKE_RECIPES()
elif args.mode == "full":
    args.seeds, args.n_large = max(args.seeds, 3), 0
os.makedirs(args.out, exist_ok=True)

# %% 1. The timeline, with the years right
print("1. The timeline (year of first public release):\n")
print(f"   {'year':<6}{'model':<10}{'what':<74}{'the notes said'}")
for name, year, what, notes in TIMELINE:
    print(f"   {year:<6}{name:<10}{what:<74}{'' if notes is None else notes + '  <- wrong'}")
wrong = [(n, y, s) for n, y, _, s in TIMELINE if s is not None]
print("\n   The course notes are wrong here: " + "; ".join(f"{n} is {y}, not {s}" for n, y, s in wrong) + ".")
print("   Everything from ELMo to T5 came within about 20 months (Feb 2018 - Oct 2019).")

# %% 2. ELMo, from the model cache
print(f"\n2. ELMo from the model cache ({'smoke profile: a nano model, 30 steps' if args.mode == 'smoke' else 'micro'}; "
      f"built now if missing -- `minitl pretrain elmo --out DIR` trains your own):")
from minitl.models.elmo import contextual_similarity  # noqa: E402
elmo = hub.load("elmo", progress=False)
static = contextual_similarity(elmo, BANK, "bank", layer=0)[0, 1]
mixed = contextual_similarity(elmo, BANK, "bank")[0, 1]
print(f"   'bank' in {BANK[0]!r} vs {BANK[1]!r}:")
print(f"   cosine of layer 0 (the token embedding, context-free, as word2vec): {static:.4f}")
print(f"   cosine of the scalar mix of all layers (contextual):                {mixed:.4f}")
print(f"   check: ELMo's layer 0 is context-free (cosine 1) and its mix is not (< 0.99): "
      f"{bool(abs(static - 1) < 1e-5 and mixed < 0.99)}")

# %% 3. Side by side on the same task
t0 = time.perf_counter()
ctx = M.hub_context(("w2v", "gpt", "bert", "elmo", "t5"), recipes=recipes)
train, test = data.load("tweets", "train"), data.load("tweets", "test")
n_test = args.max_test or len(test)
n_large = args.n_large or len(train)
sizes = [args.n_train] + ([n_large] if n_large != args.n_train else [])
print(f"\n3. The same labelled tweets for every model: n = {' and '.join(map(str, sizes))} (class-balanced), "
      f"x {args.seeds} seed(s); test: {n_test} tweets.\n")
scores, info = {}, {}
for n in sizes:
    for m in METHODS:
        if n != args.n_train and not m.endswith("features") and m != "w2v" and not args.large_fine_tune:
            continue                   # fine-tuning at n_large: only with --large_fine_tune=true
        for seed in range(args.seeds):
            if n >= len(train):
                idx = np.random.default_rng(seed).permutation(len(train))
            else:
                idx = balanced_subsample(train.labels, n, np.random.default_rng(seed))
            t = time.perf_counter()
            pred, inf = M.fit_predict(m, ctx, [train.texts[i] for i in idx], train.labels[idx],
                                      test.texts[:n_test], seed=seed, label_names=train.label_names)
            scores.setdefault((m, n), []).append(balanced_accuracy(test.labels[:n_test], pred))
            info[(m, n)] = {**inf, "wall_s": time.perf_counter() - t}
        print(f"   {M.describe(m):<42} n={n:<6} balanced accuracy {100 * np.mean(scores[(m, n)]):5.1f}%  "
              f"({info[(m, n)]['wall_s']:.0f} s)", flush=True)


def trainable(m):
    if m == "w2v":                              # the probe: a (K, dim) weight + K biases, as a head
        return 2 * ctx.vectors.vector_size + 2
    return next(info[k]["trainable_params"] for k in info if k[0] == m)


def pretraining(m):
    card = hub.card(m.split(":")[0])
    what = f"{card['steps']} steps" if "steps" in card else f"{card['recipe']['epochs']} epochs"
    return f"{card['seconds'] / 60:.1f} min ({what})"


def cell(m, n):
    if (m, n) not in scores:
        return "not run"
    a = scores[(m, n)]
    return f"{100 * np.mean(a):.1f}" + (f" +- {100 * np.std(a):.1f}" if len(a) > 1 else "")


head = ["year", "model", "transfer", f"n={args.n_train}"] + ([f"n={n_large}"] if len(sizes) > 1 else []) + \
    ["trainable params", "pretraining (this machine)"]
rows = [[str(MODEL[m.split(':')[0]][1]), MODEL[m.split(":")[0]][0], M.describe(m), *[cell(m, n) for n in sizes],
         f"{trainable(m):,}", pretraining(m)] for m in METHODS]
table = "\n".join(["| " + " | ".join(r) + " |" for r in [head, ["---"] * len(head)] + rows])
print(table)
print(f"\n   test balanced accuracy (%, mean +- std over seeds; chance 50); {n_test} test tweets; "
      f"section 3 took {time.perf_counter() - t0:.0f} s here")
checks = [m for m in METHODS if 0 <= np.mean(scores[(m, args.n_train)]) <= 1]
print(f"   check: every model of the timeline (word2vec, ELMo, GPT, BERT, T5) measured at n={args.n_train}: "
      f"{len(checks) == len(METHODS)}")
t5_invalid = info[("t5:text2text", args.n_train)]["invalid_rate"]
print(f"   T5 wrote a label name for {100 * (1 - t5_invalid):.1f}% of the test tweets; the rest fell back to the "
      f"label string it scores most likely.")
print("   These are tiny models pretrained for minutes (see the last column: unequal budgets); the paper-scale\n"
      "   ordering (each step better than the last) need not hold here -- what the table shows is what this run\n"
      "   measured.")
if args.mode == "smoke":
    print("   (smoke mode: nano models, a few steps -- the accuracies mean nothing, the checks do)")
with open(os.path.join(args.out, "10_timeline.md"), "w") as f:
    f.write(f"Lesson 10 ({args.mode}): test balanced accuracy (%) on tweets, {n_test} test tweets, "
            f"{args.seeds} seed(s)\n\n{table}\n\n`python lessons/10_timeline.py --{args.mode}` on {machine()}.\n")
bars = [(m, n) for n in sizes for m in METHODS if (m, n) in scores]
plot_bars([f"{MODEL[m.split(':')[0]][1]} {M.describe(m)}, n={n}" for m, n in bars],
          [np.mean(scores[k]) for k in bars], os.path.join(args.out, "10_timeline.png"),
          errors=[np.std(scores[k]) for k in bars], points=[scores[k] for k in bars], percent=True,
          xlabel="test balanced accuracy (%)", annotate=True,
          colors=["tab:gray" if m == "w2v" else "tab:blue" if m.endswith("features") else "tab:orange"
                  for m, _ in bars],
          legend={"static vectors": "tab:gray", "frozen contextual features": "tab:blue",
                  "fine-tuned (T5: text-to-text)": "tab:orange"},
          error_label=f"+- std over {args.seeds} seed(s)", reference=(0.5, "chance"),
          title="The timeline on one task: word2vec, ELMo, GPT, BERT, T5")
print(f"\n   table: {args.out}/10_timeline.md   plot: {args.out}/10_timeline.png")
