"""Fair controls: cross-validated logistic regression and a bag-of-words baseline.

A transfer-learning claim ("pretrained features beat training from scratch")
is only as good as its control.  A control whose regularisation was guessed
instead of tuned loses points it should not lose, and pretraining looks better
than it is.  So every linear model here picks its L2 strength C by stratified
k-fold cross-validation on the n training labels only (the test set is never
touched), exactly as scikit-learn's ``LogisticRegressionCV`` would:

    probe = fit_probe(X_train, y_train)              # standardise + CV over C
    probe.predict(X_test)

    bow = fit_bow_classifier(train_texts, y_train)   # unigrams + bigrams, CV over C
    bow.predict(test_texts)

``LogisticRegression`` (the solver) lives in ``minitl.transfer.logistic`` and is
re-exported here.
"""
import contextlib

import numpy as np

from minitl.text.words import tokenize
from minitl.transfer.logistic import LogisticRegression, class_weights, row_space, softmax_logits, solve, _check_xy

__all__ = ["LogisticRegression", "LogisticRegressionCV", "BagOfWords", "BagOfWordsClassifier",
           "mean_word_vectors", "fit_probe", "fit_bow_classifier", "stratified_folds"]


# The features are dense (N, V) float32: a learner can print them.  Past this size they stop
# fitting a laptop: all 15,957 training tweets have 156,064 uni+bigrams, a 9.3 GiB matrix, and the
# learning curve's cell at n=all was killed for memory (24 GB) before this check existed.
MAX_DENSE_BYTES = 2 * 2**30


def stratified_folds(y, folds, seed=0):
    """(N,) fold id of each example: every class dealt round-robin over the folds after a seeded shuffle.

    Args:
        y: (N,) labels.  folds: number of folds.  seed: the shuffle's seed.
    Returns:
        (N,) int array in [0, folds); fold sizes differ by at most 1 and so do
        each class's counts per fold.
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    fold, start = np.empty(len(y), np.int64), 0
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        fold[idx] = (start + np.arange(len(idx))) % folds
        start += len(idx)
    return fold


def _one_blas_thread():
    """A context limiting numpy's BLAS to one thread, if the optional threadpoolctl is installed.

    The CV's hundreds of small solves gain little from a second thread, and when
    other jobs share the cores OpenBLAS's spinning threads stall: a 1,000-tweet
    bag-of-words CV fit took 54 s wall (18 s CPU) with 2 threads vs 3.9 s
    (1.8 s CPU) with one, on the shared 2-core machine.  Without threadpoolctl
    this is a no-op (set OPENBLAS_NUM_THREADS=1 instead).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _scaler(X):
    """Mean and scale of each column (scale 1 where the column is constant, as scikit-learn does)."""
    mean, std = X.mean(axis=0), X.std(axis=0)
    return mean, np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, 1.0)


