"""ELMo: the LSTM op (gradients, kernel vs twin, fused vs composed, vs torch), the biLM's
directions and padding, the scalar mix, save/load, the "bank" demonstration, the CLI."""
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import minitl
from minitl import config
from minitl.kernels import lstm as K, reference_lstm as R
from minitl.models.elmo import ELMo, ELMoConfig, contextual_similarity, evaluate_bilm
from minitl.ops import lstm as L
from minitl.tensor import Tensor
from minitl.testing import grad_check

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
SENTENCES = ["I sat on the river bank and watched the water.", "The bank raised its interest rates again.",
             "the cat sat on the mat", "the dog sat on the rug by the river", "money in the bank",
             "the quick brown fox jumps over the lazy dog"] * 4


def _lstm_inputs(B=3, T=4, I=3, H=2, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(B, T, I)), 0.6 * rng.normal(size=(4 * H, I)),
            0.6 * rng.normal(size=(4 * H, H)), 0.6 * rng.normal(size=4 * H))


# -- the op ----------------------------------------------------------------------
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("path", ["numba", "reference", "composed"])
def test_lstm_gradient_vs_finite_differences(path, reverse):
    lengths = np.array([4, 2, 0])                          # full, padded, empty
    fused = path != "composed"
    with config.backend("numba" if path == "composed" else path), config.fused(fused):
        out = L.lstm(*[Tensor(a) for a in _lstm_inputs()], lengths=lengths, reverse=reverse)
        assert out._op == ("FusedLSTM" if fused else "Mul")
        grad_check(lambda *a: L.lstm(*a, lengths=lengths, reverse=reverse), *_lstm_inputs())


@pytest.mark.parametrize("reverse", [False, True])
def test_fused_matches_composed(reverse):
    a = [Tensor(x) for x in _lstm_inputs(B=4, T=5, seed=1)]
    lengths = np.array([5, 1, 3, 0])
    fused = L.lstm(*a, lengths=lengths, reverse=reverse)
    with config.fused(False):
        composed = L.lstm(*a, lengths=lengths, reverse=reverse)
    np.testing.assert_allclose(fused.data, composed.data, rtol=1e-12, atol=1e-12)
    assert np.all(fused.data[1, 1:] == 0) and np.all(fused.data[3] == 0)       # padding gives zeros


@SETTINGS
@given(B=st.integers(1, 5), T=st.integers(1, 7), H=st.integers(1, 9), reverse=st.booleans(),
       f32=st.booleans(), seed=st.integers(0, 2 ** 16), data=st.data())
def test_kernel_matches_twin(B, T, H, reverse, f32, seed, data):
    rng = np.random.default_rng(seed)
    dt = np.float32 if f32 else np.float64
    xg = (2 * rng.normal(size=(B, T, 4 * H))).astype(dt)
    w = rng.normal(size=(4 * H, H)).astype(dt)
    lengths = np.array(data.draw(st.lists(st.integers(0, T), min_size=B, max_size=B)))
    dh = rng.normal(size=(B, T, H)).astype(dt)
    got, want = K.lstm_fwd(xg, w, lengths, reverse), R.lstm_fwd_ref(xg, w, lengths, reverse)
    tol = dict(rtol=2e-5, atol=2e-5) if f32 else dict(rtol=1e-10, atol=1e-12)
    for name, g_, w_ in zip(("h", "c", "gates"), got, want):
        assert g_.dtype == dt
        np.testing.assert_allclose(g_, w_, err_msg=name, **tol)
    gk = K.lstm_bwd(dh, w, *got, lengths, reverse)
    gr = R.lstm_bwd_ref(dh, w, *want, lengths, reverse)
    tol = dict(rtol=1e-4, atol=1e-4 * max(1, T)) if f32 else dict(rtol=1e-9, atol=1e-10)
    for name, g_, w_ in zip(("dxg", "dw_hh"), gk, gr):
        np.testing.assert_allclose(g_, w_, err_msg=name, **tol)


@pytest.mark.parametrize("H", [16, 32])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_tiled_kernel_matches_twin(H, dt):
    # widths that take the register-tile path (G and H multiples of the tile's columns), with a
    # partial last tile of rows and rows of every length, both directions
    assert (4 * H) % K.tile_columns(dt) == 0
    rng = np.random.default_rng(H)
    B, T = 11, 6
    xg, w = rng.normal(size=(B, T, 4 * H)).astype(dt), (0.3 * rng.normal(size=(4 * H, H))).astype(dt)
    dh = rng.normal(size=(B, T, H)).astype(dt)
    lengths = np.arange(B) % (T + 1)
    tol = dict(rtol=1e-4, atol=1e-5) if dt == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for reverse in (False, True):
        got, want = K.lstm_fwd(xg, w, lengths, reverse), R.lstm_fwd_ref(xg, w, lengths, reverse)
        for g_, w_ in zip(got, want):
            np.testing.assert_allclose(g_, w_, **tol)
        for g_, w_ in zip(K.lstm_bwd(dh, w, *got, lengths, reverse), R.lstm_bwd_ref(dh, w, *want, lengths, reverse)):
            np.testing.assert_allclose(g_, w_, **tol)


