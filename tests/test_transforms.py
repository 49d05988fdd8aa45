"""data.transforms: the cipher is a bijection with no fixed letter, shuffling keeps the words and
loses the order, fractions take the asked share of bytes as nested subsets."""
import string
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minitl.data.transforms import CharSubstitution, nbytes, normalize_whitespace, shuffle_words, take_fraction


@settings(max_examples=50, deadline=None)
@given(st.text(), st.integers(0, 1000))
def test_substitution_round_trips_and_keeps_length_and_non_letters(text, seed):
    sub = CharSubstitution(seed)
    out = sub(text)
    assert sub.inverse(out) == text and len(out) == len(text)
    for a, b in zip(text, out):
        if a in string.ascii_letters:
            assert b != a and b.lower() == sub.mapping[a.lower()] and a.isupper() == b.isupper()
        else:
            assert a == b


def test_substitution_is_a_fixed_derangement_of_the_alphabet():
    sub = CharSubstitution(0)
    assert sorted(sub.mapping.values()) == list(string.ascii_lowercase)          # bijective
    assert all(k != v for k, v in sub.mapping.items())                          # no letter kept
    assert CharSubstitution(0)("United Airlines") == sub("United Airlines")      # same seed, same cipher
    assert CharSubstitution(1).mapping != sub.mapping


def test_shuffle_keeps_the_words_and_changes_their_order():
    text = "one two three four five six seven eight nine ten\neleven  twelve"
    out = shuffle_words(text, np.random.default_rng(0))
    assert Counter(out.split(" ")) == Counter(text.split())
    assert out != normalize_whitespace(text)
    assert normalize_whitespace(" a \n b\tc ") == "a b c"


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.5])
def test_fraction_takes_that_share_of_bytes_as_nested_subsets(fraction):
    rng = np.random.default_rng(3)
    docs = [" ".join("w%d" % rng.integers(100) for _ in range(rng.integers(5, 200))) for _ in range(300)]
    part = take_fraction(docs, fraction, seed=7)
    assert abs(nbytes(part) - fraction * nbytes(docs)) <= 5              # within one word of the budget
    bigger = take_fraction(docs, min(1.0, 2 * fraction), seed=7)
    assert part[:-1] == bigger[:len(part) - 1] and bigger[len(part) - 1].startswith(part[-1])
    assert sorted(take_fraction(docs, 1.0)) == sorted(docs)
    with pytest.raises(ValueError, match="fraction must be in"):
        take_fraction(docs, 0)
