"""The LSTM op: one Function for a whole layer, with a hand-written backward.

``FusedLSTM.apply(x, w_ih, w_hh, bias, lengths=..., reverse=...)`` is one tape
node for the layer: the time loop on the Numba kernel (``minitl/kernels/lstm.py``)
or on its numpy twin (``minitl/kernels/reference_lstm.py``), per
``minitl.config.BACKEND``, and in the backward the gradients of x, w_ih, w_hh and
the bias.  ``FusedLSTM.apply(xg, w_hh, ...)`` (two inputs) is the loop alone, on
the input part of the gates.  On the twin the input projection is one matmul
over every step before the loop.  On the kernel the layer runs time-major,
(T, B, ...) (why: the kernel file's docstring): x is copied once into that
order, and where the register tile takes the widths the kernel forms x W_ih^T
and, in the backward, dx = da W_ih inside the time loop, as a second tile
beside the recurrent one (no (T, B, 4H) round trip through memory; measured a
few percent faster than the separate BLAS calls at the ELMo micro size); dW_ih, dW_hh and the bias gradient are BLAS matmuls and a
sum over the loop's gate gradients afterwards.  h is copied back to (B, T, H);
the backward reads the incoming gradient and writes dx batch-major itself.

``lstm`` runs ``lstm_fused`` while ``minitl.config.FUSED`` is on; with
``minitl.config.fused(False)`` the loop is composed from primitive ops instead
(``lstm_composed``, the oracle in ``tests/test_elmo.py``).  ``FUSED`` maps the
functional name to the fused version, as ``ops/fused.py`` does, for
``minitl.nn.functional`` to pick up (this module does not import the layer above).

Shapes: B batch, T time, I input size, H hidden size, gates in PyTorch's order
i, f, g, o, so ``w_ih`` (4H, I), ``w_hh`` (4H, H), ``bias`` (4H,) load straight
from ``torch.nn.LSTM`` (its two biases summed).  The state starts at zero.
``lengths`` (B,) says how many leading positions of each row are real: the
loop runs over those only (backwards from ``lengths[b] - 1`` when
``reverse``), and padded positions output zeros -- so right-padded batches
give every row the same numbers it would get alone.
"""
import numpy as np

from minitl import config
from minitl.tensor import Function, ShapeError, Tensor
from minitl.ops.creation import stack, zeros
from minitl.kernels import lstm as _lstm, reference_lstm as R


def _tm(a):
    """(B, T, ...) <-> (T, B, ...), as a C-contiguous copy (always a copy: the kernel writes in it)."""
    return np.array(np.swapaxes(a, 0, 1), order="C")


class FusedLSTM(Function):
    """x (B, T, I), w_ih (4H, I), w_hh (4H, H), bias (4H,) -> h (B, T, H): a whole layer; or
    xg (B, T, 4H) (the input part of the gates, bias included), w_hh -> h: the loop alone.
    ``lengths`` (B,) int64 and ``reverse`` are keywords."""

    @staticmethod
    def forward(ctx, *arrays, lengths=None, reverse=False):
        ctx.use_kernel = config.BACKEND == "numba"
        ctx.note = "numba kernel, time-major" if ctx.use_kernel else "numpy reference twin"
        ctx.lengths, ctx.reverse, ctx.layer = lengths, reverse, len(arrays) == 4
        if ctx.layer:
            x, w_ih, w_hh, bias = arrays
            B, T, I = x.shape
            w_ih, bias = w_ih.astype(x.dtype, copy=False), bias.astype(x.dtype, copy=False)
        else:
            (x, w_hh), bias = arrays, None
            B, T, _ = x.shape
        w_hh = w_hh.astype(x.dtype, copy=False)
        G = w_hh.shape[0]
        if ctx.use_kernel:
            xs = _tm(x)                                                  # (T, B, I) or (T, B, G)
            if ctx.layer:                                                # the projection runs in the loop
                h, c, gates = _lstm.lstm_fwd_tm(None, w_hh, lengths, reverse, bias, x=xs, w_ih=w_ih)
            else:                                                        # gates: xs, in place
                h, c, gates = _lstm.lstm_fwd_tm(xs, w_hh, lengths, reverse)
            out = _tm(h)
        else:
            xs = x
            xg = (x.reshape(B * T, I) @ w_ih.T + bias).reshape(B, T, G) if ctx.layer else x
            h, c, gates = R.lstm_fwd_ref(xg, w_hh, lengths, reverse)
            out = h
        ctx.save_for_backward(xs if ctx.layer else None, w_ih if ctx.layer else None, w_hh, h, c, gates)
        return out

    @staticmethod
    def backward(ctx, grad):
        # forward was: per step a = x[t] W_ih^T + b + W_hh h', c = f c' + i g, h = o tanh(c)
        xs, w_ih, w_hh, h, c, gates = ctx.saved
        need, dx = ctx.needs_input_grad, None
        if ctx.use_kernel:                                               # time-major but grad and dx
            dxg, dw_hh, dx = _lstm.lstm_bwd_tm(grad.astype(gates.dtype, copy=False), w_hh, h, c, gates,
                                               ctx.lengths, ctx.reverse, w_ih if ctx.layer and need[0] else None)
        else:
            dxg, dw_hh = R.lstm_bwd_ref(grad.astype(gates.dtype, copy=False), w_hh, h, c, gates,
                                        ctx.lengths, ctx.reverse)
        back = _tm if ctx.use_kernel else (lambda a: a)                  # to (B, T, ...)
        if not ctx.layer:
            return back(dxg), dw_hh
        G, I = w_ih.shape
        dxg2, x2 = dxg.reshape(-1, G), xs.reshape(-1, I)                 # rows in the same (t, b) order
        if need[0]:                                                      # the loop's, or one matmul
            dx = dx if dx is not None else back((dxg2 @ w_ih).reshape(xs.shape))   # the loop's is (B, T, I)
        dw_ih = dxg2.T @ x2 if need[1] else None
        db = dxg2.sum(axis=0) if need[3] else None
        return dx, dw_ih, dw_hh, db


