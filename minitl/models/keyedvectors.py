"""KeyedVectors: words and their vectors, and the questions one asks of them.

    wv.most_similar("king", topn=5)                     # nearest by cosine
    wv.most_similar(positive=["king", "woman"], negative=["man"])   # gensim's form
    wv.analogy("man", "king", "woman")                  # man : king :: woman : ?  -> "queen"
    wv.similarity("cat", "dog")                         # cosine, in [-1, 1]
    wv["king"] or wv.vector("king")                     # the (C,) vector

``analogy(a, b, c)`` reads "a is to b as c is to ?" and answers with the word
nearest to b - a + c (all vectors unit-normalised first; the three question
words themselves excluded) -- the order the Google analogy file uses
("man king woman queen"), and exactly gensim's
``most_similar(positive=[b, c], negative=[a])`` ("3CosAdd").

Vectors can be written and read in word2vec's text format (a header line
"V C", then one "word v1 v2 ... vC" line per word), which gensim's
``KeyedVectors.load_word2vec_format`` and most other tools read.
"""
import numpy as np


class KeyedVectors:
    """Attributes:
        index_to_key: list of words, most frequent first (row i is word i).
        key_to_index: dict word -> row.
        vectors: (V, C) float32.
        counts: list of corpus counts (or None).
    """

    def __init__(self, words, vectors, counts=None):
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or len(words) != len(vectors):
            raise ValueError(f"KeyedVectors: {len(words)} words but vectors of shape {vectors.shape}")
        self.index_to_key = list(words)
        self.key_to_index = {w: i for i, w in enumerate(self.index_to_key)}
        self.vectors = vectors
        self.counts = None if counts is None else list(counts)
        self._unit = None

    def __len__(self):
        return len(self.index_to_key)

    def __contains__(self, word):
        return word in self.key_to_index

    @property
    def vector_size(self):
        return self.vectors.shape[1]

    def index(self, word):
        """Row of ``word``; KeyError naming it when it is out of vocabulary."""
        try:
            return self.key_to_index[word]
        except KeyError:
            raise KeyError(f"word {word!r} not in vocabulary ({len(self)} words): it is out of "
                           "vocabulary -- too rare in the corpus (below min_count) or never seen") from None

    def vector(self, word):
        return self.vectors[self.index(word)]

    __getitem__ = vector

    def unit_vectors(self):
        """Rows scaled to length 1 (cached; recomputed if the vectors change shape)."""
        if self._unit is None or self._unit.shape != self.vectors.shape:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = (self.vectors / np.maximum(norms, 1e-12)).astype(np.float32)
        return self._unit

    def similarity(self, a, b):
        """Cosine similarity of two words."""
        u = self.unit_vectors()
        return float(u[self.index(a)] @ u[self.index(b)])

    def most_similar(self, positive=None, negative=None, topn=10, restrict_vocab=None):
        """Words nearest (by cosine) to mean(unit(positive)) - mean(unit(negative)).

        Args:
            positive: a word or list of words (or vectors) that count +1.
            negative: list of words that count -1.
            topn: how many to return.
            restrict_vocab: search only the first (most frequent) N words.
        Returns:
            list of (word, cosine similarity), best first, the query words excluded.
        """
        if positive is None:
            positive = []
        if isinstance(positive, (str, np.ndarray)):
            positive = [positive]
        negative = [] if negative is None else ([negative] if isinstance(negative, str) else negative)
        if not positive and not negative:
            raise ValueError("most_similar: give at least one positive or negative word")
        u = self.unit_vectors()
        query, exclude = np.zeros(self.vector_size, np.float64), set()
        for words, weight in ((positive, 1.0), (negative, -1.0)):
            for w in words:
                if isinstance(w, np.ndarray):
                    query += weight * w / max(np.linalg.norm(w), 1e-12)
                else:
                    i = self.index(w)
                    query += weight * u[i]
                    exclude.add(i)
        query /= max(np.linalg.norm(query), 1e-12)
        limit = len(self) if restrict_vocab is None else min(restrict_vocab, len(self))
        sims = u[:limit] @ query.astype(np.float32)               # (limit,)
        k = min(topn + len(exclude), limit)
        best = np.argpartition(-sims, k - 1)[:k] if k < limit else np.arange(limit)
        best = best[np.argsort(-sims[best], kind="stable")]
        return [(self.index_to_key[i], float(sims[i])) for i in best if i not in exclude][:topn]

    def analogy(self, a, b, c, topn=1, restrict_vocab=None):
        """a : b :: c : ?  -- the word nearest to b - a + c ("man", "king", "woman" -> "queen").

        Returns the best word, or a list of (word, similarity) when topn > 1.
        """
        found = self.most_similar(positive=[b, c], negative=[a], topn=topn,
                                  restrict_vocab=restrict_vocab)
        return found[0][0] if topn == 1 else found

    # -- word2vec text format ------------------------------------------------------
    def save_word2vec_format(self, path):
        """Write "V C" then "word v1 ... vC" per line (UTF-8), as word2vec.c's -binary 0."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"{len(self)} {self.vector_size}\n")
            for w, v in zip(self.index_to_key, self.vectors):
                if not w or any(ch.isspace() for ch in w):
                    raise ValueError(f"save_word2vec_format: word {w!r} contains whitespace; "
                                     "the text format cannot represent it")
                f.write(w + " " + " ".join(f"{x:.6g}" for x in v) + "\n")

    @classmethod
    def load_word2vec_format(cls, path):
        """Read the text format written above (or by gensim / word2vec.c)."""
        with open(path, encoding="utf-8") as f:
            header = f.readline().split()
            if len(header) != 2 or not all(h.isdigit() for h in header):
                raise ValueError(f"{path}:1: expected a header 'V C' (two integers), got {header!r}")
            n, dim = int(header[0]), int(header[1])
            words, vectors = [], np.empty((n, dim), np.float32)
            for lineno, line in enumerate(f, start=2):
                if not line.strip():
                    continue
                parts = line.rstrip("\n").rstrip(" ").split(" ")
                if len(parts) != dim + 1:
                    raise ValueError(f"{path}:{lineno}: expected a word and {dim} numbers, "
                                     f"got {len(parts)} fields")
                if len(words) == n:
                    raise ValueError(f"{path}:{lineno}: more than the {n} vectors the header announces")
                try:
                    vectors[len(words)] = [float(x) for x in parts[1:]]
                except ValueError as e:
                    raise ValueError(f"{path}:{lineno}: {e}") from None
                words.append(parts[0])
        if len(words) != n:
            raise ValueError(f"{path}: the header announces {n} vectors, the file has {len(words)}")
        return cls(words, vectors)

    # -- minitl checkpoint format --------------------------------------------------
    def save(self, directory):
        """A minitl checkpoint directory: model.safetensors ({"vectors"}) + the word list."""
        import json
        from minitl import checkpoint
        words = json.dumps({"index_to_key": self.index_to_key, "counts": self.counts},
                           ensure_ascii=False)
        return checkpoint.save_dir(directory, {"vectors": np.ascontiguousarray(self.vectors)},
                                   {"model": "keyedvectors", "vector_size": self.vector_size,
                                    "n_words": len(self)}, extra_files={"words.json": words})

    @classmethod
    def load(cls, directory):
        """Load ``save``'s directory.

        A word2vec checkpoint is ``Word2Vec``'s to read (this file sits below it):
        ``Word2Vec.load(dir).wv``, or ``minitl.models.word2vec.load_vectors(dir)`` for either kind.
        """
        import json
        import os
        from minitl import checkpoint
        state, config, _ = checkpoint.load_dir(directory)
        if config.get("model") == "word2vec":
            raise ValueError(f"{directory} is a word2vec checkpoint: read its vectors with "
                             "Word2Vec.load(dir).wv or minitl.models.word2vec.load_vectors(dir)")
        if config.get("model") != "keyedvectors":
            raise ValueError(f"{directory}: config.json says model={config.get('model')!r}; "
                             "expected keyedvectors")
        with open(os.path.join(directory, "words.json"), encoding="utf-8") as f:
            words = json.load(f)
        return cls(words["index_to_key"], state["vectors"], words.get("counts"))

    def __repr__(self):
        return f"KeyedVectors({len(self)} words, {self.vector_size} dims)"
