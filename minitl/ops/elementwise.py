"""Elementwise primitives: one forward/backward pair per op.

Each ``forward`` works on plain numpy arrays and may broadcast freely;
each ``backward`` returns gradients of the *broadcast* shape and lets the
engine (``minitl.tensor._unbroadcast``) sum them back to each input's shape.
Every backward quotes the forward line it inverts.
"""
import numpy as np

from minitl.tensor import Function


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = a + b, so da = dy and db = dy
        return dy, dy


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = a - b, so da = dy and db = -dy
        return dy, (-dy if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = a * b, so da = dy * b and db = dy * a
        a, b = ctx.saved
        da = dy * b if ctx.needs_input_grad[0] else None
        db = dy * a if ctx.needs_input_grad[1] else None
        return da, db


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        y = a / b
        ctx.save_for_backward(b, y)
        return y

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = a / b, so da = dy / b and db = -dy * a / b**2 = -dy * y / b
        b, y = ctx.saved
        da = dy / b
        db = -da * y if ctx.needs_input_grad[1] else None
        return da, db


class Pow(Function):
    """``x ** p`` for a constant exponent ``p`` (a Python number)."""

    @staticmethod
    def forward(ctx, x, p):
        ctx.save_for_backward(x)
        ctx.p = p
        return x ** p

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = x ** p, so dx = dy * p * x ** (p - 1)
        (x,) = ctx.saved
        return dy * ctx.p * x ** (ctx.p - 1)


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = exp(x), so dx = dy * y
        (y,) = ctx.saved
        return dy * y


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = log(x), so dx = dy / x
        (x,) = ctx.saved
        return dy / x


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = tanh(x), so dx = dy * (1 - y**2)
        (y,) = ctx.saved
        return dy * (1 - y * y)


class ReLU(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = max(x, 0), so dx = dy where x > 0 (i.e. y > 0), else 0
        (y,) = ctx.saved
        return dy * (y > 0)


class Where(Function):
    """``where(cond, a, b)``: ``a`` where the boolean ``cond`` holds, else ``b``.

    ``cond`` is a keyword (a constant array), not an input: it has no gradient.
    ``masked_fill`` is ``Where`` with a constant ``a``.
    """

    @staticmethod
    def forward(ctx, a, b, cond):
        ctx.cond = cond
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = where(cond, a, b), so da = dy where cond, db = dy where not cond
        cond = ctx.cond
        da = np.where(cond, dy, 0) if ctx.needs_input_grad[0] else None
        db = np.where(cond, 0, dy) if ctx.needs_input_grad[1] else None
        return da, db
