"""Optional: the same weights give the same logits and gradients in minitl and PyTorch.

The PyTorch twins are the ones ``benchmarks/bench_train_step.py`` times, so this
also checks that the benchmark compares like with like.  Skipped, with the
reason printed, when torch is not installed (it is not a minitl requirement).
"""
import importlib.util
import pathlib

import numpy as np
import pytest

import minitl
from minitl.models import BERT, BERTConfig, GPT, GPTConfig

torch = pytest.importorskip("torch", reason="PyTorch is not installed: the optional minitl-vs-PyTorch "
                                            "equivalence test is skipped (pip install torch to run it)")

BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train_step.py"
spec = importlib.util.spec_from_file_location("bench_train_step", BENCH)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

SHAPE = dict(n_layer=2, n_head=4, d_model=32, block_size=16, vocab_size=97)


def compare(model, tmodel, run_minitl, run_torch):
    bench.copy_weights(model, tmodel)
    logits, loss = run_minitl(model)
    loss.backward()
    tlogits, tloss = run_torch(tmodel)
    tloss.backward()
    np.testing.assert_allclose(logits.data, tlogits.detach().numpy(), atol=1e-4, rtol=0)
    assert abs(float(loss.data) - float(tloss.detach())) < 1e-4
    tgrads = {n: p.grad for n, p in tmodel.named_parameters()}
    for name, p in model.named_parameters():
        if p.grad is None:
            assert tgrads[name] is None, name
            continue
        np.testing.assert_allclose(p.grad, tgrads[name].numpy(), atol=1e-4, rtol=0, err_msg=name)


def test_gpt_matches_pytorch():
    minitl.manual_seed(0)
    model = GPT(GPTConfig(**SHAPE))
    TorchGPT, _ = bench.torch_models()
    x = np.random.default_rng(0).integers(0, 97, (3, 16))
    y = np.random.default_rng(1).integers(0, 97, (3, 16))
    compare(model, TorchGPT(**SHAPE), lambda m: m(x, y),
            lambda m: m(torch.from_numpy(x), torch.from_numpy(y)))


def test_bert_matches_pytorch_with_padding_and_masked_positions():
    minitl.manual_seed(0)
    model = BERT(BERTConfig(**SHAPE))
    _, TorchBERT = bench.torch_models()
    rng = np.random.default_rng(0)
    x = rng.integers(6, 97, (3, 16))
    mask = np.ones((3, 16), bool)
    mask[1, 11:] = False
    labels = np.where((rng.random((3, 16)) < 0.25) & mask, x, -100)
    labels[0, 1] = x[0, 1]
    compare(model, TorchBERT(**SHAPE), lambda m: m(x, mask, mlm_labels=labels),
            lambda m: m(torch.from_numpy(x), torch.from_numpy(mask), mlm_labels=torch.from_numpy(labels)))


def test_the_benchmark_times_pytorch_in_its_own_process_from_the_same_weights(tmp_path):
    # bench_train_step's --torch-child: the twin is built in a fresh process (without minitl's process
    # settings) from an .npz of the minitl model's weights, and its first step gives minitl's loss
    import argparse
    minitl.manual_seed(0)
    model, step = bench.minitl_side("bert")
    weights = str(tmp_path / "w.npz")
    np.savez(weights, **{k: np.asarray(v) for k, v in model.state_dict().items()})
    args = argparse.Namespace(threads=1, cpu_time=True, peer_env=[])
    peer, first = bench.start_peer("bert", weights, False, args)
    try:
        assert abs(first["loss"] - step()) < 1e-3, first
        assert peer.ask({"steps": 2})["seconds"] > 0
    finally:
        peer.close()
    assert peer.proc.returncode == 0
