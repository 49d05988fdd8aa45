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

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_bars(labels, values, path, errors=None, points=None, colors=None, xlabel="", title="",
              percent=False, error_label=None, reference=None, log=False, legend=None, annotate=False):
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


def plot_lines(series, path, xlabel="", ylabel="", title="", percent=False, logx=False, error_label=None,
               reference=None, styles=None):
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


def plot_matrix(matrix, labels, path, title="", vmin=-1.0, vmax=1.0, fmt="{:.2f}", cbar_label="", col_labels=None):
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
