"""minitl.nn: Module, Parameter, the standard layers, and ``functional`` (the op namespace).

Read ``module.py`` (the Module tree, state_dict, freeze) then ``layers.py``.
"""
from minitl.nn import functional  # noqa: F401  (minitl.nn.functional, imported as F)
from minitl.nn.module import Module, Parameter, IncompatibleKeys  # noqa: F401
from minitl.nn.layers import (  # noqa: F401
    Linear, Embedding, LayerNorm, Dropout, ReLU, GELU, SiLU, Tanh, Identity,
    Sequential, ModuleList, ModuleDict,
)

__all__ = ["functional", "Module", "Parameter", "Linear", "Embedding", "LayerNorm", "Dropout",
           "ReLU", "GELU", "SiLU", "Tanh", "Identity", "Sequential", "ModuleList", "ModuleDict"]
