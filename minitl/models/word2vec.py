"""Word2vec (Mikolov et al. 2013): skip-gram and CBOW with negative sampling.

Read it top to bottom: the config, the two tables built from word counts (the
noise distribution and the subsampling probabilities), the loss written with
minitl Tensors (the lesson version), then the ``Word2Vec`` trainer, which runs
the same loss as a Numba kernel (``minitl/kernels/word2vec.py``) on all cores.

Shape legend: V vocabulary size (row 0 is ``[UNK]``, never trained), C vector
size (``dim``), B pairs in a batch, K negative (noise) words per pair, W
context slots (CBOW).

    model = Word2Vec(Word2VecConfig(sg=True, dim=100, epochs=5))
    model.build_vocab(sentences)            # sentences: lists of tokens
    model.train(sentences)
    model.wv.most_similar("king")

Same ``minitl.manual_seed``, same vectors -- with one thread.  With several,
the Hogwild updates make the last digits differ between runs (see the kernel).
"""
import dataclasses
import json
import time

import numpy as np

import minitl.random
from minitl import config as _switches
from minitl.kernels import word2vec as K
from minitl.models.keyedvectors import KeyedVectors
from minitl.progress import Progress
from minitl.text.words import WordVocab


@dataclasses.dataclass
class Word2VecConfig:
    sg: bool = True              # skip-gram (True) or CBOW (False)
    dim: int = 100               # C, the vector size (gensim's vector_size)
    window: int = 5              # maximum distance between centre and context word
    negative: int = 5            # K noise words per pair
    min_count: int = 5           # ignore words rarer than this
    max_vocab: int = None        # keep at most this many words
    sample: float = 1e-3         # subsampling threshold (0 = off)
    alpha: float = None          # initial learning rate: 0.025 skip-gram, 0.05 CBOW
    min_alpha: float = 0.0001    # final learning rate
    epochs: int = 5
    ns_exponent: float = 0.75    # noise distribution: count ** ns_exponent
    workers: int = 2             # Numba threads
    chunk_words: int = 10000     # a thread's unit of work; also the longest sentence

    def __post_init__(self):
        if self.alpha is None:
            self.alpha = 0.025 if self.sg else 0.05  # word2vec.c's defaults
        for name in ("dim", "window", "negative", "min_count", "epochs", "workers", "chunk_words"):
            if getattr(self, name) < 1:
                raise ValueError(f"Word2VecConfig.{name} must be >= 1, got {getattr(self, name)}")


# ---------------------------------------------------------------------------
# Tables built from the word counts.
# ---------------------------------------------------------------------------

def noise_distribution(counts, ns_exponent=0.75):
    """Negative sampling's noise distribution: P(w) = count(w)**0.75 / sum_v count(v)**0.75.

    The 0.75 flattens the unigram distribution, so rare words are drawn more
    often than their share of the corpus.  [UNK] (row 0) gets probability 0.
    """
    p = np.asarray(counts, np.float64) ** ns_exponent
    p[0] = 0.0
    return p / p.sum()


