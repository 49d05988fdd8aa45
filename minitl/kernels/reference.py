"""The numpy reference twins: every Numba kernel, written as the maths.

Read these first.  Each docstring shows the loop nest the fast kernel runs; the
body says the same thing with whole-array numpy.  The tests hold every kernel
to its twin, and ``minitl.config.set_backend("reference")`` makes the fused
ops run on these instead of the kernels.

Shapes: B batch, nh heads, T time, hs head size, C channels, N rows, V vocab.
"""
import numpy as np


def _sqrt2pi():
    return np.sqrt(2.0 / np.pi)


# -- matmul -----------------------------------------------------------------

def matmul_ref(a, b):
    """c = a @ b for (M, K) @ (K, N), or batched (nb, M, K) @ (nb, K, N)::

        for b in range(nb):
            for i in range(M):
                for j in range(N):
                    c[b, i, j] = sum(a[b, i, k] * b[b, k, j] for k in range(K))
    """
    return np.matmul(a, b)


def matmul_bwd_ref(a, b, grad, need_a=True, need_b=True):
    """forward was c = a @ b, so da = grad @ b.T and db = a.T @ grad::

        da[i, k] = sum_j grad[i, j] * b[k, j]
        db[k, j] = sum_i a[i, k] * grad[i, j]
    """
    da = np.matmul(grad, b.swapaxes(-1, -2)) if need_a else None
    db = np.matmul(a.swapaxes(-1, -2), grad) if need_b else None
    return da, db


# -- attention --------------------------------------------------------------

def _allowed(T, causal, key_padding_mask, B):
    """Boolean (B, 1, T, T): may query i look at key j?"""
    allowed = np.ones((B, 1, T, T), dtype=bool)
    if causal:
        allowed &= np.tril(np.ones((T, T), dtype=bool))
    if key_padding_mask is not None:
        allowed &= np.asarray(key_padding_mask, dtype=bool)[:, None, None, :]
    return allowed


def dropout_keep_ref(shape, seed, p):
    """The attention-dropout multipliers (B, nh, T, T): 1/(1-p) where kept, 0 where dropped.

    Not drawn from a generator but hashed from the position, so the forward and
    the backward (and this twin) rebuild the same mask without storing it::

        x = ((b*nh + h) * T + i) * T + j                      (mod 2^32)
        h = fmix32((x * 0x9E3779B1 + seed) mod 2^32)           (MurmurHash3's finaliser)
        keep = h >= p * 2^32
    """
    M = np.uint64(0xFFFFFFFF)
    x = np.arange(int(np.prod(shape)), dtype=np.uint64).reshape(shape) & M
    h = (x * np.uint64(0x9E3779B1) + np.uint64(seed & 0xFFFFFFFF)) & M
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & M
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & M
    h ^= h >> np.uint64(16)
    return np.where(h >= np.uint64(dropout_threshold(p)), 1.0 / (1.0 - p), 0.0)


def dropout_threshold(p):
    """p -> the 32-bit threshold under which a hashed position is dropped."""
    return min(int(p * 2.0 ** 32), 2 ** 32 - 1)


def attention_ref(q, k, v, causal=False, key_padding_mask=None, dropout_p=0.0, seed=0):
    """out = dropout(softmax(q k^T / sqrt(hs), masked)) v, and lse = log-sum-exp of each score row.

    q, k, v (B, nh, T, hs); key_padding_mask (B, T) bool, True = a real token.
    A row that may look at no key at all gets out = 0 and lse = -inf.  With
    ``dropout_p`` > 0 each probability is multiplied by ``dropout_keep_ref``'s
    entry for ``seed`` (lse is the undropped one)::

        for b, h, i:
            s[j] = q[b,h,i] . k[b,h,j] / sqrt(hs)   for every key j it may see
            lse[b,h,i] = log(sum_j exp(s[j]))
            out[b,h,i] = sum_j exp(s[j] - lse) * keep[b,h,i,j] * v[b,h,j]
    """
    B, nh, T, hs = q.shape
    s = np.matmul(q, k.swapaxes(-1, -2)) / np.sqrt(hs)                 # (B, nh, T, T)
    allowed = np.broadcast_to(_allowed(T, causal, key_padding_mask, B), s.shape)
    s = np.where(allowed, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)                                  # (B, nh, T, 1)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    p = np.exp(s - m_safe)                                              # exp(-inf) = 0
    l = p.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        lse = (m_safe + np.log(l))[..., 0]                              # -inf for an empty row
    p = p / np.where(l > 0, l, 1.0)
    if dropout_p > 0.0:
        p = p * dropout_keep_ref(p.shape, seed, dropout_p)
    out = np.matmul(p, v)
    return out.astype(q.dtype), lse.astype(q.dtype)


