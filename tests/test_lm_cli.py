"""End to end through the command line: pretrain (interrupt + resume), generate,
fill-mask, evaluate, on the small embedded news corpus with the nano preset."""
import json

import pytest

from minitl.cli import main


@pytest.mark.slow
@pytest.mark.network
def test_pretrain_resume_generate_evaluate(tmp_path, capsys):
    gpt, bert = str(tmp_path / "gpt"), str(tmp_path / "bert")
    common = ["--corpus", "news", "--preset", "nano", "--vocab-size", "400", "--eval-every", "10"]
    # a time budget of ~0 stops after the first step with a checkpoint; --resume finishes the run
    assert main(["pretrain", "gpt", *common, "--steps", "20", "--out", gpt, "--max-minutes", "1e-6"]) == 0
    assert main(["pretrain", "gpt", *common, "--steps", "20", "--out", gpt]) == 2   # refuses to overwrite
    assert main(["pretrain", "gpt", *common, "--steps", "30", "--out", gpt, "--resume"]) == 2  # another schedule
    assert "steps 20 -> 30" in capsys.readouterr().err
    assert main(["pretrain", "gpt", *common, "--steps", "20", "--out", gpt, "--resume"]) == 0
    records = [json.loads(line) for line in open(tmp_path / "gpt" / "metrics.jsonl")]
    steps = [r["step"] for r in records if "loss" in r]        # training records (not validation ones)
    assert max(steps) == 20 and steps.count(10) == 1
    capsys.readouterr()
    assert main(["generate", gpt, "The minister", "--max-new-tokens", "5"]) == 0
    assert capsys.readouterr().out.startswith("The minister")
    assert main(["evaluate", gpt, "--corpus", "news"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 1 < res["val_perplexity"] < 400 and res["unigram_perplexity"] > 1

    assert main(["pretrain", "bert", *common, "--steps", "10", "--out", bert]) == 0
    capsys.readouterr()
    assert main(["fill-mask", bert, "The [MASK] said."]) == 0
    assert capsys.readouterr().out.startswith("[MASK] #1:")
    assert main(["evaluate", bert, "--corpus", "news"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= res["masked_accuracy"] <= 1 and 0 <= res["most_frequent_accuracy"] <= 1
    assert main(["generate", bert, "x"]) == 2
    assert "holds a BERT model" in capsys.readouterr().err
