"""The LSTM cell's arithmetic and the row-at-a-time time loops (``kernels/lstm.py`` explains them).

The register-tiled loops in ``lstm.py`` take every width whose gate rows fill whole
tiles; the loops here take the rest, one batch row per thread.  Time-major
(T, B, ...) arrays, gates in PyTorch's order i, f, g, o.
"""
import numpy as np
from numba import njit, prange

from ._jit import FASTMATH, exp_inplace


def _sigmoid_tanh(a, G, H, bits, exact):
    """a[:G] = the pre-activations already times SCALE (-x; -2x for g) -> i, f, g, o in place:
    sigmoid(x) = 1 / (1 + exp(-x)), tanh(x) = 2 / (1 + exp(-2x)) - 1."""
    one = a.dtype.type(1)
    two = a.dtype.type(2)
    exp_inplace(a, G, a.dtype.type(0), bits, bits.view(np.float32), exact)
    for j in range(G):
        a[j] = one / (one + a[j])
    for j in range(2 * H, 3 * H):
        a[j] = two * a[j] - one


def gate_scale(G, dt):
    """SCALE (G,): -1 on the sigmoid gates' rows, -2 on g's.  W_hh, the bias and the input part come
    into the loop multiplied by it (exactly: powers of two), so no pass negates the gates."""
    s = np.full(G, -1, dt)
    s[G // 2:3 * G // 4] = -2
    return s


def _tanh_into(src, dst, n, bits, exact):
    """dst[:n] <- tanh(src[:n]) = 1 - 2 / (exp(2x) + 1)."""
    one = dst.dtype.type(1)
    two = dst.dtype.type(2)
    for j in range(n):
        dst[j] = two * src[j]
    exp_inplace(dst, n, dst.dtype.type(0), bits, bits.view(np.float32), exact)
    for j in range(n):
        dst[j] = one - two / (dst[j] + one)


def _lstm_fwd(gates, bias, scale, wt, lengths, reverse, h_out, c_out, exact):
    T, B, G = gates.shape
    H = G // 4
    for b in prange(B):
        h = np.zeros(H, gates.dtype)         # this row's state
        c = np.zeros(H, gates.dtype)
        a = np.empty(G, gates.dtype)         # pre-activations, then gate values
        tc = np.empty(H, gates.dtype)
        bits = np.empty(G, np.int32)         # exp's scratch
        L = lengths[b]
        for s in range(L):
            t = L - 1 - s if reverse else s
            for j in range(G):
                a[j] = (gates[t, b, j] + bias[j]) * scale[j]
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
            copy(h, h_out[t, b], H)
            copy(c, c_out[t, b], H)
            copy(a, gates[t, b], G)


def _lstm_bwd(dh, w, c, gates, lengths, reverse, dxg, exact):
    # forward was: c = f c' + i g;  h = o tanh(c)   (see reference_lstm.lstm_bwd_ref)
    T, B, G = gates.shape
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
            tanh_into(c[t, b], tc, H, bits, exact)
            for j in range(H):
                i = gates[t, b, j]
                f = gates[t, b, H + j]
                g = gates[t, b, 2 * H + j]
                o = gates[t, b, 3 * H + j]
                d = dh[t, b, j] + dh_next[j]
                dc = dc_next[j] + d * o * (one - tc[j] * tc[j])
                cp = c[tp, b, j] if has_prev else dh.dtype.type(0)
                da[j] = dc * g * i * (one - i)
                da[H + j] = dc * cp * f * (one - f)
                da[2 * H + j] = dc * i * (one - g * g)
                da[3 * H + j] = d * tc[j] * o * (one - o)
                dc_next[j] = dc * f
            for j in range(H):
                dh_next[j] = 0
            for j in range(G):               # dh_next = W_hh^T da, as axpys over W_hh's rows
                dj = da[j]
                dxg[t, b, j] = dj
                for k in range(H):
                    dh_next[k] += dj * w[j, k]


def _bwd_gates(gr, dhr, cp, tc, dhn, dcn, da, H):
    """One row's step back through the cell: gate values gr (G,), dh, c', tanh(c) (H,) -> da (G,);
    dcn (H,) carries dc f into the step before (forward: c = f c' + i g, h = o tanh(c))."""
    one = gr.dtype.type(1)
    for j in range(H):
        i = gr[j]
        f = gr[H + j]
        g = gr[2 * H + j]
        o = gr[3 * H + j]
        d = dhr[j] + dhn[j]
        dc = dcn[j] + d * o * (one - tc[j] * tc[j])
        da[j] = dc * g * i * (one - i)
        da[H + j] = dc * cp[j] * f * (one - f)
        da[2 * H + j] = dc * i * (one - g * g)
        da[3 * H + j] = d * tc[j] * o * (one - o)
        dcn[j] = dc * f


def _copy(src, dst, n):
    for j in range(n):
        dst[j] = src[j]


def _scale_rows(src, bias, scale, dst, n):
    """dst[:n] <- (src + bias) * scale (dst may be src)."""
    for j in range(n):
        dst[j] = (src[j] + bias[j]) * scale[j]


# error_model="numpy": no ZeroDivisionError branch after each 1 / (1 + e) (the divisor is >= 1),
# which kept LLVM from vectorizing the gate loops (measured 2.5x on sigmoid_tanh alone)
sigmoid_tanh = njit(fastmath=FASTMATH, error_model="numpy", cache=True)(_sigmoid_tanh)
tanh_into = njit(fastmath=FASTMATH, error_model="numpy", cache=True)(_tanh_into)
copy = njit(fastmath=FASTMATH, cache=True)(_copy)
scale_rows = njit(fastmath=FASTMATH, cache=True)(_scale_rows)
bwd_gates = njit(fastmath=FASTMATH, error_model="numpy", cache=True)(_bwd_gates)
lstm_fwd_kernel = njit(parallel=True, fastmath=FASTMATH, error_model="numpy", cache=True)(_lstm_fwd)
lstm_bwd_kernel = njit(parallel=True, fastmath=FASTMATH, error_model="numpy", cache=True)(_lstm_bwd)
