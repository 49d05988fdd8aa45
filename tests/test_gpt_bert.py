"""Tiny GPT and BERT: masks, heads, save/load, inspection, sampling, kernel-path agreement."""
import re

import numpy as np
import pytest

import minitl
from minitl import checkpoint
from minitl import config as mconfig
from minitl.models import BERT, BERTConfig, GPT, GPTConfig
from minitl.models.gpt import sample
from minitl.optim import AdamW
from minitl.text import BPETokenizer

SENTENCES = ["the cat sat on the mat", "the dog sat on the rug", "a cat and a dog",
             "the quick brown fox jumps over the lazy dog"] * 5


@pytest.fixture(scope="module")
def tok():
    return BPETokenizer.train(SENTENCES, vocab_size=300)


def gpt(**kw):
    minitl.manual_seed(0)
    return GPT(GPTConfig.from_preset("nano", **kw))


def bert(**kw):
    minitl.manual_seed(0)
    return BERT(BERTConfig.from_preset("nano", **kw))


def ids(shape, V=512, seed=0):
    return np.random.default_rng(seed).integers(6, V, shape)


def test_gpt_is_causal():
    m = gpt().eval()
    x = ids((2, 12))
    y = x.copy()
    y[:, 7] = (y[:, 7] + 1) % 512
    a, _ = m(x)
    b, _ = m(y)
    np.testing.assert_array_equal(a.data[:, :7], b.data[:, :7])       # the past cannot see the future
    assert np.abs(a.data[:, 7:] - b.data[:, 7:]).max() > 1e-4         # the present and future do


def test_bert_ignores_padding_but_sees_both_directions():
    m = bert().eval()
    x = ids((2, 10))
    mask = np.ones((2, 10), bool)
    mask[:, 6:] = False
    y = x.copy()
    y[:, 6:] = ids((2, 4), seed=1)                                     # change only the padding
    ha = m.hidden(x, mask).data
    hb = m.hidden(y, mask).data
    np.testing.assert_allclose(ha[:, :6], hb[:, :6], atol=1e-6)
    z = x.copy()
    z[:, 5] = (z[:, 5] + 1) % 512                                      # change a real token late...
    assert np.abs(m.hidden(z, mask).data[:, 0] - ha[:, 0]).max() > 1e-4  # ...position 0 sees it


def test_mlm_logits_only_at_masked_positions_and_loss():
    m = bert().eval()
    x = ids((2, 10))
    labels = np.full((2, 10), -100)
    labels[0, 3], labels[1, 7], labels[1, 8] = 11, 22, 33
    logits, loss = m(x, mlm_labels=labels)
    full, none = m(x)
    assert none is None and logits.shape == (3, 512) and full.shape == (2, 10, 512)
    np.testing.assert_allclose(logits.data, full.data[[0, 1, 1], [3, 7, 8]], rtol=1e-5, atol=1e-5)
    z = logits.data.astype(np.float64)
    logp = z - z.max(1, keepdims=True) - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True))
    assert float(loss.data) == pytest.approx(-logp[[0, 1, 2], [11, 22, 33]].mean(), rel=1e-5)


@pytest.mark.parametrize("make", [gpt, bert])
def test_initial_loss_is_near_uniform(make):
    m = make()
    x, y = ids((4, 16)), ids((4, 16), seed=1)   # targets unrelated to inputs (tying favours copying)
    _, loss = m(x, y) if isinstance(m, GPT) else m(x, mlm_labels=y)
    assert abs(float(loss.data) - np.log(512)) < 0.15                  # small init: near-uniform guesses


def test_parameter_counts_match_the_architecture():
    V, T, C, L = 512, 32, 32, 2
    block = 2 * 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C)
    gpt_n = V * C + T * C + L * block + 2 * C                          # output layer tied: no V*C again
    assert gpt().num_parameters() == gpt_n
    bert_n = gpt_n + 2 * C + (C * C + C) + 2 * C + V + (C * C + C)     # segments, MLM head, bias, pooler
    assert bert().num_parameters() == bert_n


def test_summary_lists_layers_with_shapes(capsys):
    text = gpt().summary(T=8)
    assert "blocks.0.mlp.fc" in text and "(8, 128)" in text          # Linear layers see (B*T, C)
    assert "blocks.1.attn.qkv" in text and "(8, 96)" in text
    assert re.search(r"blocks\.1 +Block +[0-9,]+  \(1, 8, 32\)", text)
    assert f"total: {gpt().num_parameters():,}" in text


