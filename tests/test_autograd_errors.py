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
