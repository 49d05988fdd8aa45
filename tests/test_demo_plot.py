"""The demo's figure and output say what they show (issue 16): ticks 100 / 1,000, error bars named,
the whole 0-100% scale, percent with a std only over several draws, progress in the probe phase."""
import json

import numpy as np
import pytest

from minitl.data.registry import Dataset
from minitl.transfer import demo

ROWS = [{"labels": n, "model": m, "balanced_acc": a, "std": s, "draws": 3}
        for n, m, a, s in ((100, "word2vec features (pretrained)", 0.62, 0.02),
                           (1000, "word2vec features (pretrained)", 0.68, 0.01),
                           (100, "bag of words (from scratch)", 0.56, 0.03),
                           (1000, "bag of words (from scratch)", 0.66, 0.01))]


def test_figure_ticks_scale_and_error_bars_are_spelled_out():
    import matplotlib.pyplot as plt
    fig = demo.figure(ROWS)
    ax = fig.axes[0]
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    assert labels == ["100", "1,000"]
    assert not [t.get_text() for t in ax.get_xticklabels(minor=True) if t.get_text()]   # no 10^2 minor labels
    assert ax.get_ylim() == (0.0, 100.0)
    assert "± std over 3 draws" in ax.get_title()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "chance (50%)" in legend and "word2vec features (pretrained)" in legend
    notes = [t.get_text() for t in ax.texts]
    assert "62.0%" in notes and "66.0%" in notes                  # each point's value written beside it
    plt.close(fig)
    one = demo.figure([dict(r, draws=1, std=0.0) for r in ROWS])
    assert "one draw" in one.axes[0].get_title() and "std" not in one.axes[0].get_title()
    plt.close(one)


def _fake(split, n):
    rng = np.random.default_rng({"train": 0, "test": 1}[split])
    good, bad = "good great lovely happy thanks".split(), "bad awful late rude lost".split()
    filler = "the flight was my bag and crew today".split()
    labels = np.arange(n) % 2
    texts = [" ".join(rng.choice(good if y else bad, 2).tolist() + rng.choice(filler, 4).tolist()) for y in labels]
    return Dataset(texts, labels, ["negative", "positive"], split=split, source="fake")


def test_demo_shows_progress_in_the_probe_phase_and_prints_percent(tmp_path, monkeypatch, capsys):
    data = {"train": _fake("train", 200), "test": _fake("test", 100)}
    monkeypatch.setattr(demo.data, "load", lambda name, split: data[split])
    monkeypatch.setattr(demo.data, "corpus", lambda spec, split: data["train"].texts * 5)
    res = demo.run(seed=0, label_counts=(10, 20), draws=2, out=str(tmp_path), epochs=1)
    captured = capsys.readouterr()
    bars = [s for s in captured.err.splitlines() if s.startswith("probes")]
    assert bars and "4/4" in bars[-1], captured.err                 # 2 label counts x 2 draws
    table = captured.out[captured.out.index("balanced accuracy"):]
    row = next(s for s in table.splitlines() if s.strip().startswith("10 ") and "bag of words" in s)
    r = next(r for r in res["rows"] if r["labels"] == 10 and r["model"].startswith("bag"))
    assert f"{100 * r['balanced_acc']:.1f}% ± {100 * r['std']:.1f}" in row
    assert "mean ± std over 2 draws" in table
    assert json.loads((tmp_path / "results.json").read_text())["rows"] == res["rows"]
    with open(tmp_path / "demo.png", "rb") as f:
        assert f.read(4) == b"\x89PNG"


def test_demo_with_one_draw_prints_no_std(tmp_path, monkeypatch, capsys):
    data = {"train": _fake("train", 100), "test": _fake("test", 60)}
    monkeypatch.setattr(demo.data, "load", lambda name, split: data[split])
    monkeypatch.setattr(demo.data, "corpus", lambda spec, split: data["train"].texts * 5)
    demo.run(seed=0, label_counts=(10,), draws=1, out=None, epochs=1, progress=False)
    out = capsys.readouterr().out
    table = out[out.index("balanced accuracy"):]
    assert "%" in table and "±" not in table and "one draw" in table


@pytest.mark.parametrize("bad", [[], [0.1, float("nan")]])
def test_format_percent_refuses_nothing_and_keeps_nan_visible(bad):
    from minitl.transfer.probe import format_percent
    if not bad:
        with pytest.raises(ValueError):
            format_percent(bad)
    else:
        assert "nan" in format_percent(bad)
