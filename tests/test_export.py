"""``minitl export --format hf``: transformers loads the directory and gives minitl's logits.

Optional peers: skipped, with the reason printed, when torch or transformers is not
installed (``pip install -e .[hf]``). The weights are drawn large (std 0.3, LayerNorm
gains near 1) so that logits are of order 1-10 and 1e-4 is a real tolerance.
"""
import json

import numpy as np
import pytest

import minitl
from minitl.models import BERT, BERTConfig, GPT, GPTConfig

SHAPE = dict(n_layer=2, n_head=4, d_model=32, block_size=16, vocab_size=97)


@pytest.fixture
def hf():
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e .[hf])")
    transformers = pytest.importorskip("transformers", reason="transformers is not installed (pip install -e .[hf])")
    transformers.logging.set_verbosity_error()
    return torch, transformers


def _model(cls, cfg_cls, seed=0):
    minitl.manual_seed(seed)
    model = cls(cfg_cls(**SHAPE)).eval()
    rng = np.random.default_rng(seed)
    for name, p in model.named_parameters():
        owner, _, kind = name.rpartition(".")
        base = 1.0 if ("ln" in owner.rpartition(".")[2] and kind == "weight") else 0.0     # LayerNorm gains
        p.data = (base + rng.normal(0.0, 0.3, p.shape)).astype(np.float32)
    return model


def _ids(seed=1, B=3):
    return np.random.default_rng(seed).integers(6, SHAPE["vocab_size"], (B, SHAPE["block_size"]))


def test_gpt_loads_as_gpt2_with_the_same_logits(tmp_path, hf):
    torch, transformers = hf
    model = _model(GPT, GPTConfig)
    model.save_pretrained(tmp_path / "gpt")
    from minitl.commands.export import export
    import argparse
    assert export(argparse.Namespace(dir=str(tmp_path / "gpt"), format="hf", out=str(tmp_path / "hf"))) == 0
    hf_model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    assert type(hf_model).__name__ == "GPT2LMHeadModel"
    x = _ids()
    with minitl.no_grad():
        ours = model(x)[0].data                                          # (B, T, V)
    with torch.no_grad():
        theirs = hf_model(torch.from_numpy(x)).logits.numpy()
    assert np.abs(ours).max() > 1.0                                      # a tolerance that means something
    np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)
    # the output layer is tied to wte in transformers too
    assert hf_model.lm_head.weight.data_ptr() == hf_model.transformer.wte.weight.data_ptr()


def test_bert_loads_as_megatron_bert_with_padding_and_segments(tmp_path, hf):
    torch, transformers = hf
    model = _model(BERT, BERTConfig, seed=2)
    model.save_pretrained(tmp_path / "run" / "model")                  # a run directory: DIR/model
    from minitl.export import export_hf
    export_hf(tmp_path / "run", tmp_path / "hf")
    hf_model = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "hf").eval()
    assert type(hf_model).__name__ == "MegatronBertForMaskedLM"
    x = _ids(3)
    mask = np.ones(x.shape, bool)
    mask[1, 10:] = False                                                 # right padding
    segments = np.zeros_like(x)
    segments[:, 8:] = 1                                                  # sentence B
    with minitl.no_grad():
        ours = model(x, attention_mask=mask, token_type_ids=segments)[0].data    # (B, T, V)
    with torch.no_grad():
        theirs = hf_model(torch.from_numpy(x), attention_mask=torch.from_numpy(mask.astype(np.int64)),
                          token_type_ids=torch.from_numpy(segments)).logits.numpy()
    assert np.abs(ours).max() > 1.0
    np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)
    # the [CLS] pooler travels too: AutoModel (MegatronBertModel) has it
    base = transformers.AutoModel.from_pretrained(tmp_path / "hf").eval()
    with minitl.no_grad():
        pooled = model.pooled(x, attention_mask=mask, token_type_ids=segments).data
    with torch.no_grad():
        tp = base(torch.from_numpy(x), attention_mask=torch.from_numpy(mask.astype(np.int64)),
                  token_type_ids=torch.from_numpy(segments)).pooler_output.numpy()
    np.testing.assert_allclose(pooled, tp, atol=1e-4, rtol=0)


def test_exact_gelu_would_not_match(tmp_path, hf):
    # why the config says "gelu_new": minitl's GELU is the tanh approximation
    torch, transformers = hf
    model = _model(GPT, GPTConfig, seed=4)
    from minitl.export import export_hf
    export_hf(model, tmp_path / "hf")
    with open(tmp_path / "hf" / "config.json") as f:
        assert json.load(f)["activation_function"] == "gelu_new"
    wrong = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf", activation_function="gelu").eval()
    x = _ids(5)
    with minitl.no_grad():
        ours = model(x)[0].data
    with torch.no_grad():
        theirs = wrong(torch.from_numpy(x)).logits.numpy()
    assert np.abs(ours - theirs).max() > 1e-3


def test_export_refuses_what_has_no_transformers_counterpart(tmp_path, capsys):
    from minitl.models.keyedvectors import KeyedVectors
    KeyedVectors(["a", "b"], np.eye(2, dtype=np.float32)).save(tmp_path / "kv")
    from minitl import cli
    assert cli.main(["export", str(tmp_path / "kv"), "--format", "hf", "--out", str(tmp_path / "o")]) == 2
    assert "'keyedvectors' checkpoint" in capsys.readouterr().err
    assert cli.main(["export", str(tmp_path / "nowhere"), "--format", "hf", "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["export", str(tmp_path / "kv"), "--format", "onnx", "--out", str(tmp_path / "o")])
    assert "invalid choice: 'onnx'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
