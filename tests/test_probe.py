import numpy as np
import pytest

import minitl
from minitl.transfer import metrics
from minitl.transfer.baselines import LogisticRegressionCV
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


def test_balanced_accuracy_is_re_exported_from_metrics():
    assert balanced_accuracy is metrics.balanced_accuracy


def test_probe_is_the_cv_logistic_regression_on_standardised_features():
    rng = np.random.default_rng(2)
    X = rng.normal(3.0, 5.0, size=(120, 4))
    y = (X[:, 0] + 5 * rng.normal(size=120) > 3).astype(np.int64)
    probe = fit_linear_probe(X, y, n_classes=2, seed=1)
    cv = LogisticRegressionCV(seed=1).fit(X, y)
    assert probe.C == cv.C_
    np.testing.assert_array_equal(probe.predict(X), cv.predict(X))
    # logits: class 0 fixed at 0, class 1 = the binary model's logit
    np.testing.assert_allclose(probe.logits(X)[:, 1] - probe.logits(X)[:, 0], cv.decision_function(X), atol=1e-8)


def test_probe_never_predicts_a_class_missing_from_the_training_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.where(X[:, 0] > 0, 2, 0)                  # class 1 of 3 absent
    probe = fit_linear_probe(X, y, n_classes=3)
    assert probe.logits(X).shape == (60, 3)
    assert set(probe.predict(rng.normal(size=(200, 3))).tolist()) <= {0, 2}


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
    acc = {r["model"]: r["balanced_acc"] for r in result["rows"]}
    assert all(r["labels"] == 100 for r in result["rows"])
    # 100 balanced labels on a balanced 1,000-tweet test set: the bag of words (deterministic) is
    # well above the 50% chance line (the sentiment words of airline tweets are strong cues).
    assert 0.6 < acc["bag of words (from scratch)"] <= 1.0, acc
    # word vectors after a single Hogwild epoch (not bit-reproducible on 2 threads) are barely
    # trained: measured 0.55-0.6 here; they must still beat a constant guess
    assert 0.5 < acc["word2vec features (pretrained)"] <= 1.0, acc
    assert (tmp_path / "demo.png").stat().st_size > 1000
