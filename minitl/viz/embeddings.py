"""Word vectors in two dimensions: PCA of chosen word groups, saved as a PNG.

    plot_pca(model.wv, {"countries": ["france", "italy"], "capitals": ["paris", "rome"]},
             "pca.png", pairs=[("france", "paris"), ("italy", "rome")])

PCA here is three lines of numpy: centre the vectors, take the SVD, keep the
first two right-singular directions.  Only the plotted words are used to find
the directions, so the picture shows how *these* words spread out, and the
axis labels say how much of their variance each direction holds.  If a
country -> capital arrow points the same way for every pair, the vectors
encode "capital of" as a direction; the footnote measures that in the full
space, where a flat picture cannot distort it.
"""
from typing import TYPE_CHECKING, Mapping, Optional, Sequence, Tuple

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Default groups for the CLI plot: words frequent enough in the embedded corpus.
DEFAULT_GROUPS = {
    "countries": ["france", "germany", "italy", "spain", "china", "japan", "russia", "england"],
    "capitals": ["paris", "berlin", "rome", "madrid", "beijing", "tokyo", "moscow", "london"],
    "numbers": ["one", "two", "three", "four", "five", "six"],
    "family": ["father", "mother", "son", "daughter", "brother", "sister", "king", "queen"],
}
DEFAULT_PAIRS = [("france", "paris"), ("germany", "berlin"), ("italy", "rome"), ("spain", "madrid"),
                 ("china", "beijing"), ("japan", "tokyo"), ("russia", "moscow"), ("england", "london")]


def pca(vectors: np.ndarray, k: int = 2) -> Tuple[np.ndarray, np.ndarray]:
    """(N, C) -> ((N, k) coordinates along the k directions of largest variance, (k,) fraction of
    the total variance each direction explains)."""
    x = np.asarray(vectors, np.float64)
    x = x - x.mean(axis=0)                            # (N, C) centred
    _, sv, vt = np.linalg.svd(x, full_matrices=False)  # rows of vt: principal directions
    var = sv ** 2
    total = var.sum()
    return x @ vt[:k].T, (var[:k] / total if total > 0 else np.zeros(k))   # (N, k), (k,)


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """(N, C) -> (N, 2): coordinates along the two directions of largest variance."""
    return pca(vectors, 2)[0]


def offset_agreement(wv, pairs: Sequence[Tuple[str, str]]) -> Optional[float]:
    """Mean cosine between the offsets b - a of the known pairs, in the full space (None: < 2 pairs).

    1 means every pair differs by the same direction ("capital of"); 0, unrelated directions.
    """
    d = [np.asarray(wv[b], np.float64) - np.asarray(wv[a], np.float64) for a, b in pairs if a in wv and b in wv]
    if len(d) < 2:
        return None
    u = np.stack([v / max(np.linalg.norm(v), 1e-12) for v in d])          # (P, C)
    c = u @ u.T
    return float((c.sum() - np.trace(c)) / (len(d) * (len(d) - 1)))


# label offsets tried in turn (points), nearest first: right, left, above, below, diagonals
_OFFSETS = [(4, 3), (-4, 3), (4, -10), (-4, -10), (0, 7), (0, -14), (8, 10), (-8, 10), (8, -17), (-8, -17)]


