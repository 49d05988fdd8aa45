"""minitl.optim: SGD, AdamW, parameter groups, schedules, gradient clipping.

Read ``optimizer.py`` (groups, frozen parameters skipped, state for resume),
then ``adamw.py`` (the update in one small function) and ``schedules.py``.
"""
from minitl.optim.optimizer import Optimizer, param_summary  # noqa: F401
from minitl.optim.sgd import SGD  # noqa: F401
from minitl.optim.adamw import AdamW, adamw_update_  # noqa: F401
from minitl.optim.clip import clip_grad_norm_, grad_norm  # noqa: F401
from minitl.optim import schedules  # noqa: F401
from minitl.optim.schedules import (  # noqa: F401
    LRScheduler, WarmupCosine, LinearDecay, SlantedTriangular,
    warmup_cosine, linear_decay, slanted_triangular,
)

__all__ = ["Optimizer", "param_summary", "SGD", "AdamW", "adamw_update_", "clip_grad_norm_", "grad_norm",
           "schedules", "LRScheduler", "WarmupCosine", "LinearDecay", "SlantedTriangular",
           "warmup_cosine", "linear_decay", "slanted_triangular"]
