"""Lesson 02 -- feature-based transfer: frozen pretrained vectors + a small classifier on top.

Notes' section: "Transfer Learning Dựa Trên Tính Năng" (feature-based transfer learning).

Read alongside:
  minitl/models/word2vec.py, keyedvectors.py   word2vec and KeyedVectors.most_similar
  minitl/transfer/baselines.py   mean_word_vectors, fit_probe: the frozen-features classifier
  minitl/transfer/methods.py     fit_predict("w2v" | "gpt:features" | "bert:features" | "bow")
  minitl/models/elmo.py          word_positions: which BPE tokens spell a word in a sentence
  minitl/viz/embeddings.py       plot_pca: word vectors in 2-D

What you will see:
  1. word2vec (pretrained on Wikipedia + news + tweet text): nearest neighbours of a few words,
     and a PCA map of word groups;
  2. "bank" gets ONE word2vec vector, whatever the sentence -- while BERT's contextual
     vectors for "bank" differ from sentence to sentence (cosine similarities printed);
  3. frozen features + a cross-validated logistic regression on n labelled tweets:
     word2vec averages vs GPT / BERT frozen features vs a bag of words trained from scratch.

Run:  python lessons/02_feature_based.py [--smoke|--quick|--full] [--n_train=100] [--word=bank] [--out DIR]
"""
# %%
import os

import numpy as np

import minitl
from minitl import data, hub
from minitl.lesson import parse
from minitl.models.elmo import word_positions
from minitl.text.words import tokenize
from minitl.transfer import methods as M
from minitl.transfer.metrics import balanced_accuracy
from minitl.transfer.probe import balanced_subsample
from minitl.viz.curves import plot_bars, plot_matrix
from minitl.viz.embeddings import DEFAULT_GROUPS, DEFAULT_PAIRS, plot_pca

# -----------------------------------------------------------------------------
config = dict(n_train=100, seeds=3, neighbours="king,france,good,money,bank", word="bank",
              methods="w2v,gpt:features,bert:features,bow", max_test=0)
SENTENCES = ["I sat on the river bank and watched the water.",
             "The bank raised its interest rates again.",
             "She paid the cheque into the bank on Monday.",
             "They fished from the muddy bank of the stream."]
# -----------------------------------------------------------------------------
args = parse(config, __doc__)
if args.mode == "smoke":
    hub.set_profile("smoke")
    args.n_train, args.seeds, args.max_test = min(args.n_train, 40), 1, args.max_test or 200
elif args.mode == "full":
    args.seeds = max(args.seeds, 5)
os.makedirs(args.out, exist_ok=True)
wv = hub.load("w2v", progress=False)
bert = hub.load("bert", progress=False).eval()

# %% 1. word2vec neighbours
card = hub.card("w2v")
print(f"1. word2vec: {len(wv):,} words x {wv.vector_size} dims, trained on {card['recipe']['corpus']} "
      f"({card['words']:,} words).\n   Nearest neighbours by cosine similarity:\n")
for w in args.neighbours.split(","):
    if w in wv:
        print(f"   {w:<10} " + ", ".join(f"{n} {s:.2f}" for n, s in wv.most_similar(w, topn=5)))
    else:
        print(f"   {w:<10} (not in the vocabulary)")
plot_pca(wv, DEFAULT_GROUPS, os.path.join(args.out, "02_word2vec_pca.png"), pairs=DEFAULT_PAIRS,
         title="word2vec vectors, PCA to 2-D (arrows: country -> capital)")

# %% 2. One vector per word vs one vector per occurrence
print(f"\n2. {args.word!r} in {len(SENTENCES)} sentences:")
for i, s in enumerate(SENTENCES):
    print(f"   s{i + 1}: {s}")
static = []
for s in SENTENCES:                       # word2vec: look the word up -- the sentence plays no part
    toks = tokenize(s)
    static.append(wv[args.word] if args.word in toks and args.word in wv else np.zeros(wv.vector_size))
tok = bert.tokenizer
ctx_vecs = []
with minitl.no_grad():
    for s in SENTENCES:                   # BERT: [CLS] sentence [SEP], the word's pieces averaged
        ids, a, b = word_positions(tok, s, args.word)
        h = bert.hidden(np.array([[tok.cls_id] + ids + [tok.sep_id]]))          # (1, T + 2, C)
        ctx_vecs.append(h.data[0, a + 1:b + 1].astype(np.float64).mean(0))     # (C,)


