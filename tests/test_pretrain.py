"""The pretraining recipe's caches and its command line refuse to be silently wrong."""
import os

import numpy as np
import pytest

from minitl.cli import main
from minitl.data.batching import encode_corpus
from minitl.pretrain import PretrainConfig, corpus_documents, pretrain


def test_a_rerun_with_another_corpus_never_reuses_stale_token_ids(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("\n".join(f"the cat sat on the mat {i}" for i in range(300)) + "\n")
    b.write_text("\n".join(f"a dog ate a bone near the river {i}" for i in range(300)) + "\n")
    out = str(tmp_path / "run")
    cfg = dict(kind="gpt", preset="nano", steps=1, warmup=1, eval_every=0, ckpt_every=0, progress=False)
    pretrain(PretrainConfig(corpus=str(a), vocab_size=300, **cfg), out)
    # the first attempt "died before its first checkpoint": only its data files are left
    import shutil
    shutil.rmtree(os.path.join(out, "checkpoint"))
    shutil.rmtree(os.path.join(out, "model"))
    run = pretrain(PretrainConfig(corpus=str(b), vocab_size=320, **cfg), out)
    want = encode_corpus(corpus_documents(str(b), "train"), run["tokenizer"])
    assert run["train_tokens"] == len(want)                   # b's ids, with b's tokenizer
    cached = sorted(f for f in os.listdir(out) if f.startswith("ids-train-"))
    assert len(cached) == 2                                   # a's cache is keyed apart, never picked up
    assert any(np.array_equal(np.load(os.path.join(out, f)), want) for f in cached)


def test_bad_numbers_are_refused_before_the_run_directory_exists(tmp_path, capsys):
    out = tmp_path / "run"
    for bad in (["--steps", "-5"], ["--batch-size", "0"], ["--lr", "nan"], ["--lr", "inf"]):
        with pytest.raises(SystemExit) as e:
            main(["pretrain", "gpt", "--out", str(out), *bad])
        assert e.value.code == 2 and bad[1] in capsys.readouterr().err
    assert not out.exists()


def test_a_given_tokenizer_is_used_instead_of_training_one(tmp_path, capsys):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("\n".join(f"the cat sat on the mat {i}" for i in range(300)) + "\n")
    b.write_text("\n".join(f"a dog ate a bone near the river {i}" for i in range(300)) + "\n")
    cfg = dict(kind="gpt", preset="nano", steps=1, warmup=1, eval_every=0, ckpt_every=0, progress=False)
    first = pretrain(PretrainConfig(corpus=str(a), vocab_size=300, **cfg), str(tmp_path / "r1"))
    capsys.readouterr()
    tok_file = str(tmp_path / "r1" / "tokenizer.json")
    # another corpus, another vocabulary size asked for: the file's BPE wins, none is trained
    run = pretrain(PretrainConfig(corpus=str(b), vocab_size=320, tokenizer=tok_file, **cfg), str(tmp_path / "r2"))
    assert run["tokenizer"].merges == first["tokenizer"].merges
    assert "training a" not in capsys.readouterr().out
    assert run["train_tokens"] == len(encode_corpus(corpus_documents(str(b), "train"), first["tokenizer"]))
    with pytest.raises(FileNotFoundError, match="tokenizer .*missing.json does not exist"):
        pretrain(PretrainConfig(corpus=str(b), tokenizer=str(tmp_path / "missing.json"), **cfg), str(tmp_path / "r3"))


@pytest.mark.parametrize("kind", ["gpt", "elmo"])
def test_every_recipe_refuses_a_resume_with_another_recipe_and_a_run_over_a_run(tmp_path, kind):
    from minitl.pretrain_elmo_t5 import ELMoT5PretrainConfig, pretrain as pretrain_elmo_t5
    a = tmp_path / "a.txt"
    a.write_text("\n".join(f"the cat sat on the mat {i}" for i in range(300)) + "\n")
    Config, run = (PretrainConfig, pretrain) if kind == "gpt" else (ELMoT5PretrainConfig, pretrain_elmo_t5)
    cfg = dict(corpus=str(a), preset="nano", vocab_size=300, steps=1, warmup=1, eval_every=0, ckpt_every=0,
               progress=False)
    out = str(tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        run(Config(kind, lr=1e-3, **cfg), out, resume=True)
    run(Config(kind, lr=1e-3, **cfg), out)
    with pytest.raises(ValueError, match=r"resume with lr=0.002 but the run in .* used 0.001"):
        run(Config(kind, lr=2e-3, **cfg), out, resume=True)
    with pytest.raises(FileExistsError, match="already holds a run"):
        run(Config(kind, lr=1e-3, **cfg), out)
