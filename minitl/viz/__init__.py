"""minitl.viz: matplotlib plots (Agg backend, saved as PNG).  Nothing below imports it.

Each plot lives in its own module and is loaded on first use, so ``import
minitl.viz`` does not import matplotlib:

    minitl.viz.plot_attention(model, "the cat sat on the mat", layer=0, path="attn.png")
"""
import importlib

_LAZY = {"plot_attention": "minitl.viz.attention"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'minitl.viz' has no attribute {name!r}")
