"""ELMo and T5 in the model cache (minitl.hub), `minitl pretrain elmo|t5 --out DIR` leaving DIR/model/,
and `minitl finetune` / `evaluate` / `predict` with an ELMo (frozen features) and a T5 (text-to-text)."""
import json
import os

import numpy as np
import pytest

from minitl import hub
from minitl.pretrain_elmo_t5 import ELMoT5PretrainConfig

pytestmark = pytest.mark.network      # the small news corpus (cached after the first download)


@pytest.fixture
def smoke_hub():
    hub.set_profile("smoke")
    yield hub
    hub.set_profile("default")


def test_config_checks_name_the_problem():
    with pytest.raises(ValueError, match="kind must be one of \\('elmo', 't5'\\), got 'gpt'"):
        ELMoT5PretrainConfig("gpt")
    with pytest.raises(ValueError, match="unknown t5 preset 'mini'"):
        ELMoT5PretrainConfig("t5", preset="mini")
    assert ELMoT5PretrainConfig("t5").lr == 1e-3 and ELMoT5PretrainConfig("elmo").lr == 3e-3
    with pytest.raises(ValueError, match=r"unknown model\(s\) \['gpt2'\]"):
        hub.pretrain_all(names=("gpt2",))


def test_hub_builds_and_loads_elmo_and_t5(smoke_hub):
    from minitl.models.elmo import ELMo
    from minitl.models.t5 import T5
    assert set(hub.OPTIONAL) == {"elmo", "t5"} and not set(hub.OPTIONAL) & set(hub.DEFAULT_SET)
    cards = hub.pretrain_all(names=("elmo", "t5"))
    assert sorted(cards) == ["elmo", "t5"]
    for name, cls in (("elmo", ELMo), ("t5", T5)):
        card = hub.card(name)
        assert card["steps"] == hub.SMOKE["steps"] and card["recipe"]["kind"] == name
        assert card["recipe"]["preset"] == "nano" and card["seconds"] > 0
        model = hub.load(name)
        assert type(model) is cls and model.tokenizer.vocab_size == hub.SMOKE["vocab_size"]
    assert "span_accuracy" in hub.card("t5")["validation"]
    assert hub.card("elmo")["validation"]["val_perplexity_fwd"] < hub.SMOKE["vocab_size"]   # beats uniform


@pytest.mark.parametrize("kind", ["elmo", "t5"])
def test_cli_pretrain_leaves_a_from_pretrained_dir(kind, tmp_path):
    from minitl.cli import main
    from minitl.models.elmo import ELMo
    from minitl.models.t5 import T5
    out = tmp_path / kind
    assert main(["pretrain", kind, "--corpus", "news", "--preset", "nano", "--vocab-size", "400", "--steps", "5",
                 "--eval-every", "0", "--out", str(out)]) == 0
    model = {"elmo": ELMo, "t5": T5}[kind].from_pretrained(str(out / "model"))
    assert model.meta["steps"] == 5 and model.meta["corpus"] == "news" and model.config.vocab_size == 400
    assert json.load(open(out / "run.json"))["kind"] == kind


def test_cli_finetune_t5_text2text_then_evaluate_and_predict(smoke_hub, tmp_path, capsys):
    from minitl.cli import main
    out = str(tmp_path / "ft")
    assert main(["finetune", "--model", "t5", "--n-train", "16", "--epochs", "1", "--out", out]) == 0
    meta = json.load(open(os.path.join(out, "model", "meta.json")))
    assert meta["model"] == "T5" and meta["task"] == "text2text" and meta["label_names"] == ["negative", "positive"]
    assert 0 <= meta["validation"]["accuracy"] <= 1 and meta["n_train"] == 16
    capsys.readouterr()
    assert main(["predict", out, "great flight, thanks", "lost my bag again"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(line.split()[0] in ("negative", "positive") for line in lines)
    assert main(["finetune", "--model", "t5", "--strategy", "gradual", "--out", str(tmp_path / "x")]) == 2
    capsys.readouterr()
    assert main(["evaluate", out, "--data", "tweets"]) == 0                  # via Text2TextClassifier
    res = next(json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{"))
    assert res["split"] == "test" and sum(map(sum, res["confusion_matrix"])) == res["n"] == 1000


def test_cli_finetune_elmo_features(smoke_hub, tmp_path):
    from minitl.cli import main
    from minitl.transfer.classifier import SequenceClassifier
    out = str(tmp_path / "ft")
    assert main(["finetune", "--model", "elmo", "--n-train", "20", "--out", out]) == 0
    clf = SequenceClassifier.from_pretrained(os.path.join(out, "model"))
    assert clf.config.backbone == "ELMo" and clf.meta["recipe"]["strategy"] == "features"
    assert set(np.unique(clf.predict(["good", "bad", "ok then"]))) <= {0, 1}


def test_cli_pretrain_all_refuses_an_unknown_opt_in(capsys):
    from minitl.cli import main
    assert main(["pretrain", "all", "--with", "elmo,gpt3"]) == 2
    assert "--with elmo,gpt3: unknown ['gpt3']" in capsys.readouterr().err
