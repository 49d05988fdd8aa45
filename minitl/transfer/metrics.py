"""Classification metrics, numpy only, with scikit-learn's definitions.

    report = classification_report(y_test, clf.predict(X_test), ["negative", "positive"])
    print(format_report(report, ["negative", "positive"]))

Report balanced accuracy next to accuracy, and always next to
``majority_baseline``: on a skewed test set "always say the majority class"
already scores a high accuracy, but a balanced accuracy of 1 / n_classes.
"""
import numpy as np


def _pair(name, y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"{name}: y_true {y_true.shape} and y_pred {y_pred.shape} must be equal 1-D shapes")
    if len(y_true) == 0:
        raise ValueError(f"{name}: no examples (y_true has shape {y_true.shape})")
    return y_true, y_pred


def accuracy(y_true, y_pred):
    """Fraction of predictions equal to the label.

    Args:
        y_true, y_pred: (N,) labels.
    Returns:
        float in [0, 1].
    """
    y_true, y_pred = _pair("accuracy", y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def balanced_accuracy(y_true, y_pred):
    """Mean over classes of per-class recall: 0.5 for a constant guess on two classes.

    The classes are those present in ``y_true`` (as scikit-learn does).

    Args:
        y_true, y_pred: (N,) labels.
    Returns:
        float in [0, 1].
    """
    y_true, y_pred = _pair("balanced_accuracy", y_true, y_pred)
    recalls = [np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]
    return float(np.mean(recalls))


def confusion_matrix(y_true, y_pred, n_classes):
    """Counts: row = true class, column = predicted class.

    Args:
        y_true, y_pred: (N,) int labels in [0, n_classes).
        n_classes: size of the matrix.
    Returns:
        (n_classes, n_classes) int64 array.
    """
    y_true, y_pred = _pair("confusion_matrix", y_true, y_pred)
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        bad = sorted(set(np.unique(y).tolist()) - set(range(n_classes)))
        if bad:
            raise ValueError(f"confusion_matrix: {name} has labels {bad} outside [0, {n_classes})")
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    return cm


def macro_f1(y_true, y_pred, n_classes=None):
    """Unweighted mean over classes of F1 = 2 * precision * recall / (precision + recall).

    A class that is never predicted and never true is skipped; one with
    precision + recall = 0 scores 0 (scikit-learn's ``zero_division=0``).

    Args:
        y_true, y_pred: (N,) int labels.
        n_classes: classes to average over (default: 1 + the largest label seen).
    Returns:
        float in [0, 1].
    """
    y_true, y_pred = _pair("macro_f1", y_true, y_pred)
    k = n_classes if n_classes is not None else int(max(y_true.max(), y_pred.max())) + 1
    cm = confusion_matrix(y_true, y_pred, k)
    tp = np.diag(cm).astype(np.float64)
    true_n, pred_n = cm.sum(1), cm.sum(0)
    present = (true_n + pred_n) > 0
    f1 = np.where(true_n + pred_n > 0, 2 * tp / np.maximum(true_n + pred_n, 1), 0.0)   # 2TP / (2TP+FP+FN)
    return float(f1[present].mean())


def majority_baseline(y_train, y_test):
    """Scores of always predicting the most frequent training class.

    Args:
        y_train: (N,) labels the majority class is taken from (ties: smallest label).
        y_test: (M,) labels it is scored on.
    Returns:
        dict ``{"class", "accuracy", "balanced_accuracy"}``.
    """
    values, counts = np.unique(np.asarray(y_train), return_counts=True)
    if len(values) == 0:
        raise ValueError("majority_baseline: y_train is empty")
    guess = values[np.argmax(counts)]
    y_test = np.asarray(y_test)
    pred = np.full(y_test.shape, guess, dtype=y_test.dtype)
    return {"class": guess.item(), "accuracy": accuracy(y_test, pred),
            "balanced_accuracy": balanced_accuracy(y_test, pred)}


def classification_report(y_true, y_pred, label_names):
    """Accuracy, balanced accuracy, macro-F1 and the confusion matrix, in one dict.

    Args:
        y_true, y_pred: (N,) int labels in [0, len(label_names)).
        label_names: one name per class.
    Returns:
        dict with ``accuracy``, ``balanced_accuracy``, ``macro_f1`` (floats in [0, 1]),
        ``confusion_matrix`` (nested list, rows = true class), ``label_names``, ``n``.
    """
    k = len(label_names)
    cm = confusion_matrix(y_true, y_pred, k)
    return {"accuracy": accuracy(y_true, y_pred), "balanced_accuracy": balanced_accuracy(y_true, y_pred),
            "macro_f1": macro_f1(y_true, y_pred, k), "confusion_matrix": cm.tolist(),
            "label_names": list(label_names), "n": int(len(np.asarray(y_true)))}


def format_report(report, label_names=None):
    """``classification_report``'s dict as text: percentages, then the confusion matrix.

    Args:
        report: the dict from ``classification_report``.
        label_names: names for the matrix rows/columns (default: the report's own).
    Returns:
        str, e.g.::

            accuracy 75.0%   balanced accuracy 70.8%   macro-F1 71.4%   (n = 8)
            true \\ predicted  negative  positive
                     negative         4         1
                     positive         1         2
    """
    names = list(label_names if label_names is not None else report["label_names"])
    cm = report["confusion_matrix"]
    if len(cm) != len(names):
        raise ValueError(f"format_report: {len(names)} label names for a {len(cm)}x{len(cm)} confusion matrix")
    lines = [f"accuracy {100 * report['accuracy']:.1f}%   balanced accuracy "
             f"{100 * report['balanced_accuracy']:.1f}%   macro-F1 {100 * report['macro_f1']:.1f}%"
             + (f"   (n = {report['n']})" if "n" in report else "")]
    head = "true \\ predicted"
    w0 = max(len(head), *(len(n) for n in names))
    w = max(6, *(len(n) for n in names), *(len(str(v)) for row in cm for v in row))
    lines.append(f"{head:>{w0}}  " + "  ".join(f"{n:>{w}}" for n in names))
    for name, row in zip(names, cm):
        lines.append(f"{name:>{w0}}  " + "  ".join(f"{v:>{w}}" for v in row))
    return "\n".join(lines)
