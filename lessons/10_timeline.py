"""Lesson 10 -- the timeline: word2vec -> ELMo -> GPT -> BERT -> T5 on the same task, side by side.

Notes' section: "Dòng Thời Gian Lịch Sử" (historical timeline).

Read alongside:
  minitl/models/word2vec.py, keyedvectors.py   2013: one static vector per word
  minitl/models/elmo.py          2018: two LSTM language models, contextual vectors (contextual_similarity)
  minitl/models/gpt.py, bert.py  2018: transformers pretrained as a left-to-right LM / a masked LM
  minitl/models/t5.py            2019: encoder-decoder, every task as text -> text
  minitl/transfer/methods.py     fit_predict("w2v" | "elmo:features" | "gpt:features" | ...)

What you will see:
  1. the timeline with the correct years -- and where the course notes got them wrong
     (ELMo is 2018, not 2015; GPT-2, RoBERTa and XLNet are 2019, not "2020+");
  2. ELMo, pretrained here in seconds to minutes: its layer 0 is context-free (like word2vec),
     its mix of layers is contextual ("bank" in two senses);
  3. every model of the timeline that minitl has, on the same labelled tweets: frozen features +
     a cross-validated logistic regression for each (the fair like-for-like), and GPT / BERT
     fine-tuned; T5 only if a pretrained one exists -- otherwise the lesson says so.

Run:  python lessons/10_timeline.py [--smoke|--quick|--full] [--n_train=100] [--elmo_steps=1500]
      [--elmo_minutes=1.5] [--out DIR]
"""
# %%
import os

import numpy as np

from minitl import data, hub
from minitl.cli import main as minitl_cli
from minitl.lesson import parse
from minitl.transfer import methods as M
from minitl.transfer.experiments.base import SMOKE_RECIPES
from minitl.transfer.metrics import balanced_accuracy
from minitl.transfer.probe import balanced_subsample
from minitl.viz.curves import plot_bars

# -----------------------------------------------------------------------------
config = dict(n_train=100, seeds=1, elmo_steps=1500, elmo_minutes=1.5, elmo_preset="nano",
              elmo_corpus="wiki+news+tweets-text", max_test=0, fine_tune=True)
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
BANK = ["I sat on the river bank and watched the water.", "The bank raised its interest rates again."]
# -----------------------------------------------------------------------------
args = parse(config, __doc__)
recipes = None
if args.mode == "smoke":
    hub.set_profile("smoke")
    args.n_train, args.seeds, args.elmo_steps, args.elmo_corpus = min(args.n_train, 40), 1, 10, "news"
    args.max_test, recipes = args.max_test or 200, SMOKE_RECIPES()
elif args.mode == "full":
    args.seeds, args.elmo_steps, args.elmo_minutes = max(args.seeds, 5), max(args.elmo_steps, 5000), 0.0
os.makedirs(args.out, exist_ok=True)

# %% 1. The timeline, with the years right
print("1. The timeline (year of first public release):\n")
print(f"   {'year':<6}{'model':<10}{'what':<74}{'the notes said'}")
for name, year, what, notes in TIMELINE:
    print(f"   {year:<6}{name:<10}{what:<74}{'' if notes is None else notes + '  <- wrong'}")
wrong = [(n, y, s) for n, y, _, s in TIMELINE if s is not None]
print("\n   The course notes are wrong here: " + "; ".join(f"{n} is {y}, not {s}" for n, y, s in wrong) + ".")
print("   Everything from ELMo to T5 came within about 20 months (Feb 2018 - Oct 2019).")

