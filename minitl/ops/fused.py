"""The fused ops: one Function each, with a hand-written backward, running on the
Numba kernels (``minitl.config.BACKEND == "numba"``) or on their numpy twins
(``"reference"``, ``minitl/kernels/reference.py``).

* ``FusedGELU``          -- gelu (tanh approximation)
* ``FusedLayerNorm``     -- layer_norm, saving mean and rstd per row
* ``FusedCrossEntropy``  -- log-softmax + pick + reduction, saving lse per row
* ``FusedAttention``     -- scaled-dot-product attention, saving lse per row

``FUSED`` below maps the functional names to them.  This module does not
import the layer above it: ``minitl.nn.functional`` reads ``FUSED`` into its
``FUSED_IMPLS`` and decides, call by call, whether an input is one the fused
op handles (``F.gelu``, ``F.layer_norm``, ``F.cross_entropy``,
``F.scaled_dot_product_attention``, while ``minitl.config.FUSED`` is on);
``with minitl.config.fused(False):`` gives the composed versions (the oracle
these are tested against in ``tests/test_fused_ops.py``).
"""
import numpy as np

from minitl import config, random
from minitl.tensor import Function, Tensor
from minitl.ops import _checks
from minitl.kernels import reference as R
from minitl.kernels import attention as _attention, layernorm as _layernorm
from minitl.kernels import softmax_xent as _softmax_xent, gelu as _gelu


def _numba():
    return config.BACKEND == "numba"


def _pick(ctx, kernel, twin):
    """The kernel or its twin, per ``config.BACKEND``; the choice shows in the MINITL_DEBUG trace."""
    ctx.note = "numba kernel" if _numba() else "numpy reference twin"
    ctx.use_kernel = _numba()
    return kernel if ctx.use_kernel else twin


