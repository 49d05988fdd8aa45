"""Errors name the op and the numbers; the debug switches say what ran; the tape
records nothing it does not need (no_grad, frozen inputs)."""
import numpy as np
import pytest

import minitl
import minitl.nn.functional as F
from minitl.tensor import Function, ShapeError
from minitl.testing import grad_check


def test_matmul_shape_error_names_op_and_shapes():
    with pytest.raises(ShapeError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        minitl.ones(2, 3) @ minitl.ones(4, 5)


def test_broadcast_error_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\)"):
        minitl.ones(2, 3) + minitl.ones(4)
    with pytest.raises(ValueError, match=r"mul: shapes \(2, 3\) and \(2,\)"):
        minitl.ones(2, 3) * minitl.ones(2)
    with pytest.raises(ValueError, match=r"reshape: shapes \(2, 3\)"):
        minitl.ones(2, 3).reshape(4, 2)


def test_functional_shape_errors():
    with pytest.raises(ShapeError, match=r"layer_norm: input shape \(2, 3\) does not end with normalized_shape \(4,\)"):
        F.layer_norm(minitl.ones(2, 3), 4)
    with pytest.raises(ShapeError, match=r"cross_entropy: logits \(2, 3\) must be \(N, C\) and target \(3,\)"):
        F.cross_entropy(minitl.ones(2, 3), np.array([0, 1, 2]))
    with pytest.raises(IndexError, match="embedding: id 5 out of range for a table of 4 rows"):
        F.embedding(np.array([0, 5]), minitl.ones(4, 2))


def test_backward_on_non_scalar_needs_a_gradient():
    y = minitl.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"op Mul has shape \(2, 3\).*backward\(gradient=...\)"):
        y.backward()
    y.backward(np.ones((2, 3)))  # an explicit gradient is fine


def test_anomaly_mode_names_the_op():
    x = minitl.tensor([1.0, -1.0], requires_grad=True)
    with np.errstate(invalid="ignore"):
        x.log()  # NaN, but nobody is checking
    with minitl.detect_anomaly(), np.errstate(invalid="ignore"):
        with pytest.raises(FloatingPointError, match=r"op Log produced NaN/Inf.*shape \(2,\)"):
            x.log()
        (x * 2).exp()  # finite: no complaint


def test_debug_trace_prints_each_op_with_shapes(capsys):
    a, b = minitl.ones(2, 3), minitl.ones(3, 4)
    with minitl.config.debug():
        (a @ b).sum()
    out = capsys.readouterr().out
    assert "MatMul" in out and "(2, 3), (3, 4) -> (2, 4) float32" in out
    assert "Sum" in out and "(2, 4) -> () float32" in out
    a + a
    assert capsys.readouterr().out == ""  # off again outside the block


def test_no_grad_records_no_graph():
    w = minitl.ones(3, requires_grad=True)
    with minitl.no_grad():
        y = (w * 2).sum()
    assert not y.requires_grad and y._ctx is None and y._parents == ()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_frozen_input_gets_no_grad_and_no_backward_work():
    x = minitl.ones(2, 3, requires_grad=True)
    w = minitl.ones(3, 4)  # frozen: requires_grad=False
    y = x @ w
    assert y._ctx.needs_input_grad == (True, False)
    y.sum().backward()
    assert w.grad is None and x.grad.shape == (2, 3)
    frozen_only = minitl.ones(2, 3) @ w
    assert not frozen_only.requires_grad and frozen_only._ctx is None


def test_gradients_accumulate_like_pytorch():
    x = minitl.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [4.0, 8.0]


class _WrongGrad(Function):  # a broken op, to see grad_check catch it
    @staticmethod
    def forward(ctx, x):
        return x * x

    @staticmethod
    def backward(ctx, dy):
        return dy  # should be 2 * x * dy


def test_grad_check_names_input_and_element():
    with pytest.raises(AssertionError, match=r"input 0 \(shape \(2,\)\) element \(0,\): backward gave"):
        grad_check(lambda x: _WrongGrad.apply(x), np.array([3.0, 4.0]))
    with pytest.raises(TypeError, match="float64"):
        grad_check(lambda x: x * 2, np.ones(2, dtype=np.float32))


