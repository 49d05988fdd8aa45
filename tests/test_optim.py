"""Optimizers against hand-computed updates, groups, frozen params, schedules, clipping."""
import math

import numpy as np
import pytest

import minitl
from minitl import nn, optim
from minitl.nn import functional as F
from minitl.optim import (SGD, AdamW, LRScheduler, WarmupCosine, LinearDecay, SlantedTriangular,
                          clip_grad_norm_, param_summary)


def _param(values):
    return nn.Parameter(np.array(values, dtype=np.float64), dtype=np.float64)


@pytest.mark.parametrize("backend", ["numba", "reference"])
def test_adamw_matches_hand_computed_steps(backend, monkeypatch):
    # "numba": the kernel; "reference": its numpy twin kernels/reference.adamw_ref
    lr, b1, b2, eps, wd = 0.1, 0.9, 0.999, 1e-8, 0.1
    p = _param([1.0, -2.0])
    opt = AdamW([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    monkeypatch.setattr(minitl.config, "BACKEND", backend)

    # Step 1, coordinate 0: g = 0.5.  m = 0.1*0.5 = 0.05, v = 0.001*0.25 = 0.00025;
    # m_hat = 0.05/0.1 = 0.5, v_hat = 0.00025/0.001 = 0.25, sqrt = 0.5.
    # p = 1.0*(1 - 0.1*0.1) - 0.1 * 0.5/(0.5 + 1e-8) = 0.99 - 0.09999999800000004
    # Coordinate 1: g = -1.0: p = -2*(0.99) - 0.1*(-1)/(1 + 1e-8) = -1.98 + 0.0999999990
    p.grad = np.array([0.5, -1.0])
    opt.step()
    expect1 = [0.99 - 0.1 * 0.5 / (0.5 + 1e-8), -1.98 + 0.1 * 1.0 / (1.0 + 1e-8)]
    np.testing.assert_allclose(p.data, expect1, rtol=1e-12)
    np.testing.assert_allclose(p.data, [0.890000002, -1.880000001], rtol=1e-9)

    # Step 2, coordinate 0: g = 0.1.  m = 0.9*0.05 + 0.1*0.1 = 0.055;
    # v = 0.999*0.00025 + 0.001*0.01 = 0.00025975; bias corrections 1-0.81 = 0.19, 1-0.998001 = 0.001999.
    p.grad = np.array([0.1, 0.3])
    opt.step()
    m0, v0 = 0.055, 0.00025975
    p0 = expect1[0] * 0.99 - 0.1 * (m0 / 0.19) / (math.sqrt(v0 / 0.001999) + 1e-8)
    # coordinate 1: g = 0.3; m = 0.9*(-0.1) + 0.1*0.3 = -0.06; v = 0.999*0.001 + 0.001*0.09 = 0.001089
    m1, v1 = -0.06, 0.001089
    p1 = expect1[1] * 0.99 - 0.1 * (m1 / 0.19) / (math.sqrt(v1 / 0.001999) + 1e-8)
    np.testing.assert_allclose(p.data, [p0, p1], rtol=1e-12)

    # Step 3 with a zero gradient on coordinate 1: the moments still move it.
    p.grad = np.array([-0.2, 0.0])
    opt.step()
    m0, v0 = 0.9 * m0 + 0.1 * -0.2, 0.999 * v0 + 0.001 * 0.04
    m1, v1 = 0.9 * m1, 0.999 * v1
    bc1, bc2 = 1 - 0.9 ** 3, 1 - 0.999 ** 3
    q0 = p0 * 0.99 - 0.1 * (m0 / bc1) / (math.sqrt(v0 / bc2) + 1e-8)
    q1 = p1 * 0.99 - 0.1 * (m1 / bc1) / (math.sqrt(v1 / bc2) + 1e-8)
    np.testing.assert_allclose(p.data, [q0, q1], rtol=1e-12)
    st = opt.state[id(p)]
    assert st["step"] == 3
    np.testing.assert_allclose(st["exp_avg"], [m0, m1], rtol=1e-12)


def test_adamw_matches_torch_if_installed():
    torch = pytest.importorskip("torch", reason="PyTorch not installed: optional cross-check")
    rng = np.random.default_rng(0)
    w0, b0 = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=4).astype(np.float32)
    w, b = nn.Parameter(w0), nn.Parameter(b0)
    tw, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt = AdamW([{"params": [w]}, {"params": [b], "lr": 0.05, "weight_decay": 0.0}], lr=0.01)
    topt = torch.optim.AdamW([{"params": [tw]}, {"params": [tb], "lr": 0.05, "weight_decay": 0.0}],
                             lr=0.01)
    for _ in range(5):
        gw, gb = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=4).astype(np.float32)
        w.grad, b.grad = gw, gb
        tw.grad, tb.grad = torch.tensor(gw), torch.tensor(gb)
        opt.step()
        topt.step()
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_sgd_momentum_and_weight_decay_by_hand():
    p = _param([1.0])
    opt = SGD([p], lr=0.1, momentum=0.9)
    for g in (1.0, 0.5, -1.0):
        p.grad = np.array([g])
        opt.step()
    # buf: 1 -> 0.9*1 + 0.5 = 1.4 -> 0.9*1.4 - 1 = 0.26;  p: 1 -> 0.9 -> 0.76 -> 0.734
    np.testing.assert_allclose(p.data, [0.734], rtol=1e-12)

    q = _param([2.0])
    opt = SGD([q], lr=0.1, momentum=0.5, weight_decay=0.1)
    q.grad = np.array([1.0])
    opt.step()  # d = 1 + 0.1*2 = 1.2; buf = 1.2; q = 2 - 0.12 = 1.88
    q.grad = np.array([1.0])
    opt.step()  # d = 1 + 0.188 = 1.188; buf = 0.6 + 1.188 = 1.788; q = 1.88 - 0.1788
    np.testing.assert_allclose(q.data, [1.88 - 0.1788], rtol=1e-12)


