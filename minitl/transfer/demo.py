"""The main job (``minitl demo``): does pretraining help when labels are few?

Feature-based transfer, the course's first experiment, end to end on the
embedded data:

1. pretrain word2vec (skip-gram) on unlabelled text: Wikipedia + news + the
   tweets' own text (labels unused; evaluation tweets held out);
2. turn each tweet into the mean of its word vectors -- frozen features;
3. train a linear probe on n = 100 and 1,000 labelled tweets and measure
   balanced accuracy on the balanced test split (chance = 50%);
4. do the same with a bag-of-words model trained from scratch on the same n
   tweets (no pretraining): the control -- unigrams + bigrams, sublinear
   tf-idf, L2-normalised rows, vocabulary from the n tweets only.

Both are logistic regressions whose L2 strength C is picked by 5-fold
cross-validation on the n labelled tweets only (``minitl.transfer.baselines``),
so neither side wins by a lucky regularisation guess.  Each cell is the mean
over a few random draws of the n labelled tweets.
"""
import json
import os
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

import numpy as np

import minitl
from minitl import data
from minitl.text.words import tokenize
from minitl.transfer.baselines import fit_bow_classifier, fit_probe, mean_word_vectors
from minitl.transfer.metrics import balanced_accuracy
from minitl.progress import Progress
from minitl.transfer.probe import balanced_subsample, format_percent

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def run(quick: bool = True, seed: int = 0, label_counts: Sequence[int] = (100, 1000), draws: int = 3,
        out: Optional[str] = None, progress: bool = True, epochs: Optional[int] = None) -> Dict[str, Any]:
    """Run the experiment; returns a results dict (also written to ``out/results.json``)."""
    from minitl.models.word2vec import Word2Vec, Word2VecConfig

    t0 = time.perf_counter()
    minitl.manual_seed(seed)
    train, test = data.load("tweets", "train"), data.load("tweets", "test")
    docs = data.corpus("wiki+news+tweets-text", "train")
    sentences = [tokenize(d) for d in docs]
    sentences = [s for s in sentences if s]
    n_words = sum(map(len, sentences))
    print(f"pretraining text: {len(sentences):,} documents, {n_words:,} words "
          f"(wiki + news + tweets-text); labelled tweets: train {train.class_balance()}, "
          f"test {test.class_balance()}")

    epochs = epochs if epochs is not None else (10 if quick else 20)
    cfg = Word2VecConfig(sg=True, dim=100, epochs=epochs, min_count=3)
    w2v = Word2Vec(cfg)
    w2v.build_vocab(sentences)
    stats = w2v.train(sentences, progress=progress)
    wv = w2v.wv
    print(f"word2vec: {len(wv):,} words x {cfg.dim} dims, {cfg.epochs} epochs, "
          f"{stats['words_per_s']:,.0f} words/s")

    tr_tok = [tokenize(t) for t in train.texts]
    te_tok = [tokenize(t) for t in test.texts]
    tr_vec, te_vec = mean_word_vectors(tr_tok, wv), mean_word_vectors(te_tok, wv)
    rng = np.random.default_rng(seed)
    rows, fit_seconds = [], {"word2vec features (pretrained)": [], "bag of words (from scratch)": []}
    bar = Progress(total=len(label_counts) * draws, desc="probes (word2vec features, bag of words)",
                   unit="draw", disable=not progress)
    for n in label_counts:
        scores = {name: [] for name in fit_seconds}
        chosen_C = {name: [] for name in fit_seconds}
        for d in range(draws):
            idx = balanced_subsample(train.labels, n, rng)
            y = train.labels[idx]
            t = time.perf_counter()
            probe = fit_probe(tr_vec[idx], y, seed=seed + d)
            fit_seconds["word2vec features (pretrained)"].append(time.perf_counter() - t)
            scores["word2vec features (pretrained)"].append(balanced_accuracy(test.labels, probe.predict(te_vec)))
            chosen_C["word2vec features (pretrained)"].append(probe.C_)
            t = time.perf_counter()
            bow = fit_bow_classifier([tr_tok[i] for i in idx], y, seed=seed + d)
            fit_seconds["bag of words (from scratch)"].append(time.perf_counter() - t)
            scores["bag of words (from scratch)"].append(balanced_accuracy(test.labels, bow.predict(te_tok)))
            chosen_C["bag of words (from scratch)"].append(bow.clf.C_)
            bar.update(1, labels=n, draw=f"{d + 1}/{draws}")
        for name, s in scores.items():
            rows.append({"labels": n, "model": name, "balanced_acc": float(np.mean(s)),
                         "std": float(np.std(s)), "draws": draws, "per_draw": [float(v) for v in s],
                         "C": [float(c) for c in chosen_C[name]]})

    bar.close()
    spread = f"mean ± std over {draws} draws" if draws > 1 else "one draw"
    print(f"\n{'labels':>7}  {'model':<32} balanced accuracy (test, chance 50%; {spread})")
    for r in rows:
        print(f"{r['labels']:>7}  {r['model']:<32} {format_percent(r['per_draw'])}")
    result = {"experiment": "demo: word2vec features vs from scratch", "quick": quick, "seed": seed,
              "pretrain_words": n_words, "vocab": len(wv), "rows": rows,
              "cv_fit_seconds": {k: [round(v, 2) for v in ts] for k, ts in fit_seconds.items()},
              "seconds": round(time.perf_counter() - t0, 1)}
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "results.json"), "w") as f:
            json.dump(result, f, indent=2)
        _plot(rows, os.path.join(out, "demo.png"))
        print(f"\nwrote {out}/results.json and {out}/demo.png")
    return result


