"""Run-to-run spread of the demo's word2vec (Hogwild updates on 2 threads).

Trains the demo's recipe (skip-gram, 100 dims, 10 epochs, min_count 3 on
wiki+news+tweets-text) once per seed given, then scores the vectors
(WordSim / SimLex Spearman, analogies) and the linear probe at 100 and 1,000
labels with the labelled draws held fixed, so only the vectors differ between
rows.  Give a seed twice to see what Hogwild alone changes:

    python benchmarks/word2vec_run_to_run.py 0 0 1 2 [--workers 2] [--json out.json]
"""
import argparse
import json
import time

import numpy as np

import minitl
from minitl import data
from minitl.models.word2vec import Word2Vec, Word2VecConfig
from minitl.models.word2vec_eval import evaluate
from minitl.text.words import tokenize
from minitl.transfer.baselines import fit_probe, mean_word_vectors
from minitl.transfer.metrics import balanced_accuracy
from minitl.transfer.probe import balanced_subsample


def one_run(seed, sents, train, test, workers):
    minitl.manual_seed(seed)
    model = Word2Vec(Word2VecConfig(sg=True, dim=100, epochs=10, min_count=3, workers=workers))
    model.build_vocab(sents)
    t = time.perf_counter()
    model.train(sents, progress=False)
    row = {"seed": seed, "train_s": round(time.perf_counter() - t, 1)}
    ev = evaluate(model.wv)
    row.update(wordsim=ev["wordsim_spearman"], simlex=ev["simlex_spearman"], analogy=ev["analogy_acc"])
    tr = mean_word_vectors([tokenize(x) for x in train.texts], model.wv)
    te = mean_word_vectors([tokenize(x) for x in test.texts], model.wv)
    rng = np.random.default_rng(0)                       # the same labelled draws for every run
    for n in (100, 1000):
        accs = []
        for d in range(3):
            idx = balanced_subsample(train.labels, n, rng)
            accs.append(balanced_accuracy(test.labels, fit_probe(tr[idx], train.labels[idx], seed=d).predict(te)))
        row[f"probe_{n}"] = float(np.mean(accs))
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("seeds", nargs="+", type=int)
    p.add_argument("--workers", type=int, default=2, help="word2vec threads (1: repeatable)")
    p.add_argument("--json", default=None, help="also write the rows here")
    a = p.parse_args()
    train, test = data.load("tweets", "train"), data.load("tweets", "test")
    sents = [s for s in (tokenize(d) for d in data.corpus("wiki+news+tweets-text", "train")) if s]
    rows = []
    print("| seed | WordSim rho | SimLex rho | analogies | probe 100 labels | probe 1,000 labels | train s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for seed in a.seeds:
        r = one_run(seed, sents, train, test, a.workers)
        rows.append(r)
        print(f"| {r['seed']} | {r['wordsim']:.3f} | {r['simlex']:.3f} | {100 * r['analogy']:.2f}% | "
              f"{100 * r['probe_100']:.1f}% | {100 * r['probe_1000']:.1f}% | {r['train_s']} |", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
