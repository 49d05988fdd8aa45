"""Tensor and the tape: the whole of reverse-mode autodiff in one file.

A ``Tensor`` wraps a numpy array (``.data``).  Every op is a ``Function``
subclass (see ``minitl/ops/``) with a ``forward`` on plain arrays and a
``backward`` that turns the output's gradient into one gradient per input.
``Function.apply`` runs the forward and -- when some input wants a gradient --
remembers the inputs and a ``ctx`` on the output.  That record is the tape.

``loss.backward()`` walks the tape from the loss back to the leaves in reverse
topological order, calling each op's ``backward`` once, and adds the results
into ``.grad`` of the leaves.  Broadcasting is undone in exactly one place,
``_unbroadcast`` below, so no op's backward has to think about it.

As in PyTorch, backward frees what the ops saved (a second backward through
the same ops is an error unless the first passed ``retain_graph=True``), and
every tensor has a version counter: an op records the versions of the inputs
it saved, and backward refuses to run if one was changed in place since.

Worked example::

    a = minitl.tensor([2.0], requires_grad=True)
    b = a * a + a          # Mul, then Add: two nodes on the tape
    b.backward()           # d(a*a + a)/da = 2a + 1 = 5
    a.grad -> array([5.], dtype=float32)
"""
from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from minitl import config


class ShapeError(ValueError):
    """Inputs of an op whose shapes do not fit; the message names the op and the shapes."""


class Context:
    """What a forward leaves for its backward (minitorch's ``ctx``).

    ``save_for_backward(*arrays)`` stores arrays in ``ctx.saved``; any other
    attribute can be set freely (``ctx.axis = 1``).  ``needs_input_grad[i]``
    tells backward whether input ``i`` wants a gradient at all, so a frozen
    weight costs no backward work.  ``ctx.note`` is shown by the debug trace
    (e.g. which matmul kernel ran).
    """

    versions = ()        # ((input index, its version when saved), ...): checked by backward
    out_saved = False    # the op saved its own output array (checked against the output's version)
    released = False     # backward ran and dropped ``saved`` (no retain_graph)

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.saved = ()
        self.note = ""

    def save_for_backward(self, *arrays):
        self.saved = arrays


class Function:
    """Base class of every differentiable op.

    Subclasses define two static methods::

        forward(ctx, *arrays, **kwargs) -> array
        backward(ctx, grad_out) -> array or tuple of arrays/None, one per array input

    and are called as ``MyOp.apply(*tensors, **kwargs)``.  Keyword arguments are
    non-differentiable settings (an axis, a shape, a mask).
    """

    @staticmethod
    def forward(ctx, *arrays, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **kwargs: Any) -> "Tensor":
        # (list comprehensions, not generators: this runs once per op, so it is kept lean)
        tensors = tuple([t if isinstance(t, Tensor) else Tensor(t) for t in inputs])
        needs = tuple([t.requires_grad for t in tensors])
        ctx = Context(needs)
        try:
            out_data = cls.forward(ctx, *[t._data for t in tensors], **kwargs)
        except ShapeError:
            raise
        except ValueError as e:  # numpy's broadcasting/reshape errors: say which op and shapes
            shapes = " and ".join(str(t.shape) for t in tensors)
            raise ShapeError(f"{cls.__name__.lower()}: shapes {shapes}: {e}") from e
        out = Tensor(out_data)
        out._op = cls.__name__
        if config.GRAD_ENABLED and True in needs and out._data.dtype.kind in "fc":  # ints get no gradient
            out.requires_grad = True
            out._ctx = ctx
            out._fn = cls
            out._parents = tensors
            if ctx.saved:
                _record_versions(ctx, tensors, out._data)
        if config.DEBUG:
            ins = ", ".join(f"{t.shape}" for t in tensors)
            note = f"  [{ctx.note}]" if ctx.note else ""
            print(f"[minitl] {cls.__name__:<20} {ins} -> {out.shape} {out.dtype}{note}")
        if config.ANOMALY and np.issubdtype(out.dtype, np.floating) and not np.isfinite(out._data).all():
            ins = ", ".join(f"{t.shape}" for t in tensors)
            raise FloatingPointError(
                f"anomaly: op {cls.__name__} produced NaN/Inf in its output of shape "
                f"{out.shape} (inputs {ins})")
        return out


