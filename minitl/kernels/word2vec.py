"""Word2vec training with negative sampling: the Numba kernel and its naive twin.

Decision (llm.c style, recorded here because it differs from the other
kernels, whose twins live in ``kernels/reference.py``): the plain-numpy
reference twin of this kernel sits in this same file, right below it.  The two
share the data layout, the random-number generator and Mikolov's tricks line
for line, and a learner should read them side by side: first the twin
(``train_chunks_reference``: Python loops, numpy for the vector maths), then
the kernel (``train_chunks``: the same loops, compiled, run on all threads).
The twin is also the tests' oracle and what ``MINITL_BACKEND=reference`` runs.

The model.  Every word w has an input vector ``syn0[w]`` and an output vector
``syn1neg[w]`` (gensim's names, from word2vec.c).  For one (input h, word to
predict o) pair, with K noise words n_1..n_K drawn from the unigram^0.75
distribution, the loss is

    L = -log sigmoid(h . syn1neg[o]) - sum_k log sigmoid(-h . syn1neg[n_k])

Skip-gram: h = syn0[context word], o = the centre word (each context word
predicts the centre word, which is how word2vec.c and gensim loop).
CBOW: h = mean of the context words' syn0 rows, o = the centre word.

One plain SGD step on L is what ``_neg_term`` does for each of the K+1 output
words (label 1 for o, 0 for the noise words):

    f = h . syn1neg[t];  g = lr * (label - sigmoid(f))   # g = -lr * dL/df
    work       += g * syn1neg[t]                          # -lr * dL/dh, applied at the end
    syn1neg[t] += g * h                                   # -lr * dL/dsyn1neg[t]

Data layout (numpy arrays only; the kernel knows nothing of Tensors):
    syn0, syn1neg   (V, C) float32, updated in place
    tokens          (N,) int32   all sentences' word ids, concatenated (no [UNK])
    sent_starts     (S+1,) int64 sentence s is tokens[sent_starts[s]:sent_starts[s+1]]
    chunk_starts    (J+1,) int64 chunk j is sentences chunk_starts[j]..chunk_starts[j+1]-1
    chunk_seeds     (J,) uint64  one random stream per chunk
    chunk_done      (J,) int64   words trained before this chunk (all epochs), for the lr
    keep_int        (V,) uint32  subsampling: keep a token of w if keep_int[w] >= rand32
    noise_alias     (V,) int32   noise distribution (unigram^0.75) as Walker's alias
    noise_prob      (V,) uint32  table: see ``_draw_noise``

Randomness.  Each chunk draws from its own SplitMix64 stream (Steele, Lea &
Flood 2014; Java's SplittableRandom): a counter s += 0x9E3779B97F4A7C15,
hashed by two multiply-xorshift rounds; the top 32 bits are the random
number.  It is seeded from ``chunk_seeds``, so a chunk's result does not
depend on which thread ran it.  Why not word2vec.c's and gensim's 48-bit
linear congruential generator?  Successive LCG outputs are correlated, and we
draw more from it than gensim does (the dynamic window, two numbers per noise
word): with the LCG our vectors scored about 0.01 lower on WordSim-353 and
SimLex-999 than gensim's (20 epochs, 3 seeds); with SplitMix64 they are
within 0.012 of gensim's, either side (benchmarks/bench_word2vec.py).
  With one thread the run is
reproducible bit for bit; with several, threads update the shared rows
without locks (Hogwild, Recht et al. 2011), so the order of colliding updates
-- and the last digits of the result -- vary from run to run.
"""
import math

import numpy as np
from numba import njit, prange

# sigmoid(f) in the kernel: linear interpolation in a table of 1025 values on
# [-MAX_F, MAX_F] (error < 5e-6), 0 or 1 beyond (error < 5e-5).  An exp per
# term cost about 20% of the epoch; word2vec.c and gensim use a table too
# (theirs is not interpolated, and they skip |f| >= 6 altogether).
MAX_F = 10.0
_SIG_N = 1024
_SIG = (0.5 * (1.0 + np.tanh(0.5 * np.linspace(-MAX_F, MAX_F, _SIG_N + 1)))).astype(np.float32)
_SIG_SCALE = np.float32(_SIG_N / (2 * MAX_F))

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_M32 = np.uint64(0xFFFFFFFF)
_S27, _S30, _S31, _S32 = np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(32)


# ---------------------------------------------------------------------------
# The Numba kernel.  Plain Python functions first, compiled at the bottom, so
# NUMBA_DISABLE_JIT=1 runs exactly this code as Python.
# ---------------------------------------------------------------------------

