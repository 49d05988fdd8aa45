import json
import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minitl.text.bpe import BPETokenizer, FIRST_MERGE, PATTERN, SPECIALS
import re

SAMPLE = ("The quick brown fox jumps over the lazy dog. It's 2024; naïve café owners said "
          "\"don't\" -- 東京 is big, ÄÖÜ äöü ß, emoji 🙂🙂 and tabs\tand\nnewlines.  Done!  ") * 20


@pytest.fixture(scope="module")
def tok():
    return BPETokenizer.train([SAMPLE, "hello world " * 50], vocab_size=340)


def test_pretokenizer_splits_like_gpt2():
    # GPT-2's regex: a leading space sticks to the word after it, contractions split off,
    # and of a run of spaces the last one goes with the next word.
    assert re.findall(PATTERN, "Hello, world's  x") == ["Hello", ",", " world", "'s", " ", " x"]
    assert re.findall(PATTERN, "abc123 _x") == ["abc", "123", " _", "x"]


def test_training_on_a_hand_worked_example():
    # "aaabdaaabac": (a,a) occurs 4 times -> merge 1; then (Z,a) and (a,b) tie at 2 and the
    # smaller id pair (a,b) wins -> merge 2; then (aa, ab) occurs twice -> merge 3; then every
    # pair occurs once, under min_frequency=2, so training stops.
    a, b, c, d = (ord(ch) + 6 for ch in "abcd")
    tok = BPETokenizer.train(["aaabdaaabac"], vocab_size=1000)
    assert tok.merges == [(a, a), (a, b), (FIRST_MERGE, FIRST_MERGE + 1)]
    assert tok.vocab_size == FIRST_MERGE + 3
    assert tok.encode("aaabdaaabac") == [FIRST_MERGE + 2, d, FIRST_MERGE + 2, a, c]


def test_vocab_size_is_reached_and_training_is_deterministic(tok):
    assert tok.vocab_size == 340
    again = BPETokenizer.train([SAMPLE, "hello world " * 50], vocab_size=340)
    assert again.merges == tok.merges


def test_too_small_vocab_is_an_error():
    with pytest.raises(ValueError, match="at least 262"):
        BPETokenizer.train(["abc"], vocab_size=100)


def test_special_ids_are_fixed(tok):
    assert [tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id, tok.eot_id] == [0, 1, 2, 3, 4, 5]
    assert [tok.id_to_token(i) for i in range(6)] == SPECIALS
    assert [tok.id_to_token(i) for i in tok.all_special_ids] == SPECIALS     # what MLM masking never picks
    # literal special strings are plain text unless asked for
    assert tok.eot_id not in tok.encode("a<|endoftext|>b")
    assert tok.encode("a<|endoftext|>b", allowed_special=True) == tok.encode("a") + [tok.eot_id] + tok.encode("b")


def test_learned_tokens_compress_the_training_text(tok):
    ids = tok.encode(SAMPLE)
    assert len(ids) < 0.6 * len(SAMPLE.encode("utf-8"))   # bytes alone would be 1.0
    assert tok.decode(ids) == SAMPLE


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_decode_encode_roundtrip_for_any_unicode(s):
    tok = _module_tok()
    assert tok.decode(tok.encode(s)) == s


_TOK = []


def _module_tok():
    if not _TOK:
        _TOK.append(BPETokenizer.train([SAMPLE], vocab_size=330))
    return _TOK[0]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=30), min_size=1, max_size=5))
def test_encode_batch_rows_equal_single_encodes(texts):
    tok = _module_tok()
    ids, mask = tok.encode_batch(texts)
    assert ids.dtype == np.int64 and mask.dtype == bool and ids.shape == mask.shape
    for row, m, text in zip(ids, mask, texts):
        assert list(row[m]) == tok.encode(text)
        assert (row[~m] == tok.pad_id).all()
        assert tok.decode(row[m]) == text


def test_encode_batch_truncation_padding_and_specials(tok):
    texts = ["hello world hello world hello world", "hi"]
    ids, mask = tok.encode_batch(texts, max_length=6, add_special_tokens=True)
    assert ids.shape == (2, 6)
    assert ids[0, 0] == tok.cls_id and ids[0, 5] == tok.sep_id and mask[0].all()
    n = len(tok.encode("hi"))
    assert list(ids[1, :n + 2]) == [tok.cls_id] + tok.encode("hi") + [tok.sep_id]
    assert mask[1].sum() == n + 2 and (ids[1, n + 2:] == tok.pad_id).all()
    ids, mask = tok.encode_batch(["hi"], max_length=10, padding="max_length")
    assert ids.shape == (1, 10) and mask.sum() == n
    ragged, masks = tok.encode_batch(texts, padding=False)
    assert [len(r) for r in ragged] == [len(tok.encode(t)) for t in texts]
    with pytest.raises(ValueError, match="no room"):
        tok.encode_batch(["x"], max_length=1, add_special_tokens=True)


def test_save_load_roundtrip(tok, tmp_path):
    path = tok.save(tmp_path / "tokenizer.json")
    back = BPETokenizer.load(path)
    assert back.merges == tok.merges and back.vocab_size == tok.vocab_size
    assert back.encode(SAMPLE) == tok.encode(SAMPLE)
    assert BPETokenizer.load(tmp_path).vocab_size == tok.vocab_size        # a checkpoint folder works too
    data = json.loads(path.read_text(encoding="utf-8"))
    data["merges"].append([5000, 5001])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="not yet defined"):
        BPETokenizer.load(bad)


def test_decode_rejects_out_of_range_ids(tok):
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([tok.vocab_size])


def test_training_8k_is_fast_on_a_synthetic_corpus():
    # ~600k words with a Zipf-like vocabulary of 20k word types: the same order as `wiki`.
    rng = np.random.default_rng(0)
    letters = np.array(list("etaoinshrdlucmfwypvbgkjqxz"))
    types = ["".join(rng.choice(letters, size=rng.integers(2, 10))) for _ in range(20000)]
    p = 1.0 / np.arange(1, len(types) + 1)
    words = rng.choice(len(types), size=300_000, p=p / p.sum())
    text = " ".join(types[i] for i in words)
    start = time.perf_counter()
    tok = BPETokenizer.train([text], vocab_size=4096)
    took = time.perf_counter() - start
    assert tok.vocab_size == 4096
    assert took < 60, f"training 4096 merges took {took:.1f}s"


@pytest.mark.network
@pytest.mark.slow
def test_8k_vocabulary_on_the_real_wiki_corpus(monkeypatch):
    import os
    from pathlib import Path
    import minitl.data as data
    monkeypatch.setenv("MINITL_HOME", os.environ.get("MINITL_HOME") or str(Path.home() / ".cache" / "minitl"))
    docs = data.corpus("wiki")
    start = time.perf_counter()
    tok = BPETokenizer.train(docs, vocab_size=8192)
    took = time.perf_counter() - start
    assert tok.vocab_size == 8192 and took < 180, f"{took:.0f}s"
    val = data.corpus("wiki", "validation")
    n_words = sum(len(d.split()) for d in val)
    ids = [tok.encode(d) for d in val]
    assert all(tok.decode(i) == d for i, d in zip(ids, val))
    assert sum(map(len, ids)) < 2.0 * n_words          # measured 1.7 tokens per word; bytes would be ~6
