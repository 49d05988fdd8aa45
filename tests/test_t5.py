"""T5: cross-attention gradients, what the encoder and decoder may see, span corruption,
save/load, text-to-text multi-task learning with greedy decoding, the CLI."""
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import minitl
from minitl.models.t5 import T5, CrossAttention, T5Config, shift_right, span_corrupt, text_pairs_batch
from minitl.testing import grad_check

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def t5(**kw):
    minitl.manual_seed(0)
    return T5(T5Config.from_preset("nano", **kw)).eval()


def ids(shape, V=512, seed=0):
    return np.random.default_rng(seed).integers(6, V, shape)


def check_param_grads(module, loss, per_param=3, seed=1):
    """Backward of ``loss()`` vs central differences on ``per_param`` random elements of every parameter."""
    for p in module.parameters():
        p.grad = None
    loss().backward()
    rng = np.random.default_rng(seed)
    for name, p in module.named_parameters():
        for _ in range(per_param):
            i = tuple(rng.integers(0, n) for n in p.shape)
            old = p.data[i]
            p.data[i] = old + 1e-6
            hi = float(loss().data)
            p.data[i] = old - 1e-6
            lo = float(loss().data)
            p.data[i] = old
            assert np.isclose(p.grad[i], (hi - lo) / 2e-6, rtol=1e-4, atol=1e-7), (name, i, p.grad[i])


def test_cross_attention_gradient_vs_finite_differences():
    minitl.manual_seed(0)
    ca = CrossAttention(T5Config(n_layer=1, n_head=2, d_model=4, block_size=5, target_size=3)).double()
    mask = np.array([[True, True, True, False, False], [True, True, True, True, True]])
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    mem = np.random.default_rng(1).normal(size=(2, 5, 4))
    grad_check(lambda a, m: ca(a, m, mask), x, mem)                     # inputs: decoder states, memory
    w = np.random.default_rng(2).uniform(0.5, 1.5, (2, 3, 4))
    check_param_grads(ca, lambda: (ca(minitl.Tensor(x), minitl.Tensor(mem), mask) * w).sum(), per_param=6)


def test_whole_model_gradient_vs_finite_differences():
    minitl.manual_seed(1)
    m = T5(T5Config(n_layer=1, n_head=2, d_model=8, block_size=5, target_size=4, vocab_size=13)).double()
    x = np.random.default_rng(0).integers(1, 13, (2, 5))
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
    y = np.array([[3, 4, 5, -100], [6, 7, -100, -100]])
    check_param_grads(m, lambda: m(x, mask, labels=y)[1], per_param=2)


def test_decoder_is_causal_and_encoder_ignores_padding():
    m = t5()
    x, d = ids((2, 10)), ids((2, 6), seed=1)
    mask = np.ones((2, 10), bool)
    mask[:, 7:] = False
    a, _ = m(x, mask, decoder_input_ids=d)
    d2 = d.copy()
    d2[:, 3] = (d2[:, 3] + 1) % 512
    b, _ = m(x, mask, decoder_input_ids=d2)
    np.testing.assert_array_equal(a.data[:, :3], b.data[:, :3])         # the decoder's past cannot see ahead
    assert np.abs(a.data[:, 3:] - b.data[:, 3:]).max() > 1e-4
    x2 = x.copy()
    x2[:, 7:] = ids((2, 3), seed=2)                                      # change only the padding
    c, _ = m(x2, mask, decoder_input_ids=d)
    np.testing.assert_allclose(a.data, c.data, atol=1e-5)
    x3 = x.copy()
    x3[:, 6] = (x3[:, 6] + 1) % 512                                      # a real token changes every output
    e, _ = m(x3, mask, decoder_input_ids=d)
    assert np.abs(a.data - e.data).max(axis=-1).min() > 1e-6


def test_loss_ignores_minus_100_and_shift_right():
    y = np.array([[7, 8, 9, -100]])
    np.testing.assert_array_equal(shift_right(y), [[0, 7, 8, 9]])
    m = t5()
    x = ids((1, 6))
    logits, loss = m(x, labels=y)
    lp = logits.data[0, :3].astype(np.float64)
    lp = lp - np.log(np.exp(lp - lp.max(1, keepdims=True)).sum(1, keepdims=True)) - lp.max(1, keepdims=True)
    assert float(loss.data) == pytest.approx(-np.mean(lp[[0, 1, 2], [7, 8, 9]]), rel=1e-4)