def _lengths(lengths, B, T):
    if lengths is None:
        return np.full(B, T, np.int64)
    lengths = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if lengths.shape != (B,) or lengths.dtype.kind not in "iu":
        raise ShapeError(f"lstm: lengths must be (B,) = ({B},) integers, got shape {lengths.shape} {lengths.dtype}")
    if B and (lengths.min() < 0 or lengths.max() > T):
        raise ValueError(f"lstm: lengths must lie in [0, T={T}], got {lengths.min()}..{lengths.max()}")
    return lengths.astype(np.int64)


def _check(x, w_ih, w_hh, bias):
    """Tensors of the four inputs, or a ShapeError naming every shape."""
    x, w_ih, w_hh = (t if isinstance(t, Tensor) else Tensor(t) for t in (x, w_ih, w_hh))
    bias = bias if bias is None or isinstance(bias, Tensor) else Tensor(bias)
    G, H = w_hh.shape if w_hh.ndim == 2 else (None, None)
    if x.ndim != 3 or w_hh.ndim != 2 or G != 4 * H or w_ih.shape != (G, x.shape[-1]) or \
            (bias is not None and tuple(bias.shape) != (G,)):
        raise ShapeError(f"lstm: expected x (B, T, I), w_ih (4H, I), w_hh (4H, H), bias (4H,); got x {x.shape}, "
                         f"w_ih {w_ih.shape}, w_hh {w_hh.shape}, bias {None if bias is None else bias.shape}")
    return x, w_ih, w_hh, bias


def lstm_recurrence(xg, w_hh, lengths=None, reverse=False):
    """The fused loop alone: xg (B, T, 4H) (input part of the gates, bias included), w_hh (4H, H) -> (B, T, H)."""
    B, T = xg.shape[:2]
    return FusedLSTM.apply(xg, w_hh, lengths=_lengths(lengths, B, T), reverse=bool(reverse))


def _input_gates(x, w_ih, bias):
    """x (B, T, I) -> x W_ih^T + b (B, T, 4H), as one 2-D matmul (like ``F.linear``)."""
    B, T, I = x.shape
    xg = x.reshape(B * T, I) @ w_ih.T                                # (B*T, 4H)
    return (xg + bias if bias is not None else xg).reshape(B, T, w_ih.shape[0])


def lstm_fused(x, w_ih, w_hh, bias=None, lengths=None, reverse=False):
    """x (B, T, I) -> h (B, T, H) with the fused layer (one tape node)."""
    x, w_ih, w_hh, bias = _check(x, w_ih, w_hh, bias)
    B, T = x.shape[:2]
    if bias is None:
        bias = Tensor(np.zeros(w_hh.shape[0], x.dtype))
    return FusedLSTM.apply(x, w_ih, w_hh, bias, lengths=_lengths(lengths, B, T), reverse=bool(reverse))


def lstm_composed(x, w_ih, w_hh, bias=None, lengths=None, reverse=False):
    """The same LSTM from primitive ops, one step at a time (slow; the test oracle)."""
    x, w_ih, w_hh, bias = _check(x, w_ih, w_hh, bias)
    B, T = x.shape[:2]
    H = w_hh.shape[1]
    L = _lengths(lengths, B, T)
    xg = _input_gates(x, w_ih, bias)                                 # (B, T, 4H)
    rows = np.arange(B)
    h = c = zeros(B, H, dtype=xg.dtype)
    outs = []                                                        # h of step s, in processing order
    for s in range(T):
        t = np.clip(L - 1 - s if reverse else np.full(B, s), 0, T - 1)   # each row's position at step s
        a = xg[rows, t] + h @ w_hh.T                                 # (B, 4H)
        i, f, o = a[:, :H].sigmoid(), a[:, H:2 * H].sigmoid(), a[:, 3 * H:].sigmoid()
        c = f * c + i * a[:, 2 * H:3 * H].tanh()
        h = o * c.tanh()                                             # (B, H)
        outs.append(h)
    steps = stack(outs, dim=1)                                # (B, T, H), step order
    pos = np.arange(T)[None, :]                                      # back to position order
    s_of_t = np.clip(L[:, None] - 1 - pos, 0, T - 1) if reverse else np.broadcast_to(pos, (B, T))
    real = (pos < L[:, None]).astype(xg.dtype)[:, :, None]           # (B, T, 1): padding -> 0
    return steps[rows[:, None], s_of_t] * real


def lstm(x, w_ih, w_hh, bias=None, lengths=None, reverse=False):
    """One LSTM layer over a batch of sequences: x (B, T, I) -> h (B, T, H).

    Args:
        x: inputs (B, T, I).  w_ih (4H, I), w_hh (4H, H), bias (4H,) or None: gates i, f, g, o.
        lengths: (B,) ints, real positions per row (right padding); None = all T.
        reverse: run each row from its last real position to its first (a backward LM).
    Returns:
        h (B, T, H), zeros at padded positions.
    """
    return (lstm_fused if config.FUSED else lstm_composed)(x, w_ih, w_hh, bias, lengths, reverse)


FUSED = {"lstm": lstm_fused}
