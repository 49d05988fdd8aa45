"""A linear probe: logistic regression on frozen features.

This is the simplest form of transfer: a pretrained model turns each text into
a feature vector, the model stays frozen, and only a linear layer is trained on
the few labelled examples.  Comparing the same probe on pretrained features and
on untrained (or from-scratch) features measures what pretraining bought.

    clf = fit_linear_probe(X_train, y_train, n_classes=2)
    balanced_accuracy(y_test, clf.predict(X_test))
"""
import numpy as np

import minitl
import minitl.nn.functional as F
from minitl import nn, optim


def balanced_accuracy(y_true, y_pred):
    """Mean over classes of per-class recall: 0.5 for a constant guess on two classes.

    Accuracy alone hides a majority-class baseline; this does not.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"balanced_accuracy: y_true {y_true.shape} and y_pred {y_pred.shape} differ")
    recalls = [np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]
    return float(np.mean(recalls))


class LinearProbe:
    """Standardise the features, then one Linear layer trained with AdamW.

    Attributes:
        mean, std: (C,) feature statistics of the training set.
        head: the trained ``nn.Linear(C, n_classes)``.
    """

    def __init__(self, mean, std, head):
        self.mean, self.std, self.head = mean, std, head

    def logits(self, X):
        Xs = ((np.asarray(X, np.float32) - self.mean) / self.std).astype(np.float32)
        with minitl.no_grad():
            return self.head(minitl.tensor(Xs)).numpy()

    def predict(self, X):
        return self.logits(X).argmax(axis=1)


def fit_linear_probe(X, y, n_classes, steps=300, lr=0.05, weight_decay=0.01, balanced=True):
    """Full-batch logistic regression: minimise cross-entropy(X W^T + b, y).

    Args:
        X: (N, C) float features.  y: (N,) int labels in [0, n_classes).
        steps, lr, weight_decay: AdamW settings (a convex problem: these defaults
            converge on the feature sizes used in minitl).
        balanced: weight each class inversely to its frequency, so a skewed
            training sample does not teach "always say the majority class".
    Returns:
        LinearProbe.
    """
    X = np.asarray(X, np.float32)
    y = np.asarray(y, np.int64)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"fit_linear_probe: X {X.shape} must be (N, C) with N == len(y) = {len(y)}")
    bad = sorted(set(np.unique(y).tolist()) - set(range(n_classes)))
    if bad:
        raise ValueError(f"fit_linear_probe: labels {bad} are outside [0, {n_classes})")
    mean, std = X.mean(0), X.std(0) + 1e-6
    Xs = minitl.tensor((X - mean) / std)
    head = nn.Linear(X.shape[1], n_classes)
    opt = optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    counts = np.bincount(y, minlength=n_classes).astype(np.float32)
    w = (len(y) / (n_classes * np.maximum(counts, 1)))[y] if balanced else np.ones(len(y), np.float32)
    w = minitl.tensor((w / w.sum()).astype(np.float32))
    for _ in range(steps):
        loss = (F.cross_entropy(head(Xs), y, reduction="none") * w).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return LinearProbe(mean, std, head)


def balanced_subsample(y, n, rng):
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