# %% 2. ELMo, pretrained here
elmo_dir = os.path.join(args.out, f"10_elmo_{args.mode}_{args.elmo_preset}_{args.elmo_steps}")
if not os.path.exists(os.path.join(elmo_dir, "model", "config.json")):
    print(f"\n2. Pretraining a {args.elmo_preset} ELMo on {args.elmo_corpus} for {args.elmo_steps} steps "
          f"or {args.elmo_minutes:g} minutes, whichever comes first (`minitl pretrain elmo`; kept in {elmo_dir})...")
    cmd = ["pretrain", "elmo", "--corpus", args.elmo_corpus, "--preset", args.elmo_preset, "--steps",
           str(args.elmo_steps), "--out", elmo_dir, "--eval-every", "0", "--ckpt-every", "0",
           "--warmup", str(max(1, args.elmo_steps // 10)), "--max-minutes", str(args.elmo_minutes)]
    if args.mode == "smoke":
        cmd += ["--vocab-size", "400"]
    if minitl_cli(cmd) not in (0, None):
        raise SystemExit(f"lesson 10: `minitl {' '.join(cmd)}` failed")
else:
    print(f"\n2. ELMo: reusing {elmo_dir} (delete it to pretrain again).")
from minitl.models.elmo import ELMo, contextual_similarity  # noqa: E402
elmo = ELMo.from_pretrained(os.path.join(elmo_dir, "model"))
static = contextual_similarity(elmo, BANK, "bank", layer=0)[0, 1]
mixed = contextual_similarity(elmo, BANK, "bank")[0, 1]
print(f"   'bank' in {BANK[0]!r} vs {BANK[1]!r}:")
print(f"   cosine of layer 0 (the token embedding, context-free, as word2vec): {static:.4f}")
print(f"   cosine of the scalar mix of all layers (contextual):                {mixed:.4f}")
print(f"   check: ELMo's layer 0 is context-free (cosine 1) and its mix is not (< 0.99): "
      f"{bool(abs(static - 1) < 1e-5 and mixed < 0.99)}")

# %% 3. Side by side on the same task
methods = ["w2v", "elmo:features", "gpt:features", "bert:features"]
methods += ["gpt:full", "bert:full"] if args.fine_tune else []
ctx = M.Context(backbones={"gpt": hub.pretrained("gpt", progress=False), "bert": hub.pretrained("bert", progress=False),
                           "elmo": os.path.join(elmo_dir, "model")},
                vectors=hub.load("w2v", progress=False), recipes=recipes)
train, test = data.load("tweets", "train"), data.load("tweets", "test")
n_test = args.max_test or len(test)
print(f"\n3. The same {args.n_train} labelled tweets x {args.seeds} seed(s) for every model; test {n_test} tweets.\n")
scores = {m: [] for m in methods}
for seed in range(args.seeds):
    idx = balanced_subsample(train.labels, args.n_train, np.random.default_rng(seed))
    for m in methods:
        pred, _ = M.fit_predict(m, ctx, [train.texts[i] for i in idx], train.labels[idx], test.texts[:n_test],
                                seed=seed)
        scores[m].append(balanced_accuracy(test.labels[:n_test], pred))
year = {"w2v": 2013, "elmo": 2018, "gpt": 2018, "bert": 2018}


def label(m):
    return M.describe(m).replace("ELMO", "ELMo")



print(f"   {'year':<6}{'method':<36}{'balanced accuracy':>20}")
for m in methods:
    a = f"{100 * np.mean(scores[m]):.1f}%" + (f" +- {100 * np.std(scores[m]):.1f}" if args.seeds > 1 else "")
    print(f"   {year[m.split(':')[0]]:<6}{label(m):<36}{a:>20}")
print("   (mean +- std over seeds; chance 50%)")
t5 = "t5" in getattr(hub, "NAMES", ()) and hub.is_built("t5")
if not t5:
    try:
        import minitl.models.t5  # noqa: F401
        where = ("minitl has a T5 model\n   (minitl/models/t5.py; `minitl pretrain t5`, `minitl t5 finetune`), but no "
                 "pretrained T5 in the model cache\n   and no fit_predict method for it")
    except ImportError:
        where = "this minitl has no T5 model"
    print(f"   2019 T5: not in this comparison -- {where}; a lesson does not fake a row.")
print("   These are tiny models pretrained for minutes; the paper-scale ordering (each step better than\n"
      "   the last) need not hold here -- what the table shows is what this run measured.")
if args.mode == "smoke":
    print("   (smoke mode: nano models, a few steps -- the accuracies mean nothing, the checks do)")
plot_bars([f"{year[m.split(':')[0]]} {label(m)}" for m in methods], [np.mean(scores[m]) for m in methods],
          os.path.join(args.out, "10_timeline.png"), errors=[np.std(scores[m]) for m in methods],
          points=[scores[m] for m in methods], percent=True, xlabel="test balanced accuracy (%)",
          colors=["tab:gray" if m == "w2v" else "tab:blue" if m.endswith("features") else "tab:orange"
                  for m in methods],
          legend={"static vectors": "tab:gray", "frozen contextual features": "tab:blue", "fine-tuned": "tab:orange"},
          error_label=f"+- std over {args.seeds} seed(s)", reference=(0.5, "chance"),
          title=f"The timeline on one task: {args.n_train} labelled tweets (T5: no pretrained model)" if not t5 else
          f"The timeline on one task: {args.n_train} labelled tweets")
print(f"\n   plot: {args.out}/10_timeline.png")
