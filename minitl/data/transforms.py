"""Controlled corruptions of text for the experiments: word shuffling, a cipher, corpus fractions.

    normalize_whitespace("a  b\\nc")             # "a b c"
    shuffle_words("the cat sat", rng)            # "sat the cat": same words, order destroyed
    sub = CharSubstitution(seed=0)               # a fixed bijection of the 26 letters (no fixed points)
    sub("Delta flight")                          # same length, case, digits and punctuation; other letters
    sub.inverse(sub(text)) == text
    take_fraction(docs, 0.1, seed=0)             # 10% of the bytes; a smaller fraction is a prefix of a larger
"""
import string

import numpy as np

LOWER = string.ascii_lowercase


def normalize_whitespace(text):
    """Every run of whitespace (newlines included) -> one space; ends stripped."""
    return " ".join(text.split())


def shuffle_words(text, rng):
    """The whitespace-separated words of ``text`` in a random order, joined by single spaces.

    The multiset of words (so every unigram statistic) is kept; word order, the
    signal a language model learns from, is gone.  Compare against
    ``normalize_whitespace(text)``, which is the same text with its order kept.

    Args:
        text: a document.
        rng: a numpy Generator (the permutation's source).
    Returns:
        str.
    """
    words = text.split()
    return " ".join(words[i] for i in rng.permutation(len(words)))


class CharSubstitution:
    """A fixed bijective substitution cipher on the letters a-z (A-Z follows the same map).

    A "foreign language" with exactly the structure of the original (same words,
    same order, same lengths, same punctuation and digits) but none of its word
    forms: every letter maps to a different letter (a derangement), so a tokenizer
    trained on the original text finds few of its merges and a pretrained model
    none of its words.

    Args:
        seed: which derangement (the same seed gives the same cipher everywhere).
    """

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        while True:                                  # ~37% of permutations are derangements
            perm = rng.permutation(26)
            if not np.any(perm == np.arange(26)):
                break
        target = "".join(LOWER[i] for i in perm)
        self.mapping = dict(zip(LOWER, target))
        self._fwd = str.maketrans(LOWER + LOWER.upper(), target + target.upper())
        self._inv = str.maketrans(target + target.upper(), LOWER + LOWER.upper())

    def __call__(self, text):
        return text.translate(self._fwd)

    def inverse(self, text):
        """The original text back."""
        return text.translate(self._inv)

    def __repr__(self):
        return f"CharSubstitution(a->{self.mapping['a']}, b->{self.mapping['b']}, ...)"


def take_fraction(docs, fraction, seed=0):
    """About ``fraction`` of the UTF-8 bytes of ``docs``: whole documents in a seeded order, the last cut.

    The order is fixed by ``seed``, so the documents of a smaller fraction are a
    prefix of a larger one's (nested subsets).  The last document is cut at a
    space so the total is ``fraction`` of the bytes within one word.

    Args:
        docs: list of str.
        fraction: in (0, 1].
        seed: the order's seed.
    Returns:
        list of str.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"take_fraction: fraction must be in (0, 1], got {fraction}")
    order = np.random.default_rng(seed).permutation(len(docs))
    if fraction == 1:
        return [docs[i] for i in order]
    sizes = [len(docs[i].encode("utf-8")) for i in order]
    budget = fraction * sum(sizes)
    out, used = [], 0
    for i, size in zip(order, sizes):
        if used + size <= budget:
            out.append(docs[i])
            used += size
            continue
        room = int(budget - used)
        part = docs[i].encode("utf-8")[:room].decode("utf-8", errors="ignore")
        cut = part.rfind(" ")
        part = part[:cut] if cut > 0 else part
        if part.strip():
            out.append(part)
        break
    return out


def nbytes(docs):
    """Total UTF-8 bytes of a list of texts."""
    return sum(len(d.encode("utf-8")) for d in docs)