def test_param_groups_have_their_own_lr():
    a, b = _param([0.0]), _param([0.0])
    opt = SGD([{"params": [a], "lr": 0.1}, {"params": [b]}], lr=0.01)
    a.grad, b.grad = np.array([1.0]), np.array([1.0])
    opt.step()
    assert a.data[0] == pytest.approx(-0.1) and b.data[0] == pytest.approx(-0.01)
    opt.param_groups[1]["lr"] = 1.0  # mutable, as schedulers and discriminative lrs need
    opt.step()
    assert b.data[0] == pytest.approx(-1.01)


def test_frozen_and_gradless_params_are_skipped():
    frozen, nograd, live = _param([1.0]), _param([2.0]), _param([3.0])
    frozen.requires_grad = False
    frozen.grad = np.array([5.0])  # a stale grad must still be ignored
    live.grad = np.array([1.0])
    opt = AdamW([frozen, nograd, live], lr=0.1, weight_decay=0.5)
    opt.step()
    assert frozen.data[0] == 1.0 and nograd.data[0] == 2.0 and live.data[0] != 3.0
    assert set(opt.state) == {id(live)}


def test_freeze_leaves_weights_byte_identical_after_step():
    minitl.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    model[0].freeze()
    before = [p.data.tobytes() for p in model[0].parameters()]
    head_before = model[2].weight.data.copy()
    opt = AdamW(model.parameters(), lr=0.1, weight_decay=0.1)
    x = minitl.tensor(np.random.default_rng(0).normal(size=(6, 3)))
    F.cross_entropy(model(x), np.array([0, 1, 1, 0, 1, 0])).backward()
    opt.step()
    assert [p.data.tobytes() for p in model[0].parameters()] == before
    assert all(p.grad is None for p in model[0].parameters())
    assert not np.array_equal(model[2].weight.data, head_before)


def test_param_summary_and_verbose(capsys):
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))  # 9 + 4 params
    model[0].freeze()
    assert param_summary(model) == "trainable: 2 tensors / 4 params; frozen: 2 tensors / 9 params"
    AdamW(model.parameters(), verbose=True)
    assert "AdamW: trainable: 2 tensors / 4 params; frozen: 2 tensors / 9 params" in capsys.readouterr().out


def test_constructor_errors_are_clear():
    with pytest.raises(ValueError, match="empty parameter list"):
        AdamW([])
    with pytest.raises(TypeError, match="pass model.parameters"):
        SGD(nn.Linear(1, 1), lr=0.1)
    p = _param([1.0])
    with pytest.raises(ValueError, match="group 1 param 0 .* more than one"):
        SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="group 0 param 1 is a ndarray"):
        SGD([p, np.zeros(2)], lr=0.1)


def test_optimizer_state_dict_resume_is_exact():
    def run(opt, params, grads):
        for g in grads:
            for p, gp in zip(params, g):
                p.grad = gp.copy()
            opt.step()

    rng = np.random.default_rng(0)
    grads = [[rng.normal(size=(2, 3)), rng.normal(size=3)] for _ in range(6)]
    a = [_param(np.ones((2, 3))), _param(np.zeros(3))]
    opt_a = AdamW([{"params": [a[0]]}, {"params": [a[1]], "lr": 0.01}], lr=0.1)
    run(opt_a, a, grads[:3])
    sd = opt_a.state_dict()
    b = [_param(a[0].data.copy()), _param(a[1].data.copy())]
    opt_b = AdamW([{"params": [b[0]]}, {"params": [b[1]]}], lr=0.5)  # lr comes back from the state
    opt_b.load_state_dict(sd)
    assert opt_b.param_groups[1]["lr"] == 0.01
    run(opt_a, a, grads[3:])
    run(opt_b, b, grads[3:])
    assert np.array_equal(a[0].data, b[0].data) and np.array_equal(a[1].data, b[1].data)
    sd["state"][0]["exp_avg"] = np.zeros((3, 2))
    with pytest.raises(ValueError, match="parameter 0 exp_avg has shape \\(3, 2\\)"):
        opt_b.load_state_dict(sd)