def cosines(vs):
    v = np.stack(vs).astype(np.float64)
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return v @ v.T


cs, cc = cosines(static), cosines(ctx_vecs)
names = [f"s{i + 1}" for i in range(len(SENTENCES))]
for title, m in ((f"word2vec vector of {args.word!r}", cs), (f"BERT contextual vector of {args.word!r}", cc)):
    print(f"\n   cosine similarity, {title}:")
    print("        " + "".join(f"{n:>7}" for n in names))
    for n, row in zip(names, m):
        print(f"   {n:<5}" + "".join(f"{v:>7.3f}" for v in row))
off = ~np.eye(len(SENTENCES), dtype=bool)
print(f"\n   check: word2vec gives {args.word!r} the same vector in every sentence (all cosines 1): "
      f"{bool(np.allclose(cs[off], 1.0))}")
print(f"   check: BERT's vectors for {args.word!r} differ between sentences (min cosine < 0.99): "
      f"{bool(cc[off].min() < 0.99)}  (min {cc[off].min():.3f}, mean {cc[off].mean():.3f})")
money, river = [1, 2], [0, 3]
within = np.mean([cc[1, 2], cc[0, 3]])
across = np.mean([cc[i, j] for i in money for j in river])
print(f"   same sense (money-money, river-river) mean cosine {within:.3f} vs different senses {across:.3f}: "
      f"{'the senses separate' if within > across else 'this model does not separate the senses'}")
short = [f"{n}: {' '.join(s.split()[:6])}..." for n, s in zip(names, SENTENCES)]
plot_matrix(cc, short, os.path.join(args.out, "02_bank_bert.png"), vmin=-1, vmax=1, cbar_label="cosine",
            col_labels=names,
            title=f"BERT: cosine between the vectors of {args.word!r} in each pair of sentences "
                  f"(word2vec: 1.00 everywhere; one forward pass, no error bars)")

# %% 3. Frozen features + a classifier
methods = [m for m in args.methods.split(",") if m]
need = sorted({n for m in methods for n in M.needs(m)})
ctx = M.Context(backbones={n: hub.pretrained(n, progress=False) for n in need if n != "w2v"}, vectors=wv)
train, test = data.load("tweets", "train"), data.load("tweets", "test")
n_test = args.max_test or len(test)
print(f"\n3. Frozen features + logistic regression (C by 5-fold CV on the {args.n_train} training labels only),\n"
      f"   {args.seeds} seed(s), test {n_test} tweets.  No pretrained weight changes.\n")
scores = {m: [] for m in methods}
for seed in range(args.seeds):
    idx = balanced_subsample(train.labels, args.n_train, np.random.default_rng(seed))
    for m in methods:
        pred, _ = M.fit_predict(m, ctx, [train.texts[i] for i in idx], train.labels[idx], test.texts[:n_test],
                                seed=seed)
        scores[m].append(balanced_accuracy(test.labels[:n_test], pred))
print(f"   {'method':<36}{'kind':<10}{'balanced accuracy':>20}")
for m in sorted(methods, key=lambda m: -np.mean(scores[m])):
    a = f"{100 * np.mean(scores[m]):.1f}%" + (f" +- {100 * np.std(scores[m]):.1f}" if args.seeds > 1 else "")
    print(f"   {M.describe(m):<36}{M.kind(m):<10}{a:>20}")
print("   (mean +- std over seeds; chance 50%)")
plot_bars([M.describe(m) for m in methods], [np.mean(scores[m]) for m in methods],
          os.path.join(args.out, "02_frozen_features.png"), errors=[np.std(scores[m]) for m in methods],
          points=[scores[m] for m in methods],
          colors=["tab:blue" if M.kind(m) == "transfer" else "tab:gray" for m in methods],
          xlabel="test balanced accuracy (%)", percent=True, error_label=f"+- std over {args.seeds} seed(s)",
          reference=(0.5, "chance"), legend={"frozen pretrained features": "tab:blue", "from scratch": "tab:gray"},
          title=f"Frozen features + CV logistic regression, {args.n_train} labelled tweets")
if args.mode == "smoke":
    print("   (smoke mode: tiny models -- the accuracies mean nothing, the checks do)")
print(f"\n   plots: {args.out}/02_word2vec_pca.png, 02_bank_bert.png, 02_frozen_features.png")
