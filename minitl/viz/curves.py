"""Result plots for the lessons: bars with error bars, curves with error bars, saved as PNG.

    from minitl.viz.curves import plot_bars, plot_lines
    plot_bars(["bag of words", "GPT fine-tuned"], [0.61, 0.78], "acc.png", errors=[0.02, 0.03],
              points=[[0.6, 0.62], [0.75, 0.81]], xlabel="balanced accuracy (%)", percent=True,
              error_label="+- std over 2 seeds", reference=(0.5, "chance"))
    plot_lines({"GPT": ([50, 100], [0.7, 0.8], [0.01, 0.02])}, "curve.png", xlabel="labels",
               ylabel="accuracy (%)", percent=True, logx=True, error_label="+- std over seeds")

Every figure says what its error bars are (``error_label``) in the axis label, so
a reader never has to guess whether a bar is a std, a range or a single run.
"""
import textwrap
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_bars(labels: Sequence[str], values: Sequence[float], path: str, errors: Optional[Sequence[float]] = None,
              points: Optional[Sequence[Sequence[float]]] = None, colors: Optional[Sequence[str]] = None,
              xlabel: str = "", title: str = "", percent: bool = False, error_label: Optional[str] = None,
              reference: Optional[Tuple[float, str]] = None, log: bool = False,
              legend: Optional[Mapping[str, str]] = None, annotate: bool = False) -> str:
    """Horizontal bars, one per label (top = first), and save a PNG.

    Args:
        labels: N names.  values: N numbers.  errors: N half-widths (or None).
        points: N lists of the individual measurements, drawn as dots (e.g. each seed).
        colors: N matplotlib colours.  percent: values are fractions; show them x 100.
        error_label: what the error bars are; appended to the x label.
        reference: (x, text) draws a dashed vertical line (e.g. chance).
        legend: {text: colour} for a legend of the colours.
        annotate: write each value at the end of its bar.
    Returns:
        path.
    """
    plt = _plt()
    k = 100.0 if percent else 1.0
    n = len(labels)
    if len(values) != n:
        raise ValueError(f"plot_bars: {n} labels but {len(values)} values")
    y = np.arange(n)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.45 * n + 1.6))
    ax.barh(y, [k * v for v in values], xerr=None if errors is None else [k * e for e in errors],
            color=colors or "tab:blue", capsize=3)
    if annotate:
        for yi, v in zip(y, values):
            ax.text(k * v, yi, f" {k * v:,.1f}" if percent or abs(v) < 1000 else f" {v:,.0f}", va="center", fontsize=7)
    for yi, pts in zip(y, points or []):
        ax.plot([k * p for p in pts], [yi] * len(pts), "k.", ms=4)
    ax.set_yticks(y, labels, fontsize=8)
    if reference is not None:
        ax.axvline(k * reference[0], color="k", ls="--", lw=1)
        ax.text(k * reference[0], n - 0.5, " " + reference[1], fontsize=7, va="bottom")
    if log:
        ax.set_xscale("log")
    elif percent:
        ax.set_xlim(0, 100)
    notes = [s for s in (error_label and f"bars: {error_label}",
                         points and "dots: each run") if s]
    ax.set_xlabel(xlabel + (f" ({'; '.join(notes)})" if notes else ""), fontsize=8)
    if legend:
        from matplotlib.patches import Patch
        ax.legend(handles=[Patch(color=c, label=t) for t, c in legend.items()], fontsize=7, loc="lower right")
    ax.set_title("\n".join(textwrap.wrap(title, 80)), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_lines(series: Mapping[str, Sequence], path: str, xlabel: str = "", ylabel: str = "", title: str = "",
               percent: bool = False, logx: bool = False, error_label: Optional[str] = None,
               reference: Optional[Tuple[float, str]] = None, styles: Optional[Mapping[str, str]] = None) -> str:
    """Curves with error bars and save a PNG.

    Args:
        series: {label: (x, y) or (x, y, yerr)}.
        percent: y values are fractions; show them x 100.  logx: log-scale x axis.
        error_label: what the error bars are; appended to the y label.
        reference: (y, text): a dotted horizontal line (e.g. chance).
        styles: {label: matplotlib line style} (e.g. "--" for the from-scratch curves).
    Returns:
        path.
    """
    plt = _plt()
    k = 100.0 if percent else 1.0
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, s in series.items():
        x, y = s[0], s[1]
        err = s[2] if len(s) > 2 and s[2] is not None else None
        ax.errorbar(x, [k * v for v in y], yerr=None if err is None else [k * e for e in err],
                    marker="o" if len(x) <= 30 else None,
                    ms=4, capsize=3, ls=(styles or {}).get(label, "-"), label=label)
    if reference is not None:
        ax.axhline(k * reference[0], color="grey", lw=1, ls=":")
        ax.text(ax.get_xlim()[0], k * reference[0], " " + reference[1], fontsize=7, va="bottom")
    xs = sorted({float(v) for s in series.values() for v in s[0]})
    if logx:
        ax.set_xscale("log")
    if len(xs) <= 12:                                       # few points: tick exactly at them
        ax.set_xticks(xs, [f"{v:g}" if v < 1000 else f"{v:,.0f}" for v in xs])
    if percent:                                             # accuracies: always show 40..100 at least
        lo, hi = ax.get_ylim()
        ax.set_ylim(min(lo, 40), max(hi, 100))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (f"\n(error bars: {error_label})" if error_label else ""), fontsize=9)
    ax.set_title("\n".join(textwrap.wrap(title, 80)), fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_matrix(matrix: np.ndarray, labels: Sequence[str], path: str, title: str = "", vmin: float = -1.0,
                vmax: float = 1.0, fmt: str = "{:.2f}", cbar_label: str = "",
                col_labels: Optional[Sequence[str]] = None) -> str:
    """A square heat map with each cell's number written in it (e.g. cosine similarities).

    Args:
        matrix: (N, N) numbers.  labels: N row (and column) names.
        col_labels: N shorter column names (default: ``labels``).
    Returns:
        path.
    """
    plt = _plt()
    m = np.asarray(matrix, np.float64)
    n = len(labels)
    if m.shape != (n, n):
        raise ValueError(f"plot_matrix: a {m.shape} matrix for {n} labels")
    fig, ax = plt.subplots(figsize=(0.9 * n + 3, 0.7 * n + 1.5))
    im = ax.imshow(m, cmap="coolwarm", vmin=vmin, vmax=vmax)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(n), col_labels or labels, rotation=30, ha="right", fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    fig.colorbar(im, ax=ax, label=cbar_label)
    ax.set_title("\n".join(textwrap.wrap(title, 80)), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


VALIDATION_LOSS_KEYS = ("val_loss", "mlm_loss")   # GPT / ELMo / T5, BERT


def plot_loss_curves(records: Sequence[Dict[str, Any]], path: str, title: str = "") -> str:
    """Training loss and validation loss against the step, from ``metrics.jsonl`` records; save a PNG.

    Args:
        records: dicts as the Trainer logs them: ``{"step", "loss", ...}`` for training and
            ``{"step", "split": "validation", "val_loss" or "mlm_loss", ...}`` for evaluations.
        path: where to write the PNG.  title: the figure's title.
    Returns:
        path.
    """
    plt = _plt()
    train = sorted((r["step"], r["loss"]) for r in records if "loss" in r and r.get("split") != "validation")
    val = []
    for r in records:
        if r.get("split") == "validation":
            key = next((k for k in VALIDATION_LOSS_KEYS if k in r), None)
            if key is not None:
                val.append((r["step"], r[key]))
    if not train and not val:
        raise ValueError("plot_loss_curves: no training or validation loss in the records")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    if train:
        ax.plot(*zip(*train), lw=1, label="training loss (mean since the last log line)")
    if val:
        ax.plot(*zip(*sorted(dict(val).items())), "o-", ms=4, label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats per predicted token)")
    ax.set_title(title or "loss", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