def _plot(rows: List[Dict[str, Any]], path: str) -> str:
    """Save the demo's figure (``figure``) as a PNG; returns the path."""
    import matplotlib.pyplot as plt
    fig = figure(rows)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def figure(rows: List[Dict[str, Any]]) -> "Figure":
    """The demo's figure: balanced accuracy against the number of labels, one line per model.

    The x axis is logarithmic with ticks at the label counts written out (100, 1,000); the y axis
    is the whole 0-100% scale with chance marked; the title says what the error bars are.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator
    draws = max(r["draws"] for r in rows)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for k, name in enumerate(dict.fromkeys(r["model"] for r in rows)):
        rs = sorted((r for r in rows if r["model"] == name), key=lambda r: r["labels"])
        x, y = [r["labels"] for r in rs], [100 * r["balanced_acc"] for r in rs]
        ax.errorbar(x, y, yerr=[100 * r["std"] for r in rs] if draws > 1 else None,
                    marker="o", capsize=3, label=name, color=f"C{k}")
        for xi, yi in zip(x, y):     # the number itself, so nobody reads it off the axis
            ax.annotate(f"{yi:.1f}%", (xi, yi), textcoords="offset points", xytext=(6, -12 if k else 6),
                        fontsize=7, color=f"C{k}")
    ax.axhline(50, color="grey", ls="--", lw=1, label="chance (50%)")
    ax.set_xscale("log")
    xs = sorted({r["labels"] for r in rows})
    ax.xaxis.set_major_locator(FixedLocator(xs))
    ax.set_xticks(xs, [f"{v:,}" for v in xs])                  # 100, 1,000 -- not 10^2, 10^3
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(xs[0] / 1.6, xs[-1] * 1.6)
    ax.set_ylim(0, 100)                                         # the whole scale: gaps look as big as they are
    ax.set_xlabel("labelled tweets used for training (log scale)")
    ax.set_ylabel("balanced accuracy on the test split (%)")
    bars = f"error bars: ± std over {draws} draws of the labelled tweets" if draws > 1 else "one draw: no error bars"
    ax.set_title(f"Pretrained features vs from scratch\n({bars})", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
