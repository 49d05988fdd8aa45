"""The LSTM op: one Function for the whole time loop, with a hand-written backward.

``FusedLSTM.apply(xg, w_hh, lengths=..., reverse=...)`` runs the recurrence on
the Numba kernel (``minitl/kernels/lstm.py``) or on its numpy twin
(``minitl/kernels/reference_lstm.py``), per ``minitl.config.BACKEND``.  The
user-facing entry is ``lstm(x, w_ih, w_hh, bias, lengths, reverse)``: the input
projection is one ordinary (B*T, I) @ (I, 4H) matmul over every step at once, then the loop.

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


class FusedLSTM(Function):
    """xg (B, T, 4H) = the input part of the gates, w_hh (4H, H) -> h (B, T, H)."""

    @staticmethod
    def forward(ctx, xg, w_hh, lengths=None, reverse=False):
        use_kernel = config.BACKEND == "numba"
        ctx.note = "numba kernel" if use_kernel else "numpy reference twin"
        fwd = _lstm.lstm_fwd if use_kernel else R.lstm_fwd_ref
        h, c, gates = fwd(xg, w_hh.astype(xg.dtype, copy=False), lengths, reverse)
        ctx.save_for_backward(w_hh, h, c, gates)                    # gates: i, f, g, o after activation
        ctx.lengths, ctx.reverse, ctx.use_kernel = lengths, reverse, use_kernel
        return h

    @staticmethod
    def backward(ctx, grad):
        # forward was: per step a = xg[t] + W_hh h', c = f c' + i g, h = o tanh(c)
        w_hh, h, c, gates = ctx.saved
        bwd = _lstm.lstm_bwd if ctx.use_kernel else R.lstm_bwd_ref
        dxg, dw = bwd(grad.astype(gates.dtype, copy=False), w_hh.astype(gates.dtype, copy=False),
                      h, c, gates, ctx.lengths, ctx.reverse)
        return dxg, dw


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
    """x (B, T, I) -> h (B, T, H) with the fused loop."""
    x, w_ih, w_hh, bias = _check(x, w_ih, w_hh, bias)
    return lstm_recurrence(_input_gates(x, w_ih, bias), w_hh, lengths, reverse)   # (B, T, 4H) -> (B, T, H)


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
