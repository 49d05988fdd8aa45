"""L2-regularised logistic regression solved to a tight tolerance, numpy only.

The objective is scikit-learn's::

    C * sum_i w_i * cross_entropy(x_i W^T + b, y_i)  +  0.5 * ||W||^2

(``w_i`` are sample weights, the bias ``b`` is not penalised).  Two classes use
one weight vector (the logit of class 1; class 0's logit is fixed at 0), more
classes use one row per class (multinomial), exactly as scikit-learn does, so
the coefficients can be compared with ``sklearn.linear_model.LogisticRegression``.

We minimise the objective divided by ``C * sum(w)`` (same minimiser, gradients
of order 1 whatever C and N are) with L-BFGS (``lbfgs`` below: the two-loop
recursion plus a backtracking line search; the problem is strictly convex, so
every step keeps the curvature pair positive).

Two tricks make it fast enough to run inside a cross-validation loop:

* warm starts: ``fit(..., coef_init=...)`` starts from a previous solution
  (along a path of growing C each solve starts close to its answer);
* the row space: the optimal W is a combination of the training rows (the
  gradient of the loss is ``R^T X``), so when there are more columns than rows
  (a 10,000-word bag of words, 800 texts) we solve the same problem on
  ``F = U s`` from the eigendecomposition ``X X^T = U s^2 U^T`` (N x r, r <= N)
  and map back with ``W = Z (U / s)^T X``.  Exact up to directions with
  singular values below 1e-6 of the largest.
"""
import numpy as np


def lbfgs(fun, x0, tol=1e-6, max_iter=1000, history=10):
    """Minimise a smooth convex function with L-BFGS.

    Args:
        fun: x -> (f, grad) for a float64 vector x.
        x0: starting point (1-D).
        tol: stop when max |grad| <= tol.
        max_iter: most iterations.
        history: curvature pairs kept.
    Returns:
        (x, info) with info = {"n_iter", "converged", "f", "grad_max"}.
    """
    x = np.array(x0, np.float64)
    f, g = fun(x)
    S, Y = [], []
    it, converged = 0, False
    for it in range(1, max_iter + 1):
        if np.max(np.abs(g)) <= tol:
            converged, it = True, it - 1
            break
        # two-loop recursion: d = -H g with H the L-BFGS inverse-Hessian estimate
        q, alphas = g.copy(), []
        for s, y in zip(reversed(S), reversed(Y)):
            a = (s @ q) / (y @ s)
            q -= a * y
            alphas.append(a)
        q *= (S[-1] @ Y[-1]) / (Y[-1] @ Y[-1]) if S else 1.0 / max(1.0, np.linalg.norm(g))
        for (s, y), a in zip(zip(S, Y), reversed(alphas)):
            q += (a - (y @ q) / (y @ s)) * s
        d = -q
        slope = g @ d
        if slope >= 0:                                  # not a descent direction: restart
            S, Y, d = [], [], -g / max(1.0, np.linalg.norm(g))
            slope = g @ d
        # backtracking (Armijo) line search with a quadratic-interpolation step
        t = 1.0
        for _ in range(60):
            f_new, g_new = fun(x + t * d)
            if f_new <= f + 1e-4 * t * slope:
                break
            t_q = -slope * t * t / (2.0 * (f_new - f - slope * t))
            t = float(np.clip(t_q, 0.1 * t, 0.5 * t)) if np.isfinite(t_q) else 0.5 * t
        else:
            break                                       # no decrease possible: at rounding level
        s, y = t * d, g_new - g
        if s @ y > 1e-12 * (y @ y):
            S.append(s)
            Y.append(y)
            if len(S) > history:
                S.pop(0)
                Y.pop(0)
        decrease = f - f_new
        x, f, g = x + s, f_new, g_new
        if decrease <= 64 * np.finfo(float).eps * max(abs(f), 1.0):
            converged = np.max(np.abs(g)) <= tol
            break
    return x, {"n_iter": it, "converged": bool(converged), "f": float(f), "grad_max": float(np.max(np.abs(g)))}


def loss_and_grad(P, X, Y, sw, alpha):
    """Scaled objective and its gradient.

    Args:
        P: (K', d + 1) weights, the bias in the last column; K' = 1 for two classes.
        X: (N, d) features.  Y: (N, K) one-hot labels.
        sw: (N,) sample weights summing to 1.
        alpha: L2 strength, ``1 / (C * sum of the raw sample weights)``.
    Returns:
        (f, grad) with grad shaped like P.
    """
    W, b = P[:, :-1], P[:, -1]
    Z = X @ W.T + b                                     # (N, K')
    if P.shape[0] == 1:
        Z = np.concatenate([np.zeros((len(X), 1)), Z], axis=1)   # class 0's logit is 0
    Z = Z - Z.max(axis=1, keepdims=True)
    logp = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    f = -(sw * (Y * logp).sum(axis=1)).sum() + 0.5 * alpha * (W * W).sum()
    R = sw[:, None] * (np.exp(logp) - Y)                # d loss / d logits, (N, K)
    if P.shape[0] == 1:
        R = R[:, 1:]
    grad = np.concatenate([R.T @ X + alpha * W, R.sum(axis=0)[:, None]], axis=1)
    return f, grad


