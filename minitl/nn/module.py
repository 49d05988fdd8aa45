"""Module and Parameter: PyTorch's ``nn.Module`` API, small enough to read.

A Module is a tree.  Assigning a ``Parameter`` or a ``Module`` to an attribute
registers it (``self.fc = Linear(2, 3)`` makes ``fc`` a child), so
``named_parameters()`` can walk the tree and name every weight with a dotted
path in definition order::

    class MLP(Module):
        def __init__(self):
            super().__init__()
            self.fc1 = Linear(2, 16)     # registers child "fc1"
            self.fc2 = Linear(16, 2)
    [n for n, _ in MLP().named_parameters()]
    -> ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']

Freezing is nothing but ``requires_grad``: ``freeze()`` sets it False on every
parameter, the tape then records no graph for those weights, and the optimizers
skip them.

``state_dict()`` returns *copies* of the arrays (PyTorch returns references).
A learner who writes ``best = model.state_dict()`` and keeps training gets a
snapshot that stays the snapshot; the price is one copy of the weights.
"""
import warnings
from collections import namedtuple
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from minitl.nn.loading import StateDictError, state_dict_problems, _kind  # noqa: F401  (re-exported)
from minitl.serialization import CheckpointError
from minitl.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module owns and an optimizer updates.

    ``requires_grad=True`` by default; the data is copied to float32 unless a
    ``dtype`` is given (gradient checks use float64, see ``Module.to``).
    """

    def __init__(self, data: ArrayLike, requires_grad: bool = True, dtype: Optional[DTypeLike] = None):
        if isinstance(data, Tensor):
            data = data.data
        dtype = np.float32 if dtype is None else dtype
        super().__init__(np.array(data, dtype=dtype), requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class _HookHandle:
    """What ``register_forward_hook`` returns: ``handle.remove()`` takes the hook off again."""

    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)


class Module:
    """Base class of every layer and model.

    Subclasses call ``super().__init__()`` first, assign Parameters and
    sub-Modules as attributes, and define ``forward``; ``module(x)`` calls it.
    """

    def __init__(self):
        # object.__setattr__ because our own __setattr__ needs these to exist.
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_hooks", {})

    # -- registration -----------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} on {type(self).__name__} before Module.__init__(): "
                "call super().__init__() first in your __init__")
        params, mods, bufs = self._parameters, self._modules, self._buffers
        if isinstance(value, Parameter):
            mods.pop(name, None)
            bufs.pop(name, None)
            self.__dict__.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            bufs.pop(name, None)
            self.__dict__.pop(name, None)
            mods[name] = value
        elif name in params:
            if value is not None:  # e.g. `self.bias = None` is allowed
                raise TypeError(f"{type(self).__name__}.{name} is a Parameter; cannot assign "
                                f"{type(value).__name__} (use a Parameter or None)")
            params[name] = None
        elif name in mods:
            if value is not None:
                raise TypeError(f"{type(self).__name__}.{name} is a submodule; cannot assign "
                                f"{type(value).__name__} (use a Module or None)")
            mods[name] = None
        elif name in bufs:
            bufs[name] = None if value is None else (value if isinstance(value, Tensor) else Tensor(value))
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Only called when normal lookup fails: look in the registries.
        d = self.__dict__
        for reg in ("_parameters", "_modules", "_buffers"):
            if reg in d and name in d[reg]:
                return d[reg][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for reg in (self._parameters, self._modules, self._buffers):
            if name in reg:
                del reg[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value: Optional[ArrayLike], persistent: bool = True) -> None:
        """A non-trained array saved in state_dict (unless ``persistent=False``)."""
        if "." in name or not name:
            raise KeyError(f"register_buffer: bad buffer name {name!r}")
        self._buffers[name] = None if value is None else Tensor(value)
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Optional["Module"]) -> None:
        if not isinstance(name, str) or "." in name or not name:
            raise KeyError(f"module name must be a non-empty string without '.', got {name!r}")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): {type(module).__name__} is not a Module")
        self._modules[name] = module

    # -- walking the tree -------------------------------------------------
    def named_modules(self, prefix: str = "", memo: Optional[set] = None) -> Iterator[Tuple[str, "Module"]]:
        """Yield (dotted name, module) for self and every descendant, each once."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[Tuple[str, "Module"]]:
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, registry, remove_duplicate=True):
        seen = set()
        for mod_name, mod in self.named_modules():
            for name, v in getattr(mod, registry).items():
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield (f"{mod_name}.{name}" if mod_name else name), mod, name, v

    def named_parameters(self, prefix: str = "", remove_duplicate: bool = True) -> Iterator[Tuple[str, Parameter]]:
        """Yield (dotted name, Parameter) in definition order.

        A weight shared by two modules (GPT's tied embedding/LM head) is
        yielded once, so the optimizer updates it once.
        """
        for full, _, _, p in self._named_members("_parameters", remove_duplicate):
            yield (f"{prefix}.{full}" if prefix else full), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self) -> Iterator[Tuple[str, Tensor]]:
        for full, _, _, b in self._named_members("_buffers"):
            yield full, b

    def buffers(self) -> Iterator[Tensor]:
        for _, b in self.named_buffers():
            yield b

    def apply(self, fn: Callable[["Module"], Any]) -> "Module":
        """Call ``fn(m)`` on every submodule (children first) then self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- modes and gradients ----------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode on self and every descendant (Dropout reads it); returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def freeze(self) -> "Module":
        """requires_grad=False on every parameter: no gradient, no update. Returns self."""
        return self.requires_grad_(False)

    def unfreeze(self) -> "Module":
        return self.requires_grad_(True)

    def zero_grad(self) -> None:
        """Drop every parameter's ``.grad`` (PyTorch's ``set_to_none=True``)."""
        for p in self.parameters():
            p.grad = None

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of scalar weights (shared weights counted once)."""
        return int(sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only))

    def to(self, dtype: DTypeLike) -> "Module":
        """Cast every floating-point parameter and buffer to ``dtype`` in place; returns self.

        ``model.to(np.float64)`` is how a whole layer is gradient-checked.
        """
        for t in list(self.parameters()) + list(self.buffers()):
            if np.issubdtype(t.dtype, np.floating):
                t.data = t.data.astype(dtype)
                t.grad = None
        return self

    def double(self) -> "Module":
        return self.to(np.float64)

    def float(self) -> "Module":
        return self.to(np.float32)

    # -- state ------------------------------------------------------------
    def state_dict(self) -> Dict[str, np.ndarray]:
        """{dotted name: numpy array} of every parameter and persistent buffer.

        Returns copies (a snapshot, see the module docstring).  A tied weight
        appears under each of its names, as in PyTorch.
        """
        out = {}
        for mod_name, mod in self.named_modules():
            dot = f"{mod_name}." if mod_name else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    out[dot + name] = p.data.copy()
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    out[dot + name] = b.data.copy()
        return out

    def _state_targets(self):
        targets = {}
        for mod_name, mod in self.named_modules():
            dot = f"{mod_name}." if mod_name else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    targets[dot + name] = p
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    targets[dot + name] = b
        return targets

    def load_state_dict(self, state_dict: Mapping[str, ArrayLike], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays from ``state_dict`` into the parameters, cast to each one's dtype.

        Args:
            state_dict: {name: numpy array or Tensor}.
            strict: if True, missing and unexpected keys are errors.  Shape
                mismatches are always errors.  Every problem is listed at once.
        Returns:
            IncompatibleKeys(missing_keys, unexpected_keys) (empty lists when strict).
        Raises:
            StateDictError (a RuntimeError, as in PyTorch, and a ValueError) for missing/unexpected
            keys or shapes; CheckpointError (a ValueError) when a tensor's kind (float/int/bool)
            differs from the model's.  Non-finite float weights load, with a RuntimeWarning naming them.
        """
        targets = self._state_targets()
        problems = state_dict_problems(self, state_dict, strict)
        if problems:
            raise StateDictError(f"Error(s) in loading state_dict for {type(self).__name__}:\n  "
                                 + "\n  ".join(problems), problems)
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        arrays = {k: np.asarray(state_dict[k].data if isinstance(state_dict[k], Tensor) else state_dict[k])
                  for k in targets if k in state_dict}
        for k, v in arrays.items():
            if not np.can_cast(v.dtype, targets[k].dtype, casting="same_kind"):
                raise TypeError(f"load_state_dict: {k} has dtype {v.dtype}, which cannot be cast "
                                f"to the model's {targets[k].dtype}")
        # Same kind only: float16/64 -> float32 is a cast, but int32 bytes are not a float32 weight
        # (a file whose header relabels F32 as I32 would otherwise load as garbage).
        wrong = [f"{k} is {v.dtype} in the state_dict but {targets[k].dtype} in the model"
                 for k, v in arrays.items() if _kind(v.dtype) != _kind(targets[k].dtype)]
        if wrong:
            raise CheckpointError(f"load_state_dict for {type(self).__name__}: dtype mismatch "
                            f"({len(wrong)}): " + "; ".join(wrong))
        bad = [(k, int(v.size - np.isfinite(v).sum()), v.size) for k, v in arrays.items()
               if v.dtype.kind == "f" and not np.isfinite(v).all()]
        if bad:
            warnings.warn(f"load_state_dict for {type(self).__name__}: non-finite weights (NaN/Inf) in "
                          + ", ".join(f"{k} ({n} of {size})" for k, n, size in bad)
                          + "; the model will output NaN", RuntimeWarning, stacklevel=2)
        for k, v in arrays.items():
            # A fresh contiguous array in the model's dtype (float64 file -> float32 weight).
            targets[k].data = np.array(v, dtype=targets[k].dtype, copy=True)
        return IncompatibleKeys(missing, unexpected)

    # -- calling and printing ---------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        out = self.forward(*args, **kwargs)
        if self._forward_hooks:
            for hook in list(self._forward_hooks.values()):
                replaced = hook(self, args, out)
                if replaced is not None:
                    out = replaced
        return out

    def register_forward_hook(self, hook: Callable[["Module", tuple, Any], Any]) -> _HookHandle:
        """Call ``hook(module, args, output)`` after every ``module(...)``, as in PyTorch.

        Args:
            hook: a function; if it returns something other than None, that becomes the output.
        Returns:
            A handle whose ``remove()`` unregisters the hook.
        """
        key = object()
        self._forward_hooks[key] = hook
        return _HookHandle(self._forward_hooks, key)

    def extra_repr(self) -> str:
        """The text inside the parentheses, e.g. ``in_features=2, out_features=3``."""
        return ""

    def __repr__(self):
        # PyTorch's tree:  Sequential(\n  (0): Linear(...)\n  (1): ReLU()\n)
        lines = []
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}(" + (f"\n  {extra}" if extra else "")
        return head + "\n" + "\n".join(lines) + "\n)"