class FusedGELU(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _pick(ctx, _gelu.gelu_fwd, R.gelu_fwd_ref)(x)

    @staticmethod
    def backward(ctx, grad):
        # forward was: y = 0.5 x (1 + tanh(u)); the kernel recomputes tanh(u) from x
        (x,) = ctx.saved
        return (_gelu.gelu_bwd if ctx.use_kernel else R.gelu_bwd_ref)(x, grad)


class FusedLayerNorm(Function):
    """x (..., *normalized_shape) with weight and bias of normalized_shape."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps=1e-5):
        C = weight.size
        x2 = x.reshape(-1, C)                                       # (N, C)
        w, b = weight.reshape(C).astype(x.dtype), bias.reshape(C).astype(x.dtype)
        y, mean, rstd = _pick(ctx, _layernorm.layernorm_fwd, R.layernorm_fwd_ref)(x2, w, b, eps)
        ctx.save_for_backward(x2, w, mean, rstd)                    # mean, rstd: one number per row
        ctx.shapes = (x.shape, weight.shape, bias.shape)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        # forward was: y = (x - mean) * rstd * w + b, per row of x2
        x2, w, mean, rstd = ctx.saved
        xs, ws, bs = ctx.shapes
        bwd = _layernorm.layernorm_bwd if ctx.use_kernel else R.layernorm_bwd_ref
        dx, dw, db = bwd(grad.reshape(x2.shape), x2, w, mean, rstd)
        return dx.reshape(xs), dw.reshape(ws), db.reshape(bs)


class FusedCrossEntropy(Function):
    """logits (N, C), integer ``target`` (N,) keyword; reduction "mean" | "sum" | "none"."""

    @staticmethod
    def forward(ctx, logits, target, ignore_index=-100, reduction="mean"):
        fwd = _pick(ctx, _softmax_xent.softmax_xent_fwd, R.softmax_xent_fwd_ref)
        loss, lse = fwd(logits, target, ignore_index)
        ctx.save_for_backward(logits, lse)
        ctx.target, ctx.ignore_index, ctx.reduction = target, ignore_index, reduction
        ctx.count = max(int((target != ignore_index).sum()), 1)
        if reduction == "none":
            return loss
        total = loss.sum(dtype=np.float64)
        return np.asarray(total if reduction == "sum" else total / ctx.count, dtype=logits.dtype)

    @staticmethod
    def backward(ctx, grad):
        # forward was: loss[n] = lse[n] - logits[n, t[n]], then sum or mean over the kept rows
        logits, lse = ctx.saved
        if ctx.reduction == "none":
            dloss = grad
        else:
            scale = 1.0 if ctx.reduction == "sum" else 1.0 / ctx.count
            dloss = np.full(logits.shape[0], grad * scale, dtype=logits.dtype)
        bwd = _softmax_xent.softmax_xent_bwd if ctx.use_kernel else R.softmax_xent_bwd_ref
        return bwd(logits, ctx.target, lse, dloss, ctx.ignore_index)


def _split_heads(qkv, n_head):
    """qkv (B, T, 3C) -> q, k, v (B, nh, T, hs): strided views, no copy."""
    B, T, C3 = qkv.shape
    x = qkv.reshape(B, T, 3, n_head, C3 // (3 * n_head))
    return x[:, :, 0].swapaxes(1, 2), x[:, :, 1].swapaxes(1, 2), x[:, :, 2].swapaxes(1, 2)


class FusedAttention(Function):
    """q, k, v (B, nh, T, hs) -> (B, nh, T, hs); or, with the keyword ``n_head``, one packed
    qkv (B, T, 3C) (a single QKV projection) -> (B, T, C), heads side by side: the kernel reads the
    heads from qkv by stride and writes its gradient in place, so no split or merge is copied.
    ``is_causal``, ``key_padding_mask`` (B, T) bool, ``dropout_p`` and ``seed`` (of the dropout
    mask; default: drawn from ``minitl.random``) are keywords."""

    @staticmethod
    def forward(ctx, *arrays, is_causal=False, key_padding_mask=None, dropout_p=0.0, seed=None, n_head=None):
        if dropout_p > 0.0 and seed is None:
            seed = random.next_seed()                               # reproducible under manual_seed
        seed = 0 if seed is None else seed
        ctx.causal, ctx.mask, ctx.drop, ctx.n_head = is_causal, key_padding_mask, (dropout_p, seed), n_head
        fwd = _pick(ctx, _attention.attention_fwd, R.attention_ref)
        if n_head is not None and ctx.use_kernel:                   # the kernel on the packed layout
            out, lse = _attention.attention_fwd_packed(arrays[0], n_head, is_causal, key_padding_mask,
                                                       dropout_p, seed)
            ctx.save_for_backward(arrays[0], out, lse)              # lse (B, nh, T), not the T x T probs
            return out
        q, k, v = arrays if n_head is None else _split_heads(arrays[0], n_head)
        out, lse = fwd(q, k, v, is_causal, key_padding_mask, dropout_p, seed)
        ctx.save_for_backward(*arrays, out, lse)
        if n_head is None:
            return out
        B, nh, T, hs = out.shape
        return out.swapaxes(1, 2).reshape(B, T, nh * hs)           # (B, T, C)

    @staticmethod
    def backward(ctx, grad):
        # forward was: out = (softmax(q k^T / sqrt(hs), masked) * keep) v; backward recomputes p from lse
        # and keep from the seed (keep = 1 without dropout)
        *arrays, out, lse = ctx.saved
        if ctx.n_head is None:
            bwd = _attention.attention_bwd if ctx.use_kernel else R.attention_bwd_ref
            return bwd(*arrays, out, lse, grad, ctx.causal, ctx.mask, *ctx.drop)
        if ctx.use_kernel:
            return _attention.attention_bwd_packed(arrays[0], ctx.n_head, out, lse, grad, ctx.causal, ctx.mask,
                                                   *ctx.drop)
        B, nh, T, hs = out.shape
        g = grad.reshape(B, T, nh, hs).swapaxes(1, 2)               # (B, nh, T, hs) view
        grads = R.attention_bwd_ref(*_split_heads(arrays[0], nh), out, lse, g, ctx.causal, ctx.mask, *ctx.drop)
        return np.stack([d.swapaxes(1, 2) for d in grads], axis=2).reshape(B, T, 3 * nh * hs)


# -- the functional entry points registered in F.FUSED_IMPLS ---------------------

def _data(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def gelu(x):
    return FusedGELU.apply(x)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    shape = _checks.normalized_shape(x.shape, normalized_shape)
    dt = x.dtype
    weight = weight if weight is not None else np.ones(shape, dtype=dt)
    bias = bias if bias is not None else np.zeros(shape, dtype=dt)
    return FusedLayerNorm.apply(x, weight, bias, eps=eps)


def cross_entropy(logits, target, ignore_index=-100, reduction="mean"):
    t = _checks.check_targets(logits.shape, _data(target), ignore_index, reduction)
    return FusedCrossEntropy.apply(logits, target=t, ignore_index=ignore_index, reduction=reduction)


def scaled_dot_product_attention(q, k, v, is_causal=False, key_padding_mask=None, dropout_p=0.0):
    """Self-attention on (B, nh, T, hs) q, k, v (the shapes ``F.scaled_dot_product_attention``
    sends here; it composes everything else)."""
    if q.ndim != 4 or not (q.shape == k.shape == v.shape):
        raise ValueError(f"fused attention: q, k, v must share one (B, nh, T, hs) shape, got "
                         f"{q.shape}, {k.shape}, {v.shape}")
    mask = None if key_padding_mask is None else _data(key_padding_mask).astype(bool)
    return FusedAttention.apply(q, k, v, is_causal=bool(is_causal), key_padding_mask=mask,
                                dropout_p=float(dropout_p))


def packed_self_attention(qkv, n_head, is_causal=False, key_padding_mask=None, dropout_p=0.0):
    """Self-attention from one packed projection qkv (B, T, 3C) -> (B, T, C) (heads side by side)."""
    if qkv.ndim != 3 or qkv.shape[-1] % (3 * n_head):
        raise ValueError(f"packed attention: qkv must be (B, T, 3C) with C divisible by n_head={n_head}, "
                         f"got {qkv.shape}")
    mask = None if key_padding_mask is None else _data(key_padding_mask).astype(bool)
    return FusedAttention.apply(qkv, n_head=int(n_head), is_causal=bool(is_causal), key_padding_mask=mask,
                                dropout_p=float(dropout_p))


FUSED = {"gelu": gelu, "layer_norm": layer_norm, "cross_entropy": cross_entropy,
         "scaled_dot_product_attention": scaled_dot_product_attention,
         "packed_self_attention": packed_self_attention}
