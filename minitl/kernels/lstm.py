"""The LSTM time loop, forward and backward (twin: ``reference_lstm.lstm_fwd_ref`` / ``lstm_bwd_ref``).

Shapes: B batch, T time, H hidden, G = 4H gate rows in PyTorch's order i, f, g, o.
The input part of the gates, ``xg = x @ W_ih^T + b`` (B, T, G), is one big BLAS
matmul done by the caller; these kernels run only the part that cannot be
batched over time, the recurrence ``a = xg[b, t] + W_hh h``.

Batch rows never talk to each other, so both kernels are a ``prange`` over
rows, each thread running the whole time loop of its rows with its state in
small scratch vectors (no locking, and the same numbers on any thread count).
Inside a step:

* forward, ``a += W_hh h`` is written as axpys over ``W_hh^T`` (H, G):
  ``a[:] += h[k] * WT[k, :]`` -- contiguous, so LLVM vectorizes it over the
  G gate rows without a horizontal sum;
* the four nonlinearities go through one vectorizable exp over the G gate
  values (``_jit.exp_inplace``), sigmoid(a) = 1 / (1 + exp(-a)) and
  tanh(a) = 2 sigmoid(2a) - 1 -- Numba's scalar ``np.exp`` is a libm call per
  element, the slowest part of the loop at these sizes;
* backward, ``dh_next = W_hh^T da`` is again axpys, over the rows of W_hh.

The recurrent weight's gradient ``dW_hh = sum_{b,t} da[b,t] h'[b,t]^T`` is
not accumulated in the loop (rows would race on it): ``lstm_bwd`` forms it
afterwards with one (G, B*T) @ (B*T, H) BLAS matmul.
"""
import numpy as np
from numba import njit, prange

from ._jit import FASTMATH, exp_inplace
from .reference_lstm import previous


def _sigmoid_tanh(a, G, H, bits, exact):
    """a[:G] (pre-activations) -> i, f, g, o in place: sigmoid, except tanh on [2H, 3H)."""
    one = a.dtype.type(1)
    two = a.dtype.type(2)
    for j in range(G):
        a[j] = -a[j]
    for j in range(2 * H, 3 * H):
        a[j] = two * a[j]                    # tanh(x) = 2 sigmoid(2x) - 1
    exp_inplace(a, G, a.dtype.type(0), bits, bits.view(np.float32), exact)
    for j in range(G):
        a[j] = one / (one + a[j])
    for j in range(2 * H, 3 * H):
        a[j] = two * a[j] - one


def _tanh_into(src, dst, n, bits, exact):
    """dst[:n] <- tanh(src[:n]) = 1 - 2 / (exp(2x) + 1)."""
    one = dst.dtype.type(1)
    two = dst.dtype.type(2)
    for j in range(n):
        dst[j] = two * src[j]
    exp_inplace(dst, n, dst.dtype.type(0), bits, bits.view(np.float32), exact)
    for j in range(n):
        dst[j] = one - two / (dst[j] + one)


def _lstm_fwd(xg, wt, lengths, reverse, h_out, c_out, gates, exact):
    B, T, G = xg.shape
    H = G // 4
    for b in prange(B):
        h = np.zeros(H, xg.dtype)            # this row's state
        c = np.zeros(H, xg.dtype)
        a = np.empty(G, xg.dtype)            # pre-activations, then gate values
        tc = np.empty(H, xg.dtype)
        bits = np.empty(G, np.int32)         # exp's scratch
        L = lengths[b]
        for s in range(L):
            t = L - 1 - s if reverse else s
            for j in range(G):
                a[j] = xg[b, t, j]
            for k in range(H):               # a += W_hh h, as axpys over W_hh^T's rows
                hk = h[k]
                for j in range(G):
                    a[j] += hk * wt[k, j]
            sigmoid_tanh(a, G, H, bits, exact)
            for j in range(H):               # c = f c + i g
                c[j] = a[H + j] * c[j] + a[j] * a[2 * H + j]
            tanh_into(c, tc, H, bits, exact)
            for j in range(H):               # h = o tanh(c)
                h[j] = a[3 * H + j] * tc[j]
                h_out[b, t, j] = h[j]
                c_out[b, t, j] = c[j]
            for j in range(G):
                gates[b, t, j] = a[j]


