import numpy as np
import pytest

from minitl.transfer.baselines import (BagOfWords, LogisticRegression, LogisticRegressionCV, fit_bow_classifier,
                                       fit_probe, mean_word_vectors, stratified_folds)
from minitl.transfer.logistic import lbfgs
from minitl.transfer.metrics import (accuracy, balanced_accuracy, classification_report, confusion_matrix,
                                     format_report, macro_f1, majority_baseline)


def _problem(n=120, d=6, k=2, seed=0, noise=1.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(k, d))
    y = np.argmax(X @ W.T + noise * rng.gumbel(size=(n, k)), axis=1)
    return X, y


def _objective(W, b, X, y, C, sw):
    """scikit-learn's objective, written out independently: C * sum w_i CE_i + 0.5 ||W||^2."""
    Z = X @ W.T + b
    if W.shape[0] == 1:
        Z = np.concatenate([np.zeros((len(X), 1)), Z], axis=1)
    logp = Z - np.log(np.exp(Z).sum(1, keepdims=True))
    return C * np.sum(sw * -logp[np.arange(len(y)), y]) + 0.5 * np.sum(W ** 2)


def _fd_grad(W, b, X, y, C, sw, h=1e-5):
    P = np.concatenate([W, b[:, None]], axis=1)
    g = np.zeros_like(P)
    for idx in np.ndindex(P.shape):
        hi, lo = P.copy(), P.copy()
        hi[idx] += h
        lo[idx] -= h
        g[idx] = (_objective(hi[:, :-1], hi[:, -1], X, y, C, sw) - _objective(lo[:, :-1], lo[:, -1], X, y, C, sw)) / (2 * h)
    return g


@pytest.mark.parametrize("k,class_weight", [(2, None), (3, "balanced"), (4, None)])
def test_solution_is_a_stationary_point_by_finite_differences(k, class_weight):
    X, y = _problem(k=k, seed=k)
    y[:10] = 0                                       # skew the classes so "balanced" weights differ from 1
    C = 0.7
    m = LogisticRegression(C=C, class_weight=class_weight).fit(X, y)
    counts = np.bincount(y, minlength=k)
    sw = len(y) / (k * counts[y]) if class_weight else np.ones(len(y))
    g = _fd_grad(m.coef_, m.intercept_, X, y, C, sw)
    assert np.abs(g).max() < 1e-5, np.abs(g).max()
    # the check can fail: a slightly moved point has a clearly non-zero gradient
    g_off = _fd_grad(m.coef_ + 0.01, m.intercept_, X, y, C, sw)
    assert np.abs(g_off).max() > 1e-3


def test_binary_solution_matches_an_independent_newton_solve():
    X, y = _problem(n=60, d=4, seed=3)
    C = 2.0
    A = np.concatenate([X, np.ones((len(X), 1))], axis=1)
    w = np.zeros(5)
    reg = np.diag([1.0, 1, 1, 1, 0])                 # the bias is not penalised
    for _ in range(50):                               # Newton on C * sum log(1 + e^-s z) + 0.5 |w|^2
        p = 1 / (1 + np.exp(-A @ w))
        grad = C * A.T @ (p - y) + reg @ w
        H = C * (A * (p * (1 - p))[:, None]).T @ A + reg
        w -= np.linalg.solve(H, grad)
    m = LogisticRegression(C=C).fit(X, y)
    np.testing.assert_allclose(m.coef_[0], w[:4], atol=1e-6)
    np.testing.assert_allclose(m.intercept_[0], w[4], atol=1e-6)


def test_wide_features_solved_in_the_row_space_match_the_direct_solve():
    # d = 200 > 2N = 80 takes the row-space path; a warm start (coef_init) forces the direct path
    X, y = _problem(n=40, d=200, k=3, seed=5)
    wide = LogisticRegression(C=3.0, tol=1e-10).fit(X, y)
    direct = LogisticRegression(C=3.0, tol=1e-10, max_iter=5000).fit(X, y, coef_init=np.zeros((3, 201)))
    np.testing.assert_allclose(wide.coef_, direct.coef_, atol=1e-5)
    np.testing.assert_allclose(wide.intercept_, direct.intercept_, atol=1e-5)


