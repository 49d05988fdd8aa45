"""minitl.nn.functional as a namespace: what dir() shows, docstrings, and the torch-named losses.

Each new function (``silu``, ``mse_loss``, ``nll_loss``, ``binary_cross_entropy_with_logits``) is
checked three ways: values written out by hand on a tiny case, gradients against central
differences (``minitl.testing.grad_check``), and values and gradients against PyTorch when it is
installed.
"""
import inspect

import numpy as np
import pytest

import minitl
import minitl.nn.functional as F
from minitl import config
from minitl.tensor import ShapeError
from minitl.testing import grad_check

RNG = np.random.default_rng(0)
REDUCTIONS = ("mean", "sum", "none")


# -- the namespace -------------------------------------------------------------------

def test_dir_lists_the_functions_and_none_of_the_imports():
    names = dir(F)
    assert names == sorted(F.__all__) or sorted(names) == sorted(F.__all__)
    for leaked in ("np", "math", "Tensor", "config", "random", "Embedding", "Where", "Index", "as_array",
                   "ShapeError", "Optional", "FUSED_IMPLS"):
        assert leaked not in names, leaked
    for want in ("relu", "softmax", "cross_entropy", "mse_loss", "nll_loss", "silu",
                 "binary_cross_entropy_with_logits"):
        assert want in names
    assert minitl.nn.functional is F                    # reachable after `import minitl`, as in torch


def test_star_import_gives_exactly_all():
    ns = {}
    exec("from minitl.nn.functional import *", ns)
    assert sorted(k for k in ns if not k.startswith("__")) == sorted(F.__all__)


@pytest.mark.parametrize("name", F.__all__)
def test_every_function_has_a_docstring_with_its_returns(name):
    fn = getattr(F, name)
    doc = inspect.getdoc(fn) or ""
    assert len(doc.splitlines()[0]) > 10, f"F.{name}: no one-line summary"
    assert "Returns" in doc, f"F.{name}: docstring does not say what it returns"
    assert inspect.signature(fn).return_annotation is not inspect.Signature.empty, f"F.{name}: no type hints"


# -- values on cases small enough to do by hand ---------------------------------------

def test_silu_values():
    x = minitl.tensor([-1.0, 0.0, 2.0], dtype=np.float64)
    np.testing.assert_allclose(F.silu(x).data, [-1 / (1 + np.e), 0.0, 2 / (1 + np.exp(-2.0))], rtol=1e-12)


def test_mse_loss_values():
    x = minitl.tensor([1.0, 2.0, 4.0], dtype=np.float64)
    y = np.array([0.0, 2.0, 1.0])
    assert F.mse_loss(x, y).item() == pytest.approx((1 + 0 + 9) / 3)
    assert F.mse_loss(x, y, reduction="sum").item() == pytest.approx(10.0)
    np.testing.assert_allclose(F.mse_loss(x, y, reduction="none").data, [1.0, 0.0, 9.0])


def test_nll_loss_values_ignore_index_and_class_weights():
    logp = minitl.tensor(np.log([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]]), dtype=np.float64)
    t = np.array([0, 1, -100])
    assert F.nll_loss(logp, t).item() == pytest.approx(-(np.log(0.5) + np.log(0.8)) / 2)
    w = np.array([2.0, 1.0, 1.0])
    # weighted mean: sum of w[t] * loss / sum of w[t] over the kept rows (PyTorch's rule)
    assert F.nll_loss(logp, t, weight=w).item() == pytest.approx(-(2 * np.log(0.5) + np.log(0.8)) / 3)
    np.testing.assert_allclose(F.nll_loss(logp, t, reduction="none").data, [-np.log(0.5), -np.log(0.8), 0.0])


def test_nll_of_log_softmax_is_cross_entropy_on_both_paths():
    x = RNG.normal(size=(5, 4))
    t = np.array([0, 3, 1, -100, 2])
    with config.fused(False):
        want = F.cross_entropy(minitl.tensor(x), t).item()
    for fused in (False, True):
        with config.fused(fused):
            got = F.nll_loss(F.log_softmax(minitl.tensor(x), -1), t).item()
            assert got == pytest.approx(want, rel=1e-6)
            assert F.cross_entropy(minitl.tensor(x), t).item() == pytest.approx(want, rel=1e-5)


def test_bce_with_logits_values_and_no_overflow():
    x = minitl.tensor([0.0, 2.0, -3.0, 500.0, -500.0], dtype=np.float64)
    t = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    sig = 1 / (1 + np.exp(-np.array([0.0, 2.0, -3.0])))
    want = [-np.log(sig[0]), -np.log(1 - sig[1]), -np.log(sig[2]), 0.0, 0.0]
    got = F.binary_cross_entropy_with_logits(x, t, reduction="none").data
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert np.isfinite(F.binary_cross_entropy_with_logits(-x, t).item())     # -500 with target 1: 500, not inf
    assert F.binary_cross_entropy_with_logits(-x, t, reduction="none").data[3] == pytest.approx(500.0)
    pw = np.array([3.0])
    got = F.binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction="none").data
    np.testing.assert_allclose(got[:3], [3 * want[0], want[1], 3 * want[2]], atol=1e-12)


