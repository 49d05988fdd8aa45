"""Stochastic gradient descent with momentum and (coupled) weight decay, as ``torch.optim.SGD``.

    d <- g + wd * p                        weight decay is added to the gradient
    b <- d                 (first step)    momentum buffer
    b <- momentum * b + d  (later steps)
    p <- p - lr * b        (or p - lr * d without momentum)
"""
from minitl.optim.optimizer import Optimizer, ParamsArg
import numpy as np


class SGD(Optimizer):
    """p <- p - lr * (momentum buffer of g + wd * p).

    Args:
        params: iterable of Parameters, or of dicts {"params": [...], "lr": ..., ...}.
        lr: learning rate.
        momentum: momentum factor (0 = plain SGD).
        weight_decay: L2 penalty coefficient, added to the gradient.
        verbose: print the trainable/frozen parameter counts.
    """

    def __init__(self, params: ParamsArg, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                 verbose: bool = False):
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: momentum={momentum} and weight_decay={weight_decay} must be >= 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay),
                         verbose=verbose)

    def _update(self, p, grad, state, group):
        d = grad
        if group["weight_decay"]:
            d = d + group["weight_decay"] * p.data
        if group["momentum"]:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(d, dtype=p.dtype, copy=True)
            else:
                buf *= group["momentum"]
                buf += d
            d = buf
        p.data -= group["lr"] * d