def test_lbfgs_minimises_a_quadratic():
    A = np.diag([1.0, 10.0, 100.0])
    x, info = lbfgs(lambda x: (0.5 * x @ A @ x - x.sum(), A @ x - 1), np.zeros(3), tol=1e-10)
    np.testing.assert_allclose(x, 1 / np.diag(A), rtol=1e-8)
    assert info["converged"]


def test_separable_toy_problem_is_learned_exactly():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] > 0, 7, 3)  # labels need not be 0..K-1
    X[:, 0] += np.where(y == 7, 0.5, -0.5)           # a margin
    m = LogisticRegression(C=100.0).fit(X, y)
    assert accuracy(y, m.predict(X)) == 1.0
    cv = LogisticRegressionCV().fit(X[:100], y[:100])
    assert accuracy(y[100:], cv.predict(X[100:])) == 1.0
    assert sorted(cv.classes_.tolist()) == [3, 7]


def test_predict_proba_rows_sum_to_one_and_agree_with_decision_function():
    X, y = _problem(k=3)
    m = LogisticRegression().fit(X, y)
    p = m.predict_proba(X)
    np.testing.assert_allclose(p.sum(1), 1.0)
    np.testing.assert_array_equal(m.predict(X), p.argmax(1))
    assert m.decision_function(X).shape == (len(X), 3)
    X2, y2 = _problem(k=2)
    m2 = LogisticRegression().fit(X2, y2)
    z = m2.decision_function(X2)                     # binary: (N,), the logit of classes_[1]
    np.testing.assert_allclose(m2.predict_proba(X2)[:, 1], 1 / (1 + np.exp(-z)))


def test_stratified_folds_are_balanced_and_deterministic():
    y = np.array([0] * 23 + [1] * 7)
    f = stratified_folds(y, 5, seed=1)
    np.testing.assert_array_equal(f, stratified_folds(y, 5, seed=1))
    assert np.bincount(f).max() - np.bincount(f).min() <= 1
    for c in (0, 1):
        per = np.bincount(f[y == c], minlength=5)
        assert per.max() - per.min() <= 1


def test_cv_features_of_a_fold_never_depend_on_its_held_out_rows():
    X, y = _problem(n=50, d=8)
    fold = stratified_folds(y, 5, seed=0)
    tr, va = fold != 0, fold == 0
    for standardize, Xw in ((True, X), (False, np.tile(X, (1, 30)))):   # standardised / row-space
        cv = LogisticRegressionCV(standardize=standardize)
        poisoned = Xw.copy()
        poisoned[va] = 1e3 * np.random.default_rng(1).normal(size=poisoned[va].shape)
        wide = Xw.shape[1] > 2 * len(Xw)
        for A in (Xw, poisoned):
            gram = A @ A.T if wide and not standardize else None
            F_tr, _ = cv._fold_features(A, tr, va, wide, gram)
            if A is Xw:
                ref = F_tr
        np.testing.assert_allclose(F_tr, ref, atol=1e-9)


def test_cv_model_depends_on_the_training_rows_only():
    X, y = _problem(n=80, d=5)
    a = LogisticRegressionCV().fit(X, y)
    b = LogisticRegressionCV().fit(X.copy(), y.copy())
    assert a.C_ == b.C_
    np.testing.assert_array_equal(a.coef_, b.coef_)
    c = LogisticRegressionCV().fit(X[:-1], y[:-1])   # one training row fewer: a different fit
    assert not np.array_equal(a.cv_fold_scores_, c.cv_fold_scores_)