def test_save_and_load_pretrained(tmp_path, tok):
    m = bert(vocab_size=tok.vocab_size)
    m.save_pretrained(tmp_path / "b", tokenizer=tok)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [
        "config.json", "meta.json", "model.safetensors", "tokenizer.json"]
    m2 = BERT.from_pretrained(tmp_path / "b")
    x = ids((2, 8), V=tok.vocab_size)
    np.testing.assert_array_equal(m.eval()(x)[0].data, m2(x)[0].data)
    assert m2.tokenizer.encode("the cat") == tok.encode("the cat")
    assert m2.config == m.config


def test_from_pretrained_names_missing_keys_and_shapes(tmp_path):
    m = gpt()
    sd = m.state_dict()
    del sd["blocks.1.ln_2.bias"]
    checkpoint.save_dir(tmp_path / "missing", sd, m.config.to_dict())
    with pytest.raises(ValueError, match=r"missing key blocks\.1\.ln_2\.bias"):
        GPT.from_pretrained(tmp_path / "missing")
    sd = m.state_dict()
    sd["ln_f.weight"] = np.ones(31, np.float32)
    checkpoint.save_dir(tmp_path / "shape", sd, m.config.to_dict())
    with pytest.raises(ValueError, match=r"ln_f\.weight: model expects \(32,\), file has \(31,\)"):
        GPT.from_pretrained(tmp_path / "shape")
    sd = {**m.state_dict(), "head.weight": np.zeros((2, 32), np.float32)}
    checkpoint.save_dir(tmp_path / "extra", sd, m.config.to_dict())
    with pytest.raises(ValueError, match=r"unexpected key head\.weight"):
        GPT.from_pretrained(tmp_path / "extra")


def test_trace_captures_attention_and_norms():
    m = gpt()
    x = ids((2, 6))
    with m.trace() as tr:
        _, loss = m(x, x)
        loss.backward()
    assert len(tr.attention) == 2 and tr.attention[0].shape == (2, 2, 6, 6)
    np.testing.assert_allclose(tr.attention[1].sum(-1), 1.0, rtol=1e-5)
    assert np.all(np.triu(tr.attention[0][0, 0], k=1) == 0)           # causal: nothing above the diagonal
    assert all(n > 0 for n in tr.activation_norms)
    g = tr.grad_norms()
    assert list(g) == ["embeddings", "blocks.0", "blocks.1", "head"] and all(v > 0 for v in g.values())
    m(x)                                                               # outside trace: nothing recorded anew
    assert m.blocks[0].attn.record is False


def test_freeze_to_trains_only_the_top():
    m = bert()
    m.freeze_to(-1)                                                    # head only
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("ln_f", "mlm_", "pooler")) for n in trainable)
    m.freeze_to(2)                                                     # embeddings and block 0 frozen
    assert not m.wte.weight.requires_grad and not m.blocks[0].ln_1.weight.requires_grad
    assert m.blocks[1].attn.qkv.weight.requires_grad
    x = ids((2, 8))
    _, loss = m(x, mlm_labels=x)
    loss.backward()
    assert m.blocks[0].mlp.fc.weight.grad is None and m.blocks[1].mlp.fc.weight.grad is not None


def test_features_are_mean_pooled_over_real_tokens():
    m = bert().eval()
    x = ids((2, 8))
    mask = np.ones((2, 8), bool)
    mask[1, 5:] = False
    f = m.features(x, mask).data
    h = m.hidden(x, mask).data
    np.testing.assert_allclose(f[1], h[1, :5].mean(0), rtol=1e-5, atol=1e-6)
    assert f.shape == (2, 32)


def test_sample_respects_top_k_and_temperature():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    minitl.manual_seed(0)
    draws = np.array([sample(logits, 1.0, top_k=2)[0] for _ in range(2000)])
    assert set(draws) == {0, 1}
    assert abs((draws == 0).mean() - 0.5 / 0.8) < 0.04                 # renormalised over the top 2
    assert sample(logits, 0.0)[0] == 0