def _record_versions(ctx, tensors, out_data):
    """Remember the version of every input (and whether the output) whose array ``ctx`` saved.

    A saved array is an input's array, or a view of the same buffer (a reshape).
    ``backward`` compares these with the versions then, as PyTorch's version counter does.
    """
    versions = []
    for i, t in enumerate(tensors):
        d = t._data
        for s in ctx.saved:
            if s is d:
                versions.append((i, t._version))
                break
            b = getattr(s, "base", None)
            if b is not None and (b is d or b is d.base):
                versions.append((i, t._version))
                break
    ctx.versions = tuple(versions)
    for s in ctx.saved:
        if s is out_data:
            ctx.out_saved = True
            break


def _check_saved(node):
    """Raise if backward through ``node`` would use freed or since-modified arrays."""
    ctx = node._ctx
    if ctx.released:
        raise RuntimeError(
            f"backward(): trying to backward through the graph a second time (op {node._op}, "
            f"output shape {node.shape}): the first backward() freed the arrays it saved. "
            "Pass backward(retain_graph=True) the first time to backward twice, or redo the forward")
    for i, v in ctx.versions:
        t = node._parents[i]
        if t._version != v:
            raise RuntimeError(_modified_message(node, f"input {i}", t, v))
    if ctx.out_saved and node._version != 0:
        raise RuntimeError(_modified_message(node, "its output", node, 0))


def _modified_message(node, which, t, expected):
    return (f"backward(): one of the arrays needed for the gradient was modified in place: "
            f"op {node._op} saved {which} (shape {t.shape}, {t.dtype}), which is now at version "
            f"{t._version}, expected version {expected}. Change tensors in place only after "
            "backward(), or make a new tensor instead (x = x * 2, not x.mul_(2) / x.data *= 2)")