def _place_labels(ax, xy, words, fontsize=8):
    """Write each word beside its point at the first offset where it overlaps no earlier label and no
    point; a word with no free spot is left out.  Returns the words left out."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    pts = ax.transData.transform(xy)                                     # (N, 2) in pixels
    taken, skipped = [], []
    for i, w in enumerate(words):
        for dx, dy in _OFFSETS:
            t = ax.annotate(w, xy[i], textcoords="offset points", xytext=(dx, dy), fontsize=fontsize,
                            ha="right" if dx < 0 else "left" if dx > 0 else "center")
            box = t.get_window_extent(renderer).expanded(1.05, 1.1)
            hits_point = any(box.contains(*p) for j, p in enumerate(pts) if j != i)
            if not hits_point and not any(box.overlaps(b) for b in taken):
                taken.append(box)
                break
            t.remove()
        else:
            skipped.append(w)
    return skipped


def plot_pca(wv, groups: Mapping[str, Sequence[str]], path: str, pairs: Optional[Sequence[Tuple[str, str]]] = None,
             title: str = "word vectors, PCA to 2-D") -> str:
    """Save ``pca_figure(wv, groups, pairs, title)`` as a PNG; returns the path."""
    import matplotlib.pyplot as plt
    fig = pca_figure(wv, groups, pairs, title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pca_figure(wv, groups: Mapping[str, Sequence[str]], pairs: Optional[Sequence[Tuple[str, str]]] = None,
               title: str = "word vectors, PCA to 2-D") -> "Figure":
    """Scatter the words of each group (one colour per group); returns the matplotlib Figure.

    The axes are the first two principal components, each labelled with the share of the
    variance (of these words' vectors) it shows.  Labels are placed so they do not overlap;
    a word with no room is listed in the footnote.  ``pairs`` are drawn as grey arrows a -> b
    and the footnote gives their agreement in the full space (``offset_agreement``): the 2-D
    picture can bend parallel arrows, the number cannot.

    Args:
        wv: KeyedVectors.  groups: {group name: [words]}; unknown words are left
            out and listed in the figure's footnote.
        pairs: (word, word) arrows to draw.  title: the figure's title.
    Returns:
        matplotlib Figure.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    words, labels, missing = [], [], []
    for name, group in groups.items():
        for w in group:
            if w in wv and w not in words:
                words.append(w)
                labels.append(name)
            elif w not in wv:
                missing.append(w)
    if len(words) < 2:
        raise ValueError(f"plot_pca: fewer than 2 of the words are in the vocabulary "
                         f"(missing: {missing})")
    xy, explained = pca(np.stack([wv[w] for w in words]), 2)
    where = {w: i for i, w in enumerate(words)}
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    drawn = [(a, b) for a, b in pairs or [] if a in where and b in where]
    for a, b in drawn:                                 # under the points and labels
        ax.annotate("", xy[where[b]], xy[where[a]],
                    arrowprops={"arrowstyle": "->", "color": "0.7", "lw": 0.8, "shrinkA": 4, "shrinkB": 4})
    for k, name in enumerate(groups):
        idx = [i for i, lab in enumerate(labels) if lab == name]
        if idx:
            ax.scatter(xy[idx, 0], xy[idx, 1], color=f"C{k}", label=name, zorder=3)
    pad = 0.08 * (xy.max(axis=0) - xy.min(axis=0) + 1e-9)
    ax.set_xlim(xy[:, 0].min() - 2 * pad[0], xy[:, 0].max() + 2 * pad[0])
    ax.set_ylim(xy[:, 1].min() - pad[1], xy[:, 1].max() + pad[1])
    skipped = _place_labels(ax, xy, words)
    ax.set_xlabel(f"PC1 ({100 * explained[0]:.0f}% of the variance of these words)")
    ax.set_ylabel(f"PC2 ({100 * explained[1]:.0f}% of the variance)")
    ax.set_title(title)
    handles, names = ax.get_legend_handles_labels()
    notes = []
    if drawn:
        a0, b0 = drawn[0]
        handles.append(Line2D([], [], color="0.7", marker=">", markersize=5, lw=0.8))
        names.append(f"arrow: {a0} -> {b0} and the like")
        agree = offset_agreement(wv, drawn)
        if agree is not None:
            notes.append(f"arrows: the {len(drawn)} offsets ({a0} -> {b0}, ...) have mean cosine {agree:.2f} to each "
                         "other in the full space (1 = one shared direction; a 2-D view can make parallel arrows cross)")
    ax.legend(handles, names, loc="best", fontsize=8)
    if skipped:
        notes.append("no room to label: " + ", ".join(skipped))
    if missing:
        notes.append("not in vocabulary: " + ", ".join(missing))
    import textwrap
    lines = [line for note in notes for line in textwrap.wrap(note, 120)]
    fig.tight_layout(rect=(0, 0.025 * len(lines), 1, 1))
    for i, line in enumerate(lines):
        fig.text(0.01, 0.01 + 0.025 * (len(lines) - 1 - i), line, fontsize=7, color="0.35")
    return fig
