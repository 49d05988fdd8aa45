"""Word vectors in two dimensions: PCA of chosen word groups, saved as a PNG.

    plot_pca(model.wv, {"countries": ["france", "italy"], "capitals": ["paris", "rome"]},
             "pca.png", pairs=[("france", "paris"), ("italy", "rome")])

PCA here is three lines of numpy: centre the vectors, take the SVD, keep the
first two right-singular directions.  Only the plotted words are used to find
the directions, so the picture shows how *these* words spread out.  If a
country -> capital arrow points the same way for every pair, the vectors
encode "capital of" as a direction.
"""
import numpy as np

# Default groups for the CLI plot: words frequent enough in the embedded corpus.
DEFAULT_GROUPS = {
    "countries": ["france", "germany", "italy", "spain", "china", "japan", "russia", "england"],
    "capitals": ["paris", "berlin", "rome", "madrid", "beijing", "tokyo", "moscow", "london"],
    "numbers": ["one", "two", "three", "four", "five", "six"],
    "family": ["father", "mother", "son", "daughter", "brother", "sister", "king", "queen"],
}
DEFAULT_PAIRS = [("france", "paris"), ("germany", "berlin"), ("italy", "rome"), ("spain", "madrid"),
                 ("china", "beijing"), ("japan", "tokyo"), ("russia", "moscow"), ("england", "london")]


def pca_2d(vectors):
    """(N, C) -> (N, 2): coordinates along the two directions of largest variance."""
    x = np.asarray(vectors, np.float64)
    x = x - x.mean(axis=0)                          # (N, C) centred
    _, _, vt = np.linalg.svd(x, full_matrices=False)  # rows of vt: principal directions
    return x @ vt[:2].T                             # (N, 2)


def plot_pca(wv, groups, path, pairs=None, title="word vectors, PCA to 2-D"):
    """Scatter the words of each group (one colour per group) and save a PNG.

    Args:
        wv: KeyedVectors.  groups: {group name: [words]}; unknown words are left
            out and listed in the figure's footnote.
        path: where to write the PNG.  pairs: (word, word) arrows to draw.
    Returns:
        path.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    xy = pca_2d(np.stack([wv[w] for w in words]))
    where = {w: i for i, w in enumerate(words)}
    fig, ax = plt.subplots(figsize=(7, 6))
    for k, name in enumerate(groups):
        idx = [i for i, lab in enumerate(labels) if lab == name]
        if idx:
            ax.scatter(xy[idx, 0], xy[idx, 1], color=f"C{k}", label=name)
    for i, w in enumerate(words):
        ax.annotate(w, xy[i], textcoords="offset points", xytext=(3, 3), fontsize=9)
    for a, b in pairs or []:
        if a in where and b in where:
            ax.annotate("", xy[where[b]], xy[where[a]],
                        arrowprops={"arrowstyle": "->", "color": "0.6", "lw": 0.8})
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    if missing:
        fig.text(0.01, 0.01, "not in vocabulary: " + ", ".join(missing), fontsize=7, color="0.4")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