def _unbroadcast(grad, shape):
    """Sum ``grad`` back down to ``shape``: the one place broadcasting is undone.

    Forward broadcast (3,) + (2,3) -> (2,3), so the (3,) input's gradient is the
    (2,3) gradient summed over the new leading axis; a size-1 axis that was
    stretched is summed with keepdims.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def _default_dtype(data):
    if isinstance(data, (np.ndarray, np.generic)):
        return data.dtype
    arr = np.asarray(data)
    if np.issubdtype(arr.dtype, np.floating):
        return np.float32
    return arr.dtype


def _float_only(t, what):
    if t._data.dtype.kind not in "fc":
        raise RuntimeError(f"{what}: only floating-point tensors can require gradients, "
                           f"this one is {t._data.dtype} with shape {t.shape} (use .float() first)")


class Tensor:
    """An n-dimensional array that can remember how it was made.

    Attributes:
        data: the numpy array.  Assigning it (``t.data = a``, ``t.data -= lr * g``)
            or an in-place method (``t[i] = v``, ``add_``, ``mul_``, ``zero_``,
            ``fill_``, ``copy_``) bumps the tensor's version, so a backward that
            needs the old values raises instead of giving wrong gradients.
            Writing *into* the array (``t.data[0] = 1``, a Numba kernel) is the
            untracked escape hatch, like PyTorch's ``.data``.
        grad: a numpy array of the same shape after ``backward``, else None.
        requires_grad: whether gradients flow to (and are stored for) it; only
            floating-point tensors may require gradients.
    """

    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data: ArrayLike, requires_grad: bool = False, dtype: Optional[DTypeLike] = None):
        if isinstance(data, Tensor):
            data = data.data
        if dtype is None and type(data) is np.ndarray:  # the common case, kept fast: no copy, no conversion
            self._data = data
        else:
            self._data = np.asarray(data, dtype=dtype if dtype is not None else _default_dtype(data))
        self._version = 0
        self.grad = None
        self.requires_grad = bool(requires_grad)
        if self.requires_grad:
            _float_only(self, "Tensor(requires_grad=True)")
        self._ctx = None
        self._fn = None
        self._parents = ()
        self._op = "leaf"

    @property
    def data(self) -> np.ndarray:
        return self._data

    @data.setter
    def data(self, value: ArrayLike) -> None:
        self._data = value if type(value) is np.ndarray else np.asarray(value)
        self._version += 1

    # -- inspection -------------------------------------------------------
    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: self._data.size)
    is_leaf = property(lambda self: self._fn is None)

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> Any:
        return self.data.item()

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        op = f", op={self._op}" if self._op != "leaf" else ""
        return f"tensor({np.array2string(self.data, precision=4, threshold=20)}, dtype={self.dtype}{grad}{op})"

    def detach(self) -> "Tensor":
        return Tensor(self.data, requires_grad=False)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        if flag:
            _float_only(self, "requires_grad_()")
        self.requires_grad = bool(flag)
        return self

    # -- in-place changes: each bumps the version (see ``data``) -----------
    def _inplace(self, what):
        if config.GRAD_ENABLED and self.requires_grad:
            raise RuntimeError(
                f"{what}: in-place change of a tensor that requires grad (op {self._op}, shape "
                f"{self.shape}) is not recorded on the tape; do it under minitl.no_grad(), "
                "or compute a new tensor instead")
        self._version += 1
        return self._data

    def __setitem__(self, key, value):
        self._inplace("x[...] = value")[index_key(key)] = value.data if isinstance(value, Tensor) else value

    def copy_(self, src: ArrayLike) -> "Tensor":
        np.copyto(self._inplace("copy_()"), src.data if isinstance(src, Tensor) else src, casting="same_kind")
        return self

    def fill_(self, value: float) -> "Tensor":
        self._inplace("fill_()").fill(value)
        return self

    def zero_(self) -> "Tensor":
        return self.fill_(0)

    def add_(self, other: ArrayLike, alpha: float = 1) -> "Tensor":
        d = self._inplace("add_()")
        d += (other.data if isinstance(other, Tensor) else np.asarray(other, d.dtype)) * alpha
        return self

    def mul_(self, other: ArrayLike) -> "Tensor":
        d = self._inplace("mul_()")
        d *= other.data if isinstance(other, Tensor) else np.asarray(other, d.dtype)
        return self

    def zero_grad(self) -> None:
        self.grad = None

    # -- the backward pass ------------------------------------------------
    def backward(self, gradient: Optional[ArrayLike] = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        Args:
            gradient: d(loss)/d(self); may be omitted only when self is a scalar.
            retain_graph: keep the arrays the ops saved, so backward may run through
                this graph again; by default they are freed, and a second backward
                through the same ops is an error (as in PyTorch).
        Raises:
            RuntimeError for a second backward without ``retain_graph``, or when an
            array an op saved was changed in place after the op ran (version counter).
        """
        if not self.requires_grad:
            raise RuntimeError(
                f"backward(): this tensor (op {self._op}, shape {self.shape}) does not "
                "require grad -- no input had requires_grad=True, or it was made under no_grad()")
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(
                    f"backward(): output of op {self._op} has shape {self.shape}; "
                    "a gradient can be implied only for a scalar -- pass backward(gradient=...)")
            gradient = np.ones_like(self._data)
        gradient = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient,
                              dtype=self.dtype)
        if gradient.shape != self.shape:
            raise ValueError(f"backward(): gradient shape {gradient.shape} != tensor shape {self.shape}")

        # Reverse topological order: each node after everything that uses it.
        order, seen = [], set()
        stack = [(self, False)]
        while stack:  # iterative DFS (deep graphs would overflow recursion)
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for p in node._parents:
                if p.requires_grad and id(p) not in seen:
                    stack.append((p, False))

        for node in reversed(order):  # before any gradient is written: freed or modified arrays are errors
            if node._fn is not None:
                _check_saved(node)
        grads = {id(self): gradient}
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._fn is None:  # a leaf: keep its gradient
                node.grad = g.copy() if node.grad is None else node.grad + g
                continue
            in_grads = node._fn.backward(node._ctx, g)
            if not retain_graph:
                node._ctx.saved, node._ctx.released = None, True
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            for parent, pg in zip(node._parents, in_grads):
                if pg is None or not parent.requires_grad:
                    continue
                pg = _unbroadcast(np.asarray(pg), parent.shape)
                assert pg.shape == parent.shape, (
                    f"{node._op}.backward returned a gradient of shape {pg.shape} "
                    f"for an input of shape {parent.shape}")
                if pg.dtype != parent.dtype:
                    pg = pg.astype(parent.dtype)
                key = id(parent)
                grads[key] = pg if key not in grads else grads[key] + pg


def index_key(key: Any) -> tuple:
    """Normalize ``x[key]`` to a tuple of numpy-ready parts (Tensors and lists become arrays).

    Lives here, not in ``ops/``, because ``Tensor.__setitem__`` needs it and ``ops`` import this module.
    """
    if not isinstance(key, tuple):
        key = (key,)
    return tuple(k.data if isinstance(k, Tensor) else np.asarray(k) if isinstance(k, list) else k
                 for k in key)


def tensor(data: ArrayLike, requires_grad: bool = False, dtype: Optional[DTypeLike] = None) -> Tensor:
    """``minitl.tensor([[1., 2.]], requires_grad=True)`` -- like ``torch.tensor``.

    Python floats become float32, ints int64; a numpy array keeps its dtype
    unless ``dtype`` is given.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)
