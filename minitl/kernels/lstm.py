"""The LSTM time loop, forward and backward (twin: ``reference_lstm.lstm_fwd_ref`` / ``lstm_bwd_ref``).

Shapes: B batch, T time, I input, H hidden, G = 4H gate rows in PyTorch's order
i, f, g, o.  Per step the gates' pre-activations are ``a = x_t W_ih^T + b + W_hh h``.
The input part ``x W_ih^T`` can be batched over time: either the caller makes it
one big matmul (``xg``, (T, B, G)) and the loop adds the rest, or, where the
register tile takes the widths, the loop forms it too, a second tile per step
beside the recurrent one (and likewise dx = da W_ih in the backward).

Layout.  The kernels work time-major, (T, B, ...): at one step the rows of a
tile are neighbours in memory, and when a tile's rows all have one length they
sit at the same t at every step, so the tile works in place on the (RB, G)
block of the gate array (and of dxg in the backward) with no copy in or out of
scratch.  Rows of other lengths go through scratch.  ``lstm_fwd_tm`` /
``lstm_bwd_tm`` take and give time-major arrays (the op in ``minitl/ops/lstm.py``
calls them); ``lstm_fwd`` / ``lstm_bwd`` are the same kernels behind batch-major
wrappers, with the twin's signature.  How it compares with PyTorch's
``nn.LSTM``: the README (``benchmarks/bench_lstm.py``).

Batch rows never talk to each other, so both kernels are a ``prange`` over
rows, each thread running the whole time loop of its rows with its state in
small scratch vectors (no locking, and the same numbers on any thread count).
Inside a step:

* forward, ``a += W_hh h`` is written as axpys over ``W_hh^T`` (H, G):
  ``a[:] += h[k] * WT[k, :]`` -- contiguous, so LLVM vectorizes it over the
  G gate rows without a horizontal sum;
* the four nonlinearities go through one vectorizable exp over the G gate
  values (``_jit.exp_inplace``), sigmoid(a) = 1 / (1 + exp(-a)) and
  tanh(a) = 2 / (1 + exp(-2a)) - 1 -- Numba's scalar ``np.exp`` is a libm call
  per element, the slowest part of the loop at these sizes.  W_hh, W_ih, the
  bias and xg come in multiplied by -1 (-2 on g's rows; ``lstm_cell.gate_scale``),
  so the exp reads its argument straight from the matmul;
* backward, ``dh_next = W_hh^T da`` is again axpys, over the rows of W_hh.

When the gate width allows (G, and for the backward H, a multiple of the
register tile's NR columns: 32 float32 on AVX-512), rows go in tiles of RB
(8 on AVX-512, 4 otherwise) that step through time together, and the
recurrent product of the whole tile is the register-tile micro-kernel that
matmul uses (``_jit.make_tile``): each W_hh value loaded once serves RB rows
instead of one.  A row whose sequence has ended (or not yet begun, going
backwards) rides along with zeros and writes nothing.  Other widths take the
row-at-a-time loops (``lstm_cell.py``).

Given xg, the forward writes the gate values over it (the caller's buffer
becomes ``gates``: no second (T, B, G) array).  The recurrent weight's
gradient ``dW_hh = sum_{b,t} da[b,t] h'[b,t]^T`` is not accumulated in the
loop (rows would race on it): ``lstm_bwd_tm`` forms it afterwards with one
(G, B*T) @ (B*T, H) BLAS matmul, time-major making h' a view (h one step
back in time), not a copy.
"""
import numba
import numpy as np
from numba import njit, prange

from ._jit import FASTMATH, make_tile
from .lstm_cell import (bwd_gates, copy, gate_scale, lstm_bwd_kernel, lstm_fwd_kernel, scale_rows,  # noqa: F401
                        sigmoid_tanh, tanh_into)
from .machine import machine_info

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


def _tile_lengths(lengths, b0, B):
    """Lengths of the RB rows of the tile starting at row b0 (0 past the batch) and their max."""
    Ls = np.zeros(RB, np.int64)
    for r in range(RB):
        if b0 + r < B:
            Ls[r] = lengths[b0 + r]
    return Ls, Ls.max()