# 64-bit arithmetic mod 2**64 done on 32-bit halves, so nothing overflows:
# Numba would wrap silently, but plain numpy (NUMBA_DISABLE_JIT=1) warns.
def _add64(a, b):
    lo = (a & _M32) + (b & _M32)
    hi = ((a >> _S32) + (b >> _S32) + (lo >> _S32)) & _M32
    return (hi << _S32) | (lo & _M32)


def _mul64(a, b):
    a_lo, a_hi, b_lo, b_hi = a & _M32, a >> _S32, b & _M32, b >> _S32
    lo = a_lo * b_lo
    hi = ((lo >> _S32) + ((a_hi * b_lo) & _M32) + ((a_lo * b_hi) & _M32)) & _M32
    return (hi << _S32) | (lo & _M32)


def _rand64(s):
    # SplitMix64: returns (next state, 64 random bits)
    s = _add64(s, _GOLDEN)
    z = _mul64(s ^ (s >> _S30), _MIX1)
    z = _mul64(z ^ (z >> _S27), _MIX2)
    return s, z ^ (z >> _S31)


def _draw_noise(noise_alias, noise_prob, s):
    # Negative sampling: word w is drawn with probability
    # count(w)**0.75 / sum(count**0.75), by Walker's alias method: pick a
    # column uniformly, keep it with probability noise_prob[col] / 2**32, else
    # take its alias.  O(1) and two small arrays that stay in cache; gensim's
    # binary search over a cumulative table made the whole epoch 1.6x slower.
    # One 64-bit draw: the top 32 bits pick the column, the low 32 the coin.
    s, z = _rand64(s)
    col = np.int64(((z >> _S32) * np.uint64(len(noise_alias))) >> _S32)
    if (z & _M32) < noise_prob[col]:
        return col, s
    return np.int64(noise_alias[col]), s


def _sigmoid(f):
    if f <= np.float32(-MAX_F):
        return np.float32(0.0)
    if f >= np.float32(MAX_F):
        return np.float32(1.0)
    x = (f + np.float32(MAX_F)) * _SIG_SCALE
    i = np.int64(x)
    return _SIG[i] + (x - np.float32(i)) * (_SIG[i + 1] - _SIG[i])


def _neg_term(h, syn1neg, t, label, lr, work, compute_loss):
    """One output word t of one pair: update syn1neg[t], add -lr*dL/dh to work."""
    dim = h.shape[0]
    f = np.float32(0.0)
    for k in range(dim):
        f += h[k] * syn1neg[t, k]
    sig = _sigmoid(f)
    g = (label - sig) * lr
    for k in range(dim):
        work[k] += g * syn1neg[t, k]
        syn1neg[t, k] += g * h[k]
    if not compute_loss:
        return 0.0
    # -log sigmoid(z), z = f for the true word and -f for noise: log(1 + e^-|z|) + max(-z, 0)
    z = f if label > 0 else -f
    return math.log1p(math.exp(-abs(z))) + max(-z, np.float32(0.0))


def _pair(syn0, syn1neg, h, o, noise_alias, noise_prob, negative, lr, work, s, compute_loss):
    """Train input vector h to predict word o against `negative` noise words."""
    for k in range(h.shape[0]):
        work[k] = 0.0
    loss = _neg_term(h, syn1neg, o, np.float32(1.0), lr, work, compute_loss)
    for _ in range(negative):
        t, s = _draw_noise(noise_alias, noise_prob, s)
        if t == o:  # drawing the true word as noise teaches nothing; skip it
            continue
        loss += _neg_term(h, syn1neg, t, np.float32(0.0), lr, work, compute_loss)
    return s, loss


