"""word2vec: minitl's Numba kernel vs gensim, trained side by side.

    python benchmarks/bench_word2vec.py            # 20 epochs, 3 seeds each (~10 min on 2 cores)
    python benchmarks/bench_word2vec.py --quick    # 5 epochs, 1 seed each

Same corpus (wiki + news, train split, tokenized by minitl.text.words.tokenize
and cut into pieces of at most 10,000 tokens, because gensim silently truncates
longer sentences -- both sides get the very same pieces), same hyper-parameters
(skip-gram, negative=5, dim=100, window=5, min_count=5, sample=1e-3,
alpha=0.025 -> 0.0001), 2 threads each (numba.set_num_threads(2); gensim
workers=2).  Runs alternate minitl / gensim and swap who goes first each seed,
so background load hits both alike.

words/s is gensim's "effective words/s": tokens that survive subsampling
(gensim's ``train()`` returns that count; minitl's kernel counts the same
thing), divided by the wall-clock seconds of the whole ``train()`` call, timed here
around it on both sides: vocabulary building excluded on both sides, turning
the words into ids included on both (minitl's ``train()`` encodes the corpus
first, gensim's looks words up as its workers go). minitl's epochs alone (its
own ``seconds``, which start after the encoding) are recorded too, as
``train_loop_seconds``.
Neither side computes the training loss (gensim's default).  Quality is
measured on both sides by the same code (minitl.models.word2vec_eval) and
averaged over seeds.

Before timing, the kernel is validated against its numpy reference twin.
"""
import argparse
import sys
import time

import numpy as np

from _common import emit, peer_available  # noqa: F401  (puts the repo on sys.path)

import minitl
from minitl.data import corpus, word_eval
from minitl.kernels import word2vec as K
from minitl.models.keyedvectors import KeyedVectors
from minitl.models.word2vec import Word2Vec, Word2VecConfig, encode_corpus
from minitl.models.word2vec_eval import evaluate_analogies, evaluate_word_pairs
from minitl.text.words import tokenize

PROBES = ["king", "war", "music", "city", "france", "computer", "river", "president"]


def load_sentences(max_len=10000):
    docs = corpus("wiki+news", split="train")
    sents = []
    for d in docs:
        toks = tokenize(d)
        sents.extend(toks[a:a + max_len] for a in range(0, len(toks), max_len))
    return [s for s in sents if s]


def validate_kernel(model, sentences):
    """The kernel and its reference twin agree on a small slice (1 thread)."""
    import numba
    tokens, starts, chunks = encode_corpus([sentences[0][:800]], model.vocab)
    outs = []
    for fn in (K.train_chunks, K.train_chunks_reference):
        syn0, syn1 = model.syn0.copy(), model.syn1neg.copy() + 0.01
        o = (np.zeros(1, np.int64), np.zeros(1), np.zeros(1, np.int64))
        old = numba.get_num_threads()
        numba.set_num_threads(1)
        fn(syn0, syn1, tokens, starts, chunks[:2], np.array([12345], np.uint64), np.zeros(1, np.int64),
           model.keep_int, model.noise_alias, model.noise_prob, True, 5, 5, 0.025, 0.0001, len(tokens),
           True, *o)
        numba.set_num_threads(old)
        outs.append((syn0, syn1, o))
    err = max(np.abs(outs[0][0] - outs[1][0]).max(), np.abs(outs[0][1] - outs[1][1]).max())
    assert outs[0][2][0][0] == outs[1][2][0][0], "kernel and reference kept different words"
    assert err < 1e-4, f"kernel and reference twin differ by {err}"
    return float(err)


def quality(wv, sets):
    an = evaluate_analogies(wv, sets["analogies"], restrict_vocab=30000)
    return {"analogy_acc": an["accuracy"], "analogy_coverage": an["coverage"],
            "wordsim_spearman": evaluate_word_pairs(wv, sets["wordsim353"])["spearman"],
            "simlex_spearman": evaluate_word_pairs(wv, sets["simlex999"])["spearman"]}


def run_minitl(sentences, epochs, seed, cfg_kw):
    minitl.manual_seed(seed)
    model = Word2Vec(Word2VecConfig(epochs=epochs, **cfg_kw))
    model.build_vocab(sentences)
    t0 = time.perf_counter()
    stats = model.train(sentences, progress=False, compute_loss=False)    # encodes the corpus, then the epochs
    seconds = time.perf_counter() - t0
    return model.wv, stats["effective_words"], seconds, {"train_loop_seconds": stats["seconds"]}


