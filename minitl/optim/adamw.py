"""AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", 2019).

Exactly ``torch.optim.AdamW``'s update (amsgrad=False).  At step t (from 1):

    p  <- p - lr * wd * p                                  decoupled weight decay
    m  <- beta1 * m + (1 - beta1) * g                      first moment
    v  <- beta2 * v + (1 - beta2) * g^2                    second moment
    p  <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

"Decoupled" means the decay shrinks the weight directly instead of being added
to the gradient, so Adam's per-coordinate scaling does not weaken it.
"""
from typing import Tuple

import numpy as np

from minitl import config
from minitl.kernels import adamw as adamw_kernel, reference as R
from minitl.optim.optimizer import Optimizer, ParamsArg


def adamw_update_(param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, step: int, lr: float,
                  beta1: float, beta2: float, eps: float, weight_decay: float) -> None:
    """One AdamW step on numpy arrays, in place (param, m, v are overwritten).

    Args:
        param, grad, m, v: arrays of one shape; m and v are Adam's moment buffers.
        step: the step number t, counting from 1 for the first update.
        lr, beta1, beta2, eps, weight_decay: the hyper-parameters of the group.

    With ``minitl.config.BACKEND == "numba"`` (the default) this is one pass of the
    kernel in ``minitl/kernels/adamw.py``; on the "reference" backend, or for
    non-contiguous arrays, it is the kernel's numpy twin ``kernels/reference.adamw_ref``
    (the formula of the module docstring, line by line).
    """
    if config.BACKEND == "numba" and all(a.flags.c_contiguous and a.dtype == param.dtype
                                         for a in (param, m, v)):
        adamw_kernel.adamw_update_(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay)
        return
    R.adamw_ref(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay)


class AdamW(Optimizer):
    """Adam with decoupled weight decay (see the module docstring for the formula).

    Args:
        params: iterable of Parameters, or of dicts {"params": [...], "lr": ..., "weight_decay": ...}.
        lr: learning rate.
        betas: (beta1, beta2), decay rates of the two moment estimates.
        eps: added to the denominator.
        weight_decay: decoupled weight decay coefficient.
        verbose: print the trainable/frozen parameter counts.
    """

    def __init__(self, params: ParamsArg, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01, verbose: bool = False):
        beta1, beta2 = betas
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"AdamW: betas must be in [0, 1), got {betas}")
        if eps < 0 or weight_decay < 0:
            raise ValueError(f"AdamW: eps={eps} and weight_decay={weight_decay} must be >= 0")
        super().__init__(params, dict(lr=lr, betas=(float(beta1), float(beta2)), eps=eps,
                                      weight_decay=weight_decay), verbose=verbose)

    def _update(self, p, grad, state, group):
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        adamw_update_(p.data, grad, state["exp_avg"], state["exp_avg_sq"], state["step"],
                      group["lr"], beta1, beta2, group["eps"], group["weight_decay"])