def _train_chunks(syn0, syn1neg, tokens, sent_starts, chunk_starts, chunk_seeds, chunk_done,
                  keep_int, noise_alias, noise_prob, sg, negative, window, alpha, min_alpha, total_words,
                  compute_loss, out_words, out_loss, out_pairs):
    dim = syn0.shape[1]
    for c in prange(len(chunk_starts) - 1):
        s = chunk_seeds[c]
        work = np.empty(dim, np.float32)
        neu1 = np.empty(dim, np.float32)
        first, last = chunk_starts[c], chunk_starts[c + 1]
        idx = np.empty(sent_starts[last] - sent_starts[first], np.int32)
        done = chunk_done[c]
        n_words, n_pairs, loss = 0, 0, 0.0
        for si in range(first, last):
            a, b = sent_starts[si], sent_starts[si + 1]
            # Linear learning-rate decay from alpha to min_alpha over all epochs' words.
            lr = np.float32(alpha - (alpha - min_alpha) * min(done / total_words, 1.0))
            done += b - a
            # Subsampling of frequent words: keep w with probability keep_int[w] / 2**32.
            n = 0
            for p in range(a, b):
                w = tokens[p]
                s, z = _rand64(s)
                if keep_int[w] >= (z >> _S32):
                    idx[n] = w
                    n += 1
            n_words += n
            for i in range(n):
                # Dynamic window: the window shrinks by b ~ U{0..window-1}, so
                # near words are seen more often than far ones.
                s, z = _rand64(s)
                red = np.int64((z >> _S32) % np.uint64(window))
                lo = max(0, i - window + red)
                hi = min(n, i + window + 1 - red)
                if sg:  # skip-gram: each context word's vector predicts the centre word
                    for j in range(lo, hi):
                        if j != i:
                            s, l = _pair(syn0, syn1neg, syn0[idx[j]], idx[i], noise_alias,
                                         noise_prob, negative, lr, work, s, compute_loss)
                            for k in range(dim):
                                syn0[idx[j], k] += work[k]
                            loss += l
                            n_pairs += 1
                elif hi - lo > 1:  # CBOW: the mean of the context vectors predicts it
                    for k in range(dim):
                        neu1[k] = 0.0
                    for j in range(lo, hi):
                        if j != i:
                            for k in range(dim):
                                neu1[k] += syn0[idx[j], k]
                    inv = np.float32(1.0 / (hi - lo - 1))
                    for k in range(dim):
                        neu1[k] *= inv
                    s, l = _pair(syn0, syn1neg, neu1, idx[i], noise_alias, noise_prob, negative, lr,
                                 work, s, compute_loss)
                    # Like word2vec.c and gensim, every context word gets the whole error
                    # (not the 1/count share that the mean's exact gradient would give).
                    for j in range(lo, hi):
                        if j != i:
                            for k in range(dim):
                                syn0[idx[j], k] += work[k]
                    loss += l
                    n_pairs += 1
        out_words[c] = n_words
        out_loss[c] = loss
        out_pairs[c] = n_pairs


def _sgns_batch(syn0, syn1neg, inputs, targets, lr):
    """Skip-gram steps on an explicit batch (no sampling): row b trains
    syn0[inputs[b]] to predict targets[b, 0] against the noise words
    targets[b, 1:].  Runs the very ``_neg_term`` the training kernel runs; the
    tests compare it with the autograd loss.  Returns the loss of each row."""
    dim = syn0.shape[1]
    work = np.empty(dim, np.float32)
    losses = np.empty(len(inputs), np.float64)
    for b in range(len(inputs)):
        h = syn0[inputs[b]]
        work[:] = 0.0
        losses[b] = 0.0
        for k in range(targets.shape[1]):
            label = np.float32(1.0) if k == 0 else np.float32(0.0)
            losses[b] += _neg_term(h, syn1neg, targets[b, k], label, lr, work, True)
        for k in range(dim):
            syn0[inputs[b], k] += work[k]
    return losses


def _cbow_batch(syn0, syn1neg, contexts, targets, lr):
    """CBOW steps on an explicit batch: the mean of syn0[contexts[b]] (entries
    < 0 are padding) predicts targets[b, 0] against targets[b, 1:]; each
    context row then gets the whole error, as in the training kernel."""
    dim = syn0.shape[1]
    work = np.empty(dim, np.float32)
    neu1 = np.empty(dim, np.float32)
    losses = np.empty(len(contexts), np.float64)
    for b in range(len(contexts)):
        neu1[:] = 0.0
        count = 0
        for j in range(contexts.shape[1]):
            if contexts[b, j] >= 0:
                count += 1
                for k in range(dim):
                    neu1[k] += syn0[contexts[b, j], k]
        inv = np.float32(1.0 / count)
        for k in range(dim):
            neu1[k] *= inv
        work[:] = 0.0
        losses[b] = 0.0
        for k in range(targets.shape[1]):
            label = np.float32(1.0) if k == 0 else np.float32(0.0)
            losses[b] += _neg_term(neu1, syn1neg, targets[b, k], label, lr, work, True)
        for j in range(contexts.shape[1]):
            if contexts[b, j] >= 0:
                for k in range(dim):
                    syn0[contexts[b, j], k] += work[k]
    return losses