def test_lstm_matches_torch():
    torch = pytest.importorskip("torch")
    x, wi, wh, b = _lstm_inputs(B=2, T=5, I=3, H=4, seed=2)
    m = torch.nn.LSTM(3, 4, batch_first=True).double()
    with torch.no_grad():
        for p, v in ((m.weight_ih_l0, wi), (m.weight_hh_l0, wh), (m.bias_ih_l0, b)):
            p.copy_(torch.from_numpy(v))
        m.bias_hh_l0.zero_()
    xt = torch.from_numpy(x).requires_grad_(True)
    ht, _ = m(xt)
    ht.sum().backward()
    ts = [Tensor(a, requires_grad=True) for a in (x, wi, wh, b)]
    h = L.lstm(*ts)
    h.backward(np.ones(h.shape))
    np.testing.assert_allclose(h.data, ht.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(ts[0].grad, xt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(ts[2].grad, m.weight_hh_l0.grad.numpy(), atol=1e-12)


def test_lstm_bad_input_names_the_shapes():
    x, wi, wh, b = _lstm_inputs()
    with pytest.raises(ValueError, match=r"w_hh \(8, 3\)"):
        L.lstm(Tensor(x), Tensor(wi), Tensor(np.zeros((8, 3))), Tensor(b))
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, T=4\], got 0..5"):
        L.lstm(Tensor(x), Tensor(wi), Tensor(wh), Tensor(b), lengths=np.array([5, 0, 1]))


# -- the model -------------------------------------------------------------------
def elmo(**kw):
    minitl.manual_seed(0)
    return ELMo(ELMoConfig.from_preset("nano", **kw)).eval()


def ids(shape, V=512, seed=0):
    return np.random.default_rng(seed).integers(6, V, shape)


def test_each_direction_sees_only_its_side():
    m = elmo()
    x = ids((2, 12))
    y = x.copy()
    y[:, 6] = (y[:, 6] + 1) % 512
    H = m.config.hidden_size
    a, b = m.layers(x)[-1].data, m.layers(y)[-1].data                        # (B, T, C)
    np.testing.assert_array_equal(a[:, :6, :H], b[:, :6, :H])                 # forward LM: the past only
    np.testing.assert_array_equal(a[:, 7:, H:], b[:, 7:, H:])                 # backward LM: the future only
    assert np.abs(a[:, 6:, :H] - b[:, 6:, :H]).min(axis=-1).max() > 0
    assert np.abs(a[:, :7, H:] - b[:, :7, H:]).max() > 1e-4


def test_padding_changes_nothing():
    m = elmo()
    x = ids((2, 10))
    mask = np.ones((2, 10), bool)
    mask[1, 6:] = False
    h = m.hidden(x, mask).data
    alone = m.hidden(x[1:, :6]).data
    np.testing.assert_allclose(h[1, :6], alone[0], atol=1e-6)
    (lf, lb), loss = m(x, mask)
    (lf1, lb1), loss1 = m(x[1:, :6])
    np.testing.assert_allclose(lb.data[1, :5], lb1.data[0], atol=1e-5)
    with pytest.raises(ValueError, match="prefix"):
        m.hidden(x, ~mask)                                                     # left padding


def test_whole_model_gradient_vs_finite_differences():
    minitl.manual_seed(1)
    m = ELMo(ELMoConfig(n_layer=2, d_model=6, block_size=5, vocab_size=11)).double()
    x = np.random.default_rng(0).integers(0, 11, (2, 5))
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)

    def loss():
        return float(m(x, mask)[1].data) + float(m.hidden(x, mask).sum().data) * 0.1

    for p in m.parameters():
        p.grad = None
    (m(x, mask)[1] + m.hidden(x, mask).sum() * 0.1).backward()
    rng = np.random.default_rng(1)
    for name, p in m.named_parameters():
        for _ in range(3):
            i = tuple(rng.integers(0, n) for n in p.shape)
            old = p.data[i]
            p.data[i] = old + 1e-6
            hi = loss()
            p.data[i] = old - 1e-6
            lo = loss()
            p.data[i] = old
            assert np.isclose(p.grad[i], (hi - lo) / 2e-6, rtol=1e-4, atol=1e-7), (name, i)


def test_scalar_mix_is_a_softmax_weighted_sum():
    m = elmo()
    x = ids((2, 8))
    layers = [t.data for t in m.layers(x)]
    np.testing.assert_allclose(m.hidden(x).data, sum(layers) / 3, atol=1e-6)        # equal weights at init
    m.scalar_mix.scalar_parameters.data[:] = [0.0, np.log(3.0), 0.0]
    m.scalar_mix.gamma.data[:] = 2.0
    want = 2.0 * (0.2 * layers[0] + 0.6 * layers[1] + 0.2 * layers[2])
    np.testing.assert_allclose(m.hidden(x).data, want, atol=1e-5)
    np.testing.assert_allclose(m.scalar_mix.weights(), [0.2, 0.6, 0.2])


