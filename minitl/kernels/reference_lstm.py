"""The numpy twin of ``kernels/lstm.py``: the LSTM time loop, written as the maths.

Read this first.  Shapes: B batch, T time, H hidden size, G = 4H gate rows,
gate order i, f, g, o (PyTorch's).  The input projection ``xg = x @ W_ih^T + b``
is done before (one big matmul over every time step), so the loop only adds
the recurrent part::

    for b in range(B):                       # each row is independent
        h = c = zeros(H)
        for s in range(L[b]):                # L[b] = lengths[b] real tokens
            t = L[b] - 1 - s if reverse else s
            a = xg[b, t] + W_hh @ h                            # (G,)
            i, f, g, o = sig(a[:H]), sig(a[H:2H]), tanh(a[2H:3H]), sig(a[3H:])
            c = f * c + i * g
            h = o * tanh(c)
            out[b, t] = h                    # positions t >= L[b] stay 0

The backward runs the same loop the other way, carrying dh and dc back one
step at a time.  Here the batch is vectorized and the loop is over steps
``s``; each row picks its own position ``t`` with fancy indexing.
"""
import numpy as np


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _positions(lengths, s, reverse):
    """(active rows (B,) bool, their time positions (B,) int) at step s."""
    active = s < lengths
    t = lengths - 1 - s if reverse else np.full_like(lengths, s)
    return active, np.clip(t, 0, None)


def lstm_fwd_ref(xg, w_hh, lengths, reverse=False):
    """xg (B, T, 4H), w_hh (4H, H), lengths (B,) int ->
    (h (B, T, H), c (B, T, H), gates (B, T, 4H): i, f, g, o after their nonlinearities)."""
    B, T, G = xg.shape
    H = G // 4
    h_out = np.zeros((B, T, H), xg.dtype)
    c_out = np.zeros((B, T, H), xg.dtype)
    gates = np.zeros((B, T, G), xg.dtype)
    h = np.zeros((B, H), xg.dtype)
    c = np.zeros((B, H), xg.dtype)
    rows = np.arange(B)
    for s in range(T):
        active, t = _positions(lengths, s, reverse)
        r, t = rows[active], t[active]
        a = xg[r, t] + h[r] @ w_hh.T                                         # (b, G)
        i, f, o = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), _sigmoid(a[:, 3 * H:])
        g = np.tanh(a[:, 2 * H:3 * H])
        c[r] = f * c[r] + i * g                                              # (b, H)
        h[r] = o * np.tanh(c[r])
        h_out[r, t], c_out[r, t] = h[r], c[r]
        gates[r, t] = np.concatenate([i, f, g, o], axis=1)
    return h_out, c_out, gates


def previous(x, reverse):
    """The state each position started from: x shifted one step back in processing order.

    x (B, T, H) -> (B, T, H); zeros where there is none (padding is already zero, so
    a reversed row's first step, whose right neighbour is padding, also gets zeros).
    """
    prev = np.zeros_like(x)
    if reverse:
        prev[:, :-1] = x[:, 1:]
    else:
        prev[:, 1:] = x[:, :-1]
    return prev


def lstm_bwd_ref(dh, w_hh, h, c, gates, lengths, reverse=False):
    """Gradients of the loop: dh (B, T, H) -> (dxg (B, T, 4H), dw_hh (4H, H)).

    Per step, from the forward ``c = f c' + i g``, ``h = o tanh(c)``::

        dh  = dh_out[t] + dh_next              dc = dc_next + dh o (1 - tanh(c)^2)
        da  = [dc g i(1-i), dc c' f(1-f), dc i (1-g^2), dh tanh(c) o(1-o)]
        dh_next = W_hh^T da                    dc_next = dc f
        dW_hh  += outer(da, h')                (h', c': the previous step's state)
    """
    B, T, G = gates.shape
    H = G // 4
    dxg = np.zeros((B, T, G), dh.dtype)
    dh_next = np.zeros((B, H), dh.dtype)
    dc_next = np.zeros((B, H), dh.dtype)
    c_prev = previous(c, reverse)
    rows = np.arange(B)
    for s in range(T - 1, -1, -1):
        active, t = _positions(lengths, s, reverse)
        r, t = rows[active], t[active]
        i, f, g, o = (gates[r, t, k * H:(k + 1) * H] for k in range(4))     # (b, H) each
        tc = np.tanh(c[r, t])
        d = dh[r, t] + dh_next[r]
        dc = dc_next[r] + d * o * (1 - tc * tc)
        da = np.concatenate([dc * g * i * (1 - i), dc * c_prev[r, t] * f * (1 - f),
                             dc * i * (1 - g * g), d * tc * o * (1 - o)], axis=1)   # (b, G)
        dxg[r, t] = da
        dh_next[r] = da @ w_hh                                               # (b, H)
        dc_next[r] = dc * f
    # the recurrent weight saw h' at every step: one matmul over all (b, t)
    dw = dxg.reshape(-1, G).T @ previous(h, reverse).reshape(-1, H)          # (G, H)
    return dxg, dw
