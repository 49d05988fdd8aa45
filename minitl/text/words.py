"""Word-level tokenization and vocabulary, for word2vec.

``tokenize`` is one regular expression (no dependency, easy to read)::

    tokenize("The king's 2 crowns -- and 3.5 queens!")
    -> ['the', "king's", '2', 'crowns', 'and', '3.5', 'queens']

A token is either a run of letters, optionally joined by inner apostrophes
(``king's``, ``don't``), or a number (``2``, ``3.5``, ``1,000``).  Punctuation,
dashes and underscores split words and are dropped.  Letters are Unicode
letters, so ``café`` and ``zürich`` stay whole.

``WordVocab`` maps words to ids.  Id 0 is ``[UNK]`` (every word the vocabulary
does not know); the other ids follow descending corpus frequency, ties broken
alphabetically, so id 1 is the most frequent word and "the most frequent
30,000 words" is simply ``ids < 30001``.  Word2vec drops ``[UNK]`` tokens
instead of training a vector for them (as gensim does)::

    vocab = WordVocab.build([["a", "b", "a"], ["a", "c"]], min_count=2)
    vocab.itos -> ['[UNK]', 'a'];  vocab.encode(["a", "c"]) -> [1, 0]
"""
import collections
import collections.abc
import json
import os
import re

_WORD_RE = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*|\d+(?:[.,]\d+)*")

UNK = "[UNK]"


def tokenize(text, lowercase=True):
    """Split ``text`` into word and number tokens (see the module docstring).

    Args:
        text: a string.
        lowercase: fold to lower case first (the default; word2vec's
            evaluation sets are lower case).
    Returns:
        list of str.
    """
    if lowercase:
        text = text.lower()
    return [t.replace("\u2019", "'") for t in _WORD_RE.findall(text)]


class WordVocab:
    """Words <-> ids, with their corpus counts.

    Attributes:
        itos: list of words; ``itos[0] == "[UNK]"``.
        stoi: dict word -> id.
        counts: list of corpus counts, aligned with ``itos`` (``counts[0]`` is the
            number of tokens that fell below ``min_count`` or ``max_size``).
    """

    unk_id = 0

    def __init__(self, itos, counts):
        if not itos or itos[0] != UNK:
            raise ValueError(f"WordVocab: itos[0] must be {UNK!r}, got {itos[:1]!r}")
        if len(itos) != len(counts):
            raise ValueError(f"WordVocab: {len(itos)} words but {len(counts)} counts")
        self.itos = list(itos)
        self.counts = [int(c) for c in counts]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            dup = [w for w, n in collections.Counter(self.itos).items() if n > 1][:5]
            raise ValueError(f"WordVocab: duplicate words {dup}")

    @classmethod
    def build(cls, data, min_count=5, max_size=None):
        """Count words and keep those seen at least ``min_count`` times.

        Args:
            data: an iterable of token lists, or a mapping word -> count.
            min_count: drop words rarer than this (gensim's ``min_count``).
            max_size: keep at most this many words (besides ``[UNK]``), the most
                frequent ones.
        Returns:
            WordVocab, ids in descending frequency (ties alphabetical).
        """
        if min_count < 1:
            raise ValueError(f"WordVocab.build: min_count must be >= 1, got {min_count}")
        if isinstance(data, collections.abc.Mapping):
            counter = collections.Counter(data)
        else:
            counter = collections.Counter()
            for tokens in data:
                if isinstance(tokens, str):
                    raise TypeError("WordVocab.build: expected lists of tokens, got a string "
                                    "(tokenize it first: minitl.text.words.tokenize)")
                counter.update(tokens)
        counter.pop(UNK, None)
        kept = sorted(((w, c) for w, c in counter.items() if c >= min_count),
                      key=lambda wc: (-wc[1], wc[0]))
        if max_size is not None:
            kept = kept[:max_size]
        unk_count = sum(counter.values()) - sum(c for _, c in kept)
        return cls([UNK] + [w for w, _ in kept], [unk_count] + [c for _, c in kept])

    def __len__(self):
        return len(self.itos)

    def __contains__(self, word):
        return word in self.stoi and word != UNK

    def encode(self, tokens):
        """Token list -> list of ids (``unk_id`` for unknown words)."""
        get = self.stoi.get
        return [get(t, 0) for t in tokens]

    def decode(self, ids):
        return [self.itos[i] for i in ids]

    def save(self, path):
        """Write ``{"itos": [...], "counts": [...]}`` as JSON."""
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"type": "WordVocab", "itos": self.itos, "counts": self.counts},
                      f, ensure_ascii=False)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
        if not isinstance(obj, dict) or "itos" not in obj or "counts" not in obj:
            raise ValueError(f"{path}: not a WordVocab file (expected keys 'itos' and 'counts')")
        return cls(obj["itos"], obj["counts"])

    def __repr__(self):
        return f"WordVocab({len(self)} words incl. {UNK})"
