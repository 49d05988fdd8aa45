"""minitl: a from-scratch deep-learning framework that teaches transfer learning.

Start reading at ``minitl/tensor.py`` (the tape), then ``minitl/ops/`` (one
forward/backward pair per op), ``minitl/nn/`` and ``minitl/optim/``.
"""
__version__ = "0.1.0"

from minitl import config
from minitl.config import no_grad, detect_anomaly
from minitl.random import manual_seed
from minitl.tensor import Tensor, tensor
from minitl import ops  # noqa: F401  (attaches the operator methods to Tensor)
from minitl.ops import zeros, ones, zeros_like, ones_like, randn, rand, arange, cat, stack, where  # noqa: F401
from minitl.serialization import save, load, CheckpointError  # noqa: F401
