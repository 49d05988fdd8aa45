"""Functions on Tensors (``import minitl.nn.functional as F``), composed from the primitives.

Nothing here writes a gradient: each function is a few Tensor operations, so
the tape differentiates it.  Five of them -- ``cross_entropy``, ``layer_norm``,
``gelu``, ``scaled_dot_product_attention`` and ``packed_self_attention`` -- can
instead run a fused op (one Function with a hand-written backward and a Numba
kernel): when ``minitl.config.FUSED`` is on and ``FUSED_IMPLS`` holds an
implementation under that name, it is called with the same (already checked)
arguments.  ``config.fused(False)`` runs the composed versions below, which are
also the test oracle for the fused ones.

Names and signatures are PyTorch's (``torch.nn.functional``); ``dir(F)`` lists
only the functions (``__all__``).
"""
import math
from typing import Optional, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike

from minitl import config, random
from minitl.tensor import Tensor, ShapeError
from minitl.ops import Embedding, Where, Index
from minitl.ops import fused as _fused_ops
from minitl.ops._checks import check_reduction, check_targets, normalized_shape as _normalized_shape
from minitl.ops.methods import as_array, lift

__all__ = ["relu", "tanh", "sigmoid", "silu", "gelu", "softmax", "log_softmax", "linear", "embedding",
           "dropout", "layer_norm", "cross_entropy", "nll_loss", "mse_loss",
           "binary_cross_entropy_with_logits", "scaled_dot_product_attention", "packed_self_attention"]

FUSED_IMPLS = dict(_fused_ops.FUSED)  # name -> fused implementation (minitl/ops/fused.py)


def __dir__():
    return list(__all__)


def _fused(name):
    return FUSED_IMPLS.get(name) if config.FUSED else None


def _reduce(losses: Tensor, reduction: str, what: str) -> Tensor:
    """"none": the losses as they are; "sum": their sum; "mean": their mean (PyTorch's reduction=)."""
    check_reduction(reduction, what)
    if reduction == "none":
        return losses
    total = losses.sum()
    return total if reduction == "sum" else total * (1.0 / max(losses.size, 1))


# -- activations -------------------------------------------------------------------

def relu(x: Tensor) -> Tensor:
    """max(x, 0) elementwise (gradient 1 where x > 0, else 0).

    Args: x, a Tensor of any shape.  Returns: a Tensor of x's shape and dtype.
    """
    return x.relu()


