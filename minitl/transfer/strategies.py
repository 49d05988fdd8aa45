"""The transfer strategies of the course, each as ``requires_grad`` flags + optimizer groups.

A classifier has G = L + 2 layer groups, input first: "embeddings", "blocks.0" ...
"blocks.L-1", "head" (the final layer norm + the new linear head).  Every strategy
is "freeze the first n groups" (fast.ai's ``freeze_to(n)``), with n fixed or
changing per epoch:

| strategy           | frozen groups (n)              | the notes / the paper                         |
| ------------------ | ------------------------------ | --------------------------------------------- |
| ``features``       | all but the head; features are computed once and a CV-regularised probe is fitted (no backprop) | feature-based transfer |
| ``light``          | G - 2: only the top block + head train | "light" fine-tuning                    |
| ``freeze_bottom:k``| 1 + k: embeddings + blocks 0..k-1 | Option B: bottom frozen, top + new head   |
| ``full``           | 0: everything trains            | Option A                                     |
| ``gradual``        | epoch e: G - 1 - e (never < 0)  | ULMFiT gradual unfreezing, one group per epoch from the top |

Two modifiers apply to any of them (``finetune(..., discriminative=2.6, schedule="stlr")``):
discriminative learning rates (group i gets lr / 2.6^(G-1-i): each layer down
learns 2.6x slower, ULMFiT's factor) and the slanted triangular schedule.
"""
from dataclasses import dataclass

NAMES = ("features", "light", "freeze_bottom:k", "full", "gradual")


@dataclass(frozen=True)
class Strategy:
    name: str          # one of "features", "light", "freeze_bottom", "full", "gradual"
    k: int = 0         # freeze_bottom's number of frozen blocks

    def __str__(self):
        return f"freeze_bottom:{self.k}" if self.name == "freeze_bottom" else self.name

    def frozen_groups(self, n_groups, epoch=0):
        """How many layer groups (input first) are frozen in ``epoch`` for a model with ``n_groups``."""
        n_blocks = n_groups - 2
        if self.name in ("features",):
            return n_groups - 1
        if self.name == "light":
            return max(n_groups - 2, 0)
        if self.name == "freeze_bottom":
            if not 0 <= self.k <= n_blocks:
                raise ValueError(f"strategy freeze_bottom:{self.k}: the model has {n_blocks} blocks, "
                                 f"so k must be in 0..{n_blocks}")
            return 1 + self.k
        if self.name == "full":
            return 0
        return max(n_groups - 1 - int(epoch), 0)                  # gradual

    def apply(self, model, epoch=0):
        """Set ``requires_grad`` on ``model``'s layer groups for ``epoch``; returns the model."""
        return model.freeze_to(self.frozen_groups(len(model.layer_groups()), epoch))


def parse_strategy(text):
    """"full" / "light" / "freeze_bottom:3" / "gradual" / "features" -> Strategy (clear error otherwise)."""
    if isinstance(text, Strategy):
        return text
    name, _, arg = str(text).partition(":")
    if name == "freeze_bottom":
        try:
            return Strategy("freeze_bottom", int(arg))
        except ValueError:
            raise ValueError(f"strategy {text!r}: freeze_bottom needs a block count, e.g. freeze_bottom:2") from None
    if name in ("features", "light", "full", "gradual") and not arg:
        return Strategy(name)
    raise ValueError(f"unknown strategy {text!r}; expected one of {', '.join(NAMES)}")


def param_groups(model, lr, weight_decay=0.01, discriminative=None):
    """AdamW parameter groups over ``model.layer_groups()``, input first.

    Weight decay goes on matrices only (not biases or layer norms).  With
    ``discriminative=f`` the layer group i of G gets ``lr / f**(G-1-i)``: the head
    learns at ``lr``, the block under it at ``lr / f``, and so on down (fast.ai's
    ``slice(lr / f**(G-1), lr)``).  Frozen parameters are included: the optimizer
    skips them until a strategy unfreezes them.
    """
    groups = model.layer_groups()
    G = len(groups)
    out = []
    for i, (name, params) in enumerate(groups):
        g_lr = lr / discriminative ** (G - 1 - i) if discriminative else lr
        mats = [p for p in params if p.ndim >= 2]
        vecs = [p for p in params if p.ndim < 2]
        for ps, wd in ((mats, weight_decay), (vecs, 0.0)):
            if ps:
                out.append({"params": ps, "lr": g_lr, "weight_decay": wd, "name": name})
    return out