# -- misuse PyTorch refuses (issue 15, item 5) ------------------------------------------
def test_second_backward_through_the_same_graph_is_an_error():
    x = minitl.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"second time \(op Sum.*retain_graph=True"):
        y.backward()
    assert x.grad.tolist() == [2.0, 4.0]  # not doubled, not half-added


def test_retain_graph_keeps_the_second_backward_legal():
    x = minitl.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]  # 2 * (2x), accumulated like PyTorch


def test_backward_through_a_shared_part_already_freed_is_an_error():
    x = minitl.tensor([3.0], requires_grad=True)
    h = x * x
    h.sum().backward()
    with pytest.raises(RuntimeError, match=r"second time \(op Mul"):
        (h * 2).sum().backward()
    assert x.grad.tolist() == [6.0]  # checked before any gradient was written


@pytest.mark.parametrize("change", ["setitem", "data_assign", "data_iadd", "mul_", "fill_"])
def test_in_place_change_of_a_saved_input_is_caught(change):
    w = minitl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x = minitl.tensor([4.0, 5.0, 6.0])
    y = (x * w).sum()  # Mul saved x: dy/dw = x
    if change == "setitem":
        x[0] = 100.0
    elif change == "data_assign":
        x.data = x.data * 2
    elif change == "data_iadd":
        x.data += 1
    elif change == "mul_":
        x.mul_(2)
    else:
        x.fill_(0)
    with pytest.raises(RuntimeError, match=r"modified in place: op Mul saved input 0 \(shape \(3,\), "
                                           r"float32\), which is now at version 1, expected version 0"):
        y.backward()
    assert w.grad is None


def test_in_place_change_of_a_saved_output_is_caught():
    x = minitl.tensor([0.5, 1.0], requires_grad=True)
    y = x.exp()  # Exp saves its output
    with minitl.no_grad():
        y.mul_(3)
    with pytest.raises(RuntimeError, match=r"op Exp saved its output .* version 1, expected version 0"):
        y.sum().backward()


def test_in_place_change_of_an_unsaved_input_is_fine():
    # Add saves nothing, so (as in PyTorch) changing its input afterwards cannot corrupt a gradient
    w = minitl.tensor([1.0, 2.0], requires_grad=True)
    x = minitl.tensor([4.0, 5.0])
    y = (x + w).sum()
    x[0] = 7.0
    y.backward()
    assert w.grad.tolist() == [1.0, 1.0]


def test_in_place_on_a_tensor_that_requires_grad_needs_no_grad():
    w = minitl.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"add_\(\): in-place change of a tensor that requires grad"):
        w.add_(1.0)
    with minitl.no_grad():
        w.add_(minitl.tensor([1.0, 1.0]), alpha=-0.5).mul_(2)
    assert w.data.tolist() == [1.0, 3.0] and w._version == 2


def test_optimizer_updates_after_backward_stay_legal():
    # Optimizers update .data after backward, when the graph is spent: that is the normal loop.
    w = minitl.nn.Parameter(np.array([1.0, -2.0]))
    for opt in (minitl.optim.SGD([w], lr=0.1), minitl.optim.AdamW([w], lr=0.1)):
        for _ in range(2):
            opt.zero_grad()
            (w * w).sum().backward()
            opt.step()
    assert np.all(np.abs(w.data) < [1.0, 2.0])
    # ...but an SGD step between forward and backward changes a saved weight: caught.
    opt = minitl.optim.SGD([w], lr=0.1)
    loss = (w * w).sum()
    opt.zero_grad()
    w.grad = np.ones(2, np.float32)
    opt.step()
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_requires_grad_on_an_integer_tensor_is_an_error():
    with pytest.raises(RuntimeError, match=r"only floating-point tensors can require gradients, this one is int64"):
        minitl.tensor([1, 2, 3], requires_grad=True)
    ids = minitl.tensor(np.array([1, 2], dtype=np.int32))
    with pytest.raises(RuntimeError, match="int32 with shape \\(2,\\)"):
        ids.requires_grad_()
    ids.requires_grad_(False)  # turning it off is always fine
    x = minitl.tensor([1.5, 2.5], requires_grad=True)
    assert not x.long().requires_grad and x.float().requires_grad  # a cast to int leaves the tape
