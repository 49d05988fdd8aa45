"""word2vec: tokenizer, vocabulary, kernel vs its twin vs autograd, training, vectors, evaluation."""
import json
import os

import numba
import numpy as np
import pytest

import minitl
from minitl.kernels import word2vec as K
from minitl.models.keyedvectors import KeyedVectors
from minitl.models.word2vec import (Word2Vec, Word2VecConfig, alias_table, cbow_loss, encode_corpus,
                                    keep_probabilities, load_vectors, noise_distribution, sgns_loss)
from minitl.models.word2vec_eval import evaluate_analogies, evaluate_word_pairs, rankdata, spearman
from minitl.text.words import WordVocab, tokenize


# -- tokenizer and vocabulary -------------------------------------------------------

def test_tokenize_words_numbers_apostrophes():
    assert tokenize("The King's 2 crowns -- and 3.5 queens! Café_au") == \
        ["the", "king's", "2", "crowns", "and", "3.5", "queens", "café", "au"]
    assert tokenize("Don\u2019t STOP", lowercase=False) == ["Don't", "STOP"]


def test_vocab_orders_by_frequency_and_counts_the_unknown(tmp_path):
    data = [["b", "a", "b", "c"], ["a", "b", "d", "c"], ["e"]]
    v = WordVocab.build(data, min_count=2)
    assert v.itos == ["[UNK]", "b", "a", "c"]      # b:3, then a:2 and c:2 alphabetically
    assert v.counts == [2, 3, 2, 2]                # d and e fell below min_count
    assert v.encode(["c", "zzz", "b"]) == [3, 0, 1]
    assert "a" in v and "[UNK]" not in v and len(v) == 4
    assert WordVocab.build(data, min_count=1, max_size=2).itos == ["[UNK]", "b", "a"]
    v.save(tmp_path / "v.json")
    w = WordVocab.load(tmp_path / "v.json")
    assert (w.itos, w.counts) == (v.itos, v.counts)
    with pytest.raises(TypeError, match="tokenize"):
        WordVocab.build(["a string, not tokens"])


# -- the tables -------------------------------------------------------------------------

def test_alias_table_reproduces_the_noise_distribution_exactly():
    counts = np.array([0, 500, 120, 120, 7, 1, 60])
    p = noise_distribution(counts)
    assert p[0] == 0 and np.isclose(p[1] / p[4], (500 / 7) ** 0.75)
    alias, prob = alias_table(p)
    V = len(p)
    keep = prob.astype(np.float64) / 2**32
    implied = np.zeros(V)                           # P(draw t) = sum over columns
    np.add.at(implied, np.arange(V), keep / V)
    np.add.at(implied, alias, (1 - keep) / V)
    np.testing.assert_allclose(implied, p, atol=1e-9)


def test_subsampling_follows_mikolovs_formula():
    counts = np.array([0, 5000, 10, 1, 1000])
    t = 1e-3 * counts.sum()
    keep = keep_probabilities(counts, 1e-3) / (2**32 - 1)
    np.testing.assert_allclose(keep[1], (np.sqrt(5000 / t) + 1) * t / 5000, rtol=1e-6)
    assert keep[3] == pytest.approx(1.0) and keep[2] == pytest.approx(1.0)  # rare words always kept
    assert (keep_probabilities(counts, 0) == 2**32 - 1).all()


def test_encode_corpus_drops_unknowns_splits_long_sentences_and_chunks():
    v = WordVocab.build([["a"] * 5 + ["b"] * 5], min_count=1)
    tokens, starts, chunks = encode_corpus([["a", "x", "b"] * 3, ["b"] * 7, ["a"]], v, chunk_words=4)
    assert tokens.tolist() == [1, 2, 1, 2, 1, 2] + [2] * 7 + [1]
    assert np.diff(starts).tolist() == [4, 2, 4, 3, 1]           # pieces of at most 4 words
    words_per_chunk = [starts[chunks[j + 1]] - starts[chunks[j]] for j in range(len(chunks) - 1)]
    assert max(words_per_chunk) <= 4 and chunks[-1] == 5


# -- the kernel, its twin, and the autograd loss ------------------------------------------

def _toy_inputs(V=40, n_sent=30, seed=0):
    r = np.random.default_rng(seed)
    sents = [r.integers(1, V, size=r.integers(2, 25)).astype(np.int32) for _ in range(n_sent)]
    starts = np.zeros(n_sent + 1, np.int64)
    np.cumsum([len(s) for s in sents], out=starts[1:])
    chunks = np.array([0, 7, 8, 20, n_sent], np.int64)
    counts = np.bincount(np.concatenate(sents), minlength=V)
    counts[0] = 0
    alias, prob = alias_table(noise_distribution(counts))
    keep = keep_probabilities(counts, 0.01)
    return (np.concatenate(sents), starts, chunks, r.integers(0, 2**48, 4, dtype=np.uint64),
            starts[chunks[:-1]], keep, alias, prob)


