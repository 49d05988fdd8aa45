"""The LSTM cell's arithmetic and the row-at-a-time time loops (``kernels/lstm.py`` explains them).

The register-tiled loops in ``lstm.py`` take every width whose gate rows fill whole
tiles; the loops here take the rest, one batch row per thread.  Time-major
(T, B, ...) arrays, gates in PyTorch's order i, f, g, o.

Numba caches each kernel keyed on its own file's text: after editing this file,
delete ``__pycache__/lstm.*.nb*`` too, or ``lstm.py``'s tiled loops keep the old
copies of these functions compiled into them.
"""
import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from ._jit import FASTMATH, LOG2E, LN2_HI, LN2_LO, XMIN, XMAX, HALF, ONE, C2, C3, C4, C5, C6, C7, BIAS


@intrinsic
def _as_float32(typingctx, i):
    """The float32 whose bits are the int32 i (a register move; LLVM vectorizes it)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


def _as_float32_py(i):
    return np.int32(i).view(np.float32)


as_float32 = _as_float32_py if numba.config.DISABLE_JIT else _as_float32


def _exp32(v):
    """exp(v) in float32: ``_jit.exp_inplace``'s method (Taylor to degree 7 on the reduced argument,
    2^k built from raw bits), but one value at a time with the bits cast in place, so a loop over
    it is one vectorized pass with no int32 scratch array.  (float64 callers use np.exp, in a loop
    of their own: a test of ``exact`` inside the loop kept it scalar.)"""
    v = min(max(v, XMIN), XMAX)
    k = np.floor(v * LOG2E + HALF)
    f = v - k * LN2_HI - k * LN2_LO
    p = ONE + f * (ONE + f * (C2 + f * (C3 + f * (C4 + f * (C5 + f * (C6 + f * C7))))))
    s = as_float32((np.int32(k) + BIAS) << 23)           # 2^k
    return p * s if v > XMIN else np.float32(0)


def _sigmoid_tanh(a, G, H, exact):
    """a[:G] = the pre-activations already times SCALE (-x; -2x for g) -> i, f, g, o in place:
    sigmoid(x) = 1 / (1 + exp(-x)), tanh(x) = 2 / (1 + exp(-2x)) - 1."""
    one = a.dtype.type(1)
    two = a.dtype.type(2)
    if exact:
        for j in range(G):
            a[j] = one / (one + np.exp(a[j]))
    else:
        for j in range(G):
            a[j] = one / (one + exp32(a[j]))
    for j in range(2 * H, 3 * H):
        a[j] = two * a[j] - one


def gate_scale(G, dt):
    """SCALE (G,): -1 on the sigmoid gates' rows, -2 on g's.  W_hh, the bias and the input part come
    into the loop multiplied by it (exactly: powers of two), so no pass negates the gates."""
    s = np.full(G, -1, dt)
    s[G // 2:3 * G // 4] = -2
    return s


def _tanh_into(src, dst, n, exact):
    """dst[:n] <- tanh(src[:n]) = 1 - 2 / (exp(2x) + 1)."""
    one = dst.dtype.type(1)
    two = dst.dtype.type(2)
    if exact:
        for j in range(n):
            dst[j] = one - two / (np.exp(two * src[j]) + one)
    else:
        for j in range(n):
            dst[j] = one - two / (exp32(two * src[j]) + one)


def _lstm_fwd(gates, bias, scale, wt, lengths, reverse, h_out, c_out, exact):
    T, B, G = gates.shape
    H = G // 4
    for b in prange(B):
        h = np.zeros(H, gates.dtype)         # this row's state
        c = np.zeros(H, gates.dtype)
        a = np.empty(G, gates.dtype)         # pre-activations, then gate values
        tc = np.empty(H, gates.dtype)
        L = lengths[b]
        for s in range(L):
            t = L - 1 - s if reverse else s
            for j in range(G):
                a[j] = (gates[t, b, j] + bias[j]) * scale[j]
            for k in range(H):               # a += W_hh h, as axpys over W_hh^T's rows
                hk = h[k]
                for j in range(G):
                    a[j] += hk * wt[k, j]
            sigmoid_tanh(a, G, H, exact)
            for j in range(H):               # c = f c + i g
                c[j] = a[H + j] * c[j] + a[j] * a[2 * H + j]
            tanh_into(c, tc, H, exact)
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
        L = lengths[b]
        for s in range(L - 1, -1, -1):
            t = L - 1 - s if reverse else s
            has_prev = s > 0                 # the step before, in processing order
            tp = t + 1 if reverse else t - 1
            tanh_into(c[t, b], tc, H, exact)
            for j in range(H):
                i = gates[t, b, j]
                f = gates[t, b, H + j]
                g = gates[t, b, 2 * H + j]
                o = gates[t, b, 3 * H + j]
                d = dh[b, t, j] + dh_next[j]       # dh batch-major (B, T, H), as lstm_bwd_tm takes it
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
exp32 = njit(fastmath=FASTMATH, error_model="numpy", cache=True)(_exp32)
sigmoid_tanh = njit(fastmath=FASTMATH, error_model="numpy", cache=True)(_sigmoid_tanh)
tanh_into = njit(fastmath=FASTMATH, error_model="numpy", cache=True)(_tanh_into)
copy = njit(fastmath=FASTMATH, cache=True)(_copy)
scale_rows = njit(fastmath=FASTMATH, cache=True)(_scale_rows)
bwd_gates = njit(fastmath=FASTMATH, error_model="numpy", cache=True)(_bwd_gates)
lstm_fwd_kernel = njit(parallel=True, fastmath=FASTMATH, error_model="numpy", cache=True)(_lstm_fwd)
lstm_bwd_kernel = njit(parallel=True, fastmath=FASTMATH, error_model="numpy", cache=True)(_lstm_bwd)
