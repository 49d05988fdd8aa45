"""Functions on Tensors (``import minitl.nn.functional as F``), composed from the primitives.

Nothing here writes a gradient: each function is a few Tensor operations, so
the tape differentiates it.  Four of them -- ``cross_entropy``, ``layer_norm``,
``gelu`` and ``scaled_dot_product_attention`` -- can instead run a fused op
(one Function with a hand-written backward and a Numba kernel): when
``minitl.config.FUSED`` is on and ``FUSED_IMPLS`` holds an implementation under
that name, it is called with the same arguments.  ``config.fused(False)`` runs
the composed versions below, which are also the test oracle for the fused ones.
"""
import math

import numpy as np

from minitl import config, random
from minitl.tensor import Tensor, ShapeError
from minitl.ops import Embedding, Where, Index
from minitl.ops import fused as _fused_ops
from minitl.ops.methods import as_array

FUSED_IMPLS = dict(_fused_ops.FUSED)  # name -> fused implementation (minitl/ops/fused.py)


def _fused(name):
    return FUSED_IMPLS.get(name) if config.FUSED else None


def relu(x):
    return x.relu()


def tanh(x):
    return x.tanh()


def sigmoid(x):
    return x.sigmoid()


def softmax(x, dim=-1):
    return x.softmax(dim)


def log_softmax(x, dim=-1):
    return x.log_softmax(dim)


def gelu(x):
    """GELU, tanh approximation (GPT-2, BERT): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    impl = _fused("gelu")
    if impl is not None:
        return impl(x)
    inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
    return x * 0.5 * (inner.tanh() + 1.0)


def linear(x, weight, bias=None):
    """y = x @ weight^T + bias, with weight (out, in) as in PyTorch: (..., in) -> (..., out).

    A (B, T, in) input is flattened to (B*T, in) first: one 2-D BLAS call instead
    of B small ones, and the weight's gradient comes out as one (in, B*T) @ (B*T, out)
    product instead of B products summed afterwards.
    """
    if x.ndim > 2:
        lead = x.shape[:-1]
        y = linear(x.reshape(-1, x.shape[-1]), weight, bias)   # (B*T, out)
        return y.reshape(*lead, weight.shape[0])              # (B, T, out)
    y = x @ weight.T
    return y + bias if bias is not None else y


def embedding(idx, weight):
    """Rows of ``weight`` (V, C) picked by integer ids (...) -> (..., C)."""
    ids = as_array(idx)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding: ids must be integers, got dtype {ids.dtype}")
    return Embedding.apply(weight, ids=ids)


def dropout(x, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout).

    The mask comes from ``minitl.random.rng()``; in eval (``training=False``) or with p=0
    it returns x unchanged.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = random.rng().random(x.shape) >= p
    return x * (keep * (1.0 / (1.0 - p))).astype(x.dtype)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last len(normalized_shape) axes."""
    impl = _fused("layer_norm")
    if impl is not None:
        return impl(x, normalized_shape, weight=weight, bias=bias, eps=eps)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape:
        raise ShapeError(f"layer_norm: input shape {x.shape} does not end with normalized_shape {shape}")
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    xc = x - x.mean(dims, keepdim=True)
    var = (xc * xc).mean(dims, keepdim=True)     # biased variance, as in PyTorch
    y = xc * (var + eps) ** -0.5
    if weight is not None:
        y = y * weight
    return y + bias if bias is not None else y


def cross_entropy(logits, target, ignore_index=-100, reduction="mean"):
    """-log softmax(logits)[target] for logits (N, C) and integer targets (N,).

    Targets equal to ``ignore_index`` contribute nothing; "mean" averages over the
    others (0 if there are none), "sum" adds them, "none" returns the (N,) losses.
    """
    impl = _fused("cross_entropy")
    if impl is not None:
        return impl(logits, target, ignore_index=ignore_index, reduction=reduction)
    t = as_array(target)
    if logits.ndim != 2 or t.shape != logits.shape[:1]:
        raise ShapeError(f"cross_entropy: logits {logits.shape} must be (N, C) and target {t.shape} (N,)")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    n, c = logits.shape
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= c))
    if bad.any():
        raise IndexError(f"cross_entropy: target {t[bad][0]} out of range for {c} classes")
    picked = Index.apply(logits.log_softmax(-1), key=(np.arange(n), np.where(valid, t, 0)))  # (N,)
    losses = -picked * valid.astype(logits.dtype)
    if reduction == "none":
        return losses
    total = losses.sum()
    return total if reduction == "sum" else total * (1.0 / max(int(valid.sum()), 1))