def test_random_stream_is_splitmix64():
    # published first outputs of SplitMix64 seeded with 0 (Vigna's splitmix64.c)
    s, first = np.uint64(0), []
    for _ in range(2):
        s, z = K._rand64(s)
        first.append(int(z))
    assert first == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]
    assert int(K._mul64(np.uint64(2**64 - 1), np.uint64(2**64 - 1))) == 1   # (-1)^2 mod 2^64
    assert int(K._add64(np.uint64(2**64 - 1), np.uint64(2))) == 1


@pytest.mark.parametrize("sg", [True, False])
def test_kernel_matches_its_reference_twin(sg):
    V, dim = 40, 12
    tokens, starts, chunks, seeds, done, keep, alias, prob = _toy_inputs(V)
    results = []
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        for fn in (K.train_chunks, K.train_chunks_reference):
            r = np.random.default_rng(1)
            syn0 = ((r.random((V, dim)) - 0.5) / dim).astype(np.float32)
            syn1 = (0.1 * r.standard_normal((V, dim))).astype(np.float32)
            out = (np.zeros(4, np.int64), np.zeros(4), np.zeros(4, np.int64))
            fn(syn0, syn1, tokens, starts, chunks, seeds, done, keep, alias, prob, sg, 3, 4,
               0.05, 0.001, 2 * len(tokens), True, *out)
            results.append((syn0, syn1, out))
    finally:
        numba.set_num_threads(old)
    (a0, a1, aout), (b0, b1, bout) = results
    assert aout[0].tolist() == bout[0].tolist() and aout[2].tolist() == bout[2].tolist()
    assert 0 < aout[0].sum() < len(tokens)               # subsampling dropped some words
    np.testing.assert_allclose(aout[1], bout[1], rtol=1e-4)
    np.testing.assert_allclose(a0, b0, atol=2e-5)
    np.testing.assert_allclose(a1, b1, atol=2e-5)
    r = np.random.default_rng(1)
    assert np.abs(a0 - ((r.random((V, dim)) - 0.5) / dim)).max() > 1e-3   # it did train


def _grads(loss_fn, syn0, syn1, *batch):
    W_in = minitl.tensor(syn0.copy(), requires_grad=True)
    W_out = minitl.tensor(syn1.copy(), requires_grad=True)
    loss = loss_fn(W_in, W_out, *batch)
    loss.backward()
    return float(loss.item()), W_in.grad, W_out.grad


def test_kernel_step_equals_autograd_gradient_skipgram():
    # Rows touched by different pairs are disjoint, so one sequential SGD pass
    # with lr = 1 moves every row by exactly minus the batch gradient.
    r = np.random.default_rng(0)
    V, C = 30, 16
    syn0 = (0.3 * r.standard_normal((V, C))).astype(np.float32)
    syn1 = (0.3 * r.standard_normal((V, C))).astype(np.float32)
    inputs = np.array([1, 2, 3])
    targets = np.array([[4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]])
    loss, g_in, g_out = _grads(sgns_loss, syn0, syn1, inputs, targets)
    a0, a1 = syn0.copy(), syn1.copy()
    losses = K.sgns_batch(a0, a1, inputs, targets, np.float32(1.0))
    assert losses.sum() == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(a0 - syn0, -g_in, atol=1e-5)
    np.testing.assert_allclose(a1 - syn1, -g_out, atol=1e-5)
    assert np.abs(g_in).max() > 0.05 and np.abs(g_out).max() > 0.05


def test_kernel_step_equals_autograd_gradient_cbow():
    r = np.random.default_rng(1)
    V, C = 30, 8
    syn0 = (0.3 * r.standard_normal((V, C))).astype(np.float32)
    syn1 = (0.3 * r.standard_normal((V, C))).astype(np.float32)
    contexts = np.array([[1, 2, 3, -1], [4, 5, -1, -1]])
    targets = np.array([[10, 11, 12], [13, 14, 15]])
    loss, g_in, g_out = _grads(cbow_loss, syn0, syn1, contexts, targets)
    a0, a1 = syn0.copy(), syn1.copy()
    losses = K.cbow_batch(a0, a1, contexts, targets, np.float32(1.0))
    assert losses.sum() == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(a1 - syn1, -g_out, atol=1e-5)
    # word2vec.c gives each context word the whole error, i.e. count x its share
    count = np.zeros((V, 1), np.float32)
    count[[1, 2, 3]], count[[4, 5]] = 3, 2
    np.testing.assert_allclose(a0 - syn0, -g_in * np.maximum(count, 1), atol=1e-5)


# -- training -----------------------------------------------------------------------------