def attention_bwd_ref(q, k, v, out, lse, dout, causal=False, key_padding_mask=None, dropout_p=0.0, seed=0):
    """Gradients of attention, recomputing the probabilities (and the dropout mask) from lse (and seed).

    forward was: p = exp(s - lse) (masked entries 0), out = (p * keep) @ v, s = q k^T / sqrt(hs)
    so::

        dv = (p * keep)^T @ dout
        dp = (dout @ v^T) * keep
        ds = p * (dp - D),   D[i] = sum_j p[i,j] dp[i,j] = sum_c dout[i,c] out[i,c]
        dq = ds @ k / sqrt(hs);  dk = ds^T @ q / sqrt(hs)
    """
    B, nh, T, hs = q.shape
    scale = 1.0 / np.sqrt(hs)
    s = np.matmul(q, k.swapaxes(-1, -2)) * scale
    allowed = np.broadcast_to(_allowed(T, causal, key_padding_mask, B), s.shape)
    lse_safe = np.where(np.isfinite(lse), lse, np.inf)[..., None]       # empty row -> p = 0
    p = np.where(allowed, np.exp(s - lse_safe), 0.0)
    keep = dropout_keep_ref(p.shape, seed, dropout_p) if dropout_p > 0.0 else 1.0
    dv = np.matmul((p * keep).swapaxes(-1, -2), dout)
    dp = np.matmul(dout, v.swapaxes(-1, -2)) * keep
    D = (dout * out).sum(axis=-1, keepdims=True)
    ds = p * (dp - D)
    dq = np.matmul(ds, k) * scale
    dk = np.matmul(ds.swapaxes(-1, -2), q) * scale
    return dq.astype(q.dtype), dk.astype(q.dtype), dv.astype(q.dtype)


# -- layer norm -------------------------------------------------------------

def layernorm_fwd_ref(x, w, b, eps=1e-5):
    """y = (x - mean) * rstd * w + b over the last axis of x (N, C); also returns mean, rstd (N,)::

        for n:
            mean = sum_c x[n,c] / C
            rstd = 1 / sqrt(sum_c (x[n,c] - mean)^2 / C + eps)
            y[n,c] = (x[n,c] - mean) * rstd * w[c] + b[c]
    """
    mean = x.mean(axis=-1)
    xc = x - mean[:, None]
    rstd = 1.0 / np.sqrt((xc * xc).mean(axis=-1) + eps)
    return (xc * rstd[:, None] * w + b).astype(x.dtype), mean.astype(x.dtype), rstd.astype(x.dtype)