def test_cv_reduces_folds_for_a_small_class_and_rejects_a_singleton():
    X, y = _problem(n=40, d=3)
    y = np.array([0] * 37 + [1] * 3)
    cv = LogisticRegressionCV(folds=5).fit(X, y)
    assert cv.folds_ == 3 and cv.cv_fold_scores_.shape == (10, 3)
    with pytest.raises(ValueError, match=r"class counts \{0: 39, 1: 1\}"):
        LogisticRegressionCV().fit(X, np.array([0] * 39 + [1]))


def test_cv_picks_a_larger_C_when_the_signal_is_clean():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    clean = (X[:, 0] > 0).astype(int)
    noisy = np.where(rng.random(200) < 0.4, 1 - clean, clean)
    assert LogisticRegressionCV().fit(X, clean).C_ > LogisticRegressionCV().fit(X, noisy).C_


def test_bag_of_words_vocabulary_from_training_texts_with_bigrams_by_hand():
    bow = BagOfWords(sublinear_tf=False, norm=None, use_idf=False)
    X = bow.fit_transform(["good good film", "bad film"])
    assert bow.vocabulary_ == {"bad": 0, "bad film": 1, "film": 2, "good": 3, "good film": 4, "good good": 5}
    np.testing.assert_array_equal(X, [[0, 0, 1, 2, 1, 1], [1, 1, 1, 0, 0, 0]])
    # test-time words and bigrams the training texts never had are ignored
    np.testing.assert_array_equal(bow.transform(["unseen good film twist"]), [[0, 0, 1, 1, 1, 0]])
    assert X.dtype == np.float32


def test_bag_of_words_weighting_by_hand():
    bow = BagOfWords(ngram_range=(1, 1))             # sublinear tf, smoothed idf, L2 rows
    X = bow.fit_transform(["a a b", "b"])
    idf_a, idf_b = np.log(3 / 2) + 1, 1.0            # log((1 + N) / (1 + df)) + 1
    row = np.array([(1 + np.log(2)) * idf_a, idf_b])
    np.testing.assert_allclose(X[0], row / np.linalg.norm(row), rtol=1e-6)
    np.testing.assert_allclose(X[1], [0, 1])
    with pytest.raises(ValueError, match="in >= 3 of the 2 texts"):
        BagOfWords(min_df=3).fit(["a", "a b"])


def test_bag_of_words_matches_sklearn_tfidf():
    text = pytest.importorskip("sklearn.feature_extraction.text")
    from minitl.text.words import tokenize
    docs = ["The plane was late, late again!", "great crew :)", "late plane and great food", "food was bad"]
    ours = BagOfWords().fit(docs[:3])
    theirs = text.TfidfVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None,
                                  ngram_range=(1, 2), sublinear_tf=True).fit(docs[:3])
    assert ours.vocabulary_ == {k: int(v) for k, v in theirs.vocabulary_.items()}
    np.testing.assert_allclose(ours.transform(docs), theirs.transform(docs).toarray(), atol=1e-6)


def test_fit_bow_classifier_learns_sentiment_words():
    good = ["great flight", "great crew thanks", "love this airline", "thanks great service"] * 3
    bad = ["delayed again", "lost my bag", "worst delay ever", "bag lost delayed"] * 3
    clf = fit_bow_classifier(good + bad, [1] * 12 + [0] * 12)
    np.testing.assert_array_equal(clf.predict(["great thanks", "lost bag delayed"]), [1, 0])


class _Vectors:
    vector_size = 2
    vectors = np.array([[1.0, 0.0], [0.0, 3.0]], np.float32)

    def __contains__(self, w):
        return w in ("a", "b")

    def index(self, w):
        return {"a": 0, "b": 1}[w]


def test_mean_word_vectors_takes_texts_or_tokens_skips_unknown_and_zero_fills():
    np.testing.assert_allclose(mean_word_vectors([["a", "b", "zzz"], ["zzz"]], _Vectors()), [[0.5, 1.5], [0, 0]])
    np.testing.assert_allclose(mean_word_vectors(["A b!", ""], _Vectors()), [[0.5, 1.5], [0, 0]])


