"""Text-to-text fine-tuning of T5 (minitl/transfer/text2text.py): a toy mapping is learned through the
shared Trainer, multi-task prefixes are told apart, every prediction is a class id, and a decoded
string that is not a label falls back to the most likely label string."""
import itertools

import numpy as np
import pytest

import minitl
from minitl.models.t5 import T5, T5Config
from minitl.transfer import text2text as T2T
from minitl.transfer.finetune import FinetuneConfig

POS, NEG = ["good", "great", "lovely", "happy"], ["bad", "awful", "sad", "terrible"]
SUBJ = ["movie", "day", "song", "food", "trip"]
NAMES = ["negative", "positive"]


def toy(words, label):
    return [(f"{w} {s}", label) for s, w in itertools.product(SUBJ, words)]


@pytest.fixture(scope="module")
def tok():
    from minitl.text import BPETokenizer
    texts = [t for t, _ in toy(POS, 1) + toy(NEG, 0)] + (["sentiment: copy: ___"] + NAMES) * 10
    return BPETokenizer.train(texts * 3, vocab_size=320)


def tiny_t5(tok, seed=0):
    minitl.manual_seed(seed)
    m = T5(T5Config(n_layer=1, n_head=2, d_model=32, block_size=16, target_size=12, vocab_size=tok.vocab_size))
    m.tokenizer = tok
    return m


def split():
    """Train on 3 of the 5 subjects, test on the other 2: the sentiment word decides, not the subject."""
    data = toy(POS, 1) + toy(NEG, 0)
    train = [(t, y) for t, y in data if t.endswith(tuple(SUBJ[:3]))]
    test = [(t, y) for t, y in data if not t.endswith(tuple(SUBJ[:3]))]
    return train, test


def test_tiny_t5_learns_a_toy_mapping_through_text(tok):
    train, test = split()
    m = tiny_t5(tok)
    cfg = FinetuneConfig(epochs=30, lr=3e-3, batch_size=8, progress=False)
    res = T2T.fit_text2text(m, [t for t, _ in train], [y for _, y in train], NAMES, cfg)
    assert res.steps == 30 * 3 and res.n_pairs == 24 and not res.interrupted
    assert res.history[0]["loss"] > 2 * res.history[-2]["loss"]             # the Trainer's logged loss fell
    pred, invalid = T2T.predict_labels(m, [t for t, _ in test], NAMES)
    y = np.array([y for _, y in test])
    assert (pred == y).mean() >= 0.9, (pred, y)
    # greedy decoding itself writes the label names (not only the fallback)
    decoded = m.generate_text([T2T.TASK_PREFIX + t for t, _ in test])
    assert invalid <= 0.1 and np.mean([d in NAMES for d in decoded]) >= 0.9, decoded


def test_multitask_prefixes_select_the_task(tok):
    train, test = split()
    m = tiny_t5(tok, seed=1)
    cfg = FinetuneConfig(epochs=40, lr=3e-3, batch_size=8, progress=False)
    res = T2T.fit_text2text(m, [t for t, _ in train], [y for _, y in train], NAMES, cfg, aux="copy")
    assert res.n_pairs == 48                                                # 24 sentiment + 24 copy pairs
    src, tgt = T2T.copy_pairs([t for t, _ in train[:6]])
    assert tgt[0] == " ".join(train[0][0].split()[:T2T.COPY_WORDS])
    out = m.generate_text(src)
    # same texts, copy prefix: a copy (its first word right; a 1-layer model may miss the second), never a label
    assert np.mean([o.split()[:1] == t.split()[:1] for o, t in zip(out, tgt)]) >= 0.8, (out, tgt)
    assert not any(o in NAMES for o in out), out
    sent = m.generate_text([T2T.TASK_PREFIX + t for t, _ in train[:6]])
    assert all(s in NAMES for s in sent), sent                              # sentiment prefix: a label


def test_label_scores_are_the_teacher_forced_log_likelihoods(tok):
    m = tiny_t5(tok, seed=2).eval()
    texts = ["good movie", "sad day"]
    got = T2T.label_scores(m, texts, NAMES)
    for i, t in enumerate(texts):
        ids, mask = tok.encode_batch([T2T.TASK_PREFIX + t], max_length=16)
        for k, name in enumerate(NAMES):
            y = np.array([tok.encode(name) + [tok.eot_id]])
            _, loss = m(ids, mask, labels=y)                     # mean NLL over the label's tokens
            assert np.isclose(got[i, k], -float(loss.data) * y.shape[1], rtol=1e-4, atol=1e-4)


def test_untrained_model_still_predicts_class_ids_via_the_fallback(tok):
    m = tiny_t5(tok, seed=3)
    texts = [t for t, _ in toy(POS, 1)[:6]]
    pred, invalid = T2T.predict_labels(m, texts, NAMES)
    assert pred.dtype == np.int64 and set(pred.tolist()) <= {0, 1}
    decoded = m.generate_text([T2T.TASK_PREFIX + t for t in texts], max_new_tokens=3)
    assert invalid == np.mean([d not in NAMES for d in decoded]) > 0         # random weights: not label names
    want = T2T.label_scores(m, texts, NAMES).argmax(1)
    bad = [i for i, d in enumerate(decoded) if d not in NAMES]
    np.testing.assert_array_equal(pred[bad], want[bad])


def test_parse_label_and_bad_input_are_named(tok):
    assert T2T.parse_label(" Positive ", NAMES) == 1 and T2T.parse_label("posit", NAMES) == -1
    m = tiny_t5(tok)
    with pytest.raises(ValueError, match="strategy 'light' is not supported"):
        T2T.fit_text2text(m, ["a"], [0], NAMES, FinetuneConfig(strategy="light"))
    with pytest.raises(ValueError, match=r"class ids \[2\] are outside 0..1"):
        T2T.fit_text2text(m, ["a"], [2], NAMES, FinetuneConfig())
    with pytest.raises(ValueError, match="unknown auxiliary task 'copyy'"):
        T2T.fit_text2text(m, ["a"], [0], NAMES, FinetuneConfig(), aux="copyy")


def test_fit_predict_method(tok, tmp_path):
    from minitl.transfer import methods as M
    m = tiny_t5(tok)
    m.save_pretrained(str(tmp_path / "t5"), tokenizer=tok)
    train, test = split()
    ctx = M.Context(backbones={"t5": str(tmp_path / "t5")},
                    recipes={"t5": FinetuneConfig(epochs=30, lr=3e-3, batch_size=8, progress=False)})
    pred, info = M.fit_predict("t5:text2text", ctx, [t for t, _ in train], [y for _, y in train],
                               [t for t, _ in test])
    assert (pred == np.array([y for _, y in test])).mean() >= 0.9 and info["steps"] == 90
    assert M.needs("t5:text2text+copy") == ("t5",) and M.describe("t5:text2text+copy") == "T5 text-to-text (+ copy task)"
    with pytest.raises(ValueError, match="unknown modifier 'dlr'"):
        M.fit_predict("t5:text2text+dlr", ctx, ["a"], [0], ["b"])
    with pytest.raises(ValueError, match="needs an encoder-decoder"):
        M.fit_predict("gpt:text2text", ctx, ["a"], [0], ["b"])