def _lstm_bwd(dh, w, c, gates, lengths, reverse, dxg, exact):
    # forward was: c = f c' + i g;  h = o tanh(c)   (see reference_lstm.lstm_bwd_ref)
    B, T, G = gates.shape
    H = G // 4
    one = dh.dtype.type(1)
    for b in prange(B):
        dh_next = np.zeros(H, dh.dtype)
        dc_next = np.zeros(H, dh.dtype)
        da = np.empty(G, dh.dtype)
        tc = np.empty(H, dh.dtype)
        bits = np.empty(H, np.int32)
        L = lengths[b]
        for s in range(L - 1, -1, -1):
            t = L - 1 - s if reverse else s
            has_prev = s > 0                 # the step before, in processing order
            tp = t + 1 if reverse else t - 1
            tanh_into(c[b, t], tc, H, bits, exact)
            for j in range(H):
                i = gates[b, t, j]
                f = gates[b, t, H + j]
                g = gates[b, t, 2 * H + j]
                o = gates[b, t, 3 * H + j]
                d = dh[b, t, j] + dh_next[j]
                dc = dc_next[j] + d * o * (one - tc[j] * tc[j])
                cp = c[b, tp, j] if has_prev else dh.dtype.type(0)
                da[j] = dc * g * i * (one - i)
                da[H + j] = dc * cp * f * (one - f)
                da[2 * H + j] = dc * i * (one - g * g)
                da[3 * H + j] = d * tc[j] * o * (one - o)
                dc_next[j] = dc * f
            for j in range(H):
                dh_next[j] = 0
            for j in range(G):               # dh_next = W_hh^T da, as axpys over W_hh's rows
                dj = da[j]
                dxg[b, t, j] = dj
                for k in range(H):
                    dh_next[k] += dj * w[j, k]


def _check(xg, w_hh, lengths):
    if xg.ndim != 3 or xg.shape[2] % 4:
        raise ValueError(f"lstm: gate inputs must be (B, T, 4H), got {xg.shape}")
    H = xg.shape[2] // 4
    if w_hh.shape != (4 * H, H):
        raise ValueError(f"lstm: w_hh must be (4H, H) = {(4 * H, H)} for gate inputs {xg.shape}, got {w_hh.shape}")
    if lengths.shape != xg.shape[:1] or (lengths.size and (lengths.min() < 0 or lengths.max() > xg.shape[1])):
        raise ValueError(f"lstm: lengths must be (B,) = {xg.shape[:1]} with values in [0, T={xg.shape[1]}], "
                         f"got shape {lengths.shape}, values {lengths.min() if lengths.size else '-'}.."
                         f"{lengths.max() if lengths.size else '-'}")


def lstm_fwd(xg, w_hh, lengths, reverse=False):
    """xg (B, T, 4H), w_hh (4H, H), lengths (B,) -> (h, c (B, T, H), gates (B, T, 4H))."""
    dt = xg.dtype if xg.dtype in (np.float32, np.float64) else np.float32
    xg = np.ascontiguousarray(xg, dt)
    lengths = np.ascontiguousarray(lengths, np.int64)
    _check(xg, w_hh, lengths)
    B, T, G = xg.shape
    wt = np.ascontiguousarray(np.asarray(w_hh, dt).T)                  # (H, G)
    h = np.zeros((B, T, G // 4), dt)
    c = np.zeros((B, T, G // 4), dt)
    gates = np.zeros((B, T, G), dt)
    lstm_fwd_kernel(xg, wt, lengths, bool(reverse), h, c, gates, dt == np.float64)
    return h, c, gates


def lstm_bwd(dh, w_hh, h, c, gates, lengths, reverse=False):
    """dh (B, T, H) -> (dxg (B, T, 4H), dw_hh (4H, H)); h, c, gates as lstm_fwd returned them."""
    dt = gates.dtype
    dh = np.ascontiguousarray(dh, dt)
    w = np.ascontiguousarray(w_hh, dt)
    lengths = np.ascontiguousarray(lengths, np.int64)
    dxg = np.zeros(gates.shape, dt)
    lstm_bwd_kernel(dh, w, c, gates, lengths, bool(reverse), dxg, dt == np.float64)
    G, H = w.shape
    dw = dxg.reshape(-1, G).T @ previous(h, reverse).reshape(-1, H)   # (G, H): sum over (b, t)
    return dxg, dw


sigmoid_tanh = njit(fastmath=FASTMATH, cache=True)(_sigmoid_tanh)
tanh_into = njit(fastmath=FASTMATH, cache=True)(_tanh_into)
lstm_fwd_kernel = njit(parallel=True, fastmath=FASTMATH, cache=True)(_lstm_fwd)
lstm_bwd_kernel = njit(parallel=True, fastmath=FASTMATH, cache=True)(_lstm_bwd)