def planted_corpus(n_pairs=10, n_ctx=8, n_sent=1500, seed=0):
    """Word a_i and b_i never meet, but both appear only amid topic i's words c_i_*;
    the topic words also appear everywhere else, amid filler.  So a_i and b_i
    have the same contexts, and nothing else shares them."""
    r = np.random.default_rng(seed)
    topic_words = [f"c{t}_{j}" for t in range(n_pairs) for j in range(n_ctx)]
    sents = []
    for _ in range(n_sent):
        t = r.integers(n_pairs)
        s = [f"c{t}_{j}" for j in r.integers(0, n_ctx, size=8)]
        s.insert(4, f"{'ab'[r.integers(2)]}{t}")
        sents.append(s)
        sents.append([topic_words[j] for j in r.integers(0, len(topic_words), size=8)]
                     + [f"f{j}" for j in r.integers(0, 100, size=12)])
    return sents


@pytest.mark.parametrize("sg,workers", [(True, 2), (False, 1)])
def test_planted_pairs_become_nearest_neighbours(sg, workers):
    sents = planted_corpus()
    minitl.manual_seed(0)
    model = Word2Vec(Word2VecConfig(sg=sg, dim=20, epochs=5, min_count=1, sample=0, workers=workers))
    model.build_vocab(sents)
    stats = model.train(sents, progress=False)
    assert stats["effective_words"] == 5 * sum(map(len, sents))   # sample=0 keeps every word
    assert stats["epochs"][-1]["loss"] < stats["epochs"][0]["loss"]
    wv = model.wv
    for t in range(10):
        assert wv.most_similar(f"a{t}", topn=1)[0][0] == f"b{t}", wv.most_similar(f"a{t}", topn=3)


def test_same_seed_same_vectors_with_one_thread():
    sents = planted_corpus(n_sent=200)
    out = []
    for _ in range(2):
        minitl.manual_seed(7)
        m = Word2Vec(Word2VecConfig(dim=8, epochs=2, min_count=1, workers=1))
        m.build_vocab(sents)
        m.train(sents, progress=False)
        out.append(m.syn0.copy())
    np.testing.assert_array_equal(out[0], out[1])


def test_reference_backend_trains_the_same_vectors():
    # minitl.config.backend("reference") swaps the kernel for its numpy twin
    sents = planted_corpus(n_sent=60)
    out = []
    for backend in ("numba", "reference"):
        minitl.manual_seed(3)
        m = Word2Vec(Word2VecConfig(dim=8, epochs=1, min_count=1, workers=1, sample=0.01))
        m.build_vocab(sents)
        with minitl.config.backend(backend):
            stats = m.train(sents, progress=False)
        out.append((m.syn0.copy(), stats["effective_words"]))
    assert out[0][1] == out[1][1]
    np.testing.assert_allclose(out[0][0], out[1][0], atol=1e-5)


def test_checkpoint_round_trip(tmp_path):
    sents = planted_corpus(n_sent=100)
    minitl.manual_seed(0)
    m = Word2Vec(Word2VecConfig(dim=8, epochs=1, min_count=1, workers=1))
    m.build_vocab(sents)
    m.train(sents, progress=False)
    m.save(tmp_path / "w2v", vectors_txt=True)
    back = Word2Vec.load(tmp_path / "w2v")
    np.testing.assert_array_equal(back.syn0, m.syn0)
    assert back.vocab.itos == m.vocab.itos and back.config == m.config
    kv = load_vectors(tmp_path / "w2v")
    assert kv.most_similar("a1", topn=3) == m.wv.most_similar("a1", topn=3)
    with pytest.raises(ValueError, match="word2vec checkpoint.*Word2Vec.load"):
        KeyedVectors.load(tmp_path / "w2v")      # the lower layer does not know Word2Vec's format
    m.wv.save(tmp_path / "kv")
    assert load_vectors(tmp_path / "kv").index_to_key == m.wv.index_to_key
    txt = KeyedVectors.load_word2vec_format(tmp_path / "w2v" / "vectors.txt")
    np.testing.assert_allclose(txt.vectors, m.syn0[1:], rtol=1e-5, atol=1e-7)


# -- KeyedVectors ---------------------------------------------------------------------

def _royal_vectors():
    # axes: royal, male, female, fruit
    words = ["man", "woman", "king", "queen", "apple", "prince"]
    vecs = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [1, 1, 0, 0], [1, 0, 1, 0],
                     [0, 0, 0, 1], [0.5, 1.0, 0, 0.5]], np.float32)
    return KeyedVectors(words, vecs)


def test_analogy_and_most_similar():
    wv = _royal_vectors()
    assert wv.analogy("man", "king", "woman") == "queen"
    assert wv.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0][0] == "queen"
    top = wv.most_similar("king", topn=2)
    assert top[0][0] == "prince" and "king" not in [w for w, _ in top]
    assert wv.similarity("man", "woman") == pytest.approx(0.0)
    assert wv.similarity("king", "queen") == pytest.approx(0.5)
    np.testing.assert_array_equal(wv["apple"], [0, 0, 0, 1])


