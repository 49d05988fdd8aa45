"""A linear probe: logistic regression on frozen features.

This is the simplest form of transfer: a pretrained model turns each text into
a feature vector, the model stays frozen, and only a linear layer is trained on
the few labelled examples.  Comparing the same probe on pretrained features and
on untrained (or from-scratch) features measures what pretraining bought.

The probe's L2 strength is chosen by 5-fold cross-validation on the training
labels only (``minitl.transfer.baselines.LogisticRegressionCV``): a fixed guess
would favour whichever feature set it happens to suit.

    clf = fit_linear_probe(X_train, y_train, n_classes=2)
    balanced_accuracy(y_test, clf.predict(X_test))
"""
from typing import Optional, Sequence

import numpy as np

from minitl.transfer.baselines import LogisticRegressionCV
from minitl.transfer.metrics import balanced_accuracy  # noqa: F401  (re-exported: its old home)


class LinearProbe:
    """Standardise the features, then a linear map to class logits.

    Attributes:
        mean, std: (C,) feature statistics of the training set.
        weight: (n_classes, C) and bias: (n_classes,) on the standardised features
            (two-class models have row 0 all zeros: class 0's logit is fixed at 0).
        C: the L2 strength picked by cross-validation.  cv: the fitted ``LogisticRegressionCV``.
    """

    def __init__(self, mean: np.ndarray, std: np.ndarray, weight: np.ndarray, bias: np.ndarray,
                 C: Optional[float] = None, cv: Optional[LogisticRegressionCV] = None) -> None:
        self.mean, self.std, self.weight, self.bias, self.C, self.cv = mean, std, weight, bias, C, cv

    def logits(self, X: np.ndarray) -> np.ndarray:
        """(N, n_classes) logits of raw (unstandardised) features X (N, C)."""
        Xs = (np.asarray(X, np.float64) - self.mean) / self.std
        return Xs @ self.weight.T + self.bias

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(N,) predicted class index in [0, n_classes)."""
        return self.logits(X).argmax(axis=1)


def fit_linear_probe(X: np.ndarray, y: np.ndarray, n_classes: int, *, balanced: bool = True, Cs: int = 10,
                     folds: int = 5, seed: int = 0, **cv_kw) -> LinearProbe:
    """Class-weighted L2 logistic regression, its C chosen by k-fold CV on (X, y) only.

    Args:
        X: (N, C) float features.  y: (N,) int labels in [0, n_classes).
        n_classes: number of classes (the logits have this many columns even if
            some class is missing from y; a missing class is never predicted).
        balanced: weight each class inversely to its frequency, so a skewed
            training sample does not teach "always say the majority class".
        Cs, folds, seed, **cv_kw: ``LogisticRegressionCV`` settings (10 Cs log-spaced
            in [1e-4, 1e4], 5 stratified folds, neg-log-loss scoring).
    Returns:
        LinearProbe.
    """
    X = np.asarray(X, np.float64)
    y = np.asarray(y, np.int64)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"fit_linear_probe: X {X.shape} must be (N, C) with N == len(y) = {len(y)}")
    bad = sorted(set(np.unique(y).tolist()) - set(range(n_classes)))
    if bad:
        raise ValueError(f"fit_linear_probe: labels {bad} are outside [0, {n_classes})")
    cv = LogisticRegressionCV(Cs=Cs, folds=folds, class_weight="balanced" if balanced else None,
                              standardize=True, seed=seed, **cv_kw).fit(X, y)
    est = cv.estimator_                               # fitted on (X - mean_) / scale_
    W, b = est.coef_, est.intercept_
    if W.shape[0] == 1:                               # two classes: logits [0, w.x + b]
        W, b = np.concatenate([np.zeros_like(W), W]), np.concatenate([[0.0], b])
    weight = np.zeros((n_classes, X.shape[1]))
    bias = np.full(n_classes, -np.inf)                # classes absent from y: never predicted
    weight[cv.classes_], bias[cv.classes_] = W, b
    return LinearProbe(cv.mean_, cv.scale_, weight, bias, cv.C_, cv)


def balanced_subsample(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` examples, as equal per class as the data allows."""
    y = np.asarray(y)
    classes = np.unique(y)
    per = n // len(classes)
    idx = []
    for i, c in enumerate(classes):
        pool = np.flatnonzero(y == c)
        k = per + (1 if i < n - per * len(classes) else 0)
        if k > len(pool):
            raise ValueError(f"balanced_subsample: asked {k} examples of class {c}, only {len(pool)} exist")
        idx.append(rng.choice(pool, size=k, replace=False))
    return rng.permutation(np.concatenate(idx))


def format_percent(scores: Sequence[float]) -> str:
    """Fractions as the course prints them: "56.5%" for one draw, "56.5% ± 1.2" (population std) for more."""
    scores = [float(v) for v in scores]
    if not scores:
        raise ValueError("format_percent: no scores")
    mean = 100 * float(np.mean(scores))
    return f"{mean:.1f}%" if len(scores) == 1 else f"{mean:.1f}% ± {100 * float(np.std(scores)):.1f}"


def probe_scores(model, dataset: str, label_counts: Sequence[int], draws: int, seed: int,
                 desc: Optional[str] = None) -> dict:
    """{n: [balanced accuracy of each draw]}: a linear probe on frozen mean-pooled features.

    The probe (``minitl.transfer.probe``) is the one the word2vec demo uses: n
    class-balanced training labels, class-weighted logistic regression, scored on
    the balanced test split.  ``desc``: show a progress bar with this label.
    """
    from minitl.data import load
    from minitl.progress import Progress
    train, test = load(dataset, "train"), load(dataset, "test")
    y_train, y_test = np.asarray(train.labels), np.asarray(test.labels)
    rng = np.random.default_rng(seed)
    picks = {(n, d): balanced_subsample(y_train, n, rng) for n in label_counts for d in range(draws)}
    needed = np.unique(np.concatenate(list(picks.values())))
    bar = Progress(total=2 + len(picks), desc=desc or "probe", unit="task", disable=desc is None)
    X = dict(zip(needed.tolist(), model.encode_texts([train.texts[i] for i in needed])))
    bar.update(1, now="encoded the training texts")
    X_test = model.encode_texts(test.texts)
    bar.update(1, now="encoded the test texts")
    out = {}
    for n in label_counts:
        out[n] = []
        for d in range(draws):
            idx = picks[(n, d)]
            clf = fit_linear_probe(np.stack([X[i] for i in idx.tolist()]), y_train[idx], len(train.label_names))
            out[n].append(balanced_accuracy(y_test, clf.predict(X_test)))
            bar.update(1, now=f"{n} labels, draw {d + 1}/{draws}")
    bar.close()
    return out