def test_generate_is_seeded_and_learns_a_pattern():
    m = gpt(vocab_size=16)
    x = np.tile(np.arange(12) % 4, (8, 1))                             # 0 1 2 3 0 1 2 3 ...
    opt = AdamW(m.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        _, loss = m(x[:, :-1], x[:, 1:])
        loss.backward()
        opt.step()
    assert m.generate(np.array([[0, 1]]), 6, temperature=0).tolist() == [[0, 1, 2, 3, 0, 1, 2, 3]]
    minitl.manual_seed(5)
    a = m.generate(np.array([[3]]), 10, temperature=3.0)
    minitl.manual_seed(5)
    assert m.generate(np.array([[3]]), 10, temperature=3.0).tolist() == a.tolist()


def test_fill_mask_returns_ranked_probabilities(tok):
    m = bert(vocab_size=tok.vocab_size)
    m.tokenizer = tok
    out = m.fill_mask("the cat sat on the [MASK]", top_k=5)
    probs = [p for _, p in out]
    assert len(out) == 5 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    two = m.fill_mask("the [MASK] sat on the [MASK]", top_k=3)
    assert len(two) == 2 and all(len(r) == 3 for r in two)
    with pytest.raises(ValueError, match="no \\[MASK\\]"):
        m.fill_mask("no blank here")


def _grads(model, run):
    model.zero_grad()
    logits, loss = run(model)
    loss.backward()
    return logits.data.copy(), {n: p.grad.copy() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("make", [gpt, bert])
@pytest.mark.parametrize("switch", ["reference", "composed"])
def test_kernel_path_agrees_with_reference_path(make, switch):
    m = make()
    x = ids((3, 16))
    mask = np.ones((3, 16), bool)
    mask[2, 10:] = False
    labels = np.where(np.random.default_rng(3).random((3, 16)) < 0.3, x, -100)
    labels[0, 0] = x[0, 0]

    def run(model):
        return model(x, x) if isinstance(model, GPT) else model(x, mask, mlm_labels=labels)
    fast_logits, fast = _grads(m, run)
    ctx = mconfig.backend("reference") if switch == "reference" else mconfig.fused(False)
    with ctx:
        ref_logits, ref = _grads(m, run)
    np.testing.assert_allclose(fast_logits, ref_logits, rtol=1e-4, atol=1e-5)
    for name in ref:
        np.testing.assert_allclose(fast[name], ref[name], rtol=1e-3, atol=1e-6, err_msg=name)


def test_plot_attention_writes_a_png(tmp_path, tok):
    from minitl.viz.attention import attention_maps, plot_attention
    m = bert(vocab_size=tok.vocab_size)
    m.tokenizer = tok
    labels, maps = attention_maps(m, "the cat sat")
    assert labels[0] == "[CLS]" and labels[-1] == "[SEP]" and len(maps) == 2
    assert maps[0].shape == (2, len(labels), len(labels))
    path = plot_attention(m, "the cat sat", layer=-1, path=str(tmp_path / "a.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_perplexity_is_over_consecutive_windows_and_every_later_token_once():
    from minitl.models.gpt import evaluate_lm
    m = gpt(block_size=8).eval()
    stream = ids((1, 3 * 8 + 1 + 5))[0]                     # 3 windows of 8 (+1) and 5 left over
    total, count = evaluate_lm(m, stream, batch_size=2)
    assert count == 3 * 8                                   # the 5 leftover tokens are never targets
    want = 0.0
    for s in (0, 8, 16):                                    # by hand: window s..s+7 predicts s+1..s+8
        logits, _ = m(stream[None, s:s + 8])
        z = logits.data[0].astype(np.float64)               # (8, V)
        top = z.max(1, keepdims=True)
        logp = z - top - np.log(np.exp(z - top).sum(1, keepdims=True))
        want -= logp[np.arange(8), stream[s + 1:s + 9]].sum()
    assert total == pytest.approx(want, rel=1e-5)
    assert m.perplexity(stream, batch_size=3) == pytest.approx(np.exp(want / 24), rel=1e-5)
    with pytest.raises(ValueError, match="fewer than one window of 9"):
        evaluate_lm(m, stream[:8])


def test_texts_are_wrapped_as_in_pretraining_in_one_place(tok):
    from minitl.transfer.classifier import SequenceClassifier
    texts = ["the cat sat", "", "a dog and a cat and a dog and a cat and a dog and the mat"]
    g, b = gpt(vocab_size=tok.vocab_size, block_size=8), bert(vocab_size=tok.vocab_size, block_size=8)
    g.tokenizer = b.tokenizer = tok
    gs, bs = g.encode(texts), b.encode(texts)
    assert gs[0] == [tok.eot_id] + tok.encode("the cat sat") and gs[1] == [tok.eot_id]   # GPT: <|endoftext|> text
    assert bs[0] == [tok.cls_id] + tok.encode("the cat sat") + [tok.sep_id]             # BERT: [CLS] text [SEP]
    assert bs[1] == [tok.cls_id, tok.sep_id] and max(map(len, gs + bs)) == 8             # truncated to block_size
    # the frozen features (probes) and the classifier see the very same ids
    for m in (g, b):
        assert SequenceClassifier(m, 2).encode(texts) == m.encode(texts)
        ids = np.zeros((1, 8), np.int64)
        seq = m.encode(texts[:1])[0]
        ids[0, :len(seq)] = seq
        mask = ids != tok.pad_id
        np.testing.assert_allclose(m.encode_texts(texts[:1]), m.eval().features(ids, mask).data, rtol=1e-6)