# ---------------------------------------------------------------------------
# The naive reference twin: the same loops in plain Python, numpy for vectors.
# Loop nest, for each chunk c (any order) and each sentence in it:
#     lr    = alpha - (alpha - min_alpha) * words_done / total_words
#     words = [w for w in sentence if keep_int[w] >= rand32()]       # subsampling
#     for i, o in enumerate(words):
#         r = window - randint(window)                                 # dynamic window
#         context = words[i-r : i] + words[i+1 : i+r+1]
#         skip-gram: for each w in context: SGD step on L(h=syn0[w], o, K noise words)
#         CBOW:      SGD step on L(h=mean(syn0[context]), o, K noise words)
# ---------------------------------------------------------------------------

def train_chunks_reference(syn0, syn1neg, tokens, sent_starts, chunk_starts, chunk_seeds,
                           chunk_done, keep_int, noise_alias, noise_prob, sg, negative, window, alpha,
                           min_alpha, total_words, compute_loss, out_words, out_loss, out_pairs):
    """Same arguments and results as ``train_chunks`` (one thread, slowly)."""
    def rand64(s):  # SplitMix64, in Python integers: (next state, 64 random bits)
        s = (s + 0x9E3779B97F4A7C15) % 2**64
        z = ((s ^ (s >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
        return s, z ^ (z >> 31)

    def sgd_step(h, o, s, lr):  # one (h, o) pair with `negative` noise words; returns work
        work = np.zeros_like(h)
        loss = 0.0
        targets = [(o, 1.0)]
        for _ in range(negative):
            s, z = rand64(s)
            col = ((z >> 32) * len(noise_alias)) >> 32           # a uniform column...
            keep = (z % 2**32) < noise_prob[col]                 # ...or its alias
            t = col if keep else int(noise_alias[col])
            if t != o:
                targets.append((t, 0.0))
        for t, label in targets:
            f = np.dot(h, syn1neg[t])
            sig = np.float32(0.5 * (1.0 + np.tanh(0.5 * f)))  # sigmoid(f), exactly
            g = (np.float32(label) - sig) * lr
            work += g * syn1neg[t]
            syn1neg[t] += g * h
            loss += np.logaddexp(0.0, -f if label else f)   # -log sigmoid(+-f)
        return work, s, float(loss)

    for c in range(len(chunk_starts) - 1):
        s = int(chunk_seeds[c])
        done, n_words, n_pairs, total_loss = int(chunk_done[c]), 0, 0, 0.0
        for si in range(chunk_starts[c], chunk_starts[c + 1]):
            sentence = tokens[sent_starts[si]:sent_starts[si + 1]]
            lr = np.float32(alpha - (alpha - min_alpha) * min(done / total_words, 1.0))
            done += len(sentence)
            words = []
            for w in sentence:
                s, z = rand64(s)
                if int(keep_int[w]) >= z >> 32:
                    words.append(int(w))
            n_words += len(words)
            for i, o in enumerate(words):
                s, z = rand64(s)
                red = (z >> 32) % window
                lo, hi = max(0, i - window + red), min(len(words), i + window + 1 - red)
                context = [words[j] for j in range(lo, hi) if j != i]
                if sg:
                    for w in context:
                        work, s, loss = sgd_step(syn0[w], o, s, lr)
                        syn0[w] += work
                        total_loss += loss
                        n_pairs += 1
                elif context:
                    h = syn0[context].sum(axis=0) * np.float32(1.0 / len(context))
                    work, s, loss = sgd_step(h, o, s, lr)
                    for w in context:
                        syn0[w] += work
                    total_loss += loss
                    n_pairs += 1
        out_words[c], out_loss[c], out_pairs[c] = n_words, total_loss if compute_loss else 0.0, n_pairs


# ---------------------------------------------------------------------------
# Compile (at the bottom, so NUMBA_DISABLE_JIT=1 leaves the Python above).
# ---------------------------------------------------------------------------
_add64 = njit(cache=True)(_add64)
_mul64 = njit(cache=True)(_mul64)
_rand64 = njit(cache=True)(_rand64)
_draw_noise = njit(cache=True)(_draw_noise)
_sigmoid = njit(cache=True, fastmath=True)(_sigmoid)
_neg_term = njit(cache=True, fastmath=True)(_neg_term)
_pair = njit(cache=True, fastmath=True)(_pair)
train_chunks = njit(parallel=True, fastmath=True, cache=True)(_train_chunks)
sgns_batch = njit(cache=True, fastmath=True)(_sgns_batch)
cbow_batch = njit(cache=True, fastmath=True)(_cbow_batch)
