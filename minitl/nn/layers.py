"""The standard layers and containers, each a thin Module over ``minitl.nn.functional``.

No layer writes a gradient: the arithmetic is in ``F.linear``, ``F.embedding``,
``F.layer_norm`` and ``F.dropout`` (``minitl/ops/``); a layer only owns its
Parameters and remembers its settings.

Initialisation follows PyTorch's defaults, so numbers carry over:

* ``Linear``: weight and bias ~ U(-1/sqrt(in_features), +1/sqrt(in_features))
  (PyTorch's kaiming_uniform with a=sqrt(5) works out to exactly this bound).
  GPT-style models re-initialise with N(0, 0.02) themselves, as nanoGPT does.
* ``Embedding``: N(0, 1).  ``LayerNorm``: weight 1, bias 0.

All draws come from ``minitl.random.rng()``, so ``minitl.manual_seed(n)``
makes them repeatable.
"""
from collections import OrderedDict
from typing import Any, Iterable, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike

from minitl import random as mrandom
from minitl.nn import functional as F
from minitl.nn.module import Module, Parameter
from minitl.ops._checks import check_ids
from minitl.ops.methods import as_array
from minitl.tensor import Tensor


class Linear(Module):
    """y = x @ W.T + b, with W of shape (out_features, in_features) like PyTorch.

    Args:
        in_features: size of the last axis of x.
        out_features: size of the last axis of y.
        bias: whether to add a learned bias b of shape (out_features,).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        bound = 1.0 / np.sqrt(max(self.in_features, 1))
        rng = mrandom.rng()
        self.weight = Parameter(rng.uniform(-bound, bound, (self.out_features, self.in_features)))
        self.bias = Parameter(rng.uniform(-bound, bound, (self.out_features,))) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """y[..., :] = W[idx[...], :]: a lookup table of shape (num_embeddings, embedding_dim).

    Args:
        num_embeddings: number of rows (the vocabulary size).
        embedding_dim: length of each row.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__()
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.weight = Parameter(mrandom.rng().standard_normal((self.num_embeddings, self.embedding_dim)))

    def forward(self, idx: Union[Tensor, ArrayLike]) -> Tensor:
        ids = check_ids(as_array(idx), self.num_embeddings, self._name())
        return F.embedding(idx if isinstance(idx, Tensor) else ids, self.weight)

    def _name(self):
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, over the trailing ``normalized_shape`` axes.

    Args:
        normalized_shape: int or tuple, the trailing shape that is normalised.
        eps: added to the variance for stability.
        bias: whether to learn a bias (nanoGPT turns it off).
    """

    def __init__(self, normalized_shape: Union[int, Sequence[int]], eps: float = 1e-5, bias: bool = True):
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(n) for n in normalized_shape)
        self.eps = float(eps)
        self.weight = Parameter(np.ones(self.normalized_shape))
        self.bias = Parameter(np.zeros(self.normalized_shape)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


class Dropout(Module):
    """During training, zero each element with probability p and scale the rest by 1/(1-p).

    Args:
        p: drop probability in [0, 1].  In ``eval()`` mode the layer is the identity.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, training=self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ReLU(Module):
    """y = max(x, 0)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class GELU(Module):
    """y = x * Phi(x) (the tanh approximation GPT-2 uses, as F.gelu computes it)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x)


class Tanh(Module):
    """y = tanh(x)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class SiLU(Module):
    """y = x * sigmoid(x) (swish)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)


class Identity(Module):
    """y = x: a placeholder, e.g. to remove a head (``model.head = Identity()``)."""

    def forward(self, x: Tensor) -> Tensor:
        return x


# -- containers -----------------------------------------------------------
def _index(i, n, what):
    if not -n <= i < n:
        raise IndexError(f"{what}: index {i} out of range for length {n}")
    return i % n


class _ModuleSequence(Module):
    """What Sequential and ModuleList share: children in order, len(), iteration, append."""

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> "_ModuleSequence":
        self.add_module(str(len(self)), module)
        return self


class Sequential(_ModuleSequence):
    """y = m_k(...m_2(m_1(x))).  ``Sequential(a, b)`` names children "0", "1";
    ``Sequential(OrderedDict(name=module))`` keeps the names.  Indexable, sliceable, len()."""

    def __init__(self, *modules: Module):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def __getitem__(self, idx):
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(items[idx]))
        return items[_index(idx, len(items), "Sequential")][1]

    def forward(self, x: Any) -> Any:
        for m in self:
            x = m(x)
        return x


class ModuleList(_ModuleSequence):
    """A list of Modules whose parameters are registered (a plain list's would be invisible)."""

    def __init__(self, modules: Optional[Iterable[Module]] = None):
        super().__init__()
        for m in modules or []:
            self.append(m)

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(mods[idx])
        return mods[_index(idx, len(mods), "ModuleList")]

    def __setitem__(self, idx, module):
        self.add_module(str(_index(idx, len(self), "ModuleList")), module)

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        for m in modules:
            self.append(m)
        return self


class ModuleDict(Module):
    """A dict of Modules whose parameters are registered, in insertion order."""

    def __init__(self, modules: Optional[Mapping[str, Module]] = None):
        super().__init__()
        for name, m in (modules or {}).items():
            self[name] = m

    def __getitem__(self, key):
        if key not in self._modules:
            raise KeyError(f"ModuleDict has no key {key!r} (keys: {list(self._modules)})")
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def items(self) -> Iterable[Tuple[str, Module]]:
        return self._modules.items()

    def update(self, modules: Mapping[str, Module]) -> None:
        for name, m in dict(modules).items():
            self[name] = m