class LogisticRegressionCV:
    """Logistic regression whose C is chosen by stratified k-fold CV on the training data only.

    For each fold the features are standardised with that fold's training
    statistics (if ``standardize``), then the whole C path is solved from the
    smallest C up, each solve warm-started from the previous one, and scored on
    the held-out fold.  The C with the best mean score is refitted on all the
    training data.

    Why ``scoring="neg_log_loss"`` by default: with 100 labels a validation fold
    holds 20 examples, so accuracy moves in 5-point steps and many Cs tie;
    the log loss is continuous, separates them, and also penalises
    over-confident fits (scikit-learn is moving its default to it for the same
    reason).  Validation examples are weighted like training examples: with
    ``class_weight="balanced"`` each class counts equally in the score (so
    "accuracy" is then balanced accuracy).

    Args:
        Cs: int (that many values log-spaced in [1e-4, 1e4], as scikit-learn) or a list of Cs.
        folds: k of the k-fold split; fewer if the smallest class has fewer than k examples (>= 2).
        scoring: "neg_log_loss" or "accuracy".
        class_weight: "balanced" or None.
        standardize: scale each feature to zero mean and unit variance (fold statistics).
        seed: fold assignment seed (deterministic).
        tol, max_iter: solver settings, as in ``LogisticRegression``.
    Attributes (after fit):
        C_: the chosen C.  Cs_: (n_Cs,) the grid, ascending.  cv_scores_: (n_Cs,) mean
        validation score per C.  cv_fold_scores_: (n_Cs, folds_).  folds_: folds used.
        classes_, coef_ (K', d), intercept_ (K',): the refitted model in the *original*
        feature space (the standardisation is folded into them).  estimator_: the
        refitted ``LogisticRegression`` on standardised features; mean_, scale_.
    """

    def __init__(self, Cs=10, folds=5, scoring="neg_log_loss", class_weight="balanced",
                 standardize=True, seed=0, tol=1e-8, max_iter=1000):
        if scoring not in ("neg_log_loss", "accuracy"):
            raise ValueError(f"LogisticRegressionCV: scoring must be 'neg_log_loss' or 'accuracy', got {scoring!r}")
        self.Cs, self.folds, self.scoring, self.class_weight = Cs, folds, scoring, class_weight
        self.standardize, self.seed, self.tol, self.max_iter = standardize, seed, tol, max_iter

    def fit(self, X, y):
        """Choose C by CV on (X, y), then refit on all of it.  X: (N, d); y: (N,) labels."""
        X, y = _check_xy("LogisticRegressionCV.fit", X, y)
        with _one_blas_thread():
            return self._fit(X, y)

    def _fit(self, X, y):
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        k = len(self.classes_)
        counts = np.bincount(y_idx, minlength=k)
        if k < 2:
            raise ValueError(f"LogisticRegressionCV.fit: needs 2 or more classes, got only {self.classes_.tolist()}")
        self.folds_ = min(self.folds, int(counts.min()))
        if self.folds_ < 2:
            raise ValueError(f"LogisticRegressionCV.fit: the class counts {dict(zip(self.classes_.tolist(), counts.tolist()))} "
                             f"leave fewer than 2 examples in the smallest class; cross-validation needs >= 2 per class")
        self.Cs_ = (np.logspace(-4, 4, self.Cs) if np.isscalar(self.Cs)
                    else np.sort(np.asarray(self.Cs, np.float64)))
        fold = stratified_folds(y_idx, self.folds_, self.seed)
        # Many more columns than rows (a bag of words): solve in each fold's row space
        # (see minitl.transfer.logistic).  Unstandardised, every fold's X X^T is a block of one Gram.
        wide = X.shape[1] > 2 * len(X)
        gram = X @ X.T if wide and not self.standardize else None
        scores = np.zeros((len(self.Cs_), self.folds_))
        for f in range(self.folds_):
            tr, va = fold != f, fold == f
            F_tr, F_va = self._fold_features(X, tr, va, wide, gram)
            sw = class_weights(y_idx[tr], k, self.class_weight)
            P = None
            for j, C in enumerate(self.Cs_):            # smallest C first: each solve warm-starts the next
                P, _ = solve(F_tr, y_idx[tr], k, C, sw, P0=P, tol=self.tol, max_iter=self.max_iter)
                scores[j, f] = self._score(softmax_logits(F_va @ P[:, :-1].T + P[:, -1]), y_idx[va], k)
        self.cv_fold_scores_, self.cv_scores_ = scores, scores.mean(axis=1)
        self.C_ = float(self.Cs_[int(np.argmax(self.cv_scores_))])   # ties: the smallest C (most regularised)
        self.mean_, self.scale_ = _scaler(X) if self.standardize else (np.zeros(X.shape[1]), np.ones(X.shape[1]))
        self.estimator_ = LogisticRegression(self.C_, self.class_weight, self.tol, self.max_iter)
        self.estimator_._fit((X - self.mean_) / self.scale_ if self.standardize else X, y, gram=gram)
        self.coef_ = self.estimator_.coef_ / self.scale_
        self.intercept_ = self.estimator_.intercept_ - self.coef_ @ self.mean_
        return self

    def _fold_features(self, X, tr, va, wide, gram):
        """The fold's (training, validation) features: standardised with training statistics, and
        in the training rows' row space when ``wide`` (exactly the same problem, <= N columns)."""
        if gram is not None:
            F, U_s = row_space(gram[np.ix_(tr, tr)])
            return F, gram[np.ix_(va, tr)] @ U_s
        X_tr, X_va = X[tr], X[va]
        if self.standardize:
            mean, scale = _scaler(X_tr)
            X_tr, X_va = (X_tr - mean) / scale, (X_va - mean) / scale
        if wide:
            F, U_s = row_space(X_tr @ X_tr.T)
            return F, (X_va @ X_tr.T) @ U_s
        return X_tr, X_va

    def _score(self, proba, y, k):
        v = class_weights(y, k, self.class_weight)
        if self.scoring == "accuracy":
            return float((v * (proba.argmax(axis=1) == y)).sum() / v.sum())
        return float((v * np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, None))).sum() / v.sum())

    def decision_function(self, X):
        """Logits: (N,) for two classes, else (N, K)."""
        Z = np.asarray(X, np.float64) @ self.coef_.T + self.intercept_
        return Z[:, 0] if len(self.classes_) == 2 else Z

    def predict_proba(self, X):
        """(N, K) class probabilities, columns in ``classes_`` order."""
        return softmax_logits(np.asarray(X, np.float64) @ self.coef_.T + self.intercept_)

    def predict(self, X):
        """(N,) the most probable label of each row."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class BagOfWords:
    """Texts -> dense (N, V) n-gram features, vocabulary from the training texts only.

    Each entry is the n-gram's count in the text, ``1 + log(count)`` if
    ``sublinear_tf``, times its inverse document frequency
    ``log((1 + N) / (1 + df)) + 1`` if ``use_idf`` (scikit-learn's smoothed idf,
    from the training texts), and each row is scaled to unit L2 norm if
    ``norm="l2"`` -- i.e. scikit-learn's ``TfidfVectorizer`` with these settings.

    Args:
        ngram_range: (min_n, max_n) word n-gram lengths; (1, 2) = unigrams + bigrams.
        min_df: keep n-grams found in at least this many training texts.
        sublinear_tf: use 1 + log(count) instead of count.
        norm: "l2" or None.
        use_idf: weight by inverse document frequency.
        tokenizer: str -> list of str (texts given as token lists are used as they are).
    Attributes (after fit):
        vocabulary_: dict n-gram (words joined by one space) -> column, columns in sorted order.
        idf_: (V,) float32 (ones if not ``use_idf``).
    """

    def __init__(self, ngram_range=(1, 2), min_df=1, sublinear_tf=True, norm="l2", use_idf=True,
                 tokenizer=tokenize):
        lo, hi = ngram_range
        if not 1 <= lo <= hi:
            raise ValueError(f"BagOfWords: ngram_range must satisfy 1 <= min_n <= max_n, got {ngram_range}")
        if norm not in ("l2", None):
            raise ValueError(f"BagOfWords: norm must be 'l2' or None, got {norm!r}")
        self.ngram_range, self.min_df, self.sublinear_tf = (lo, hi), min_df, sublinear_tf
        self.norm, self.use_idf, self.tokenizer = norm, use_idf, tokenizer

    def _ngrams(self, text):
        toks = self.tokenizer(text) if isinstance(text, str) else list(text)
        lo, hi = self.ngram_range
        return [" ".join(toks[i:i + n]) for n in range(lo, hi + 1) for i in range(len(toks) - n + 1)]

    def fit(self, texts):
        """Learn the vocabulary (and idf) from ``texts`` (strings or token lists)."""
        grams = [set(self._ngrams(t)) for t in texts]
        df = {}
        for g in grams:
            for w in g:
                df[w] = df.get(w, 0) + 1
        terms = sorted(w for w, c in df.items() if c >= self.min_df)
        if not terms:
            raise ValueError(f"BagOfWords.fit: no n-gram occurs in >= {self.min_df} of the {len(texts)} texts")
        self.vocabulary_ = {w: i for i, w in enumerate(terms)}
        dfs = np.array([df[w] for w in terms], np.float64)
        self.idf_ = (np.log((1 + len(texts)) / (1 + dfs)) + 1 if self.use_idf
                     else np.ones(len(terms))).astype(np.float32)
        return self

    def transform(self, texts):
        """(N, V) float32 features of ``texts``; n-grams outside the vocabulary are ignored."""
        if not hasattr(self, "vocabulary_"):
            raise RuntimeError("BagOfWords.transform: call fit (on the training texts) first")
        need = len(texts) * len(self.vocabulary_) * 4
        if need > MAX_DENSE_BYTES:
            raise MemoryError(f"BagOfWords.transform: {len(texts):,} texts x {len(self.vocabulary_):,} n-grams is a "
                              f"dense {need / 2**30:.1f} GiB matrix (limit {MAX_DENSE_BYTES / 2**30:.0f} GiB, and the "
                              f"cross-validation copies it several times); raise min_df or use fewer texts")
        out = np.zeros((len(texts), len(self.vocabulary_)), np.float32)
        for i, t in enumerate(texts):
            cols = [j for j in map(self.vocabulary_.get, self._ngrams(t)) if j is not None]
            np.add.at(out[i], cols, 1.0)
        if self.sublinear_tf:
            seen = out > 0
            out[seen] = 1.0 + np.log(out[seen])
        out *= self.idf_
        if self.norm == "l2":
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def fit_transform(self, texts):
        """``fit(texts)`` then ``transform(texts)``."""
        return self.fit(texts).transform(texts)


def mean_word_vectors(texts_or_token_lists, keyed_vectors):
    """(N, dim): the average vector of the in-vocabulary words of each text (zeros if none).

    Args:
        texts_or_token_lists: strings (tokenised with ``minitl.text.words.tokenize``) or token lists.
        keyed_vectors: anything with ``vector_size``, ``vectors`` (V, dim), ``in`` and ``index(word)``
            (``minitl.models.KeyedVectors``).
    Returns:
        (N, dim) float32.
    """
    out = np.zeros((len(texts_or_token_lists), keyed_vectors.vector_size), np.float32)
    for i, toks in enumerate(texts_or_token_lists):
        toks = tokenize(toks) if isinstance(toks, str) else toks
        ids = [keyed_vectors.index(t) for t in toks if t in keyed_vectors]
        if ids:
            out[i] = keyed_vectors.vectors[ids].mean(0)
    return out


def fit_probe(X, y, **cv_kw):
    """A linear probe on frozen features: standardise, then ``LogisticRegressionCV``.

    Args:
        X: (N, d) features.  y: (N,) labels.
        **cv_kw: ``LogisticRegressionCV`` arguments (Cs, folds, scoring, class_weight, seed, ...).
    Returns:
        the fitted ``LogisticRegressionCV`` (``predict``, ``predict_proba``, ``C_``, ...).
    """
    return LogisticRegressionCV(**{"standardize": True, **cv_kw}).fit(X, y)


class BagOfWordsClassifier:
    """A fitted ``BagOfWords`` and ``LogisticRegressionCV``: texts in, labels out."""

    def __init__(self, bow, clf):
        self.bow, self.clf = bow, clf

    def predict_proba(self, texts):
        """(N, K) class probabilities of ``texts``."""
        return self.clf.predict_proba(self.bow.transform(texts))

    def predict(self, texts):
        """(N,) predicted labels of ``texts``."""
        return self.clf.predict(self.bow.transform(texts))


def fit_bow_classifier(train_texts, y, bow=None, **cv_kw):
    """The from-scratch control: n-gram features of the training texts + CV logistic regression.

    Args:
        train_texts: strings (or token lists); the vocabulary comes from these only.
        y: (N,) labels.
        bow: dict of ``BagOfWords`` arguments (default: unigrams + bigrams, sublinear tf-idf, L2 rows).
        **cv_kw: ``LogisticRegressionCV`` arguments; ``standardize`` defaults to False here
            (the rows are already L2-normalised; scaling rare n-grams up would amplify noise).
    Returns:
        ``BagOfWordsClassifier`` with ``predict(texts)`` and ``predict_proba(texts)``.
    """
    vec = BagOfWords(**(bow or {}))
    X = vec.fit_transform(train_texts)
    clf = LogisticRegressionCV(**{"standardize": False, **cv_kw}).fit(X, y)
    return BagOfWordsClassifier(vec, clf)
