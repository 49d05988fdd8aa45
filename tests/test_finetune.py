"""Fine-tuning: layer groups from modules, each strategy's frozen weights, exact resume, save/load."""
import os

import numpy as np
import pytest

import minitl
from minitl.models import BERT, BERTConfig, GPT, GPTConfig
from minitl.text import BPETokenizer
from minitl.transfer.classifier import SequenceClassifier
from minitl.transfer.finetune import FinetuneConfig, evaluate, finetune
from minitl.transfer.strategies import param_groups, parse_strategy

POS = ["good great fun", "great film fun", "fun good day", "a good good day", "great great fun"]
NEG = ["bad awful dull", "awful day bad", "dull bad film", "a bad bad day", "awful awful dull"]


@pytest.fixture(scope="module")
def tok():
    return BPETokenizer.train([" ".join(POS + NEG) * 10, "the cat sat on the mat " * 10], vocab_size=300)


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    texts = [(POS if c else NEG)[rng.integers(0, 5)] for c in y]
    return texts, y


def make(tok, kind="gpt", n_layer=3, pool="mean", seed=0):
    minitl.manual_seed(seed)
    Model, Config = (GPT, GPTConfig) if kind == "gpt" else (BERT, BERTConfig)
    bb = Model(Config(n_layer=n_layer, n_head=2, d_model=16, block_size=16, vocab_size=tok.vocab_size))
    bb.tokenizer = tok
    return SequenceClassifier(bb, 2, pool=pool, dropout=0.0, label_names=["neg", "pos"])


def snapshot(model):
    return {n: p.data.copy() for n, p in model.named_parameters()}


def test_groups_come_from_modules_not_names(tok):
    clf = make(tok, "bert", n_layer=3)
    names = [n for n, _ in clf.layer_groups()]
    assert names == ["embeddings", "blocks.0", "blocks.1", "blocks.2", "head"]      # L + 2
    groups = dict(clf.layer_groups())
    assert {id(p) for p in groups["embeddings"]} == {id(clf.backbone.wte.weight), id(clf.backbone.wpe.weight),
                                                     id(clf.backbone.wtt.weight)}
    assert id(clf.head.weight) in {id(p) for p in groups["head"]}
    assert id(clf.backbone.ln_f.weight) in {id(p) for p in groups["head"]}
    # BERT's MLM head and its never-trained pooler are in no group and never train
    unused = {id(p) for p in clf.unused_parameters()}
    assert id(clf.backbone.pooler.weight) in unused and id(clf.backbone.mlm_bias) in unused
    clf.unfreeze()
    assert not clf.backbone.pooler.weight.requires_grad and clf.backbone.wte.weight.requires_grad


@pytest.mark.parametrize("strategy, trained", [
    ("light", ["blocks.2", "head"]),
    ("freeze_bottom:1", ["blocks.1", "blocks.2", "head"]),
    ("full", ["embeddings", "blocks.0", "blocks.1", "blocks.2", "head"]),
])
def test_frozen_weights_stay_byte_identical_and_get_no_gradient(tok, strategy, trained):
    clf = make(tok, "gpt")
    before = snapshot(clf)
    texts, y = data(16)
    seen_grads = {}

    res = finetune(clf, texts, y, FinetuneConfig(strategy=strategy, epochs=1, batch_size=8, lr=1e-2,
                                                 progress=False))
    assert res.steps == 2
    groups = dict(clf.layer_groups())
    for name, params in groups.items():
        for p in params:
            n = next(k for k, q in clf.named_parameters() if q is p)
            changed = not np.array_equal(before[n], p.data)
            assert changed == (name in trained), (strategy, name, n)
            if name not in trained:
                assert p.grad is None                        # no gradient work for a frozen weight
            seen_grads[name] = p.grad is not None
    assert [g for g in groups if seen_grads[g]] == trained


def test_gradual_unfreezes_one_group_per_epoch_from_the_top(tok):
    s = parse_strategy("gradual")
    assert [s.frozen_groups(5, e) for e in range(6)] == [4, 3, 2, 1, 0, 0]
    clf = make(tok, "gpt", n_layer=3)
    before = snapshot(clf)
    texts, y = data(8)
    finetune(clf, texts, y, strategy="gradual", epochs=2, batch_size=8, lr=1e-2, progress=False)
    # after 2 epochs only the head and the top block have ever trained
    assert np.array_equal(before["backbone.blocks.1.mlp.fc.weight"], clf.backbone.blocks[1].mlp.fc.weight.data)
    assert not np.array_equal(before["backbone.blocks.2.mlp.fc.weight"], clf.backbone.blocks[2].mlp.fc.weight.data)


def test_discriminative_rates_fall_by_the_factor_per_group(tok):
    clf = make(tok, "gpt", n_layer=3)
    groups = param_groups(clf, lr=1.0, discriminative=2.0)
    lr = {g["name"]: g["lr"] for g in groups}
    assert lr == {"embeddings": 1 / 16, "blocks.0": 1 / 8, "blocks.1": 1 / 4, "blocks.2": 1 / 2, "head": 1.0}
    assert all(g["weight_decay"] == 0 for g in groups if all(p.ndim < 2 for p in g["params"]))