def test_transfer_interface_and_freezing():
    m = elmo()
    assert [type(b).__name__ for b in m.blocks] == ["BiLSTMBlock", "BiLSTMBlock"]
    assert (m.config.block_size, m.config.vocab_size, m.config.d_model) == (32, 512, 64)
    groups = dict(m.layer_groups())
    assert list(groups) == ["embeddings", "blocks.0", "blocks.1", "head"]
    m.freeze_to(-1)
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable == {"scalar_mix.scalar_parameters", "scalar_mix.gamma", "lm_head.weight", "lm_head.bias"}
    f = m.features(ids((3, 7)), np.ones((3, 7), bool))
    assert f.shape == (3, 64)


def test_wraps_in_sequence_classifier():
    from minitl.transfer.classifier import SequenceClassifier
    clf = SequenceClassifier(elmo(), n_classes=2, pool="mean")
    x, mask = ids((3, 7)), np.arange(7)[None, :] < np.array([[7], [4], [1]])
    assert clf(x, mask).shape == (3, 2)
    assert [n for n, _ in clf.layer_groups()] == ["embeddings", "blocks.0", "blocks.1", "head"]
    clf.freeze()                                    # features-style: the scalar mix and the head train
    trainable = {n for n, p in clf.named_parameters() if p.requires_grad}
    assert trainable == {"backbone.scalar_mix.scalar_parameters", "backbone.scalar_mix.gamma",
                         "head.weight", "head.bias"}
    assert not clf.backbone.lm_head.weight.requires_grad      # the LM softmax is never trained here


@pytest.fixture(scope="module")
def tok():
    from minitl.text import BPETokenizer
    return BPETokenizer.train(SENTENCES, vocab_size=300)


def test_save_load_roundtrip(tmp_path, tok):
    m = elmo(vocab_size=tok.vocab_size)
    m.scalar_mix.gamma.data[:] = 1.5
    m.save_pretrained(tmp_path / "m", tokenizer=tok)
    back = ELMo.from_pretrained(str(tmp_path / "m"))
    x = ids((2, 6), V=tok.vocab_size)
    np.testing.assert_array_equal(back.hidden(x).data, m.hidden(x).data)
    np.testing.assert_array_equal(back.encode_texts(SENTENCES[:3]), m.encode_texts(SENTENCES[:3], tokenizer=tok))
    with pytest.raises(ValueError, match="shape mismatch for wte.weight"):
        elmo(vocab_size=tok.vocab_size + 1).load_pretrained_weights(m.state_dict())


def test_bank_gets_a_vector_per_context_but_one_embedding(tok):
    m = elmo(vocab_size=tok.vocab_size)
    sents = ["I sat on the river bank.", "The bank raised its rates.", "I sat on the river bank."]
    sim = contextual_similarity(m, sents, "bank", tokenizer=tok)
    static = contextual_similarity(m, sents, "bank", layer=0, tokenizer=tok)
    np.testing.assert_allclose(static, 1.0, atol=1e-6)                       # one vector, as in word2vec
    assert sim[0, 2] == pytest.approx(1.0, abs=1e-6)                          # same context, same vector
    assert sim[0, 1] < 0.99                                                   # other context, other vector
    with pytest.raises(ValueError, match="'banks' does not occur"):
        contextual_similarity(m, sents, "banks", tokenizer=tok)


def test_training_lowers_the_loss(tok):
    from minitl.data.batching import encode_corpus, get_lm_batch
    from minitl.optim import AdamW
    m = elmo(vocab_size=tok.vocab_size, block_size=16).train()
    stream = encode_corpus(SENTENCES, tok)
    before = evaluate_bilm(m, stream)["mean"]
    opt = AdamW(m.parameters(), lr=1e-2)
    for _ in range(40):
        x, _ = get_lm_batch(stream, 16, 16)
        m.zero_grad()
        m(x)[1].backward()
        opt.step()
    after = evaluate_bilm(m, stream)
    assert after["mean"] < before - 1.0, (before, after)
    assert after["forward"] < before and after["backward"] < before


@pytest.mark.network
def test_cli_pretrain_resume_evaluate_similarity(tmp_path, capsys):
    from minitl.cli import main
    out = str(tmp_path / "elmo")
    common = ["pretrain", "elmo", "--corpus", "news", "--preset", "nano", "--vocab-size", "400",
              "--eval-every", "10", "--steps", "20", "--out", out]
    assert main([*common, "--max-minutes", "1e-6"]) == 0                     # stops after one step
    assert main(common) == 2                                                  # refuses to overwrite
    assert main([*common, "--resume"]) == 0
    steps = [json.loads(line)["step"] for line in open(tmp_path / "elmo" / "metrics.jsonl")]
    assert max(steps) == 20
    capsys.readouterr()
    assert main(["elmo", "evaluate", out, "--corpus", "news"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 1 < res["val_perplexity"] < res["unigram_perplexity"] * 1.5
    assert main(["elmo", "similarity", out, "bank", "The river bank.", "The bank lends money."]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["layer0"][0][1] == pytest.approx(1.0, abs=1e-4) and res["elmo"][0][1] < 0.9999
