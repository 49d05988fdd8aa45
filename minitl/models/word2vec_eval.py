"""How good are word vectors?  The three standard checks, computed as gensim does.

* Analogies (Mikolov et al.'s Google questions, "man king woman queen"):
  accuracy of b - a + c, searched among the 30,000 most frequent words, over
  the questions whose four words are all among them; ``coverage`` says how
  many questions that was.  Same rule as gensim's
  ``evaluate_word_analogies(restrict_vocab=30000)`` (case-insensitive).
* WordSim-353 and SimLex-999: Spearman rank correlation between the vectors'
  cosine similarity and people's ratings, over the pairs whose words are both
  known (WordSim rewards relatedness -- cup/coffee; SimLex only similarity).

On a corpus of half a million words these numbers are low for every
implementation (gensim included): analogy accuracy of a few percent; they
are for comparing runs side by side, not for bragging.

``untrained_warning(wv)`` is the cheap sanity check ``minitl neighbors`` runs
first: vectors that are still random, or that all point the same way (too few
epochs), give confident-looking but meaningless neighbours.
"""
from typing import Any, Dict, Iterable, Optional

import numpy as np


def rankdata(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``a``; tied values share the average of their ranks.

    [10, 20, 20, 30] -> [1, 2.5, 2.5, 4]
    """
    a = np.asarray(a)
    n = len(a)
    order = np.argsort(a, kind="mergesort")
    sv = a[order]
    new_group = np.r_[True, sv[1:] != sv[:-1]]            # (n,) a new value starts here
    group = np.cumsum(new_group) - 1                        # group id of each sorted position
    bounds = np.r_[np.nonzero(new_group)[0], n]             # group g is sorted[bounds[g]:bounds[g+1]]
    average = (bounds[:-1] + 1 + bounds[1:]) / 2.0          # mean of the 1-based ranks in the group
    ranks = np.empty(n, np.float64)
    ranks[order] = average[group]
    return ranks


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r of two equal-length sequences (nan when either is constant)."""
    x = np.asarray(x, np.float64) - np.mean(x)
    y = np.asarray(y, np.float64) - np.mean(y)
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else float("nan")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho: the Pearson correlation of the ranks (ties averaged)."""
    if len(x) != len(y):
        raise ValueError(f"spearman: {len(x)} values vs {len(y)} values")
    return pearson(rankdata(x), rankdata(y))


def _upper_index(wv, restrict_vocab):
    # Case-insensitive lookup among the first restrict_vocab words; the most
    # frequent spelling wins, as in gensim.
    index = {}
    for i, w in enumerate(wv.index_to_key[:restrict_vocab]):
        index.setdefault(w.upper(), i)
    return index


def evaluate_analogies(wv, questions: Iterable, restrict_vocab: int = 30000, batch: int = 512) -> Dict[str, Any]:
    """Accuracy on analogy questions (a, b, c, d): is d the word nearest to b - a + c?

    Args:
        wv: KeyedVectors (words sorted most frequent first).
        questions: iterable of (a, b, c, d); ``.section`` is used when present.
        restrict_vocab: search, and require the question words, among this many words.
    Returns:
        dict: accuracy (correct / covered), correct, covered, total,
        coverage (covered / total), sections {name: {"correct", "covered"}}.
    """
    index = _upper_index(wv, restrict_vocab)
    rows, sections, total = [], [], 0
    for q in questions:
        total += 1
        ids = [index.get(w.upper()) for w in tuple(q)[:4]]
        if None not in ids:
            rows.append(ids)
            sections.append(getattr(q, "section", ""))
    limit = min(restrict_vocab, len(wv))
    unit = wv.unit_vectors()[:limit]                          # (R, C)
    rows = np.asarray(rows, np.int64).reshape(-1, 4)          # (Q, 4): a, b, c, d
    hits = np.zeros(len(rows), bool)
    for s in range(0, len(rows), batch):
        r = rows[s:s + batch]
        query = unit[r[:, 1]] - unit[r[:, 0]] + unit[r[:, 2]]  # (q, C): b - a + c
        sims = query @ unit.T                                   # (q, R)
        np.put_along_axis(sims, r[:, :3], -np.inf, axis=1)      # never answer a question word
        hits[s:s + batch] = sims.argmax(axis=1) == r[:, 3]
    per_section = {}
    for name, hit in zip(sections, hits):
        d = per_section.setdefault(name, {"correct": 0, "covered": 0})
        d["correct"] += int(hit)
        d["covered"] += 1
    covered = len(rows)
    return {"accuracy": float(hits.mean()) if covered else 0.0, "correct": int(hits.sum()),
            "covered": covered, "total": total, "coverage": covered / total if total else 0.0,
            "sections": per_section}


def evaluate_word_pairs(wv, pairs: Iterable, restrict_vocab: int = 300000) -> Dict[str, Any]:
    """Spearman (and Pearson) correlation of cosine similarity with human scores.

    Pairs with an unknown word are skipped and counted in ``oov_ratio``.
    """
    index = _upper_index(wv, restrict_vocab)
    unit = wv.unit_vectors()
    model, human, skipped = [], [], 0
    for w1, w2, score in pairs:
        i, j = index.get(w1.upper()), index.get(w2.upper())
        if i is None or j is None:
            skipped += 1
            continue
        model.append(float(unit[i] @ unit[j]))
        human.append(float(score))
    n = len(model) + skipped
    return {"spearman": spearman(model, human) if len(model) > 1 else float("nan"),
            "pearson": pearson(model, human) if len(model) > 1 else float("nan"),
            "pairs": len(model), "oov_ratio": skipped / n if n else 0.0}


def evaluate(wv, restrict_vocab: int = 30000) -> Dict[str, Any]:
    """All three, on the sets ``minitl.data.word_eval`` provides; a flat dict."""
    from minitl.data import word_eval
    an = evaluate_analogies(wv, word_eval("analogies"), restrict_vocab=restrict_vocab)
    ws = evaluate_word_pairs(wv, word_eval("wordsim353"))
    sl = evaluate_word_pairs(wv, word_eval("simlex999"))
    return {"analogy_acc": an["accuracy"], "analogy_coverage": an["coverage"],
            "analogy_covered": an["covered"], "wordsim_spearman": ws["spearman"],
            "wordsim_pairs": ws["pairs"], "simlex_spearman": sl["spearman"], "simlex_pairs": sl["pairs"]}


# Thresholds of untrained_warning, measured on the 500 most frequent words: the default
# vectors (wiki+news+tweets-text, 10 epochs) have mean cosine 0.27 and nearest-neighbour
# cosine 0.67; 2 epochs 0.62 and 0.92 (neighbours of 'king': 'albert', '1962' at 0.985); the
# seconds-long smoke vectors 0.93 and 0.97; random vectors 0.00 and 0.30.
SAME_DIRECTION = 0.55       # mean pairwise cosine above this: the vectors all point one way
RANDOM_MARGIN = 0.05        # nearest-neighbour cosine within this of random vectors': untrained


def vector_health(wv, sample: int = 500) -> Dict[str, float]:
    """Cosine statistics of the ``sample`` most frequent words (the first rows of ``wv``).

    Returns:
        {"mean_cosine": mean over all pairs, "neighbour_cosine": mean over words of the
        cosine to its nearest other sampled word, "random_neighbour_cosine": the same for
        Gaussian random vectors of the same shape (seeded, so the check is repeatable),
        "words": how many words were sampled}.
    """
    X = np.asarray(wv.vectors[:sample], np.float64)              # (n, C), most frequent first
    n = len(X)
    if n < 3:
        raise ValueError(f"vector_health: {n} words; need at least 3 to compare")

    def stats(M):
        U = M / np.maximum(np.linalg.norm(M, axis=1, keepdims=True), 1e-12)
        C = U @ U.T                                              # (n, n) cosines
        mean = (C.sum() - np.trace(C)) / (n * (n - 1))
        np.fill_diagonal(C, -np.inf)
        return float(mean), float(C.max(axis=1).mean())

    mean, top = stats(X)
    _, random_top = stats(np.random.default_rng(0).standard_normal(X.shape))
    return {"mean_cosine": mean, "neighbour_cosine": top, "random_neighbour_cosine": random_top, "words": n}


def untrained_warning(wv, sample: int = 500) -> Optional[str]:
    """A sentence saying why these vectors look untrained, or None when they look trained."""
    h = vector_health(wv, sample)
    if h["mean_cosine"] > SAME_DIRECTION:
        return (f"these vectors look undertrained: the {h['words']} most frequent words have mean cosine "
                f"{h['mean_cosine']:.2f} to each other (trained vectors here: ~0.3), so every word is "
                "'similar' to every other and the neighbours below mean little; train more epochs")
    if h["neighbour_cosine"] < h["random_neighbour_cosine"] + RANDOM_MARGIN:
        return (f"these vectors look untrained: nearest-neighbour cosine {h['neighbour_cosine']:.2f} among the "
                f"{h['words']} most frequent words, as for random vectors ({h['random_neighbour_cosine']:.2f}); "
                "the neighbours below are chance")
    return None