def layernorm_bwd_ref(dy, x, w, mean, rstd):
    """forward was: xhat = (x - mean) * rstd; y = xhat * w + b, so::

        db[c] = sum_n dy[n,c];   dw[c] = sum_n dy[n,c] * xhat[n,c]
        g = dy * w
        dx[n,c] = rstd * (g[n,c] - mean_c(g[n]) - xhat[n,c] * mean_c(g[n] * xhat[n]))
    """
    xhat = (x - mean[:, None]) * rstd[:, None]
    g = dy * w
    dx = rstd[:, None] * (g - g.mean(axis=-1, keepdims=True)
                          - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return dx.astype(x.dtype), (dy * xhat).sum(axis=0).astype(x.dtype), dy.sum(axis=0).astype(x.dtype)


# -- softmax + cross-entropy ------------------------------------------------

def softmax_xent_fwd_ref(logits, target, ignore_index=-100):
    """Per-row loss -log softmax(logits[n])[target[n]] (0 where ignored), and lse (N,)::

        for n:
            lse[n] = log(sum_c exp(logits[n,c]))
            loss[n] = lse[n] - logits[n, target[n]]   (0 if target[n] == ignore_index)
    """
    m = logits.max(axis=-1)
    lse = m + np.log(np.exp(logits - m[:, None]).sum(axis=-1))
    valid = target != ignore_index
    picked = logits[np.arange(len(target)), np.where(valid, target, 0)]
    return np.where(valid, lse - picked, 0.0).astype(logits.dtype), lse.astype(logits.dtype)


def softmax_xent_bwd_ref(logits, target, lse, dloss, ignore_index=-100):
    """forward was: loss[n] = lse[n] - logits[n, t], so::

        dlogits[n, c] = dloss[n] * (exp(logits[n,c] - lse[n]) - [c == t])   (0 if ignored)
    """
    p = np.exp(logits - lse[:, None])
    valid = target != ignore_index
    p[np.arange(len(target)), np.where(valid, target, 0)] -= valid
    return (p * (dloss * valid)[:, None]).astype(logits.dtype)


# -- GELU (tanh approximation, GPT-2 / BERT) --------------------------------

def gelu_fwd_ref(x):
    """y = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), elementwise."""
    u = _sqrt2pi() * (x + 0.044715 * x ** 3)
    return (0.5 * x * (1.0 + np.tanh(u))).astype(x.dtype)


def gelu_bwd_ref(x, dy):
    """forward was: y = 0.5 x (1 + tanh(u)), so::

        dy/dx = 0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
    """
    t = np.tanh(_sqrt2pi() * (x + 0.044715 * x ** 3))
    d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _sqrt2pi() * (1.0 + 3 * 0.044715 * x * x)
    return (dy * d).astype(x.dtype)


# -- embedding backward -----------------------------------------------------

def embedding_bwd_ref(ids, dout, num_embeddings):
    """forward was: out[n] = weight[ids[n]], so a scatter-add::

        dweight = zeros(V, C)
        for n: dweight[ids[n]] += dout[n]     (an id used twice gets both)
    """
    dw = np.zeros((num_embeddings, dout.shape[-1]), dtype=dout.dtype)
    np.add.at(dw, ids.reshape(-1), dout.reshape(-1, dout.shape[-1]))
    return dw


# -- AdamW ------------------------------------------------------------------

def adamw_ref(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay):
    """One AdamW step, in place on param, m, v (decoupled weight decay, as in PyTorch)::

        for every element:
            param *= 1 - lr * weight_decay
            m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
            param -= lr * (m / (1 - beta1^step)) / (sqrt(v / (1 - beta2^step)) + eps)
    """
    param *= 1.0 - lr * weight_decay
    m *= beta1
    m += (1.0 - beta1) * grad
    v *= beta2
    v += (1.0 - beta2) * grad * grad
    mhat = m / (1.0 - beta1 ** step)
    vhat = v / (1.0 - beta2 ** step)
    param -= (lr * mhat / (np.sqrt(vhat) + eps)).astype(param.dtype)


# -- bias + GELU, bias + residual (the fused linear layer's tails, kernels/bias_act.py) ----

def bias_gelu_fwd_ref(pre, b):
    """z = pre + b, y = gelu(z) over (N, C) rows; returns (y, z) (the backward reads z)."""
    z = (pre + b).astype(pre.dtype)
    return gelu_fwd_ref(z), z


def bias_gelu_bwd_ref(z, dy):
    """forward was: y = gelu(z), z = pre + b, so dpre = dy gelu'(z) and db = sum over rows of dpre."""
    dz = gelu_bwd_ref(z, dy)
    return dz, dz.sum(axis=0)


def bias_residual_ref(pre, b, r=None):
    """pre + b (+ r): the projection's bias and the residual stream in one sum."""
    out = pre + b if r is None else pre + b + r
    return out.astype(pre.dtype)
