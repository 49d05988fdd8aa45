"""Checking a state dict against a model before loading it: one sentence per problem.

``Module.load_state_dict`` and ``PretrainedMixin.load_pretrained_weights`` (a checkpoint
file) both ask ``state_dict_problems``, so a missing key, an unexpected key and a wrong
shape read the same wherever they come from.
"""
from typing import List, Mapping

import numpy as np
from numpy.typing import ArrayLike

from minitl.tensor import Tensor


def _kind(dtype):
    """'float', 'int' (signed or not) or 'bool': what a checkpoint's dtype must agree on."""
    return {"f": "float", "i": "int", "u": "int", "b": "bool"}.get(np.dtype(dtype).kind, str(dtype))


def _shape(a):
    return tuple(np.shape(a.data if isinstance(a, Tensor) else a))


class StateDictError(RuntimeError, ValueError):
    """A state dict whose keys or shapes do not fit the model; ``.problems`` lists them one by one."""

    def __init__(self, message, problems=()):
        super().__init__(message)
        self.problems = list(problems)


def state_dict_problems(module, state_dict: Mapping[str, ArrayLike], strict: bool = True,
                        source: str = "state_dict") -> List[str]:
    """What keeps ``state_dict`` from loading strictly into ``module``: one sentence per key.

    Args:
        module: the Module to load into (its parameters and persistent buffers).
        state_dict: {name: array or Tensor}.
        strict: also report missing and unexpected keys (shapes are always checked).
        source: how the messages call the state dict ("state_dict", "file").
    Returns:
        A list of strings, e.g. ``"missing key fc.bias (expected shape (3,))"``; empty when it fits.
    """
    want = {k: t.shape for k, t in module._state_targets().items()}
    problems = []
    if strict:
        problems += [f"missing key {k} (expected shape {shape})" for k, shape in want.items() if k not in state_dict]
        problems += [f"unexpected key {k} (shape {_shape(v)})" for k, v in state_dict.items() if k not in want]
    problems += [f"shape mismatch for {k}: model expects {shape}, {source} has {_shape(state_dict[k])}"
                 for k, shape in want.items() if k in state_dict and _shape(state_dict[k]) != shape]
    return problems
