import numpy as np
import pytest

import minitl
from minitl.transfer.demo import bag_of_words, mean_vectors
from minitl.transfer.probe import balanced_accuracy, balanced_subsample, fit_linear_probe


def test_balanced_accuracy_by_hand():
    # class 0: 3 of 4 right (0.75); class 1: 1 of 2 right (0.5) -> 0.625
    assert balanced_accuracy([0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0]) == pytest.approx(0.625)
    # always guessing the majority class scores 0.5, whatever the skew
    assert balanced_accuracy([0] * 9 + [1], [0] * 10) == pytest.approx(0.5)


def test_probe_learns_a_separable_problem_and_beats_chance_on_held_out():
    minitl.manual_seed(0)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    y = (X[:, 2] - X[:, 4] > 0).astype(np.int64)
    probe = fit_linear_probe(X[:200], y[:200], n_classes=2)
    assert balanced_accuracy(y[200:], probe.predict(X[200:])) > 0.9


def test_probe_rejects_labels_outside_the_classes():
    with pytest.raises(ValueError, match=r"labels \[3\]"):
        fit_linear_probe(np.zeros((4, 2)), np.array([0, 1, 3, 0]), n_classes=2)


def test_balanced_subsample_is_balanced_and_distinct():
    y = np.array([0] * 90 + [1] * 10)
    idx = balanced_subsample(y, 10, np.random.default_rng(0))
    assert len(set(idx.tolist())) == 10
    assert np.bincount(y[idx]).tolist() == [5, 5]
    with pytest.raises(ValueError, match="only 10 exist"):
        balanced_subsample(y, 30, np.random.default_rng(0))


def test_bag_of_words_knows_only_the_training_words():
    feats = bag_of_words([["good", "good", "bad"]], [["good", "unseen"], ["bad", "good", "good"]])
    # columns: sorted training words ['bad', 'good']; counts are log1p'd
    np.testing.assert_allclose(feats, np.log1p([[0, 1], [1, 2]]))


class _Vectors:
    vector_size = 2
    vectors = np.array([[1.0, 0.0], [0.0, 3.0]], np.float32)

    def __contains__(self, w):
        return w in ("a", "b")

    def index(self, w):
        return {"a": 0, "b": 1}[w]


def test_mean_vectors_skips_unknown_words_and_zero_fills_empty_texts():
    out = mean_vectors([["a", "b", "zzz"], ["zzz"]], _Vectors())
    np.testing.assert_allclose(out, [[0.5, 1.5], [0.0, 0.0]])
