"""The main job end to end (shrunk), and the CLI faces of fine-tuning on a CSV file."""
import json
from dataclasses import replace

import numpy as np
import pytest

from minitl import hub
from minitl.cli import main
from minitl.transfer import methods as M


@pytest.fixture
def tiny_hub(tmp_path, monkeypatch):
    """Pretrained models built in seconds (the hub's smoke profile) into a private cache."""
    monkeypatch.setattr(hub, "cache_root", lambda: str(tmp_path / "home"))
    hub.set_profile("smoke")
    yield tmp_path
    hub.set_profile("default")


@pytest.mark.slow
@pytest.mark.network
def test_tour_writes_results_table_and_plot(tiny_hub, tmp_path):
    from minitl.transfer import tour
    fast = {k: replace(v, epochs=2) for k, v in M.RECIPES.items()}
    out = tmp_path / "tour"
    res = tour.run(n_train=20, seeds=2, out=str(out), minutes=0.1, recipes=fast, max_test=200, progress=False)
    saved = json.loads((out / "results.json").read_text())
    assert saved["metric"] == "balanced_accuracy" and saved["seconds"] > 0
    assert {r["kind"] for r in saved["rows"]} == {"transfer", "scratch"}
    assert len([r for r in saved["rows"] if r["kind"] == "transfer"]) >= 3
    for r in saved["rows"]:
        assert set(r) >= {"method", "kind", "n_train", "mean", "std", "seeds"}
        assert r["n_train"] == 20 and r["seeds"] == 2 and 0 <= r["mean"] <= 1
        assert r["mean"] == pytest.approx(np.mean(r["scores"]))
    bow = next(r for r in saved["rows"] if r["id"] == "bow")
    assert bow["mean"] > 0.55            # 20 balanced tweets already beat chance with words alone
    assert res["verdict"]["gap_points"] == pytest.approx(
        100 * (max(r["mean"] for r in saved["rows"] if r["kind"] == "transfer")
               - max(r["mean"] for r in saved["rows"] if r["kind"] == "scratch")), abs=0.06)
    assert (out / "tour.png").stat().st_size > 5000
    assert hub.card("gpt")["steps"] == 30          # the cache now has a model card


@pytest.mark.network
def test_finetune_evaluate_predict_on_a_csv_file(tiny_hub, tmp_path, capsys):
    rows = [("great flight thanks", "pos"), ("lost my bag again", "neg"), ("love the crew", "pos"),
            ("delayed and rude staff", "neg")] * 6
    csv = tmp_path / "reviews.csv"
    csv.write_text("review,stars\n" + "\n".join(f"{t},{y}" for t, y in rows) + "\n")
    out = str(tmp_path / "clf")
    args = ["--data", str(csv), "--text-column", "review", "--label-column", "stars"]
    assert main(["finetune", "--model", "gpt", *args, "--n-train", "8", "--epochs", "2", "--out", out]) == 0
    capsys.readouterr()
    assert main(["evaluate", out, *args]) == 0
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rep["label_names"] == ["neg", "pos"] and rep["n"] == 24
    assert np.sum(rep["confusion_matrix"]) == 24 and rep["majority"]["balanced_accuracy"] == 0.5
    assert main(["predict", out, "great crew", "lost bag"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(line.split()[0] in ("neg", "pos") for line in lines)
    # errors name the thing: too many labels asked, a missing column, another label set
    assert main(["finetune", "--model", "gpt", *args, "--n-train", "30", "--out", out + "2"]) == 2
    assert "only 12 exist" in capsys.readouterr().err
    assert main(["finetune", "--model", "gpt", "--data", str(csv), "--out", out + "3"]) == 2
    assert "text" in capsys.readouterr().err
    other = tmp_path / "other.csv"
    other.write_text("review,stars\nok,meh\nbad,neg\n")
    assert main(["evaluate", out, "--data", str(other), "--text-column", "review", "--label-column", "stars"]) == 2
    assert "label sets differ" in capsys.readouterr().err


def test_info_prints_the_kernels_view_of_the_machine(tiny_hub, capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    lanes = int(next(line.split()[-1] for line in out.splitlines() if "float32_lanes" in line))
    assert lanes in (4, 8, 16)
    assert "gpt   not built" in out               # the private smoke cache is empty
    from minitl import _process
    assert f"malloc                 {_process.MALLOC}" in out and _process.MALLOC != "not set"  # tune() ran
