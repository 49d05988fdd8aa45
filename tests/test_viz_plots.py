"""The plots a learner looks at (issue 16): PCA axes with explained variance, labels that do not
overlap, arrows explained; the pretraining loss curve."""
import numpy as np
import pytest

from minitl.models.keyedvectors import KeyedVectors
from minitl.viz.curves import plot_loss_curves
from minitl.viz.embeddings import offset_agreement, pca, pca_figure


def test_pca_explained_variance_by_hand():
    x = np.array([[1, 0], [-1, 0], [0, 0.5], [0, -0.5]])        # variance 2 along x, 0.5 along y
    coords, explained = pca(x, 2)
    np.testing.assert_allclose(explained, [0.8, 0.2])
    np.testing.assert_allclose(np.abs(coords[:, 0]), [1, 1, 0, 0], atol=1e-12)


def test_offset_agreement_is_one_for_a_shared_direction_and_zero_for_orthogonal_ones():
    wv = KeyedVectors(["a", "b", "c", "d", "e", "f"],
                      np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1]], np.float32))
    assert offset_agreement(wv, [("a", "b"), ("c", "d")]) == pytest.approx(1.0)   # both +x
    assert offset_agreement(wv, [("a", "b"), ("a", "e")]) == pytest.approx(0.0)   # +x vs +z
    assert offset_agreement(wv, [("a", "b"), ("a", "zzz")]) is None               # one known pair


def test_pca_figure_labels_axes_and_never_overlaps_labels():
    import matplotlib.pyplot as plt
    rng = np.random.default_rng(0)
    words = [f"word{i}" for i in range(40)]
    vectors = np.concatenate([rng.normal(0, 0.05, (20, 10)), rng.normal(3, 0.05, (20, 10))]).astype(np.float32)
    wv = KeyedVectors(words, vectors)                            # two tight clusters of 20: crowded labels
    fig = pca_figure(wv, {"left": words[:20], "right": words[20:] + ["absent"]}, pairs=[("word0", "word20"), ("word1", "word21")])
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("PC1 (") and "% of the variance" in ax.get_xlabel()
    assert ax.get_ylabel().startswith("PC2 (") and "%" in ax.get_ylabel()
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if t.get_text() in words]
    boxes = [t.get_window_extent(r) for t in labels]
    assert all(not boxes[i].overlaps(boxes[j]) for i in range(len(boxes)) for j in range(i))
    footnote = " ".join(t.get_text() for t in fig.texts)
    assert "not in vocabulary: absent" in footnote and "mean cosine 1.00" in footnote
    unlabelled = len(words) - len(labels)
    assert (unlabelled == 0) == ("no room to label" not in footnote)       # a dropped label is listed
    assert any("arrow" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(fig)
    one = pca_figure(wv, {"left": words[:20], "right": words[20:]}, pairs=[("word0", "word20")])
    assert "mean cosine" not in " ".join(t.get_text() for t in one.texts)  # one arrow: nothing to compare
    plt.close(one)


def test_loss_curves_from_metrics_records(tmp_path):
    import matplotlib.pyplot as plt
    records = [{"step": 10, "loss": 5.0}, {"step": 10, "split": "validation", "val_loss": 4.8},
               {"step": 20, "loss": 4.0}, {"step": 20, "split": "validation", "mlm_loss": 4.1}]
    plotted = []
    real = plt.Axes.plot

    def spy(ax, *args, **kw):
        plotted.append((kw.get("label"), [list(a) for a in args if not isinstance(a, str)]))
        return real(ax, *args, **kw)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plt.Axes, "plot", spy)
        path = plot_loss_curves(records, str(tmp_path / "loss.png"), title="t")
    assert open(path, "rb").read(4) == b"\x89PNG"
    series = dict(plotted)
    assert series["training loss (mean since the last log line)"] == [[10, 20], [5.0, 4.0]]
    assert series["validation loss"] == [[10, 20], [4.8, 4.1]]
    with pytest.raises(ValueError, match="no training or validation loss"):
        plot_loss_curves([{"step": 1, "split": "validation", "accuracy": 0.5}], str(tmp_path / "x.png"))