def alias_table(p):
    """Walker's alias method (Vose's construction): sample from p in O(1).

    Column i (picked uniformly) holds its own word with probability prob[i]
    and its alias word otherwise.  Built by pairing a column whose share
    p_i * V is below 1 with one above 1, which donates the missing mass:
    p = [.5, .25, .25] -> shares [1.5, .75, .75] -> prob [1, .75, .75],
    alias [0, 0, 0] (columns 1 and 2 hand a quarter of their draws to word 0).

    Returns:
        alias (V,) int32, prob (V,) uint32 (probability * 2**32, capped at 2**32 - 1).
    """
    V = len(p)
    share = np.asarray(p, np.float64) * V
    alias = np.arange(V, dtype=np.int32)
    small = [i for i in range(V) if share[i] < 1.0]
    large = [i for i in range(V) if share[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        alias[s] = g
        share[g] -= 1.0 - share[s]
        (small if share[g] < 1.0 else large).append(g)
    for i in small + large:  # what is left is 1 up to rounding
        share[i] = 1.0
    return alias, np.minimum(np.floor(share * 2**32), 2**32 - 1).astype(np.uint32)


def keep_probabilities(counts, sample=1e-3):
    """Subsampling of frequent words, Mikolov's formula as word2vec.c and gensim apply it.

    With t = sample * (total count), a token of word w is kept with probability
    P(keep) = (sqrt(count/t) + 1) * t / count, capped at 1: "the" (5% of a
    corpus) is kept ~15% of the time, words rarer than ~t always.  Returned as
    ``P(keep) * (2**32 - 1)`` in uint32, compared with 32 random bits.
    """
    counts = np.asarray(counts, np.float64)
    if not sample:
        return np.full(len(counts), 2**32 - 1, np.uint32)
    t = sample * counts[1:].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(counts > 0, (np.sqrt(counts / t) + 1) * t / counts, 1.0)
    return (np.minimum(p, 1.0) * (2**32 - 1)).astype(np.uint32)


def encode_corpus(sentences, vocab, chunk_words=10000):
    """Token lists -> the kernel's flat arrays.

    Unknown words are dropped (as gensim does: the window then reaches past
    them), sentences longer than ``chunk_words`` are split (gensim would cut
    them at 10,000), and consecutive sentences are grouped into chunks of at
    most ``chunk_words`` words -- a thread's unit of work.

    Returns:
        tokens (N,) int32, sent_starts (S+1,) int64, chunk_starts (J+1,) int64.
    """
    get, ids, lengths = vocab.stoi.get, [], []
    for sentence in sentences:
        if isinstance(sentence, str):
            raise TypeError("word2vec: expected lists of tokens, got a string "
                            "(tokenize first: minitl.text.words.tokenize)")
        s = [i for i in (get(t, 0) for t in sentence) if i > 0]
        for a in range(0, len(s), chunk_words):
            ids.extend(s[a:a + chunk_words])
            lengths.append(len(s[a:a + chunk_words]))
    sent_starts = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=sent_starts[1:])
    chunk_starts, words = [0], 0
    for si, n in enumerate(lengths):
        if words and words + n > chunk_words:
            chunk_starts.append(si)
            words = 0
        words += n
    if lengths:
        chunk_starts.append(len(lengths))
    return np.asarray(ids, np.int32), sent_starts, np.asarray(chunk_starts, np.int64)


# ---------------------------------------------------------------------------
# The loss on minitl Tensors: the readable version of what the kernel computes.
# ---------------------------------------------------------------------------

def _signs(targets):
    sign = -np.ones(targets.shape, np.float32)  # (B, K+1): +1 for the true word, -1 for noise
    sign[:, 0] = 1.0
    return sign


def sgns_loss(W_in, W_out, inputs, targets):
    """Skip-gram negative-sampling loss, summed over the batch.

    L = sum_b [ -log sigmoid(h_b . u_o) - sum_k log sigmoid(-h_b . u_k) ]
    with h_b = W_in[inputs[b]], u_o = W_out[targets[b, 0]] (the true word),
    u_k = W_out[targets[b, k]] for k >= 1 (noise words).

    Args:
        W_in, W_out: (V, C) Tensors (the kernel's syn0 and syn1neg).
        inputs: (B,) int array; targets: (B, K+1) int array.
    """
    from minitl.nn import functional as F
    B, C = len(inputs), W_in.shape[1]
    h = F.embedding(inputs, W_in).reshape(B, 1, C)        # (B, 1, C)
    u = F.embedding(targets, W_out)                         # (B, K+1, C)
    scores = (u * h).sum(dim=-1)                            # (B, K+1)
    return -(F.sigmoid(scores * _signs(targets)).log()).sum()


def cbow_loss(W_in, W_out, contexts, targets):
    """CBOW negative-sampling loss: h_b = mean of W_in[contexts[b]] (ids < 0 are
    padding) predicts targets[b, 0] against the noise words targets[b, 1:]."""
    from minitl.nn import functional as F
    mask = (contexts >= 0).astype(np.float32)               # (B, W)
    B, C = len(contexts), W_in.shape[1]
    ctx = F.embedding(np.maximum(contexts, 0), W_in)       # (B, W, C)
    h = (ctx * mask[:, :, None]).sum(dim=1) / mask.sum(1, keepdims=True)  # (B, C)
    u = F.embedding(targets, W_out)                         # (B, K+1, C)
    scores = (u * h.reshape(B, 1, C)).sum(dim=-1)           # (B, K+1)
    return -(F.sigmoid(scores * _signs(targets)).log()).sum()


# ---------------------------------------------------------------------------
# The trainer.
# ---------------------------------------------------------------------------

class Word2Vec:
    """Word vectors trained with the Numba kernel (or its numpy twin when
    ``minitl.config.BACKEND == "reference"``).

    Attributes:
        config: Word2VecConfig.  vocab: WordVocab.
        syn0: (V, C) float32 input vectors -- the word vectors.
        syn1neg: (V, C) float32 output vectors, used only in training.
    """

    def __init__(self, config=None, **overrides):
        self.config = dataclasses.replace(config or Word2VecConfig(), **overrides)
        self.vocab = self.syn0 = self.syn1neg = None

    def build_vocab(self, sentences):
        """Count words, keep the frequent ones, build the tables, initialise the vectors."""
        cfg = self.config
        vocab = WordVocab.build(sentences, min_count=cfg.min_count, max_size=cfg.max_vocab)
        if len(vocab) < 2:
            raise ValueError(f"word2vec: no word occurs min_count={cfg.min_count} times")
        self._set_vocab(vocab)
        # gensim 4's init: input vectors uniform in [-1/C, 1/C), output vectors 0.
        V, C = len(vocab), cfg.dim
        self.syn0 = ((minitl.random.rng().random((V, C), np.float32) * 2 - 1) / C).astype(np.float32)
        self.syn0[0] = 0.0
        self.syn1neg = np.zeros((V, C), np.float32)
        return vocab

    def _set_vocab(self, vocab):
        self.vocab = vocab
        counts = np.asarray(vocab.counts, np.int64)
        counts[0] = 0  # [UNK] is dropped from training
        self.noise_alias, self.noise_prob = alias_table(noise_distribution(counts, self.config.ns_exponent))
        self.keep_int = keep_probabilities(counts, self.config.sample)

    @property
    def wv(self):
        """The trained vectors as KeyedVectors (without [UNK]); shares memory with syn0."""
        return KeyedVectors(self.vocab.itos[1:], self.syn0[1:], self.vocab.counts[1:])

    def train(self, sentences, epochs=None, progress=True, compute_loss=True):
        """Train on ``sentences`` (lists of tokens) for ``epochs`` passes.

        Returns:
            dict: raw_words, effective_words (after subsampling: gensim's count),
            seconds, words_per_s (effective words / s), and per-epoch loss.
        """
        import numba
        if self.vocab is None:
            raise RuntimeError("word2vec: call build_vocab(sentences) before train()")
        cfg = self.config
        epochs = cfg.epochs if epochs is None else epochs
        tokens, sent_starts, chunk_starts = encode_corpus(sentences, self.vocab, cfg.chunk_words)
        if len(tokens) == 0:
            raise ValueError("word2vec: the corpus has no in-vocabulary words")
        J, n = len(chunk_starts) - 1, len(tokens)
        words_before = sent_starts[chunk_starts[:-1]]                 # (J,) per chunk
        total = epochs * n
        kernel = K.train_chunks_reference if _switches.BACKEND == "reference" else K.train_chunks
        old_threads = numba.get_num_threads()
        numba.set_num_threads(min(cfg.workers, numba.config.NUMBA_NUM_THREADS))
        # A call covers a group of chunks, so the bar moves within an epoch.
        group = max(4 * cfg.workers, J // 20)
        desc = f"word2vec {'sg' if cfg.sg else 'cbow'}"
        bar = Progress(total=total, desc=desc, unit="word", disable=not progress)
        history, eff, t0 = [], 0, time.perf_counter()
        try:
            for epoch in range(epochs):
                seeds = np.random.default_rng(minitl.random.next_seed()).integers(
                    0, 2**64, size=J, dtype=np.uint64)
                done = epoch * n + words_before
                ew, el, ep = np.zeros(J, np.int64), np.zeros(J), np.zeros(J, np.int64)
                for g0 in range(0, J, group):
                    g1 = min(J, g0 + group)
                    with numba.parallel_chunksize(1):  # threads take chunks as they free up
                        kernel(self.syn0, self.syn1neg, tokens, sent_starts, chunk_starts[g0:g1 + 1],
                               seeds[g0:g1], done[g0:g1], self.keep_int, self.noise_alias,
                               self.noise_prob, cfg.sg, cfg.negative, cfg.window, cfg.alpha,
                               cfg.min_alpha, total,
                               compute_loss, ew[g0:g1], el[g0:g1], ep[g0:g1])
                    eff += int(ew[g0:g1].sum())
                    lr = cfg.alpha - (cfg.alpha - cfg.min_alpha) * min(done[g1 - 1] / total, 1.0)
                    rate = eff / max(time.perf_counter() - t0, 1e-9)
                    words = int(sent_starts[chunk_starts[g1]] - sent_starts[chunk_starts[g0]])
                    # loss: this epoch's mean over (input, word) pairs of L (K+1 -log sigmoid terms)
                    mean_loss = el[:g1].sum() / max(ep[:g1].sum(), 1)
                    shown = {"loss": f"{mean_loss:.4f}"} if compute_loss else {}
                    bar.update(words, **shown, lr=f"{lr:.5f}", eff_words_s=f"{rate:.0f}")
                history.append({"epoch": epoch + 1, "effective_words": int(ew.sum()),
                                "loss": float(el.sum() / max(ep.sum(), 1)) if compute_loss else None})
        finally:
            bar.close()
            numba.set_num_threads(old_threads)
        seconds = time.perf_counter() - t0
        return {"raw_words": total, "effective_words": eff, "seconds": seconds,
                "words_per_s": eff / seconds, "epochs": history}

    # -- save / load: a minitl checkpoint directory ---------------------------
    def save(self, directory, meta=None, vectors_txt=False):
        """Write config.json, model.safetensors (syn0, syn1neg) and tokenizer.json
        (the vocabulary); with ``vectors_txt`` also vectors.txt in word2vec's text
        format, which gensim's ``KeyedVectors.load_word2vec_format`` reads."""
        from minitl import checkpoint
        extra = {"tokenizer.json": self.vocab.save}
        if vectors_txt:
            extra["vectors.txt"] = self.wv.save_word2vec_format
        config = {"model": "word2vec", **dataclasses.asdict(self.config), "vocab_size": len(self.vocab)}
        return checkpoint.save_dir(directory, {"syn0": self.syn0, "syn1neg": self.syn1neg}, config,
                                   meta={"seed": minitl.random.initial_seed(), **(meta or {})},
                                   extra_files=extra)

    @classmethod
    def load(cls, directory):
        from minitl import checkpoint
        import os
        state, config, _ = checkpoint.load_dir(directory)
        if config.get("model") != "word2vec":
            raise ValueError(f"{directory}: config.json says model={config.get('model')!r}, "
                             "not a word2vec checkpoint")
        vocab = WordVocab.load(os.path.join(directory, "tokenizer.json"))
        fields = {f.name for f in dataclasses.fields(Word2VecConfig)}
        model = cls(Word2VecConfig(**{k: v for k, v in config.items() if k in fields}))
        model._set_vocab(vocab)
        for name in ("syn0", "syn1neg"):
            if name not in state or state[name].shape != (len(vocab), model.config.dim):
                got = state[name].shape if name in state else "missing"
                raise ValueError(f"{directory}: {name} is {got}, expected "
                                 f"({len(vocab)}, {model.config.dim}) from the vocabulary and config")
        model.syn0 = np.ascontiguousarray(state["syn0"], np.float32)
        model.syn1neg = np.ascontiguousarray(state["syn1neg"], np.float32)
        return model

    def __repr__(self):
        v = len(self.vocab) if self.vocab else 0
        return f"Word2Vec({json.dumps(dataclasses.asdict(self.config))}, vocab={v})"


def load_vectors(directory):
    """KeyedVectors from a ``Word2Vec.save`` checkpoint (its input vectors) or a ``KeyedVectors.save`` one.

    Args:
        directory: a checkpoint directory whose config.json says model "word2vec" or "keyedvectors".
    Returns:
        KeyedVectors.
    """
    import os
    cfg = os.path.join(directory, "config.json")
    if os.path.exists(cfg):
        with open(cfg, encoding="utf-8") as f:
            if json.load(f).get("model") == "word2vec":
                return Word2Vec.load(directory).wv
    return KeyedVectors.load(directory)