@SETTINGS
@given(n=st.integers(2, 60), density=st.floats(0.05, 0.5), seed=st.integers(0, 1000))
def test_span_corruption_puts_every_token_in_exactly_one_place(n, density, seed):
    seq = np.arange(10, 10 + n)
    inp, tgt = span_corrupt(seq, 4, noise_density=density, generator=np.random.default_rng(seed))
    spans = np.split(tgt, np.flatnonzero(tgt == 4))[1:]                  # each starts with the sentinel
    assert len(spans) == (inp == 4).sum() >= 1
    rebuilt = []
    for tok in inp:                                                       # each sentinel -> its span
        rebuilt.extend(spans.pop(0)[1:] if tok == 4 else [tok])
    np.testing.assert_array_equal(rebuilt, seq)
    noise = (tgt != 4).sum()
    assert 1 <= noise <= n - 1 and noise == int(np.clip(round(n * density), 1, n - 1))


@pytest.fixture(scope="module")
def tok():
    from minitl.text import BPETokenizer
    text = ["what a lovely happy day", "i love this great movie", "awful sad terrible news",
            "i hate this bad weather", "the cat sat on the mat", "positive negative"] * 5
    return BPETokenizer.train(text, vocab_size=300)


def test_save_load_roundtrip(tmp_path, tok):
    m = t5(vocab_size=tok.vocab_size)
    m.save_pretrained(tmp_path / "t5", tokenizer=tok)
    back = T5.from_pretrained(str(tmp_path / "t5"))
    assert back.config == m.config and back.config.target_size == 16
    x = ids((2, 6), V=tok.vocab_size)
    np.testing.assert_array_equal(back(x, labels=ids((2, 3), V=tok.vocab_size))[0].data,
                                  m(x, labels=ids((2, 3), V=tok.vocab_size))[0].data)
    np.testing.assert_array_equal(back.features(x), m.features(x))


def test_text_to_text_multitask_learns_both_prefixes(tok):
    from minitl.optim import AdamW
    pairs = [("sentiment: what a lovely happy day", "positive"), ("sentiment: i love this great movie", "positive"),
             ("sentiment: awful sad terrible news", "negative"), ("sentiment: i hate this bad weather", "negative"),
             ("copy: the cat", "the cat"), ("copy: sad day", "sad day"), ("copy: great news", "great news")]
    m = t5(vocab_size=tok.vocab_size, d_model=32, block_size=16, target_size=8).train()
    opt = AdamW(m.parameters(), lr=3e-3)
    x, mask, y = text_pairs_batch(tok, [p for p, _ in pairs], [t for _, t in pairs], m.config)
    for _ in range(200):
        m.zero_grad()
        m(x, mask, labels=y)[1].backward()
        opt.step()
    assert m.generate_text([p for p, _ in pairs], tokenizer=tok) == [t for _, t in pairs]


def test_bad_lengths_are_named():
    m = t5()
    with pytest.raises(ValueError, match="input length 40 > block_size 32"):
        m.hidden(ids((1, 40)))
    with pytest.raises(ValueError, match="decoder length 17 > target_size 16"):
        m(ids((1, 5)), decoder_input_ids=ids((1, 17)))


@pytest.mark.network
def test_cli_pretrain_evaluate_finetune(tmp_path, capsys):
    from minitl.cli import main
    out = str(tmp_path / "t5")
    assert main(["pretrain", "t5", "--corpus", "news", "--preset", "nano", "--vocab-size", "400",
                 "--eval-every", "10", "--steps", "10", "--out", out]) == 0
    capsys.readouterr()
    assert main(["t5", "evaluate", out, "--corpus", "news"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= res["content_accuracy"] <= res["span_accuracy"] <= 1
    with pytest.raises(SystemExit, match="holds a T5 model; this command needs ELMo"):
        main(["elmo", "evaluate", out])
    capsys.readouterr()
    assert main(["t5", "finetune", out, "--labels", "16", "--epochs", "1", "--multitask"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["steps"] == 2 and 0 <= res["invalid_outputs"] <= 1 and 0 <= res["cloze_accuracy"] <= 1
    assert 0 <= res["balanced_accuracy"] <= 1