def tanh(x: Tensor) -> Tensor:
    """tanh(x) elementwise, in (-1, 1); its gradient is 1 - tanh(x)^2.

    Args: x, a Tensor of any shape.  Returns: a Tensor of x's shape and dtype.
    """
    return x.tanh()


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)) elementwise, in (0, 1); computed as (1 + tanh(x/2)) / 2, which never overflows.

    Args: x, a Tensor of any shape.  Returns: a Tensor of x's shape and dtype.
    """
    return x.sigmoid()


def silu(x: Tensor) -> Tensor:
    """x * sigmoid(x) elementwise (SiLU, also called swish; LLaMA's MLP uses it).

    Args: x, a Tensor of any shape.  Returns: a Tensor of x's shape and dtype.
    """
    return x * x.sigmoid()


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``: each slice becomes probabilities that add up to 1.

    The maximum is subtracted first, so large inputs do not overflow.

    Args:
        x: a Tensor of any shape.
        dim: the axis that is normalised (the classes).
    Returns:
        A Tensor of x's shape.
    """
    return x.softmax(dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """x - log(sum(exp(x))) along ``dim``: log-probabilities, stabler than log(softmax(x)).

    Args:
        x: a Tensor of any shape.
        dim: the axis that is normalised (the classes).
    Returns:
        A Tensor of x's shape.
    """
    return x.log_softmax(dim)


def gelu(x: Tensor) -> Tensor:
    """GELU, tanh approximation (GPT-2, BERT): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

    Args:
        x: a Tensor of any shape.
    Returns:
        A Tensor of x's shape and dtype (fused: one kernel forward and backward).
    """
    impl = _fused("gelu")
    if impl is not None:
        return impl(x)
    inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
    return x * 0.5 * (inner.tanh() + 1.0)


# -- layers as functions ---------------------------------------------------------------

def linear(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """y = x @ weight^T + bias, with weight (out, in) as in PyTorch: (..., in) -> (..., out).

    A (B, T, in) input is flattened to (B*T, in) first: one 2-D BLAS call instead
    of B small ones, and the weight's gradient comes out as one (in, B*T) @ (B*T, out)
    product instead of B products summed afterwards.

    Args:
        x: (..., in).  weight: (out, in).  bias: (out,) or None.
    Returns:
        (..., out).
    """
    if x.ndim > 2:
        lead = x.shape[:-1]
        y = linear(x.reshape(-1, x.shape[-1]), weight, bias)   # (B*T, out)
        return y.reshape(*lead, weight.shape[0])              # (B, T, out)
    y = x @ weight.T
    return y + bias if bias is not None else y


def embedding(idx: Union[Tensor, ArrayLike], weight: Tensor) -> Tensor:
    """Rows of ``weight`` (V, C) picked by integer ids (...) -> (..., C).

    Args:
        idx: integer ids of any shape, each in [0, V).
        weight: the table (V, C); its gradient is a scatter-add of the output's.
    Returns:
        (..., C).
    Raises:
        TypeError for non-integer ids, IndexError for an id outside [0, V).
    """
    return Embedding.apply(weight, ids=as_array(idx))          # the op checks the ids (ops/_checks.check_ids)


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout).

    The mask comes from ``minitl.random.rng()``; in eval (``training=False``) or with p=0
    it returns x unchanged.

    Args:
        x: a Tensor of any shape.  p: drop probability in [0, 1].  training: False = identity.
    Returns:
        A Tensor of x's shape.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = random.rng().random(x.shape) >= p
    return x * (keep * (1.0 / (1.0 - p))).astype(x.dtype)


def layer_norm(x: Tensor, normalized_shape: Union[int, Sequence[int]], weight: Optional[Tensor] = None,
               bias: Optional[Tensor] = None, eps: float = 1e-5) -> Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias over the last len(normalized_shape) axes.

    Args:
        x: (..., *normalized_shape).
        normalized_shape: the trailing shape that is normalised (an int for one axis).
        weight, bias: of ``normalized_shape``, or None (1 and 0).
        eps: added to the biased variance, as in PyTorch.
    Returns:
        A Tensor of x's shape.
    """
    shape = _normalized_shape(x.shape, normalized_shape, "layer_norm")
    impl = _fused("layer_norm")
    if impl is not None:
        return impl(x, shape, weight=weight, bias=bias, eps=eps)
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    xc = x - x.mean(dims, keepdim=True)
    var = (xc * xc).mean(dims, keepdim=True)     # biased variance, as in PyTorch
    y = xc * (var + eps) ** -0.5
    if weight is not None:
        y = y * weight
    return y + bias if bias is not None else y


# -- losses ----------------------------------------------------------------------------

def _nll(logp, t, ignore_index, reduction, weight=None):
    """-logp[n, t[n]] (* weight[t[n]]), reduced; ``t`` already checked. "mean" divides by the
    total weight of the kept rows (their count without ``weight``), as PyTorch does."""
    n = logp.shape[0]
    valid = t != ignore_index
    safe = np.where(valid, t, 0)
    w = valid.astype(logp.dtype)
    if weight is not None:
        w = w * as_array(weight).astype(logp.dtype)[safe]
    losses = -Index.apply(logp, key=(np.arange(n), safe)) * w     # (N,)
    if reduction == "none":
        return losses
    total = losses.sum()
    return total if reduction == "sum" else total * (1.0 / (float(w.sum()) or 1.0))


def cross_entropy(logits: Tensor, target: Union[Tensor, ArrayLike], ignore_index: int = -100,
                  reduction: str = "mean") -> Tensor:
    """-log softmax(logits)[target] for logits (N, C) and integer targets (N,).

    Args:
        logits: (N, C) unnormalised scores.
        target: (N,) class indices in [0, C), or ``ignore_index``.
        ignore_index: targets equal to it contribute nothing (padding, unmasked MLM positions).
        reduction: "mean" averages over the kept rows (0 if there are none), "sum" adds them,
            "none" returns the (N,) losses.
    Returns:
        A scalar Tensor, or (N,) for "none".
    """
    t = check_targets(logits.shape, as_array(target), ignore_index, reduction, "cross_entropy")
    impl = _fused("cross_entropy")
    if impl is not None:
        return impl(logits, t, ignore_index=ignore_index, reduction=reduction)
    return _nll(logits.log_softmax(-1), t, ignore_index, reduction)


def nll_loss(input: Tensor, target: Union[Tensor, ArrayLike], weight: Optional[ArrayLike] = None,
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """-input[n, target[n]]: the negative log-likelihood of log-probabilities (N, C).

    ``nll_loss(log_softmax(x), t)`` is ``cross_entropy(x, t)``.

    Args:
        input: (N, C) log-probabilities (e.g. from ``log_softmax``).
        target: (N,) class indices in [0, C), or ``ignore_index``.
        weight: optional (C,) weight per class; "mean" then divides by the summed weights
            of the kept targets, as PyTorch does.
        ignore_index: targets equal to it contribute nothing.
        reduction: "mean", "sum" or "none" (the (N,) losses).
    Returns:
        A scalar Tensor, or (N,) for "none".
    """
    t = check_targets(input.shape, as_array(target), ignore_index, reduction, "nll_loss")
    if weight is not None and as_array(weight).shape != input.shape[1:]:
        raise ShapeError(f"nll_loss: weight {as_array(weight).shape} must be ({input.shape[1]},), one per class")
    return _nll(input, t, ignore_index, reduction, weight)


def mse_loss(input: Tensor, target: Union[Tensor, ArrayLike], reduction: str = "mean") -> Tensor:
    """(input - target)^2 elementwise, reduced: the mean squared error.

    Args:
        input: a Tensor of any shape.
        target: the same shape (a Tensor may require grad too).
        reduction: "mean" (over every element), "sum" or "none" (input's shape).
    Returns:
        A scalar Tensor, or input's shape for "none".
    """
    target = lift(target, input)
    if target.shape != input.shape:
        raise ShapeError(f"mse_loss: input {input.shape} and target {target.shape} must have one shape")
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


def binary_cross_entropy_with_logits(input: Tensor, target: Union[Tensor, ArrayLike],
                                     weight: Optional[ArrayLike] = None, reduction: str = "mean",
                                     pos_weight: Optional[ArrayLike] = None) -> Tensor:
    """-[t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))], from the logits x, stably.

    Computed as (1 - t) x + (1 + (pos_weight - 1) t) softplus(-x), with
    softplus(-x) = log(1 + exp(-|x|)) + max(-x, 0): no exp overflows, no log(0).

    Args:
        input: logits of any shape.
        target: probabilities in [0, 1] of the same shape.
        weight: optional weight per element, broadcast to input's shape.
        reduction: "mean", "sum" or "none".
        pos_weight: optional weight of the positive term, broadcast over the last axis (one per class).
    Returns:
        A scalar Tensor, or input's shape for "none".
    """
    t = lift(target, input)
    if t.shape != input.shape:
        raise ShapeError(f"binary_cross_entropy_with_logits: input {input.shape} and target {t.shape} "
                         "must have one shape")
    relu_neg = (-input).relu()
    softplus_neg = ((-(input.relu() + relu_neg)).exp() + 1.0).log() + relu_neg        # |x| = relu(x) + relu(-x)
    lw = 1.0 if pos_weight is None else t * (lift(pos_weight, input) - 1.0) + 1.0
    losses = (1.0 - t) * input + lw * softplus_neg
    if weight is not None:
        losses = losses * lift(weight, input)
    return _reduce(losses, reduction, "binary_cross_entropy_with_logits")


# -- attention -------------------------------------------------------------------------

def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, attn_mask: Optional[ArrayLike] = None, *,
                                 is_causal: bool = False, key_padding_mask: Optional[ArrayLike] = None,
                                 dropout_p: float = 0.0, scale: Optional[float] = None) -> Tensor:
    """softmax(q @ k^T / sqrt(hs), masked) @ v for q (..., Tq, hs), k and v (..., Tk, hs).

    Args:
        q, k, v: (..., Tq, hs), (..., Tk, hs), (..., Tk, hv).
        attn_mask: boolean, True = may attend (as in PyTorch), broadcastable to (..., Tq, Tk);
            a float mask is added to the scores instead.
        is_causal: position i attends to positions <= i only.
        key_padding_mask: boolean (B, Tk), True = a real token; padded keys get no attention.
        dropout_p: dropout on the attention weights (training only, pass 0.0 in eval).
        scale: multiplies the scores; default 1/sqrt(hs).
    Returns:
        (..., Tq, hv).
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


def packed_self_attention(qkv: Tensor, n_head: int, is_causal: bool = False,
                          key_padding_mask: Optional[ArrayLike] = None, dropout_p: float = 0.0) -> Tensor:
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