def test_bad_strategy_and_labels_are_named(tok):
    with pytest.raises(ValueError, match="unknown strategy 'half'"):
        parse_strategy("half")
    clf = make(tok)
    with pytest.raises(ValueError, match=r"freeze_bottom:9.*3 blocks"):
        finetune(clf, *data(8), strategy="freeze_bottom:9", epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"class ids \[2\]"):
        finetune(clf, ["a", "b"], np.array([0, 2]), epochs=1, progress=False)


def test_finetuning_learns_and_features_probe_works(tok):
    texts, y = data(40)
    test_texts, test_y = data(40, seed=1)
    for kind, strategy in (("gpt", "full"), ("bert", "full"), ("gpt", "features")):
        clf = make(tok, kind, n_layer=2)
        finetune(clf, texts, y, strategy=strategy, epochs=15, batch_size=8, lr=3e-3, progress=False)
        rep = evaluate(clf, test_texts, test_y)
        assert rep["balanced_accuracy"] > 0.9, (kind, strategy, rep)


def test_resume_mid_epoch_is_exact(tok, tmp_path):
    texts, y = data(24)
    cfg = FinetuneConfig(strategy="gradual", epochs=3, batch_size=8, lr=1e-2, discriminative=2.6,
                         schedule="stlr", progress=False)
    full = make(tok)
    finetune(full, texts, y, cfg)

    out = str(tmp_path / "ft")
    part = make(tok)
    from minitl.data.batching import ClassificationBatches
    orig = ClassificationBatches.get_batch

    def stop_at_4(self, step):                      # Ctrl-C in epoch 1 (3 batches per epoch)
        if step == 4:
            raise KeyboardInterrupt
        return orig(self, step)
    ClassificationBatches.get_batch = stop_at_4
    try:
        finetune(part, texts, y, cfg, out_dir=out)
    finally:
        ClassificationBatches.get_batch = orig
    resumed = make(tok, seed=5)                     # other initial weights: the checkpoint must replace them
    minitl.manual_seed(99)
    res = finetune(resumed, texts, y, cfg, out_dir=out, resume=True)
    assert res.steps == 9
    a, b = snapshot(full), snapshot(resumed)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], v) for k, v in snapshot(part).items())


def test_save_and_load_round_trip(tok, tmp_path):
    clf = make(tok, "bert", pool="cls")
    texts, y = data(16)
    finetune(clf, texts, y, epochs=1, batch_size=8, progress=False)
    path = str(tmp_path / "clf")
    clf.save_pretrained(path, meta={"recipe": {"strategy": "full"}})
    back = SequenceClassifier.from_pretrained(path)
    assert back.config.label_names == ["neg", "pos"] and back.config.pool == "cls"
    np.testing.assert_array_equal(back.predict_proba(texts), clf.predict_proba(texts))
    assert os.path.exists(os.path.join(path, "tokenizer.json"))
    with pytest.raises(ValueError, match="not a SequenceClassifier"):
        clf.backbone.save_pretrained(str(tmp_path / "bb"))
        SequenceClassifier.from_pretrained(str(tmp_path / "bb"))


def test_deep_preset_runs_option_b_as_the_notes_write_it():
    cfg = GPTConfig.from_preset("deep", vocab_size=300)
    assert cfg.n_layer == 12
    clf = SequenceClassifier(GPT(cfg), 2)
    parse_strategy("freeze_bottom:10").apply(clf)
    trained = [n for n, ps in clf.layer_groups() if all(p.requires_grad for p in ps)]
    assert trained == ["blocks.10", "blocks.11", "head"]      # layers 11-12 (1-based) + the new head


def test_features_strategy_leaves_the_backbone_byte_identical(tok):
    clf = make(tok, "bert")
    before = snapshot(clf)
    texts, y = data(20)
    res = finetune(clf, texts, y, strategy="features", progress=False)
    after = snapshot(clf)
    assert all(np.array_equal(before[k], after[k]) for k in before if k.startswith("backbone."))
    assert not np.array_equal(before["head.weight"], after["head.weight"])
    assert res.trainable_params == clf.head.weight.size + clf.head.bias.size + 2 * 16   # head + final LN
    assert res.steps == 0 and clf.backbone.wte.weight.grad is None          # no backprop at all


def test_pretrain_init_continues_a_checkpoint_on_another_corpus(tmp_path):
    from minitl.pretrain import PretrainConfig, pretrain
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("\n".join(POS + NEG) * 20 + "\n")
    second.write_text("\n".join(f"the cat sat on mat {i}" for i in range(200)) + "\n")
    base = pretrain(PretrainConfig("gpt", corpus=str(first), preset="nano", vocab_size=300, steps=3, warmup=1,
                                   eval_every=0, ckpt_every=0, progress=False), str(tmp_path / "run1"))
    cont = pretrain(PretrainConfig("gpt", corpus=str(second), init=base["model_dir"], steps=2, warmup=1,
                                   lr=1e-9, eval_every=0, ckpt_every=0, progress=False), str(tmp_path / "run2"))
    assert cont["tokenizer"].merges == base["tokenizer"].merges          # the checkpoint's own tokenizer
    a, b = base["model"].state_dict(), cont["model"].state_dict()
    assert all(np.allclose(a[k], b[k], atol=1e-6) for k in a)             # started from its weights (lr ~0)
    with pytest.raises(ValueError, match="init .* holds a GPT"):
        pretrain(PretrainConfig("bert", corpus=str(second), init=base["model_dir"], steps=1, progress=False),
                 str(tmp_path / "run3"))
