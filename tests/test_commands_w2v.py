"""`minitl neighbors` warns when the vectors look untrained (issue 16): random vectors, or vectors that
all point one way (too few epochs), and stays quiet on trained ones."""
import numpy as np
import pytest

import minitl
from minitl.cli import main
from minitl.models.keyedvectors import KeyedVectors
from minitl.models.word2vec import Word2Vec, Word2VecConfig
from minitl.models.word2vec_eval import untrained_warning, vector_health


@pytest.fixture(scope="module")
def trained():
    """word2vec on 20 topics of 30 words each (a word appears only with its topic's words): 5 epochs."""
    rng = np.random.default_rng(0)
    topics = [[f"t{k}w{i}" for i in range(30)] for k in range(20)]
    sentences = [[topics[k][j] for j in rng.integers(0, 30, size=12)] for k in rng.integers(0, 20, size=4000)]
    minitl.manual_seed(0)
    model = Word2Vec(Word2VecConfig(dim=50, epochs=5, min_count=1, workers=1, sample=0))
    model.build_vocab(sentences)
    model.train(sentences, progress=False)
    return model.wv


def _random(n=600, dim=50, seed=0):
    words = [f"w{i}" for i in range(n)]
    return KeyedVectors(words, np.random.default_rng(seed).uniform(-0.5, 0.5, (n, dim)).astype(np.float32) / dim)


def _one_direction(n=600, dim=50, seed=0):
    rng = np.random.default_rng(seed)
    common = rng.standard_normal(dim)
    return KeyedVectors([f"w{i}" for i in range(n)], (common + 0.3 * rng.standard_normal((n, dim))).astype(np.float32))


def test_cosine_statistics_by_hand():
    wv = KeyedVectors(["a", "b", "c"], np.array([[1, 0], [0, 1], [1, 1]], np.float32))
    h = vector_health(wv)
    s = 1 / np.sqrt(2)
    assert h["mean_cosine"] == pytest.approx((0 + s + s) / 3)
    assert h["neighbour_cosine"] == pytest.approx(s)            # each word's nearest is at 45 degrees
    with pytest.raises(ValueError, match="2 words"):
        vector_health(KeyedVectors(["a", "b"], np.eye(2, dtype=np.float32)))


def test_the_warning_fires_on_random_and_one_direction_vectors_not_on_trained_ones(trained):
    assert "untrained" in untrained_warning(_random()) and "random" in untrained_warning(_random())
    assert "undertrained" in untrained_warning(_one_direction())
    h = vector_health(trained)
    assert h["neighbour_cosine"] > 0.9 > h["random_neighbour_cosine"], h     # the topics were learned
    assert untrained_warning(trained) is None
    assert trained.most_similar("t3w1", topn=1)[0][0].startswith("t3w")


def test_neighbors_command_warns_only_on_untrained_vectors(trained, tmp_path, capsys):
    for name, wv, warns in (("random", _random(), True), ("trained", trained, False)):
        d = str(tmp_path / name)
        wv.save(d)
        word = wv.index_to_key[0]
        assert main(["neighbors", d, word, "--topn", "3"]) == 0
        captured = capsys.readouterr()
        assert ("warning:" in captured.err) == warns, (name, captured.err)
        assert captured.out.startswith(word) and captured.out.count("\n") == 4
