"""Guarantees that cut across modules (docs/RELIABILITY.md): loading runs no code."""
import builtins
import pickle

import numpy as np
import pytest

import minitl
from minitl import checkpoint
from minitl.models.gpt import GPT, GPTConfig
from minitl.optim import AdamW
from minitl.text import BPETokenizer


def test_loading_checkpoints_runs_no_code(tmp_path, monkeypatch):
    minitl.manual_seed(0)
    tok = BPETokenizer.train(["a small corpus for a small tokenizer"] * 3, vocab_size=300)
    model = GPT(GPTConfig(n_layer=1, n_head=2, d_model=16, block_size=8, vocab_size=tok.vocab_size, dropout=0.0))
    model.save_pretrained(tmp_path / "model", tokenizer=tok)
    saved = model.state_dict()
    opt = AdamW(model.parameters(), lr=1e-3)
    model(np.zeros((1, 4), dtype=np.int64), np.zeros((1, 4), dtype=np.int64))[1].backward()
    opt.step()
    checkpoint.save_optimizer_state(opt.state_dict(), tmp_path / "optimizer.safetensors")

    def refuse(*args, **kwargs):
        raise AssertionError("loading ran code (pickle/eval/exec)")
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    with pytest.raises(ValueError):
        np.load(tmp_path / "model" / "model.safetensors", allow_pickle=False)  # not a pickle either
    loaded = GPT.from_pretrained(tmp_path / "model")
    BPETokenizer.load(tmp_path / "model" / "tokenizer.json")
    state = checkpoint.load_optimizer_state(tmp_path / "optimizer.safetensors")
    assert all(np.array_equal(saved[k], v) for k, v in loaded.state_dict().items())
    assert state["state"] and state["param_groups"][0]["lr"] == 1e-3