def test_warmup_cosine_known_points():
    f = WarmupCosine(warmup_steps=10, total_steps=110, min_ratio=0.1)
    assert f(0) == pytest.approx(1 / 11) and f(9) == pytest.approx(10 / 11)
    assert f(10) == pytest.approx(1.0)            # warmup end = peak
    assert f(60) == pytest.approx(0.55)           # half-way down the cosine: (1 + 0.1) / 2
    assert f(110) == pytest.approx(0.1) and f(500) == pytest.approx(0.1)
    vals = [f(s) for s in range(10, 111)]
    assert all(x >= y for x, y in zip(vals, vals[1:]))
    assert optim.warmup_cosine(10, 110)(10) == pytest.approx(1.0)


def test_linear_decay_known_points():
    f = LinearDecay(total_steps=100, warmup_steps=10)
    assert f(10) == pytest.approx(1.0) and f(55) == pytest.approx(0.5)
    assert f(100) == 0.0 and f(150) == 0.0
    assert LinearDecay(4)(0) == 1.0 and LinearDecay(4)(2) == pytest.approx(0.5)


def test_slanted_triangular_matches_ulmfit_formula():
    f = SlantedTriangular(total_steps=1000, cut_frac=0.1, ratio=32)
    assert f.cut == 100
    assert f(0) == pytest.approx(1 / 32)
    assert f(50) == pytest.approx(16.5 / 32)      # p = 0.5 on the way up
    assert f(100) == pytest.approx(1.0)           # the peak, at the cut
    assert f(550) == pytest.approx(16.5 / 32)     # p = 1 - 450/900 = 0.5 on the way down
    assert f(1000) == pytest.approx(1 / 32) and f(2000) == pytest.approx(1 / 32)
    assert max(range(1001), key=f) == 100


def test_lr_scheduler_scales_each_group_and_resumes():
    a, b = _param([0.0]), _param([0.0])
    opt = SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 0.1}], lr=1.0)
    fn = LinearDecay(total_steps=10)
    sched = LRScheduler(opt, fn)
    assert sched.get_last_lr() == pytest.approx([1.0, 0.1])  # fn(0) = 1 applied at construction
    for _ in range(4):
        sched.step()
    assert sched.get_last_lr() == pytest.approx([0.6, 0.06])
    state = sched.state_dict()
    opt2 = SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 0.1}], lr=1.0)
    sched2 = LRScheduler(opt2, fn)
    sched2.load_state_dict(state)
    sched.step()
    sched2.step()
    assert sched2.get_last_lr() == pytest.approx([0.5, 0.05]) == sched.get_last_lr()


def test_clip_grad_norm():
    a, b, c = _param([0.0, 0.0]), _param([0.0]), _param([0.0])
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])  # global norm 5; c has no grad
    total = clip_grad_norm_([a, b, c], max_norm=1.0)
    assert total == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([a.grad, b.grad]), [0.6, 0.0, 0.8], rtol=1e-6)
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    assert clip_grad_norm_([a, b], max_norm=10.0) == pytest.approx(5.0)
    assert a.grad.tolist() == [3.0, 0.0]  # under the limit: untouched
    assert clip_grad_norm_([a, b], max_norm=2.0, norm_type=float("inf")) == pytest.approx(4.0)
    np.testing.assert_allclose(b.grad, [2.0], rtol=1e-6)
    g32 = nn.Parameter([1.0])
    g32.grad = np.array([10.0], dtype=np.float32)
    clip_grad_norm_(g32, 1.0)
    assert g32.grad.dtype == np.float32


def test_grad_norm_is_the_norm_clip_grad_norm_uses_and_leaves_grads_alone():
    a, b, c = _param([0.0, 0.0]), _param([0.0]), _param([0.0])
    a.grad, b.grad = np.array([3.0, -4.0]), np.array([12.0])     # sqrt(9 + 16 + 144) = 13; c has no grad
    assert optim.grad_norm([a, b, c]) == pytest.approx(13.0)
    assert optim.grad_norm([a, b], norm_type=float("inf")) == 12.0
    assert optim.grad_norm([a, b], norm_type=1.0) == pytest.approx(19.0)
    assert optim.grad_norm([c]) == 0.0 and optim.grad_norm(a) == pytest.approx(5.0)
    assert a.grad.tolist() == [3.0, -4.0]                         # measuring changes nothing
    assert clip_grad_norm_([a, b, c], 1.0) == pytest.approx(13.0)
    assert optim.grad_norm([a, b]) == pytest.approx(1.0, rel=1e-6)  # and after clipping: max_norm
