"""Movement primitives: ops that rearrange values without arithmetic.

``Reshape`` (also view/squeeze/unsqueeze/flatten), ``Permute`` (also
transpose/.T), ``Index`` (``x[...]``, also split/chunk), ``Cat`` (also stack)
and ``Cast`` (dtype changes).  Their backwards move the gradient back the
way the values came.
"""
import numpy as np

from minitl.tensor import Function


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = x.reshape(shape), so dx = dy.reshape(x.shape)
        return dy.reshape(ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = x.transpose(dims), so dx = dy.transpose(inverse of dims)
        return dy.transpose(np.argsort(ctx.dims))


class Index(Function):
    """``x[key]`` for any numpy key: ints, slices, None, integer or boolean arrays."""

    @staticmethod
    def forward(ctx, x, key):
        ctx.shape, ctx.dtype, ctx.key = x.shape, x.dtype, key
        # integer/boolean arrays may pick an element twice -> backward must add, not assign
        ctx.fancy = any(isinstance(k, np.ndarray) for k in key)
        return x[key]

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = x[key], so dx = zeros with dx[key] += dy
        dx = np.zeros(ctx.shape, dtype=ctx.dtype)
        if ctx.fancy:
            np.add.at(dx, ctx.key, dy)   # repeated indices accumulate
        else:
            dx[ctx.key] = dy             # plain slices never repeat: a view assignment
        return dx


class Cat(Function):
    """``cat(tensors, dim)``: any number of inputs, joined along ``dim``."""

    @staticmethod
    def forward(ctx, *xs, dim=0):
        ctx.dim = dim
        ctx.splits = np.cumsum([x.shape[dim] for x in xs])[:-1]
        return np.concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = concatenate(xs, dim), so each dx is its slice of dy
        return tuple(np.split(dy, ctx.splits, axis=ctx.dim))


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, dy):
        # forward was: y = x.astype(dtype), so dx = dy (the engine casts it back to x's dtype)
        return dy
