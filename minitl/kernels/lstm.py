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

When the gate width allows (G, and for the backward H, a multiple of the
register tile's NR columns: 32 float32 on AVX-512), rows go in tiles of RB
(8 on AVX-512, 4 otherwise) that step through time together, and the
recurrent product of the whole tile is the register-tile micro-kernel that
matmul uses (``_jit.make_tile``): each W_hh value loaded once serves RB rows
instead of one.  A row whose sequence has ended (or not yet begun, going
backwards) rides along with zeros and writes nothing.  Other widths take the
row-at-a-time loop above.

The recurrent weight's gradient ``dW_hh = sum_{b,t} da[b,t] h'[b,t]^T`` is
not accumulated in the loop (rows would race on it): ``lstm_bwd`` forms it
afterwards with one (G, B*T) @ (B*T, H) BLAS matmul.
"""
import numba
import numpy as np
from numba import njit, prange

from ._jit import FASTMATH, exp_inplace, make_tile
from .machine import machine_info
from .reference_lstm import previous

_VB = machine_info()["vector_bytes"]      # bytes per SIMD vector
NV = 2                                    # SIMD vectors per tile row: NR = NV * lanes columns
RB = 8 if _VB == 64 else 4                # rows per tile: RB x NV accumulators stay in registers
_tile = make_tile(RB, NV)


def _tile_py(kc, A, B, bo, D, ci, cj):
    """What ``_tile`` computes, in numpy (the micro-kernel under NUMBA_DISABLE_JIT=1)."""
    nr = NV * _VB // B.itemsize
    D[ci:ci + RB, cj:cj + nr] += A[:RB, :kc] @ B[:kc, bo:bo + nr]


tile = _tile_py if numba.config.DISABLE_JIT else _tile


def tile_columns(dtype):
    """NR: the columns one register tile covers for ``dtype`` (32 float32 on AVX-512)."""
    return NV * _VB // np.dtype(dtype).itemsize


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


def _tile_lengths(lengths, b0, B):
    """Lengths of the RB rows of the tile starting at row b0 (0 past the batch) and their max."""
    Ls = np.zeros(RB, np.int64)
    for r in range(RB):
        if b0 + r < B:
            Ls[r] = lengths[b0 + r]
    return Ls, Ls.max()


def _lstm_fwd_tiled(xg, wt, lengths, reverse, h_out, c_out, gates, exact, NR):
    B, T, G = xg.shape
    H = G // 4
    for tb in prange((B + RB - 1) // RB):
        b0 = tb * RB
        hb = np.zeros((RB, H), xg.dtype)         # the tile's states
        cb = np.zeros((RB, H), xg.dtype)
        a = np.empty((RB, G), xg.dtype)
        tc = np.empty(H, xg.dtype)
        bits = np.empty(G, np.int32)
        Ls, Lmax = tile_lengths(lengths, b0, B)
        for s in range(Lmax):
            for r in range(RB):
                ar = a[r]
                if s < Ls[r]:
                    xr = xg[b0 + r, Ls[r] - 1 - s] if reverse else xg[b0 + r, s]
                    for j in range(G):
                        ar[j] = xr[j]
                else:
                    for j in range(G):
                        ar[j] = 0
            for cj in range(0, G, NR):           # a += h W_hh^T: (RB, H) @ (H, NR) per tile
                tile(H, hb, wt, cj, a, 0, cj)
            for r in range(RB):
                if s >= Ls[r]:
                    continue
                t = Ls[r] - 1 - s if reverse else s
                ar, hr, cr = a[r], hb[r], cb[r]  # 1-D row views: the loops vectorize
                sigmoid_tanh(ar, G, H, bits, exact)
                for j in range(H):
                    cr[j] = ar[H + j] * cr[j] + ar[j] * ar[2 * H + j]
                tanh_into(cr, tc, H, bits, exact)
                ho, co, go = h_out[b0 + r, t], c_out[b0 + r, t], gates[b0 + r, t]
                for j in range(H):
                    hr[j] = ar[3 * H + j] * tc[j]
                    ho[j] = hr[j]
                    co[j] = cr[j]
                for j in range(G):
                    go[j] = ar[j]


def _lstm_bwd_tiled(dh, w, c, gates, lengths, reverse, dxg, exact, NR):
    B, T, G = gates.shape
    H = G // 4
    one = dh.dtype.type(1)
    for tb in prange((B + RB - 1) // RB):
        b0 = tb * RB
        dhn = np.zeros((RB, H), dh.dtype)        # dh and dc flowing back into the step before
        dcn = np.zeros((RB, H), dh.dtype)
        da = np.zeros((RB, G), dh.dtype)
        tc = np.empty(H, dh.dtype)
        zh = np.zeros(H, dh.dtype)               # c' before the first step
        bits = np.empty(H, np.int32)
        Ls, Lmax = tile_lengths(lengths, b0, B)
        for s in range(Lmax - 1, -1, -1):
            for r in range(RB):
                if s >= Ls[r]:
                    for j in range(G):           # not begun yet: contributes nothing to dh_next
                        da[r, j] = 0
                    continue
                t = Ls[r] - 1 - s if reverse else s
                # 1-D row views and no branch in the loop: LLVM vectorizes it (3-D indexing and
                # an in-loop select of c' measured ~2x slower)
                cp = zh
                if s > 0:
                    cp = c[b0 + r, t + 1] if reverse else c[b0 + r, t - 1]
                gr, dhr, dar, dcr, dhnr = gates[b0 + r, t], dh[b0 + r, t], da[r], dcn[r], dhn[r]
                tanh_into(c[b0 + r, t], tc, H, bits, exact)
                for j in range(H):
                    i = gr[j]
                    f = gr[H + j]
                    g = gr[2 * H + j]
                    o = gr[3 * H + j]
                    d = dhr[j] + dhnr[j]
                    dc = dcr[j] + d * o * (one - tc[j] * tc[j])
                    dar[j] = dc * g * i * (one - i)
                    dar[H + j] = dc * cp[j] * f * (one - f)
                    dar[2 * H + j] = dc * i * (one - g * g)
                    dar[3 * H + j] = d * tc[j] * o * (one - o)
                    dcr[j] = dc * f
                dxr = dxg[b0 + r, t]
                for j in range(G):
                    dxr[j] = dar[j]
            for r in range(RB):
                for k in range(H):
                    dhn[r, k] = 0
            for cj in range(0, H, NR):           # dh_next = da W_hh: (RB, G) @ (G, NR) per tile
                tile(G, da, w, cj, dhn, 0, cj)


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
    NR = tile_columns(dt)
    if G % NR == 0 and not numba.config.DISABLE_JIT:
        lstm_fwd_tiled_kernel(xg, wt, lengths, bool(reverse), h, c, gates, dt == np.float64, NR)
    else:
        lstm_fwd_kernel(xg, wt, lengths, bool(reverse), h, c, gates, dt == np.float64)
    return h, c, gates


def lstm_bwd(dh, w_hh, h, c, gates, lengths, reverse=False):
    """dh (B, T, H) -> (dxg (B, T, 4H), dw_hh (4H, H)); h, c, gates as lstm_fwd returned them."""
    dt = gates.dtype
    dh = np.ascontiguousarray(dh, dt)
    w = np.ascontiguousarray(w_hh, dt)
    lengths = np.ascontiguousarray(lengths, np.int64)
    dxg = np.zeros(gates.shape, dt)
    G, H = w.shape
    NR = tile_columns(dt)
    if H % NR == 0 and not numba.config.DISABLE_JIT:
        lstm_bwd_tiled_kernel(dh, w, c, gates, lengths, bool(reverse), dxg, dt == np.float64, NR)
    else:
        lstm_bwd_kernel(dh, w, c, gates, lengths, bool(reverse), dxg, dt == np.float64)
    dw = dxg.reshape(-1, G).T @ previous(h, reverse).reshape(-1, H)   # (G, H): sum over (b, t)
    return dxg, dw


# error_model="numpy": no ZeroDivisionError branch after each 1 / (1 + e) (the divisor is >= 1),
# which kept LLVM from vectorizing the gate loops (measured 2.5x on sigmoid_tanh alone)
sigmoid_tanh = njit(fastmath=FASTMATH, error_model="numpy", cache=True)(_sigmoid_tanh)
tanh_into = njit(fastmath=FASTMATH, error_model="numpy", cache=True)(_tanh_into)
tile_lengths = njit(cache=True)(_tile_lengths)
lstm_fwd_tiled_kernel = njit(parallel=True, fastmath=FASTMATH, error_model="numpy", cache=True)(_lstm_fwd_tiled)
lstm_bwd_tiled_kernel = njit(parallel=True, fastmath=FASTMATH, error_model="numpy", cache=True)(_lstm_bwd_tiled)
lstm_fwd_kernel = njit(parallel=True, fastmath=FASTMATH, error_model="numpy", cache=True)(_lstm_fwd)
lstm_bwd_kernel = njit(parallel=True, fastmath=FASTMATH, error_model="numpy", cache=True)(_lstm_bwd)
