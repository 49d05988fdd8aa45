"""The time-major LSTM kernel's fast paths vs the numpy twin, and the one-node layer op."""
import numpy as np
import pytest

from minitl import config
from minitl.kernels import lstm as K, reference_lstm as R
from minitl.ops import lstm as L
from minitl.tensor import Tensor


def _lengths(B, T, rng):
    # the first two tiles of rows have one length each (the in-place "aligned" path), the rest mixed
    RB = K.RB
    return np.concatenate([np.full(RB, T), np.full(RB, T - 2), rng.integers(0, T + 1, B - 2 * RB)])


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
def test_aligned_and_mixed_tiles_match_twin(dt, reverse):
    rng = np.random.default_rng(3)
    H, T = 32, 7                                   # 4H and H multiples of the tile's columns
    B = 2 * K.RB + 5
    assert (4 * H) % K.tile_columns(dt) == 0 and H % K.tile_columns(dt) == 0
    xg = rng.normal(size=(B, T, 4 * H)).astype(dt)
    w = (0.3 * rng.normal(size=(4 * H, H))).astype(dt)
    dh = rng.normal(size=(B, T, H)).astype(dt)
    lengths = _lengths(B, T, rng)
    tol = dict(rtol=1e-4, atol=1e-5) if dt == np.float32 else dict(rtol=1e-10, atol=1e-12)
    got, want = K.lstm_fwd(xg, w, lengths, reverse), R.lstm_fwd_ref(xg, w, lengths, reverse)
    for name, g_, w_ in zip(("h", "c", "gates"), got, want):
        np.testing.assert_allclose(g_, w_, err_msg=name, **tol)
    for name, g_, w_ in zip(("dxg", "dw_hh"), K.lstm_bwd(dh, w, *got, lengths, reverse),
                            R.lstm_bwd_ref(dh, w, *want, lengths, reverse)):
        np.testing.assert_allclose(g_, w_, err_msg=name, **tol)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (4, 1)])
def test_forward_leaves_its_input_alone(shape):
    # the kernel writes the gates over its (time-major) input: the wrapper must always copy, even
    # where swapping B and T is already contiguous (B or T of 1)
    rng = np.random.default_rng(0)
    xg, w = rng.normal(size=shape + (8,)), rng.normal(size=(8, 2))
    lengths = np.full(shape[0], shape[1])
    before = xg.copy()
    h = K.lstm_fwd(xg, w, lengths)[0]
    np.testing.assert_array_equal(xg, before)
    np.testing.assert_allclose(h, R.lstm_fwd_ref(before, w, lengths)[0], rtol=1e-10, atol=1e-12)


def test_time_major_bias_is_added_in_the_loop():
    rng = np.random.default_rng(1)
    B, T, H = 3, 4, 32
    xg = rng.normal(size=(T, B, 4 * H))
    bias = rng.normal(size=4 * H)
    w = 0.3 * rng.normal(size=(4 * H, H))
    lengths = np.array([4, 2, 0])
    h, c, _ = K.lstm_fwd_tm(xg.copy(), w, lengths, bias=bias)
    want = R.lstm_fwd_ref((xg + bias).swapaxes(0, 1), w, lengths)
    np.testing.assert_allclose(h.swapaxes(0, 1), want[0], rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match=r"bias must be \(4H,\) = \(128,\)"):
        K.lstm_fwd_tm(xg.copy(), w, lengths, bias=bias[:5])


@pytest.mark.parametrize("I", [12, 32])
@pytest.mark.parametrize("reverse", [False, True])
def test_layer_op_is_one_node_and_matches_composed(reverse, I):
    # the whole layer (projection, loop, every gradient) on the tiled kernel vs the composed oracle;
    # I = 32 also forms dx inside the backward loop (I a multiple of the tile's columns), 12 by BLAS
    rng = np.random.default_rng(2)
    B, T, H = 2 * K.RB + 1, 5, 32
    arrays = (rng.normal(size=(B, T, I)), 0.3 * rng.normal(size=(4 * H, I)),
              0.3 * rng.normal(size=(4 * H, H)), 0.3 * rng.normal(size=4 * H))
    lengths = np.concatenate([np.full(2 * K.RB, T), [3]])
    dy = rng.normal(size=(B, T, H))
    grads = {}
    for fused in (True, False):
        ts = [Tensor(a, requires_grad=True) for a in arrays]
        with config.fused(fused):
            out = L.lstm(*ts, lengths=lengths, reverse=reverse)
        if fused:
            assert out._op == "FusedLSTM" and all(p._op == "leaf" for p in out._parents)
        out.backward(dy)
        grads[fused] = [out.data] + [t.grad for t in ts]
    for name, a, b in zip(("h", "x", "w_ih", "w_hh", "bias"), grads[True], grads[False]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11, err_msg=name)