def test_out_of_vocabulary_error_names_the_word():
    with pytest.raises(KeyError, match="'zebra'.*out of vocabulary"):
        _royal_vectors().most_similar("zebra")


def test_word2vec_text_format_round_trip_and_gensim_reads_it(tmp_path):
    wv = _royal_vectors()
    path = tmp_path / "v.txt"
    wv.save_word2vec_format(path)
    assert path.read_text().splitlines()[0] == "6 4"
    back = KeyedVectors.load_word2vec_format(path)
    assert back.index_to_key == wv.index_to_key
    np.testing.assert_allclose(back.vectors, wv.vectors)
    bad = tmp_path / "bad.txt"
    bad.write_text("2 3\na 1 2 3\nb 1 2\n")
    with pytest.raises(ValueError, match=r"bad.txt:3: expected a word and 3 numbers"):
        KeyedVectors.load_word2vec_format(bad)
    gensim = pytest.importorskip("gensim")
    g = gensim.models.KeyedVectors.load_word2vec_format(str(path), binary=False)
    assert g.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0][0] == "queen"


# -- evaluation -----------------------------------------------------------------------

def test_rankdata_averages_ties_and_spearman():
    assert rankdata([10, 20, 20, 30]).tolist() == [1, 2.5, 2.5, 4]
    assert rankdata([3, 1, 3, 3]).tolist() == [3, 1, 3, 3]
    assert spearman([1, 2, 3, 4], [10, 20, 35, 1000]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # rho = 1 - 6 sum d^2 / (n (n^2 - 1)) when there are no ties: d = [0, 1, -1, 0, 0]
    assert spearman([1, 2, 3, 4, 5], [1, 3, 2, 4, 5]) == pytest.approx(1 - 6 * 2 / (5 * 24))
    scipy_stats = pytest.importorskip("scipy.stats")
    x, y = [1, 2, 2, 3, 5, 5, 5], [2, 1, 4, 4, 3, 6, 6]
    assert spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y).correlation)


def test_analogy_accuracy_restricts_vocabulary_and_reports_coverage():
    wv = _royal_vectors()
    questions = [("man", "king", "woman", "queen"), ("Man", "KING", "woman", "prince"),
                 ("man", "king", "woman", "zebra"), ("woman", "queen", "man", "king")]
    r = evaluate_analogies(wv, questions)
    # q1 and q4 right (b - a + c is nearest to d), q2 wrong (queen, not prince), q3 not covered
    assert (r["covered"], r["total"], r["correct"]) == (3, 4, 2)
    assert r["coverage"] == pytest.approx(0.75) and r["accuracy"] == pytest.approx(2 / 3)
    # with only the 4 most frequent words, "prince" (row 5) is out of reach: q2 is not covered
    assert evaluate_analogies(wv, questions, restrict_vocab=4)["covered"] == 2


def test_word_pairs_skip_unknown_words():
    wv = _royal_vectors()
    pairs = [("king", "queen", 8.0), ("king", "prince", 9.5), ("man", "apple", 0.5), ("x", "king", 3.0)]
    r = evaluate_word_pairs(wv, pairs)
    assert r["pairs"] == 3 and r["oov_ratio"] == pytest.approx(0.25)
    assert r["spearman"] == pytest.approx(1.0)


def test_pca_plot_writes_a_png(tmp_path):
    from minitl.viz.embeddings import plot_pca
    path = plot_pca(_royal_vectors(), {"people": ["man", "woman", "king", "queen"], "fruit": ["apple"]},
                    tmp_path / "pca.png", pairs=[("man", "woman"), ("king", "queen")])
    assert os.path.getsize(path) > 1000 and open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_pretrain_and_neighbors(tmp_path, capsys):
    from minitl.cli import main
    corpus = tmp_path / "corpus.txt"
    letters = str.maketrans("0123456789_", "qwertyuiopz")  # the tokenizer splits "a1" and "c1_2"
    corpus.write_text("\n".join(" ".join(s).translate(letters) for s in planted_corpus(n_sent=300)))
    out = tmp_path / "run"
    assert main(["pretrain", "word2vec", "--corpus", str(corpus), "--dim", "16", "--epochs", "2",
                 "--min-count", "1", "--out", str(out), "--no-eval"]) == 0
    assert json.loads((out / "config.json").read_text())["dim"] == 16
    capsys.readouterr()
    assert main(["neighbors", str(out), "aw", "--topn", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) >= 3
    assert main(["neighbors", str(out), "zebra"]) == 1
    assert "zebra" in capsys.readouterr().err