def scaled_dot_product_attention(q, k, v, attn_mask=None, *, is_causal=False, key_padding_mask=None,
                                 dropout_p=0.0, scale=None):
    """softmax(q @ k^T / sqrt(hs), masked) @ v for q (..., Tq, hs), k and v (..., Tk, hs).

    Args:
        attn_mask: boolean, True = may attend (as in PyTorch), broadcastable to (..., Tq, Tk);
            a float mask is added to the scores instead.
        is_causal: position i attends to positions <= i only.
        key_padding_mask: boolean (B, Tk), True = a real token; padded keys get no attention.
        dropout_p: dropout on the attention weights (training only, pass 0.0 in eval).
        scale: multiplies the scores; default 1/sqrt(hs).
    A query row that may attend to nothing (all keys padded) gives zeros, not NaN.

    Self-attention shapes (q, k, v all (B, nh, T, hs)) with no ``attn_mask`` or
    ``scale`` run the fused op (O(T) memory; with dropout, its mask is hashed
    from a seed drawn from ``minitl.random``, so a different mask than this
    composed path draws, equally reproducible); anything else is composed here.
    """
    impl = _fused("scaled_dot_product_attention")
    if (impl is not None and attn_mask is None and scale is None and 0.0 <= dropout_p < 1.0 and q.ndim == 4
            and q.shape == k.shape == v.shape):
        return impl(q, k, v, is_causal=is_causal, key_padding_mask=key_padding_mask, dropout_p=dropout_p)
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ShapeError(f"attention: q {q.shape}, k {k.shape}, v {v.shape}: need q (..., Tq, hs), "
                         "k (..., Tk, hs), v (..., Tk, hv)")
    tq, tk = q.shape[-2], k.shape[-2]
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]) if scale is None else scale)
    allowed = None  # boolean (..., Tq, Tk): True = may attend
    if attn_mask is not None:
        m = as_array(attn_mask)
        if m.dtype == np.bool_:
            allowed = m
        else:
            scores = scores + m.astype(scores.dtype)
    if is_causal:
        causal = np.tril(np.ones((tq, tk), dtype=bool))
        allowed = causal if allowed is None else allowed & causal
    if key_padding_mask is not None:
        kp = as_array(key_padding_mask)
        kp = kp.astype(bool).reshape(kp.shape[:1] + (1,) * (scores.ndim - 2) + kp.shape[1:])  # (B, 1.., 1, Tk)
        allowed = kp if allowed is None else allowed & kp
    if allowed is not None:
        # a large finite negative (not -inf) keeps fully masked rows finite; they are zeroed below
        scores = Where.apply(scores, Tensor(np.asarray(-1e9, dtype=scores.dtype)), cond=allowed)
    att = scores.softmax(-1)                                   # (..., Tq, Tk)
    if allowed is not None:
        any_key = allowed.any(axis=-1, keepdims=True)          # (..., Tq, 1)
        if not any_key.all():
            att = att * any_key.astype(att.dtype)              # rows with nothing to attend to -> 0
    if dropout_p > 0.0:
        att = dropout(att, dropout_p, training=True)
    return att @ v


def packed_self_attention(qkv, n_head, is_causal=False, key_padding_mask=None, dropout_p=0.0):
    """Multi-head self-attention from one packed projection: qkv (B, T, 3C) -> (B, T, C).

    Args:
        qkv: ``[q | k | v]`` along the last axis, each C = n_head * hs (one Linear(C, 3C)).
        n_head: number of heads; head h of q is ``qkv[..., h*hs:(h+1)*hs]``.
        is_causal, key_padding_mask, dropout_p: as in ``scaled_dot_product_attention``.
    Returns:
        (B, T, C): the heads' outputs side by side.  Fused (``config.FUSED``), it is one
        tape node that splits the heads as views and writes one packed gradient; composed,
        it is reshape, permute, three slices, attention, permute, reshape.
    """
    B, T, C3 = qkv.shape
    impl = _fused("packed_self_attention")
    if impl is not None and 0.0 <= dropout_p < 1.0:
        return impl(qkv, n_head, is_causal=is_causal, key_padding_mask=key_padding_mask, dropout_p=dropout_p)
    x = qkv.reshape(B, T, 3, n_head, C3 // (3 * n_head)).permute(2, 0, 3, 1, 4)   # (3, B, nh, T, hs)
    y = scaled_dot_product_attention(x[0], x[1], x[2], is_causal=is_causal, key_padding_mask=key_padding_mask,
                                     dropout_p=dropout_p)                          # (B, nh, T, hs)
    return y.permute(0, 2, 1, 3).reshape(B, T, C3 // 3)