def row_space(gram, rtol=1e-12):
    """X = F @ B with F = U s (N, r) and orthonormal rows B = (U / s)^T X (never formed).

    Args:
        gram: (N, N) float64 ``X @ X.T``.
        rtol: drop eigenvalues of X X^T below rtol * the largest.
    Returns:
        (F, U_over_s): F (N, r); ``B = U_over_s.T @ X``, so new rows map to ``X_new @ X.T @ U_over_s``.
    """
    s2, U = np.linalg.eigh(gram)
    keep = s2 > rtol * max(s2.max(), 1e-300)
    s = np.sqrt(s2[keep])
    return U[:, keep] * s, U[:, keep] / s


def solve(X, y, n_classes, C, sample_weight=None, P0=None, tol=1e-8, max_iter=1000):
    """Fit the weights for one C (the core of ``LogisticRegression.fit``).

    Args:
        X: (N, d) float64.  y: (N,) int in [0, n_classes).
        C: inverse regularisation strength (> 0).
        sample_weight: (N,) or None.
        P0: (K', d + 1) warm start or None (zeros).
    Returns:
        (P, info) as in ``loss_and_grad`` / ``lbfgs``.
    """
    if C <= 0:
        raise ValueError(f"LogisticRegression: C must be > 0, got {C}")
    n, d = X.shape
    k = 1 if n_classes == 2 else n_classes
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
    Y = np.zeros((n, n_classes))
    Y[np.arange(n), y] = 1.0
    alpha = 1.0 / (C * sw.sum())
    sw = sw / sw.sum()
    x0 = np.zeros(k * (d + 1)) if P0 is None else np.asarray(P0, np.float64).ravel()

    def fun(x):
        f, g = loss_and_grad(x.reshape(k, d + 1), X, Y, sw, alpha)
        return f, g.ravel()

    x, info = lbfgs(fun, x0, tol=tol, max_iter=max_iter)
    return x.reshape(k, d + 1), info


def class_weights(y, n_classes, class_weight):
    """(N,) sample weights: ones, or n / (n_classes * count of the class) for "balanced"."""
    if class_weight is None:
        return np.ones(len(y))
    if class_weight != "balanced":
        raise ValueError(f"class_weight must be None or 'balanced', got {class_weight!r}")
    counts = np.bincount(y, minlength=n_classes)
    return (len(y) / (n_classes * np.maximum(counts, 1)))[y]


class LogisticRegression:
    """Multinomial (or binary) logistic regression with scikit-learn's objective and attributes.

    Args:
        C: inverse L2 strength (larger = weaker penalty).
        class_weight: None (every example counts 1, scikit-learn's default) or "balanced".
        tol: stop when the largest gradient entry of objective / (C * sum of weights) is below this.
        max_iter: most L-BFGS iterations.
    Attributes (after fit):
        classes_: (K,) the sorted labels seen.  coef_: (K', d) with K' = 1 for two classes.
        intercept_: (K',).  n_iter_, converged_: from the solver.
    """

    def __init__(self, C=1.0, class_weight=None, tol=1e-8, max_iter=1000):
        self.C, self.class_weight, self.tol, self.max_iter = C, class_weight, tol, max_iter

    def fit(self, X, y, sample_weight=None, coef_init=None):
        """Fit on (N, d) features and (N,) labels; ``coef_init`` = a (K', d + 1) warm start."""
        X, y = _check_xy("LogisticRegression.fit", X, y)
        return self._fit(X, y, sample_weight, coef_init)

    def _fit(self, X, y, sample_weight=None, coef_init=None, gram=None):
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        k = len(self.classes_)
        if k < 2:
            raise ValueError(f"LogisticRegression.fit: needs 2 or more classes, got only {self.classes_.tolist()}")
        sw = class_weights(y_idx, k, self.class_weight)
        if sample_weight is not None:
            sw = sw * np.asarray(sample_weight, np.float64)
        n, d = X.shape
        if d > 2 * n and coef_init is None:             # many more columns than rows: solve in the row space
            F, U_s = row_space(X @ X.T if gram is None else gram)
            Pz, info = solve(F, y_idx, k, self.C, sw, tol=self.tol, max_iter=self.max_iter)
            P = np.concatenate([(Pz[:, :-1] @ U_s.T) @ X, Pz[:, -1:]], axis=1)
        else:
            P, info = solve(X, y_idx, k, self.C, sw, coef_init, tol=self.tol, max_iter=self.max_iter)
        self.coef_, self.intercept_ = P[:, :-1], P[:, -1]
        self.n_iter_, self.converged_ = info["n_iter"], info["converged"]
        return self

    def decision_function(self, X):
        """Logits: (N,) for two classes (the logit of classes_[1]), else (N, K)."""
        Z = np.asarray(X, np.float64) @ self.coef_.T + self.intercept_
        return Z[:, 0] if len(self.classes_) == 2 else Z

    def predict_proba(self, X):
        """(N, K) class probabilities, columns in ``classes_`` order."""
        Z = np.asarray(X, np.float64) @ self.coef_.T + self.intercept_
        return softmax_logits(Z)

    def predict(self, X):
        """(N,) the most probable label of each row."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def softmax_logits(Z):
    """(N, K) probabilities from (N, K') logits; K' = 1 means two classes with class 0 at 0."""
    if Z.shape[1] == 1:
        Z = np.concatenate([np.zeros_like(Z), Z], axis=1)
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def _check_xy(name, X, y):
    X, y = np.asarray(X, np.float64), np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"{name}: X {X.shape} must be (N, d) and y {y.shape} must be (N,) with the same N")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name}: X has {int(np.sum(~np.isfinite(X)))} non-finite entries")
    return X, y