def _lstm_fwd_tiled(gates, x, wit, bias, scale, wt, lengths, reverse, h_out, c_out, exact, NR):
    # x (T, B, I) with I > 0: the input projection runs here too, a second register tile per
    # step (x W_ih^T, with wit = W_ih^T SCALE); gates is then output only.  I = 0: gates holds
    # x W_ih^T on entry (the loop alone, or a width the tile does not take).
    T, B, G = gates.shape
    H = G // 4
    I = x.shape[2]
    for tb in prange((B + RB - 1) // RB):
        b0 = tb * RB
        hb = np.zeros((RB, H), gates.dtype)      # the tile's states
        cb = np.zeros((RB, H), gates.dtype)
        a = np.empty((RB, G), gates.dtype)
        xs = np.zeros((RB, I), gates.dtype)
        tc = np.empty(H, gates.dtype)
        Ls, Lmax = tile_lengths(lengths, b0, B)
        # aligned: a whole tile of rows of one length sits at the same t at every step, so the
        # tile works on the (RB, G) block of gates in place; otherwise through the scratch a
        aligned = b0 + RB <= B and Ls.min() == Lmax
        for s in range(Lmax):
            ta = Lmax - 1 - s if reverse else s
            D = gates[ta, b0:b0 + RB] if aligned else a
            X = x[ta, b0:b0 + RB] if aligned and I > 0 else xs
            for r in range(RB):
                ar = D[r]
                if s >= Ls[r]:                   # (unaligned only) ended: rides along with zeros
                    for j in range(G):
                        ar[j] = 0
                    for k in range(I):
                        xs[r, k] = 0
                    continue
                t = Ls[r] - 1 - s if reverse else s
                if I > 0:
                    for j in range(G):
                        ar[j] = bias[j] * scale[j]
                    if not aligned:
                        copy(x[t, b0 + r], xs[r], I)
                else:
                    scale_rows(gates[t, b0 + r], bias, scale, ar, G)
            for cj in range(0, G, NR):           # D += x W_ih^T + h W_hh^T: (RB, I|H) @ (I|H, NR) tiles
                if I > 0:
                    tile(I, X, wit, cj, D, 0, cj)
                tile(H, hb, wt, cj, D, 0, cj)
            for r in range(RB):
                if s >= Ls[r]:
                    continue
                t = Ls[r] - 1 - s if reverse else s
                ar, hr, cr = D[r], hb[r], cb[r]  # 1-D row views: the loops vectorize
                sigmoid_tanh(ar, G, H, exact)
                for j in range(H):
                    cr[j] = ar[H + j] * cr[j] + ar[j] * ar[2 * H + j]
                tanh_into(cr, tc, H, exact)
                for j in range(H):
                    hr[j] = ar[3 * H + j] * tc[j]
                copy(hr, h_out[t, b0 + r], H)
                copy(cr, c_out[t, b0 + r], H)
                if not aligned:
                    copy(ar, gates[t, b0 + r], G)


def _lstm_bwd_tiled(dh, w, c, gates, lengths, reverse, dxg, exact, NR, w_ih, dx):
    # dh (B, T, H) and dx (B, T, I) batch-major (the op's own layout: no transposing copy; their rows
    # are few streams beside the time-major ones).  dx with I > 0: also dx = da W_ih, a second tile
    # per step (dx comes in zeroed)
    T, B, G = gates.shape
    H = G // 4
    I = dx.shape[2]
    for tb in prange((B + RB - 1) // RB):
        b0 = tb * RB
        dhn = np.zeros((RB, H), dh.dtype)        # dh and dc flowing back into the step before
        dcn = np.zeros((RB, H), dh.dtype)
        da = np.zeros((RB, G), dh.dtype)
        dxs = np.zeros((RB, I), dh.dtype)
        tc = np.empty(H, dh.dtype)
        zh = np.zeros(H, dh.dtype)               # c' before the first step
        Ls, Lmax = tile_lengths(lengths, b0, B)
        aligned = b0 + RB <= B and Ls.min() == Lmax   # as in the forward: da is dxg's block itself
        for s in range(Lmax - 1, -1, -1):
            ta = Lmax - 1 - s if reverse else s
            A = dxg[ta, b0:b0 + RB] if aligned else da
            for r in range(RB):
                dar = A[r]
                if s >= Ls[r]:
                    for j in range(G):           # not begun yet: contributes nothing to dh_next
                        dar[j] = 0
                    continue
                t = Ls[r] - 1 - s if reverse else s
                cp = zh
                if s > 0:
                    cp = c[t + 1, b0 + r] if reverse else c[t - 1, b0 + r]
                tanh_into(c[t, b0 + r], tc, H, exact)
                bwd_gates(gates[t, b0 + r], dh[b0 + r, t], cp, tc, dhn[r], dcn[r], dar, H)
                if not aligned:
                    copy(dar, dxg[t, b0 + r], G)
            for r in range(RB):
                for k in range(H):
                    dhn[r, k] = 0
            for cj in range(0, H, NR):           # dh_next = da W_hh: (RB, G) @ (G, NR) per tile
                tile(G, A, w, cj, dhn, 0, cj)
            if I > 0:                            # dx = da W_ih, likewise
                DX = dx[b0:b0 + RB, ta] if aligned else dxs
                if not aligned:
                    for r in range(RB):
                        for k in range(I):
                            dxs[r, k] = 0
                for cj in range(0, I, NR):
                    tile(G, A, w_ih, cj, DX, 0, cj)
                if not aligned:
                    for r in range(RB):
                        if s < Ls[r]:
                            copy(dxs[r], dx[b0 + r, Ls[r] - 1 - s if reverse else s], I)


def _check(xg, w_hh, lengths, bias=None):
    """xg (T, B, 4H) time-major."""
    if xg.ndim != 3 or xg.shape[2] % 4:
        raise ValueError(f"lstm: gate inputs must be (T, B, 4H) time-major, got {xg.shape}")
    T, B, G = xg.shape
    if w_hh.shape != (G, G // 4):
        raise ValueError(f"lstm: w_hh must be (4H, H) = {(G, G // 4)} for gate inputs {xg.shape}, got {w_hh.shape}")
    if bias is not None and np.shape(bias) != (G,):
        raise ValueError(f"lstm: bias must be (4H,) = ({G},), got {np.shape(bias)}")
    if lengths.shape != (B,) or (lengths.size and (lengths.min() < 0 or lengths.max() > T)):
        raise ValueError(f"lstm: lengths must be (B,) = ({B},) with values in [0, T={T}], "
                         f"got shape {lengths.shape}, values {lengths.min() if lengths.size else '-'}.."
                         f"{lengths.max() if lengths.size else '-'}")


def lstm_fwd_tm(gates, w_hh, lengths, reverse=False, bias=None, x=None, w_ih=None):
    """Time-major forward.  Either gates (T, B, 4H) holds x W_ih^T on entry (overwritten in place),
    or gates is None and x (T, B, I), w_ih (4H, I) are given (the projection runs in the loop where
    the tile takes the width, else as one BLAS matmul first).  bias (4H,) or None.
    Returns (h, c, gates): (T, B, H) twice, zeros past a row's length, and the gate values i, f, g, o."""
    if gates is None:
        dt = x.dtype if x.dtype in (np.float32, np.float64) else np.float32
        T, B, I = x.shape
        G = w_hh.shape[0]
        if w_ih is None or w_ih.shape != (G, I):
            raise ValueError(f"lstm_fwd_tm: x {x.shape} needs w_ih (4H, I) = {(G, I)}, got "
                             f"{None if w_ih is None else w_ih.shape}")
        x = np.ascontiguousarray(x, dt)
        fuse = G % tile_columns(dt) == 0 and not numba.config.DISABLE_JIT
        gates = np.empty((T, B, G), dt) if fuse else (x.reshape(T * B, I) @ np.asarray(w_ih, dt).T).reshape(T, B, G)
    else:
        dt, fuse = gates.dtype, False
    if dt not in (np.float32, np.float64) or not gates.flags.c_contiguous:
        raise ValueError(f"lstm_fwd_tm: gates must be a C-contiguous float32/float64 array, got {dt}")
    lengths = np.ascontiguousarray(lengths, np.int64)
    _check(gates, w_hh, lengths, bias)
    T, B, G = gates.shape
    scale = gate_scale(G, dt)
    wt = np.ascontiguousarray(np.asarray(w_hh, dt).T * scale)          # (H, G), times SCALE
    bias = np.zeros(G, dt) if bias is None else np.ascontiguousarray(bias, dt)
    full = lengths.size == 0 or lengths.min() == T                     # else padding must read 0
    h = (np.empty if full else np.zeros)((T, B, G // 4), dt)
    c = (np.empty if full else np.zeros)((T, B, G // 4), dt)
    if not full:
        gates[np.arange(T)[:, None] >= lengths[None, :]] = 0            # padded positions: gates 0
    NR = tile_columns(dt)
    if G % NR == 0 and not numba.config.DISABLE_JIT:
        if fuse:
            wit = np.ascontiguousarray(np.asarray(w_ih, dt).T * scale)  # (I, G), times SCALE
        else:
            x, wit = np.empty((T, B, 0), dt), np.empty((0, G), dt)
        lstm_fwd_tiled_kernel(gates, x, wit, bias, scale, wt, lengths, bool(reverse), h, c, dt == np.float64, NR)
    else:
        lstm_fwd_kernel(gates, bias, scale, wt, lengths, bool(reverse), h, c, dt == np.float64)
    return h, c, gates


def lstm_bwd_tm(dh, w_hh, h, c, gates, lengths, reverse=False, w_ih=None):
    """Time-major backward, except for dh (B, T, H) and dx: -> (dxg (T, B, 4H), dw_hh (4H, H), dx);
    h, c, gates from lstm_fwd_tm.  With w_ih (4H, I), dx = dxg W_ih (B, T, I), batch-major, is formed
    in the loop where the tile takes the widths; otherwise (or without w_ih) dx is None."""
    dt = gates.dtype
    dh = np.ascontiguousarray(dh, dt)
    w = np.ascontiguousarray(w_hh, dt)
    lengths = np.ascontiguousarray(lengths, np.int64)
    T, B, G = gates.shape
    H = G // 4
    full = lengths.size == 0 or lengths.min() == T
    dxg = (np.empty if full else np.zeros)(gates.shape, dt)
    NR = tile_columns(dt)
    dx = None
    if H % NR == 0 and not numba.config.DISABLE_JIT:
        if w_ih is not None and w_ih.shape[1] % NR == 0:
            wi, dx = np.ascontiguousarray(w_ih, dt), np.zeros((B, T, w_ih.shape[1]), dt)
        else:
            wi = np.empty((G, 0), dt)
        lstm_bwd_tiled_kernel(dh, w, c, gates, lengths, bool(reverse), dxg, dt == np.float64, NR, wi,
                              np.empty((B, T, 0), dt) if dx is None else dx)
    else:
        lstm_bwd_kernel(dh, w, c, gates, lengths, bool(reverse), dxg, dt == np.float64)
    # the state each step started from is h one step back in processing order (zero before the
    # first, and padding is zero): time-major, that is a view, and dW_hh is one matmul over (t, b)
    if reverse:
        dw = dxg[:-1].reshape(-1, G).T @ h[1:].reshape(-1, H)
    else:
        dw = dxg[1:].reshape(-1, G).T @ h[:-1].reshape(-1, H)
    return dxg, (dw if T > 1 else np.zeros((G, H), dt)), dx


def _tm(a, dt):
    """(B, T, ...) -> a C-contiguous (T, B, ...) copy (and back); always a copy (the forward writes in it)."""
    return np.array(np.swapaxes(a, 0, 1), dt, order="C")


def lstm_fwd(xg, w_hh, lengths, reverse=False):
    """Batch-major, the twin's signature: xg (B, T, 4H), w_hh (4H, H), lengths (B,) ->
    (h, c (B, T, H), gates (B, T, 4H))."""
    dt = xg.dtype if xg.dtype in (np.float32, np.float64) else np.float32
    if np.ndim(xg) != 3:
        raise ValueError(f"lstm: gate inputs must be (B, T, 4H), got {np.shape(xg)}")
    h, c, gates = lstm_fwd_tm(_tm(xg, dt), w_hh, lengths, reverse)
    return _tm(h, dt), _tm(c, dt), _tm(gates, dt)


def lstm_bwd(dh, w_hh, h, c, gates, lengths, reverse=False):
    """Batch-major: dh (B, T, H) -> (dxg (B, T, 4H), dw_hh (4H, H)); h, c, gates as lstm_fwd returned them."""
    dt = gates.dtype
    dxg, dw, _ = lstm_bwd_tm(dh, w_hh, _tm(h, dt), _tm(c, dt), _tm(gates, dt), lengths, reverse)
    return _tm(dxg, dt), dw


tile_lengths = njit(cache=True)(_tile_lengths)
lstm_fwd_tiled_kernel = njit(parallel=True, fastmath=FASTMATH, error_model="numpy", cache=True)(_lstm_fwd_tiled)
lstm_bwd_tiled_kernel = njit(parallel=True, fastmath=FASTMATH, error_model="numpy", cache=True)(_lstm_bwd_tiled)
