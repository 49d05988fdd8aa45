import numpy as np
import pytest

import minitl
from minitl.data.batching import (ClassificationBatches, IGNORE_INDEX, encode_corpus, get_lm_batch,
                                  lm_batches, mlm_mask)
from minitl.text.bpe import BPETokenizer


@pytest.fixture(scope="module")
def tok():
    return BPETokenizer.train(["the cat sat on the mat. the dog ate the bone. " * 20], vocab_size=300)


def test_lm_batch_targets_are_inputs_shifted_by_one():
    tokens = np.arange(100, 200)
    x, y = get_lm_batch(tokens, block_size=8, batch_size=5, generator=np.random.default_rng(0))
    assert x.shape == y.shape == (5, 8) and x.dtype == np.int64
    assert (y[:, :-1] == x[:, 1:]).all() and (y[:, -1] == x[:, -1] + 1).all()
    assert x.min() >= 100 and y.max() <= 199


def test_lm_epoch_covers_every_target_once():
    tokens = np.arange(1, 42)                       # 41 tokens, block 5 -> 8 windows
    seen = []
    for x, y in lm_batches(tokens, block_size=5, batch_size=3, generator=np.random.default_rng(1)):
        assert (y[:, :-1] == x[:, 1:]).all()
        seen.extend(y.ravel().tolist())
    assert sorted(seen) == list(range(2, 42))
    ordered = [x for x, _ in lm_batches(tokens, 5, 3, shuffle=False)]
    assert ordered[0][0].tolist() == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="block_size=50"):
        next(lm_batches(tokens, 50, 2))


def test_lm_batches_reproducible_under_manual_seed():
    tokens = np.arange(500)
    minitl.manual_seed(3)
    a = [x.copy() for x, _ in lm_batches(tokens, 16, 4)] + [get_lm_batch(tokens, 16, 4)[0]]
    minitl.manual_seed(3)
    b = [x.copy() for x, _ in lm_batches(tokens, 16, 4)] + [get_lm_batch(tokens, 16, 4)[0]]
    assert all((p == q).all() for p, q in zip(a, b))
    minitl.manual_seed(4)
    c = [x for x, _ in lm_batches(tokens, 16, 4)]
    assert not all((p == q).all() for p, q in zip(a, c))


def test_encode_corpus_separates_documents(tok):
    stream = encode_corpus(["the cat", "the dog"], tok)
    assert stream.dtype == np.int64
    assert stream.tolist() == tok.encode("the cat") + [tok.eot_id] + tok.encode("the dog") + [tok.eot_id]


def test_mlm_proportions_and_specials():
    rng = np.random.default_rng(0)
    B, T, V = 64, 512, 1000
    ids = rng.integers(6, V, size=(B, T))
    ids[:, 0], ids[:, -1] = 2, 3                   # [CLS] ... [SEP]
    attn = np.ones((B, T), dtype=bool)
    attn[:, 400:] = False
    ids[:, 400:] = 0                               # padding
    inputs, labels = mlm_mask(ids, V, mask_id=4, attention_mask=attn, generator=np.random.default_rng(1))
    chosen = labels != IGNORE_INDEX
    eligible = attn & (ids >= 6)
    assert not chosen[~eligible].any()             # never [PAD] / [CLS] / [SEP] / padding
    assert (labels[chosen] == ids[chosen]).all() and (inputs[~chosen] == ids[~chosen]).all()
    n = eligible.sum()
    p = chosen.sum() / n
    assert abs(p - 0.15) < 4 * np.sqrt(0.15 * 0.85 / n)          # 4 sigma
    m = chosen.sum()
    frac_mask = (inputs[chosen] == 4).mean()
    changed = chosen & (inputs != 4) & (inputs != ids)
    frac_random = changed.sum() / m
    frac_kept = (chosen & (inputs == ids)).sum() / m
    assert abs(frac_mask - 0.8) < 4 * np.sqrt(0.8 * 0.2 / m)
    # a random replacement equals the original with probability 1/994; those count as kept
    assert abs(frac_random - 0.1) < 4 * np.sqrt(0.1 * 0.9 / m) + 0.001
    assert abs(frac_kept - 0.1) < 4 * np.sqrt(0.1 * 0.9 / m) + 0.001
    assert inputs[changed].min() >= 6 and inputs[changed].max() < V   # random tokens are never specials


def test_mlm_reproducible_under_manual_seed():
    ids = np.arange(6, 6 + 200).reshape(4, 50)
    minitl.manual_seed(7)
    a = mlm_mask(ids, 300, mask_id=4)
    minitl.manual_seed(7)
    b = mlm_mask(ids, 300, mask_id=4)
    assert (a[0] == b[0]).all() and (a[1] == b[1]).all()


def test_classification_batches_pad_mask_and_reshuffle(tok):
    texts = [f"{i} " + ("the cat " * (i % 7 + 1)).strip() for i in range(23)]
    labels = np.arange(23) % 3
    batches = ClassificationBatches(texts, labels, tok, batch_size=5, max_length=64,
                                    generator=np.random.default_rng(0))
    assert len(batches) == 5
    epochs = []
    for _ in range(2):
        order = []
        for ids, mask, y in batches:
            assert ids.shape == mask.shape and ids.dtype == np.int64 and mask.dtype == bool
            assert ids.shape[1] == mask.sum(1).max()          # padded to the batch's longest row
            assert (ids[:, 0] == tok.cls_id).all() and (ids[~mask] == tok.pad_id).all()
            for row, m, lab in zip(ids, mask, y):
                assert row[m][-1] == tok.sep_id
                i = texts.index(tok.decode(row[m][1:-1]))
                assert labels[i] == lab
                order.append(i)
        epochs.append(order)
    assert sorted(epochs[0]) == list(range(23))
    assert epochs[0] != epochs[1]                  # shuffled per epoch
    short = ClassificationBatches(texts, labels, tok, batch_size=23, max_length=4, shuffle=False)
    ids, mask, _ = next(iter(short))
    assert ids.shape == (23, 4) and (ids[:, 3] == tok.sep_id).all()      # truncated, [SEP] kept


def test_classification_batches_reproducible_and_unshuffled(tok):
    texts = [f"the cat {i}" for i in range(10)]
    minitl.manual_seed(0)
    a = [y.tolist() for _, _, y in ClassificationBatches(texts, list(range(10)), tok, batch_size=4)]
    minitl.manual_seed(0)
    b = [y.tolist() for _, _, y in ClassificationBatches(texts, list(range(10)), tok, batch_size=4)]
    assert a == b
    c = [y.tolist() for _, _, y in ClassificationBatches(texts, list(range(10)), tok, batch_size=4, shuffle=False)]
    assert c == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    with pytest.raises(ValueError, match="10 texts but 3 labels"):
        ClassificationBatches(texts, [0, 1, 0], tok)


def test_classification_get_batch_is_a_function_of_the_step(tok):
    texts = [f"the cat {i}" for i in range(10)]
    batches = ClassificationBatches(texts, list(range(10)), tok, batch_size=4, seed=7)
    iterated = [y.tolist() for _ in range(2) for _, _, y in batches]          # two epochs
    minitl.manual_seed(123)                 # the global generator plays no part any more
    indexed = [batches.get_batch(s)[2].tolist() for s in range(6)]
    assert indexed == iterated
    assert sorted(sum(indexed[:3], [])) == list(range(10)) and indexed[:3] != indexed[3:]
    again = ClassificationBatches(texts, list(range(10)), tok, batch_size=4, seed=7)
    assert again.get_batch(4)[2].tolist() == iterated[4]                      # mid-epoch, fresh object
