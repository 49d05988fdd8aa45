"""The Tensor methods and operators (PyTorch names), each a line or two over the primitives.

``x + y`` is ``Add.apply(x, y)``; ``x.softmax(-1)`` is composed of Sub, Exp,
Sum and Div; nothing here writes a gradient.  ``minitl.ops`` copies every
attribute of ``TensorMethods`` onto ``Tensor`` when it is imported.

A Python number in a binary op takes the tensor's dtype (float32 stays float32).
PyTorch's ``dim=``/``keepdim=`` are the names; numpy's ``axis=``/``keepdims=`` work too.
"""
import collections
import math
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from minitl.tensor import Tensor, ShapeError, index_key
from minitl.ops.elementwise import Add, Sub, Mul, Div, Pow, Exp, Log, Tanh, ReLU, Where
from minitl.ops.reduce import Sum, Max
from minitl.ops.movement import Reshape, Permute, Index, Cast
from minitl.ops.matmul import MatMul

Dim = Optional[Union[int, Tuple[int, ...]]]    # an axis, several, or None for all
MaxResult = collections.namedtuple("MaxResult", "values indices")  # like torch.return_types.max


def lift(x, like):
    """``x`` as a Tensor; a Python number takes ``like``'s float dtype (2.0 * float32 stays float32)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) \
            and like.data.dtype.kind == "f":
        return Tensor(np.asarray(x, dtype=like.data.dtype))
    return Tensor(x)


def as_array(x):
    """The numpy array behind ``x`` (a Tensor's ``.data``, or ``np.asarray(x)``): for masks, ids, targets."""
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _dim(dim, axis):
    """PyTorch ``dim`` or numpy ``axis``; lists become tuples."""
    dim = axis if dim is None else dim
    return tuple(dim) if isinstance(dim, list) else dim


def _shape_arg(shape):
    """``reshape(2, 3)`` and ``reshape((2, 3))`` both mean (2, 3)."""
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


class TensorMethods:
    # -- arithmetic ---------------------------------------------------------
    def __add__(self, other):
        return Add.apply(self, lift(other, self))

    def __radd__(self, other):
        return Add.apply(lift(other, self), self)

    def __sub__(self, other):
        return Sub.apply(self, lift(other, self))

    def __rsub__(self, other):
        return Sub.apply(lift(other, self), self)

    def __mul__(self, other):
        return Mul.apply(self, lift(other, self))

    def __rmul__(self, other):
        return Mul.apply(lift(other, self), self)

    def __truediv__(self, other):
        return Div.apply(self, lift(other, self))

    def __rtruediv__(self, other):
        return Div.apply(lift(other, self), self)

    def __neg__(self):
        return Mul.apply(self, lift(-1, self))

    def __pow__(self, p):
        if isinstance(p, Tensor):  # x ** t = exp(t * log(x)), for x > 0
            return (p * self.log()).exp()
        return Pow.apply(self, p=p)

    def __rpow__(self, base):  # base ** x = exp(x * log(base))
        return (self * math.log(base)).exp()

    def __matmul__(self, other):
        a, b = self, lift(other, self)
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(f"matmul: shapes {a.shape} and {b.shape}: both need at least one dimension")
        if a.ndim >= 2 and b.ndim >= 2:
            return MatMul.apply(a, b)
        # a 1-D operand is a row (k,) -> (1, k) or a column (k,) -> (k, 1), and that 1 is dropped after
        y = MatMul.apply(a.reshape(1, -1) if a.ndim == 1 else a, b.reshape(-1, 1) if b.ndim == 1 else b)
        shape = y.shape[:-1] if b.ndim == 1 else y.shape
        if a.ndim == 1:
            shape = shape[:-1] if b.ndim == 1 else shape[:-2] + shape[-1:]
        return y.reshape(shape)

    def __rmatmul__(self, other):
        return lift(other, self) @ self

    # -- elementwise functions ----------------------------------------------
    def exp(self) -> Tensor:
        return Exp.apply(self)

    def log(self) -> Tensor:
        return Log.apply(self)

    def tanh(self) -> Tensor:
        return Tanh.apply(self)

    def relu(self) -> Tensor:
        return ReLU.apply(self)

    def sigmoid(self) -> Tensor:
        # sigmoid(x) = 1 / (1 + exp(-x)) = (1 + tanh(x / 2)) / 2, which never overflows
        return (self * 0.5).tanh() * 0.5 + 0.5

    def sqrt(self) -> Tensor:
        return Pow.apply(self, p=0.5)

    def masked_fill(self, mask: ArrayLike, value: float) -> Tensor:
        """``value`` where the boolean ``mask`` is True, else ``self`` (mask broadcasts)."""
        return Where.apply(lift(value, self), self, cond=as_array(mask))

    # -- reductions ---------------------------------------------------------
    def sum(self, dim: Dim = None, keepdim: bool = False, *, axis: Dim = None,
            keepdims: Optional[bool] = None) -> Tensor:
        return Sum.apply(self, dim=_dim(dim, axis), keepdim=keepdim if keepdims is None else keepdims)

    def mean(self, dim: Dim = None, keepdim: bool = False, *, axis: Dim = None,
             keepdims: Optional[bool] = None) -> Tensor:
        dim = _dim(dim, axis)
        s = self.sum(dim, keepdim if keepdims is None else keepdims)
        n = self.data.size // max(s.data.size, 1) if self.data.size else 1
        return s * (1.0 / n)

    def max(self, dim: Dim = None, keepdim: bool = False, *, axis: Dim = None,
            keepdims: Optional[bool] = None) -> Union[Tensor, MaxResult]:
        """Like PyTorch: no ``dim`` -> the largest value; with ``dim`` -> ``(values, indices)``."""
        dim = _dim(dim, axis)
        keepdim = keepdim if keepdims is None else keepdims
        if dim is None:
            return Max.apply(self)
        values = Max.apply(self, dim=dim, keepdim=keepdim)
        indices = Tensor(np.argmax(self.data, axis=dim, keepdims=keepdim))
        return MaxResult(values, indices)

    def amax(self, dim: Dim = None, keepdim: bool = False) -> Tensor:
        return Max.apply(self, dim=_dim(dim, None), keepdim=keepdim)

    def argmax(self, dim: Optional[int] = None, keepdim: bool = False) -> Tensor:
        return Tensor(np.argmax(self.data, axis=dim, keepdims=keepdim))

    def softmax(self, dim: int = -1) -> Tensor:
        """exp(x) / sum(exp(x)) along ``dim``, computed as exp(x - max) for stability."""
        return _shifted_exp(self, dim)[1]

    def log_softmax(self, dim: int = -1) -> Tensor:
        """x - log(sum(exp(x))) along ``dim``."""
        z, e = _shifted_exp(self, dim, normalize=False)
        return z - e.sum(dim, keepdim=True).log()

    # -- shape and movement -------------------------------------------------
    def reshape(self, *shape: Union[int, Sequence[int]]) -> Tensor:
        return Reshape.apply(self, shape=_shape_arg(shape))

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        s = self.shape
        end = end_dim % len(s) + 1 if s else 0
        return self.reshape(s[:start_dim] + (-1,) + s[end:]) if s else self.reshape(1)

    def unsqueeze(self, dim: int) -> Tensor:
        dim = dim % (self.ndim + 1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim: Optional[int] = None) -> Tensor:
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        dim = dim % self.ndim if self.ndim else 0
        if not self.ndim or self.shape[dim] != 1:
            return self
        return self.reshape(self.shape[:dim] + self.shape[dim + 1:])

    def permute(self, *dims: Union[int, Sequence[int]]) -> Tensor:
        dims = tuple(d % self.ndim for d in _shape_arg(dims))
        return Permute.apply(self, dims=dims)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return Permute.apply(self, dims=tuple(dims))

    T = property(lambda self: Permute.apply(self, dims=tuple(reversed(range(self.ndim)))))
    mT = property(lambda self: self.transpose(-2, -1))

    def __getitem__(self, key):
        return Index.apply(self, key=index_key(key))

    def split(self, split_size: Union[int, Sequence[int]], dim: int = 0) -> Tuple[Tensor, ...]:
        """Pieces of ``split_size`` along ``dim`` (or sizes from a list), like ``torch.split``."""
        n = self.shape[dim]
        sizes = list(split_size) if not isinstance(split_size, int) else \
            [split_size] * (n // split_size) + ([n % split_size] if n % split_size else [])
        before, start, out = (slice(None),) * (dim % self.ndim), 0, []
        for s in sizes:
            out.append(Index.apply(self, key=before + (slice(start, start + s),)))
            start += s
        return tuple(out)

    def chunk(self, chunks: int, dim: int = 0) -> Tuple[Tensor, ...]:
        return self.split(-(-self.shape[dim] // chunks), dim)

    def contiguous(self) -> Tensor:
        return self

    def __bool__(self):
        return bool(self.data)

    def __float__(self):
        return float(self.data)

    def __int__(self):
        return int(self.data)

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(t)`` gives ``t.data`` (a plain array: no gradient flows through numpy)."""
        return self.data if dtype is None else self.data.astype(dtype)

    def numel(self) -> int:
        return self.data.size

    # -- dtypes -------------------------------------------------------------
    def to(self, dtype: Optional[DTypeLike] = None, *args, **kwargs) -> Tensor:
        """``to(dtype)``; a device string such as ``"cpu"`` is accepted and ignored."""
        if dtype is None or isinstance(dtype, str) and dtype.startswith("cpu"):
            return self
        return self.astype(dtype)

    def astype(self, dtype: DTypeLike) -> Tensor:
        dtype = np.dtype(dtype)
        return self if dtype == self.data.dtype else Cast.apply(self, dtype=dtype)

    type = astype

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def long(self) -> Tensor:
        return self.astype(np.int64)

    def bool(self) -> Tensor:
        return self.astype(np.bool_)

    # -- comparisons: plain boolean Tensors, no gradient --------------------
    # (== and != stay Python's identity tests, so Tensors work in lists and sets;
    #  use x.eq(y) / x.ne(y).)
    def __lt__(self, other):
        return Tensor(self.data < as_array(other))

    def __le__(self, other):
        return Tensor(self.data <= as_array(other))

    def __gt__(self, other):
        return Tensor(self.data > as_array(other))

    def __ge__(self, other):
        return Tensor(self.data >= as_array(other))

    def eq(self, other) -> Tensor:
        return Tensor(self.data == as_array(other))

    def ne(self, other) -> Tensor:
        return Tensor(self.data != as_array(other))

    def __invert__(self):
        return Tensor(~self.data)

    def __and__(self, other):
        return Tensor(self.data & as_array(other))

    def __or__(self, other):
        return Tensor(self.data | as_array(other))


def _shifted_exp(x, dim, normalize=True):
    """(z, e) with z = x - max(x) (a constant shift: no gradient needed) and e = exp(z),
    normalized to sum 1 along ``dim`` when ``normalize``."""
    m = x.data.max(axis=dim, keepdims=True)
    z = x - np.where(np.isfinite(m), m, 0)   # a row of all -inf stays -inf, not nan
    e = z.exp()
    return z, (e / e.sum(dim, keepdim=True) if normalize else e)
