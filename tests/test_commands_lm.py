"""`minitl evaluate` and `minitl probe` interpret their own numbers (issue 16): baselines beside the
metrics, a verdict in words, training's and evaluate's numbers reconciled, errors that name the model."""
import json
import os
import random

import numpy as np
import pytest

import minitl
from minitl import pretrain as P
from minitl.cli import main
from minitl.commands import lm


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A text corpus, and nano GPT and BERT runs on it whose training evaluations read 5 windows."""
    root = tmp_path_factory.mktemp("lm")
    words = "the cat sat on mat a dog ate bone near river city king music war one two three".split()
    rng = random.Random(0)
    corpus = root / "c.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(8, 30)))
                                for _ in range(600)) + "\n")
    plotted = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(P, "EVAL_WINDOWS", {"gpt": 5, "bert": 5})
        from minitl.viz import curves
        real = curves.plot_loss_curves
        mp.setattr(curves, "plot_loss_curves", lambda records, path, **kw: (
            plotted.append([dict(r) for r in records]), real(records, path, **kw))[1])
        out = {}
        for kind in ("gpt", "bert"):
            cfg = P.PretrainConfig(kind=kind, corpus=str(corpus), preset="nano", vocab_size=300, steps=30,
                                   warmup=5, eval_every=10, ckpt_every=0, progress=False)
            P.pretrain(cfg, str(root / kind))
            out[kind] = str(root / kind)
    return {"corpus": str(corpus), "plotted": plotted, **out}


def _last_json(capsys):
    out = capsys.readouterr().out
    return out, json.loads(out.strip().splitlines()[-1])


def test_verdicts_say_above_or_below_each_baseline():
    worse = lm.verdicts({"val_perplexity": 218.7, "unigram_perplexity": 205.4})
    assert len(worse) == 1 and worse[0].startswith("BELOW BASELINE") and "218.7" in worse[0] and "205.4" in worse[0]
    better = lm.verdicts({"val_perplexity": 150.0, "unigram_perplexity": 205.4})
    assert "beats the baseline" in better[0] and "BELOW" not in better[0]
    acc = lm.verdicts({"masked_accuracy": 0.0308, "most_frequent_accuracy": 0.0355})
    assert acc[0].startswith("BELOW BASELINE") and "3.08%" in acc[0] and "3.55%" in acc[0]
    assert "beats" in lm.verdicts({"masked_accuracy": 0.06, "most_frequent_accuracy": 0.0355})[0]
    tie = lm.verdicts({"content_accuracy": 0.1, "most_frequent_content_accuracy": 0.1})
    assert tie[0].startswith("BELOW BASELINE")                  # equal to the baseline is not better
    clf = lm.verdicts({"balanced_accuracy": 0.62, "majority": {"balanced_accuracy": 0.5}})
    assert "beats" in clf[0] and "majority class" in clf[0]
    assert lm.verdicts({"val_perplexity": 10.0}) == []           # no baseline, no verdict


def test_evaluate_gpt_prints_the_unigram_baseline_and_its_verdict(runs, capsys):
    assert main(["evaluate", runs["gpt"], "--corpus", runs["corpus"]]) == 0
    out, res = _last_json(capsys)
    # the baseline, recomputed here from the token ids: add-one unigram model of the training split
    from minitl.text import BPETokenizer
    tok = BPETokenizer.load(os.path.join(runs["gpt"], "model", "tokenizer.json"))
    train, val = P.corpus_ids(tok, runs["corpus"], "train"), P.corpus_ids(tok, runs["corpus"], "validation")
    counts = np.bincount(train, minlength=tok.vocab_size)
    T = 32
    targets = val[1:1 + ((len(val) - 1) // T) * T]
    want = np.exp(-np.mean(np.log((counts[targets] + 1) / (len(train) + tok.vocab_size))))
    assert res["unigram_perplexity"] == pytest.approx(want, rel=1e-9)
    assert f"{res['unigram_perplexity']:.2f}" in out and f"{res['val_perplexity']:.2f}" in out
    below = res["val_perplexity"] >= res["unigram_perplexity"]
    assert ("BELOW BASELINE" in out) == below and ("beats the baseline" in out) == (not below)


def test_evaluate_windows_reproduce_trainings_masked_accuracy(runs, capsys, monkeypatch):
    monkeypatch.setattr(P, "EVAL_WINDOWS", {"gpt": 5, "bert": 5})
    with open(os.path.join(runs["bert"], "model", "meta.json")) as f:
        trained = json.load(f)["validation"]
    assert main(["evaluate", runs["bert"], "--corpus", runs["corpus"], "--windows", "5"]) == 0
    out, res = _last_json(capsys)
    assert res["windows"] == 5
    assert res["masked_accuracy"] == trained["masked_accuracy"]     # same windows, same masks: same number
    assert res["mlm_loss"] == pytest.approx(trained["mlm_loss"], rel=1e-6)
    assert "most_frequent_accuracy" in res and "always" in out and "BASELINE" in out.upper()
    assert main(["evaluate", runs["bert"], "--corpus", runs["corpus"]]) == 0     # every window
    out, res = _last_json(capsys)
    assert res["windows"] == res["windows_available"] > 5
    assert "read the first 5 windows" in out and "--windows 5 reproduces" in out


def test_pretraining_redraws_loss_png_at_each_evaluation(runs):
    png = os.path.join(runs["gpt"], "loss.png")
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    gpt_calls = runs["plotted"][:3]                              # 30 steps, eval every 10: 3 evaluations
    assert len(runs["plotted"]) == 6
    assert [sum(r.get("split") == "validation" for r in c) for c in gpt_calls] == [1, 2, 3]
    assert [max(r["step"] for r in c) for c in gpt_calls] == [10, 20, 30]
    assert all(any("loss" in r for r in c) for c in gpt_calls)   # training loss beside the validation loss


def test_probe_and_evaluate_name_the_model_they_found(tmp_path, capsys):
    w2v = tmp_path / "w2v"
    w2v.mkdir()
    (w2v / "config.json").write_text('{"model": "word2vec", "dim": 4}')
    (w2v / "meta.json").write_text('{"seed": 0}')
    assert main(["probe", str(w2v)]) == 2
    err = capsys.readouterr().err
    assert "holds a word2vec model" in err and "GPT or BERT or ELMo or T5" in err and "None" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["evaluate", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "names a model" in err and "GPT, BERT, ELMo, T5" in err
    assert main(["evaluate", str(tmp_path / "missing")]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_generate_refuses_a_bert_naming_it(runs, capsys):
    assert main(["generate", runs["bert"], "x"]) == 2
    assert "holds a BERT model; this command needs GPT" in capsys.readouterr().err


@pytest.mark.parametrize("draws", [1, 3])
def test_probe_prints_percent_and_std_only_over_several_draws(runs, capsys, monkeypatch, draws):
    fake = {"pretrained": [0.565, 0.585, 0.575][:draws], "untrained": [0.5, 0.52, 0.51][:draws]}
    calls = []

    def scores(model, dataset, label_counts, n_draws, seed, desc=None):
        calls.append(desc)
        return {n: fake["untrained" if "untrained" in desc else "pretrained"] for n in label_counts}
    monkeypatch.setattr(lm, "probe_scores", scores)
    assert main(["probe", runs["gpt"], "--labels", "100", "--draws", str(draws)]) == 0
    out = capsys.readouterr().out
    line = next(s for s in out.splitlines() if "100 labels" in s)
    if draws == 1:
        assert "pretrained 56.5%" in line and "untrained 50.0%" in line and "±" not in line and "+-" not in line
        assert "one draw" in out
    else:
        assert "pretrained 57.5% ± 0.8" in line and "untrained 51.0% ± 0.8" in line
        assert "over 3 draws" in out
    assert "gain +6.5 points" in line
    assert calls == ["probe pretrained", "probe untrained"]


def test_evaluate_knows_elmo_and_t5_checkpoints(runs, tmp_path, capsys):
    from minitl.models.elmo import ELMo, ELMoConfig
    from minitl.models.t5 import T5, T5Config
    from minitl.text import BPETokenizer
    tok = BPETokenizer.load(os.path.join(runs["gpt"], "model", "tokenizer.json"))
    minitl.manual_seed(0)
    for Model, cfg, key in ((ELMo, ELMoConfig.from_preset("nano", vocab_size=tok.vocab_size), "val_perplexity"),
                            (T5, T5Config.from_preset("nano", vocab_size=tok.vocab_size), "content_accuracy")):
        d = str(tmp_path / Model.__name__)
        Model(cfg).save_pretrained(d, tokenizer=tok)
        assert main(["evaluate", d, "--corpus", runs["corpus"]]) == 0, Model.__name__
        out = capsys.readouterr().out
        res = next(json.loads(s) for s in reversed(out.splitlines()) if s.startswith("{"))
        assert key in res
        assert "BELOW BASELINE" in out or "beats the baseline" in out      # an untrained model: a verdict
    assert main(["evaluate", d, "--corpus", runs["corpus"], "--windows", "3"]) == 2
    assert "--windows is for GPT and BERT" in capsys.readouterr().err


def test_evaluate_a_classifier_adds_the_majority_class_verdict(runs, tmp_path, capsys, monkeypatch):
    from minitl.commands import finetune
    clf = tmp_path / "clf"
    clf.mkdir()
    (clf / "meta.json").write_text('{"model": "SequenceClassifier"}')

    def fake(args):
        print(json.dumps({"dir": args.dir, "accuracy": 0.55, "balanced_accuracy": 0.48,
                          "majority": {"class": 0, "accuracy": 0.5, "balanced_accuracy": 0.5}}))
        return 0
    monkeypatch.setattr(finetune, "evaluate_classifier", fake)
    assert main(["evaluate", str(clf), "--data", "tweets"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-2].startswith("BELOW BASELINE: balanced accuracy 48.00%") and "majority class (50.00%)" in out[-2]
    assert json.loads(out[-1])["balanced_accuracy"] == 0.48          # the JSON stays the last line
    assert main(["evaluate", str(clf)]) == 2                       # a classifier needs --data
    assert "say which labelled data" in capsys.readouterr().err


def test_evaluate_output_streams_and_keeps_the_json_last(capsys):
    from minitl.commands.lm import _with_verdicts
    seen = []

    def command(args):
        print("loading the model...")
        print("scoring 10 windows")
        seen.append(capsys.readouterr().out)        # what the user sees while the command still runs
        print(json.dumps({"accuracy": 0.5}))
        return 0
    assert _with_verdicts(command, None) == 0
    assert seen == ["loading the model...\n"]           # streamed at once; only the latest line waits
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "scoring 10 windows" and json.loads(out[-1]) == {"accuracy": 0.5}
