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


@pytest.mark.slow
@pytest.mark.network
def test_main_job_runs_end_to_end_and_beats_chance(tmp_path):
    """`minitl demo` on the real embedded data, shrunk: 1 epoch, one draw of 100 labels."""
    import json
    import subprocess
    import sys
    cmd = [sys.executable, "-m", "minitl.cli", "demo", "--epochs", "1", "--labels", "100",
           "--draws", "1", "--out", str(tmp_path)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900)
    result = json.loads((tmp_path / "results.json").read_text())
    assert {r["model"] for r in result["rows"]} == {"word2vec features (pretrained)",
                                                    "bag of words (from scratch)"}
    for r in result["rows"]:
        assert r["labels"] == 100
        # 100 balanced labels on a balanced 1,000-tweet test set: well above the 50% chance
        # line for both (the sentiment words of airline tweets are strong cues).
        assert 0.55 < r["balanced_acc"] <= 1.0, r
    assert (tmp_path / "demo.png").stat().st_size > 1000