def run_gensim(sentences, epochs, seed, cfg_kw):
    from gensim.models import Word2Vec as GW
    m = GW(vector_size=cfg_kw["dim"], window=cfg_kw["window"], min_count=cfg_kw["min_count"],
           sample=cfg_kw["sample"], negative=cfg_kw["negative"], sg=1, hs=0, workers=cfg_kw["workers"],
           alpha=0.025, min_alpha=0.0001, seed=seed, epochs=epochs)
    m.build_vocab(sentences)
    t0 = time.perf_counter()
    effective, _raw = m.train(sentences, total_examples=len(sentences), epochs=epochs)
    seconds = time.perf_counter() - t0
    return KeyedVectors(list(m.wv.index_to_key), m.wv.vectors), effective, seconds, {}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 epochs, 1 seed")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=None)
    args = ap.parse_args(argv)
    epochs = args.epochs or (5 if args.quick else 20)
    n_seeds = args.seeds or (1 if args.quick else 3)
    cfg_kw = dict(sg=True, dim=100, window=5, negative=5, min_count=5, sample=1e-3, workers=2)
    have_gensim = peer_available("gensim")
    if have_gensim:
        import logging
        import gensim
        logging.getLogger("gensim").setLevel(logging.WARNING)

    sentences = load_sentences()
    sets = {name: word_eval(name) for name in ("analogies", "wordsim353", "simlex999")}
    n_tokens = sum(map(len, sentences))
    probe = Word2Vec(Word2VecConfig(epochs=1, **cfg_kw))
    probe.build_vocab(sentences)
    err = validate_kernel(probe, sentences)
    print(f"corpus: {len(sentences)} pieces, {n_tokens} tokens, vocabulary {len(probe.vocab) - 1} "
          f"words (min_count 5); kernel vs reference twin: max |diff| {err:.1e}")
    # compile once, outside the timings
    run_minitl(sentences[:5], 1, 0, cfg_kw)

    runs = {"minitl": [], "gensim": []}
    wvs = {}
    for seed in range(n_seeds):
        order = ["minitl", "gensim"] if seed % 2 == 0 else ["gensim", "minitl"]
        for who in order:
            if who == "gensim" and not have_gensim:
                continue
            fn = run_minitl if who == "minitl" else run_gensim
            wv, eff, sec, extra = fn(sentences, epochs, seed, cfg_kw)
            q = quality(wv, sets)
            runs[who].append({"effective_words": eff, "seconds": sec, **extra, **q})
            wvs[who] = wv
            print(f"{who:7s} seed {seed}: {eff / sec:9.0f} effective words/s ({eff} words, {sec:6.2f} s)  "
                  f"analogy {q['analogy_acc']:.4f} (coverage {q['analogy_coverage']:.3f})  "
                  f"wordsim {q['wordsim_spearman']:.4f}  simlex {q['simlex_spearman']:.4f}", flush=True)

    def agg(who, key):
        r = runs[who]
        if not r:
            return None
        if key == "words_per_s":
            return sum(x["effective_words"] for x in r) / sum(x["seconds"] for x in r)
        return float(np.mean([x[key] for x in r]))

    for who, wv in wvs.items():
        print(f"\nnearest neighbours ({who}, last seed):")
        for w in PROBES:
            if w in wv:
                print(f"  {w:10s} " + ", ".join(n for n, _ in wv.most_similar(w, topn=6)))
    res = {"words_per_s": agg("minitl", "words_per_s"), "gensim_words_per_s": agg("gensim", "words_per_s")}
    res["speedup_vs_gensim"] = (res["words_per_s"] / res["gensim_words_per_s"]
                                if res["gensim_words_per_s"] else None)
    for key in ("analogy_acc", "wordsim_spearman", "simlex_spearman"):
        res[key] = agg("minitl", key)
        res["gensim_" + key] = agg("gensim", key)
    res["analogy_coverage"] = agg("minitl", "analogy_coverage")
    res["per_seed"] = runs
    config = {"corpus": "wiki+news", "split": "train", "tokens": n_tokens, "pieces": len(sentences),
              "vocab": len(probe.vocab) - 1, **cfg_kw, "alpha": 0.025, "min_alpha": 0.0001,
              "epochs": epochs, "seeds": n_seeds, "threads": 2,
              "words_per_s": "effective words (after subsampling) / wall seconds of the whole train() call "
                             "(encoding words to ids included on both sides)",
              "analogy_restrict_vocab": 30000, "quick": args.quick,
              "gensim_version": gensim.__version__ if have_gensim else None}
    emit("word2vec", config, res)


if __name__ == "__main__":
    sys.exit(main())
