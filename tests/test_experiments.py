"""Experiments: every one runs in --smoke and writes its files; cells are cached; an interrupted
run continues to the same table."""
import csv
import json

import pytest

from minitl import hub
from minitl.transfer import experiments as E
from minitl.transfer.experiments import base


@pytest.fixture(scope="module")
def smoke_cache(tmp_path_factory):
    """One private cache for the module: the smoke models are built once, for every experiment."""
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setattr(hub, "cache_root", lambda: str(home))
    yield home
    mp.undo()


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.parametrize("name", list(E.available()))
def test_every_experiment_runs_in_smoke_mode_and_writes_its_files(smoke_cache, tmp_path, name):
    out = tmp_path / "out"
    summary = E.run(name, mode="smoke", seeds=2, out=str(out), progress=False)
    for ext in ("csv", "md", "json"):
        assert (out / f"{name}.{ext}").stat().st_size > 100
    assert (out / f"{name}.png").stat().st_size > 5000
    assert summary["verdict"] in ("holds", "holds in part", "does not hold at this scale")
    cols = summary["columns"]
    md = (out / f"{name}.md").read_text()
    assert summary["claim"] in md and all(c in md for c in cols)
    with open(out / f"{name}.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(E.get(name).cells("smoke", 2)) and {"seed", "seconds"} <= set(rows[0])
    for row in summary["table"]:
        assert row["seeds"] == 2 and 0 <= row["accuracy"] <= 1
    rows, text = E.claims(str(out))
    assert rows[0]["experiment"] == name and summary["verdict"] in text


class Toy(base.Experiment):
    """A two-setting experiment whose cells are cheap and count their own calls."""
    name, claim = "toy", "more is better"
    calls = []

    def cells(self, mode, seeds):
        return [{"x": x, "seed": s} for x in (1, 2) for s in range(seeds)]

    def run_cell(self, cell, env):
        Toy.calls.append(cell)
        if getattr(Toy, "fail_at", None) == len(Toy.calls):
            raise KeyboardInterrupt
        return {"accuracy": 0.5 + 0.1 * cell["x"] + 0.01 * cell["seed"]}

    def summarize(self, table, mode):
        return {"verdict": "holds", "measured": "x", "columns": ["x", "accuracy", "std", "seeds"]}

    def plot(self, table, path):
        open(path, "wb").close()


def test_cells_are_cached_and_an_interrupted_run_finishes_with_the_same_table(tmp_path):
    Toy.calls, Toy.fail_at = [], None
    straight = base.run(Toy(), mode="quick", seeds=3, out=str(tmp_path / "a"), progress=False)
    assert len(Toy.calls) == 6
    assert straight["table"][1]["accuracy"] == pytest.approx(0.71)         # mean over seeds 0, 1, 2
    assert straight["table"][1]["std"] == pytest.approx(0.0081649, rel=1e-4)
    base.run(Toy(), mode="quick", seeds=3, out=str(tmp_path / "a"), progress=False)
    assert len(Toy.calls) == 6                                               # nothing recomputed

    Toy.calls, Toy.fail_at = [], 4
    with pytest.raises(KeyboardInterrupt):
        base.run(Toy(), mode="quick", seeds=3, out=str(tmp_path / "b"), progress=False)
    Toy.fail_at = None
    again = base.run(Toy(), mode="quick", seeds=3, out=str(tmp_path / "b"), progress=False)
    assert len(Toy.calls) == 4 + 3                                           # 3 cached, 3 run after the stop
    assert again["table"] == straight["table"]
    assert json.loads((tmp_path / "b" / "toy.json").read_text())["verdict"] == "holds"


def test_small_models_train_a_bpe_once_per_text(tmp_path, capsys):
    from minitl.text import BPETokenizer
    from minitl.transfer.experiments import small_models as S
    env = base.Env("smoke", str(tmp_path))
    docs = [f"the cat sat on the mat number {i} today" for i in range(200)]
    other = [f"a dog ate a bone near the river {i}" for i in range(200)]

    def merges(path):
        return BPETokenizer.load(path + "/tokenizer.json").merges
    a, _ = S.pretrained_gpt(env, "a", lambda: docs)
    assert "training a" in capsys.readouterr().out
    b, _ = S.pretrained_gpt(env, "b", lambda: docs)              # same text: the cached BPE
    assert "training a" not in capsys.readouterr().out and merges(b) == merges(a)
    c, _ = S.pretrained_gpt(env, "c", lambda: other)             # other text: its own BPE
    assert "training a" in capsys.readouterr().out and merges(c) != merges(a)
    assert len(list((tmp_path / "models" / "tokenizers").iterdir())) == 2
