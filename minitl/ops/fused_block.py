"""A linear layer with its elementwise tail in one tape node: ``FusedLinear``.

``linear(x, weight, bias, residual=None, act=None)`` computes

    act(x W^T + b)            act = "gelu" (the MLP's first layer), or
    x W^T + b + residual      the projections that write into the residual stream

as one Function: the matmul (BLAS or the Numba kernel, chosen as ``MatMul``
chooses, ``ops/matmul.py``), then the bias and GELU, or the bias and the
residual, in one pass (``kernels/bias_act.py``; twins in ``kernels/reference.py``,
per ``minitl.config.BACKEND``).  Composed, the same layer is a Permute of W, a
MatMul, an Add for the bias, then a GELU or a second Add, plus the Reshapes
around a (B, T, C) input: the transformer block (``models/blocks.py``) went
from 26 tape nodes to 7 with this and the fused attention.

Why not a fused residual + LayerNorm: the residual sum is itself the input of the
next residual add, so it must stay a tensor; with one output per Function, fusing
the add into the LayerNorm would leave the same number of nodes.  The add is
fused into the projection that produces it instead.

Shapes: x (..., in), weight (out, in) (PyTorch's layout), bias (out,),
residual (..., out).  Gradients: dx = dz W, dW = dz^T x, db = sum of dz over
rows, dresidual = the output's gradient as it is (dz = it times GELU's
derivative, or it).
"""
import numpy as np

from minitl import config
from minitl.tensor import Function, ShapeError, Tensor
from minitl.kernels import bias_act as _ba, reference as R
from minitl.ops.matmul import _matmul

ACTS = (None, "gelu")


class FusedLinear(Function):
    """x (..., in), weight (out, in), bias (out,)[, residual (..., out)] -> (..., out); ``act`` keyword."""

    @staticmethod
    def forward(ctx, x, weight, bias, *residual, act=None):
        lead, (O, I) = x.shape[:-1], weight.shape
        x2 = x.reshape(-1, I)                                           # (N, in), a view
        pre = np.ascontiguousarray(_matmul(ctx, x2, weight.T))          # (N, out), a new array
        kernel = config.BACKEND == "numba"
        ctx.note += "; tail: " + ("numba kernel" if kernel else "numpy reference twin")
        ctx.kernel, ctx.act, ctx.has_res, ctx.lead = kernel, act, bool(residual), lead
        b = bias.astype(pre.dtype, copy=False)
        if act == "gelu":
            y, z = (_ba.bias_gelu_fwd if kernel else R.bias_gelu_fwd_ref)(pre, b)
            ctx.save_for_backward(x2, weight, z)                        # z = pre + b, for gelu'(z)
        else:
            r = residual[0].reshape(-1, O) if residual else None
            y = _ba.bias_residual(pre, b, r) if kernel else R.bias_residual_ref(pre, b, r)
            ctx.save_for_backward(x2, weight)
        return y.reshape(lead + (O,))

    @staticmethod
    def backward(ctx, grad):
        # forward was: y = act(x W^T + b) (+ residual)
        x2, weight, *z = ctx.saved
        O, I = weight.shape
        g = grad.reshape(-1, O)
        if ctx.act == "gelu":
            bwd = _ba.bias_gelu_bwd if ctx.kernel else R.bias_gelu_bwd_ref
            dz, db = bwd(z[0], g.astype(z[0].dtype, copy=False))      # (a cast copied 4 MB per call)
        else:
            dz, db = g, g.sum(axis=0)
        need = ctx.needs_input_grad
        dx = _matmul(ctx, dz, weight).reshape(ctx.lead + (I,)) if need[0] else None
        dw = _matmul(ctx, dz.T, x2) if need[1] else None
        grads = (dx, dw, db.astype(weight.dtype, copy=False) if need[2] else None)
        return grads + (grad,) if ctx.has_res else grads


def linear(x, weight, bias, residual=None, act=None):
    """act(x W^T + b), or x W^T + b + residual, as one tape node.

    Args:
        x: (..., in).  weight: (out, in).  bias: (out,).
        residual: (..., out) added to the output, or None (not with ``act``).
        act: None or "gelu".
    Returns:
        (..., out).
    """
    if act not in ACTS:
        raise ValueError(f"fused linear: act must be one of {ACTS}, got {act!r}")
    if act is not None and residual is not None:
        raise ValueError("fused linear: a residual is added after no activation (act=None) only")
    O = weight.shape[0]
    if weight.ndim != 2 or x.shape[-1] != weight.shape[1] or tuple(bias.shape) != (O,):
        raise ShapeError(f"fused linear: expected x (..., in), weight (out, in), bias (out,); got x {x.shape}, "
                         f"weight {weight.shape}, bias {bias.shape}")
    if residual is not None and tuple(residual.shape) != tuple(x.shape[:-1]) + (O,):
        raise ShapeError(f"fused linear: residual {residual.shape} must be {tuple(x.shape[:-1]) + (O,)}")
    extra = () if residual is None else (residual if isinstance(residual, Tensor) else Tensor(residual),)
    return FusedLinear.apply(x, weight, bias, *extra, act=act)