@pytest.mark.parametrize("fn,args", [
    (F.mse_loss, (np.zeros(3),)),
    (F.binary_cross_entropy_with_logits, (np.zeros(3),)),
])
def test_losses_refuse_a_target_of_another_shape_and_a_bad_reduction(fn, args):
    x = minitl.tensor(np.zeros((3, 1)))
    with pytest.raises(ShapeError, match=r"\(3, 1\) and target \(3,\)"):
        fn(x, *args)
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        fn(minitl.tensor(np.zeros(3)), *args, reduction="avg")


def test_nll_loss_checks_targets_and_weight():
    logp = minitl.tensor(np.zeros((2, 3)))
    with pytest.raises(IndexError, match="nll_loss: target 3 out of range for 3 classes"):
        F.nll_loss(logp, np.array([0, 3]))
    with pytest.raises(TypeError, match="nll_loss: target must hold integers"):
        F.nll_loss(logp, np.array([0.0, 1.0]))
    with pytest.raises(ShapeError, match=r"weight \(2,\) must be \(3,\)"):
        F.nll_loss(logp, np.array([0, 1]), weight=np.ones(2))


# -- gradients against central differences ---------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_new_losses_gradients_match_finite_differences(reduction):
    x, y = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    grad_check(lambda a, b: F.mse_loss(a, b, reduction=reduction), x, y)        # both sides differentiable
    p = RNG.uniform(0.05, 0.95, size=(4, 3))
    w, pw = RNG.uniform(0.5, 2.0, size=(4, 3)), RNG.uniform(0.5, 2.0, size=(3,))
    grad_check(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction), x * 3, p)
    grad_check(lambda a: F.binary_cross_entropy_with_logits(a, p, weight=w, pos_weight=pw,
                                                            reduction=reduction), x * 3)
    t = np.array([2, 0, -100, 1])
    cw = np.array([0.5, 2.0, 1.5])
    grad_check(lambda a: F.nll_loss(F.log_softmax(a, -1), t, weight=cw, reduction=reduction), x)


def test_silu_gradient_matches_finite_differences():
    grad_check(F.silu, RNG.normal(size=(3, 5)) * 3)


# -- against PyTorch ---------------------------------------------------------------------

def _both(fn_minitl, fn_torch, arrays, grad=True):
    """Values (and input gradients of the summed output) of minitl and torch on the same float64 arrays."""
    torch = pytest.importorskip("torch")
    ms = [minitl.tensor(a.copy(), requires_grad=grad) for a in arrays]
    ts = [torch.tensor(a.copy(), requires_grad=grad) for a in arrays]
    mo, to = fn_minitl(*ms), fn_torch(*ts)
    np.testing.assert_allclose(mo.data, to.detach().numpy(), rtol=1e-10, atol=1e-12)
    if grad:
        mo.sum().backward()
        to.sum().backward()
        for m, t in zip(ms, ts):
            np.testing.assert_allclose(m.grad, t.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_new_losses_match_torch(reduction):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    x, y = RNG.normal(size=(6, 4)) * 3, RNG.normal(size=(6, 4))
    p = RNG.uniform(0, 1, size=(6, 4))
    w, pw = RNG.uniform(0.5, 2, size=(6, 4)), RNG.uniform(0.5, 2, size=(4,))
    _both(lambda a, b: F.mse_loss(a, b, reduction=reduction), lambda a, b: TF.mse_loss(a, b, reduction=reduction),
          [x, y])
    _both(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction),
          lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction=reduction), [x, p])
    _both(lambda a: F.binary_cross_entropy_with_logits(a, p, weight=w, pos_weight=pw, reduction=reduction),
          lambda a: TF.binary_cross_entropy_with_logits(a, torch.tensor(p), weight=torch.tensor(w),
                                                        pos_weight=torch.tensor(pw), reduction=reduction), [x])
    t = np.array([3, 0, -100, 1, 2, 2])
    cw = RNG.uniform(0.5, 2, size=(4,))
    for weight in (None, cw):
        _both(lambda a: F.nll_loss(F.log_softmax(a, -1), t, weight=weight, reduction=reduction),
              lambda a: TF.nll_loss(TF.log_softmax(a, -1), torch.tensor(t),
                                    weight=None if weight is None else torch.tensor(weight), reduction=reduction),
              [x])


def test_activations_match_torch():
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    x = RNG.normal(size=(3, 7)) * 4
    for ours, theirs in ((F.silu, TF.silu), (F.relu, TF.relu), (F.tanh, torch.tanh), (F.sigmoid, torch.sigmoid),
                         (lambda a: F.softmax(a, -1), lambda a: TF.softmax(a, -1)),
                         (lambda a: F.log_softmax(a, 0), lambda a: TF.log_softmax(a, 0))):
        _both(ours, theirs, [x])