def test_metrics_by_hand():
    y_true, y_pred = [0, 0, 0, 1, 1, 2], [0, 1, 0, 1, 2, 2]
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 3), [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    # F1 per class = 2TP / (2TP + FP + FN): 4/5, 2/4, 2/3
    assert macro_f1(y_true, y_pred) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    assert balanced_accuracy(y_true, y_pred) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert majority_baseline([1, 1, 0], [0, 0, 0, 1]) == {"class": 1, "accuracy": 0.25, "balanced_accuracy": 0.5}
    with pytest.raises(ValueError, match=r"y_true \(3,\) and y_pred \(2,\)"):
        macro_f1([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match=r"labels \[5\] outside \[0, 3\)"):
        confusion_matrix([0, 5], [0, 1], 3)


def test_classification_report_and_its_text():
    rep = classification_report([0, 0, 0, 1], [0, 0, 1, 1], ["neg", "pos"])
    assert rep["confusion_matrix"] == [[2, 1], [0, 1]]
    assert rep["accuracy"] == pytest.approx(0.75) and rep["balanced_accuracy"] == pytest.approx(5 / 6)
    text = format_report(rep, ["neg", "pos"])
    assert "accuracy 75.0%" in text and "balanced accuracy 83.3%" in text
    assert text.splitlines()[-2].split() == ["neg", "2", "1"]


@pytest.mark.parametrize("k,d,class_weight", [(2, 10, None), (3, 8, "balanced"), (2, 150, None)])
def test_coefficients_match_sklearn(k, d, class_weight):
    lm = pytest.importorskip("sklearn.linear_model")
    X, y = _problem(n=60, d=d, k=k, seed=11)
    for C in (0.01, 1.0, 30.0):
        ours = LogisticRegression(C=C, class_weight=class_weight, tol=1e-10).fit(X, y)
        theirs = lm.LogisticRegression(C=C, class_weight=class_weight, tol=1e-10, max_iter=10000).fit(X, y)
        scale = max(1.0, np.abs(theirs.coef_).max())
        np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-4 * scale)
        np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-4 * scale)


@pytest.mark.filterwarnings("ignore::FutureWarning")   # scikit-learn 1.9's notices about its own defaults
def test_cv_accuracy_matches_sklearn_cv_on_held_out_data():
    lm = pytest.importorskip("sklearn.linear_model")
    X, y = _problem(n=2300, d=30, seed=4, noise=3.0)
    Xtr, ytr, Xte, yte = X[:300], y[:300], X[300:], y[300:]
    ours = fit_probe(Xtr, ytr)
    fold = stratified_folds(np.unique(ytr, return_inverse=True)[1], 5, seed=0)
    splits = [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(5)]
    mean, std = Xtr.mean(0), Xtr.std(0)
    theirs = lm.LogisticRegressionCV(Cs=10, cv=splits, scoring="neg_log_loss", class_weight="balanced",
                                     max_iter=10000, tol=1e-8).fit((Xtr - mean) / std, ytr)
    a = balanced_accuracy(yte, ours.predict(Xte))
    b = balanced_accuracy(yte, theirs.predict((Xte - mean) / std))
    assert abs(a - b) < 0.015, (a, b, ours.C_, theirs.C_)


def test_bag_of_words_refuses_a_dense_matrix_too_big(monkeypatch):
    from minitl.transfer import baselines
    bow = baselines.BagOfWords().fit(["a good flight", "a bad delay", "good crew"])
    monkeypatch.setattr(baselines, "MAX_DENSE_BYTES", 3 * len(bow.vocabulary_) * 4 - 1)
    import pytest
    with pytest.raises(MemoryError, match=r"3 texts x \d+ n-grams is a dense"):
        bow.transform(["a", "b", "c"])
    assert bow.transform(["a", "b"]).shape == (2, len(bow.vocabulary_))      # under the limit: fine
