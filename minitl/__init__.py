"""minitl: a from-scratch deep-learning framework that teaches transfer learning.

Start reading at ``minitl/tensor.py`` (the tape), then ``minitl/ops/`` (one
forward/backward pair per op), ``minitl/nn/`` and ``minitl/optim/``.
"""
__version__ = "0.1.0"

# Before numpy loads: OpenBLAS's idle threads sleep at once, and malloc keeps freed memory for the
# next step (no page faults per step); both are explained, measured and switchable in _process.py.
from minitl import _process
_process.tune()

from minitl import config
from minitl.config import no_grad, detect_anomaly
from minitl.random import manual_seed
from minitl.tensor import Tensor, tensor
from minitl import ops  # noqa: F401  (attaches the operator methods to Tensor)
from minitl.ops import zeros, ones, zeros_like, ones_like, randn, rand, arange, cat, stack, where  # noqa: F401
from minitl.serialization import save, load, CheckpointError  # noqa: F401

# PyTorch's shape: after ``import minitl``, ``minitl.nn``, ``minitl.nn.functional`` and
# ``minitl.optim`` are there (cheap: ops already imported numba and compile nothing yet).
from minitl import nn, optim  # noqa: F401,E402

# ``minitl.data`` (and ``models``, ``text``) import on first touch: data's fetcher pulls in
# urllib/ssl (~20 ms), which ``import minitl`` should not pay for a script that never loads a dataset.
_LAZY_SUBMODULES = ("data", "models", "text")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib
        return importlib.import_module(f"minitl.{name}")
    raise AttributeError(f"module 'minitl' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
