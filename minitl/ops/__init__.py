"""The ops: every differentiable primitive, and the Tensor methods built on them.

Primitives (``PRIMITIVES``), one forward/backward pair each:

* elementwise.py -- Add, Sub, Mul, Div, Pow, Exp, Log, Tanh, ReLU, Where
* reduce.py      -- Sum, Max
* movement.py    -- Reshape, Permute, Index, Cat, Cast
* matmul.py      -- MatMul, Embedding

Everything else (softmax, sigmoid, mean, stack, cross-entropy, layer norm,
GELU, attention ...) is composed from these in ``methods.py`` and
``minitl/nn/functional.py``.
"""
from minitl.tensor import Tensor
from minitl.ops.elementwise import Add, Sub, Mul, Div, Pow, Exp, Log, Tanh, ReLU, Where
from minitl.ops.reduce import Sum, Max
from minitl.ops.movement import Reshape, Permute, Index, Cat, Cast
from minitl.ops.matmul import MatMul, Embedding
from minitl.ops.methods import TensorMethods
from minitl.ops.creation import zeros, ones, zeros_like, ones_like, randn, rand, arange, cat, stack, where  # noqa: F401

PRIMITIVES = [
    Add, Sub, Mul, Div, Pow, Exp, Log, Tanh, ReLU, Where,
    Sum, Max,
    Reshape, Permute, Index, Cat, Cast,
    MatMul, Embedding,
]

# x + y, x.sum(), x[1:] ...: copy the methods onto Tensor.
for _name, _attr in vars(TensorMethods).items():
    if _name not in ("__module__", "__qualname__", "__doc__", "__dict__", "__weakref__",
                     "__firstlineno__", "__static_attributes__"):
        setattr(Tensor, _name, _attr)
from minitl.ops import fused  # noqa: E402,F401  (the fused ops; nn.functional reads fused.FUSED and decides per call)
from minitl.ops import lstm  # noqa: E402,F401  (FusedLSTM, the LSTM time loop)
