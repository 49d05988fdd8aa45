"""Optional: one fine-tuning step of a SequenceClassifier equals the same step in PyTorch.

The twin is the benchmark's TorchBERT (same weights, same names) with the same
mean pooling and linear head; the bottom block is frozen on both sides
(``freeze_bottom:1``), so this also checks that frozen weights are left alone and
that AdamW's per-group weight decay matches torch.optim.AdamW.
"""
import importlib.util
import pathlib

import numpy as np
import pytest

import minitl
from minitl.models import BERT, BERTConfig
from minitl.transfer.classifier import SequenceClassifier
from minitl.transfer.finetune import finetune

torch = pytest.importorskip("torch", reason="PyTorch is not installed: the optional fine-tuning twin test "
                                            "is skipped (pip install torch==2.13.0 to run it)")

BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train_step.py"
spec = importlib.util.spec_from_file_location("bench_train_step", BENCH)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


class Tok:
    """Just enough of a tokenizer: a text is its list of ids (as a string of ints)."""
    pad_id, cls_id, sep_id, eot_id = 0, 2, 3, 5

    def encode_batch(self, texts, max_length=None, padding=False, add_special_tokens=True):
        seqs = [[self.cls_id] + [int(t) for t in s.split()][:max_length - 2] + [self.sep_id] for s in texts]
        return seqs, [[True] * len(s) for s in seqs]


def test_one_classifier_step_matches_pytorch():
    shape = dict(n_layer=2, n_head=2, d_model=16, block_size=12, vocab_size=50)
    minitl.manual_seed(0)
    bb = BERT(BERTConfig(**shape))
    bb.tokenizer = Tok()
    clf = SequenceClassifier(bb, 3, pool="mean", dropout=0.0)
    _, TorchBERT = bench.torch_models()
    tb = TorchBERT(**shape)
    bench.copy_weights(bb, tb)
    head = torch.nn.Linear(16, 3)
    head.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in clf.head.state_dict().items()})

    rng = np.random.default_rng(0)
    texts = [" ".join(str(t) for t in rng.integers(6, 50, rng.integers(2, 9))) for _ in range(6)]
    y = np.array([0, 1, 2, 0, 1, 2])
    finetune(clf, texts, y, strategy="freeze_bottom:1", epochs=1, batch_size=6, lr=1e-2, schedule="constant",
             class_weight="none", grad_clip=0.0, progress=False)

    # the same step in PyTorch: embeddings and block 0 frozen, AdamW with decay on matrices only
    ids, mask = (torch.from_numpy(a) for a in minitl.data.batching.pad_sequences(
        Tok().encode_batch(texts, 12)[0], 0))
    trainable = [*tb.blocks[1].parameters(), *tb.ln_f.parameters(), *head.parameters()]
    for p in tb.parameters():
        p.requires_grad_(False)
    for p in trainable:
        p.requires_grad_(True)
    x = tb.wte(ids) + tb.wpe(torch.arange(ids.shape[1])) + tb.wtt(torch.zeros_like(ids))
    for b in tb.blocks:
        x = b(x, key_padding_mask=mask)
    h = tb.ln_f(x)
    m = mask.float()[:, :, None]
    logits = head((h * m).sum(1) / m.sum(1))
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y))
    opt = torch.optim.AdamW([{"params": [p for p in trainable if p.ndim >= 2], "weight_decay": 0.01},
                             {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0}],
                            lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
    opt.zero_grad()
    loss.backward()
    opt.step()

    theirs = {**{f"backbone.{k}": v for k, v in tb.state_dict().items()},
              **{f"head.{k}": v for k, v in head.state_dict().items()}}
    for name, p in clf.named_parameters():
        np.testing.assert_allclose(p.data, theirs[name].numpy(), atol=2e-5, rtol=0, err_msg=name)
    # and the step really moved the trainable weights (an all-frozen run would also "match")
    assert not np.allclose(clf.head.weight.data, bench_initial_head(clf))


def bench_initial_head(clf):
    minitl.manual_seed(0)
    bb = BERT(clf.backbone.config)
    return SequenceClassifier(bb, 3, pool="mean", dropout=0.0).head.weight.data
