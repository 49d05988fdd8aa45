"""Learning-rate schedules: callables ``step -> multiplier`` and the LRScheduler that applies them.

A schedule knows nothing about optimizers; it maps a step number to a factor.
``LRScheduler`` multiplies each group's base lr by that factor, so the
discriminative learning rates of several groups keep their ratios::

    sched = LRScheduler(opt, WarmupCosine(warmup_steps=100, total_steps=1000))
    for step in range(1000):
        ...; opt.step(); sched.step()

The lower-case names (``warmup_cosine(...)``) are the same classes, for people
who prefer a factory-function reading.
"""
import math
from typing import Any, Callable, Dict, List


def _check_steps(name, total_steps, warmup_steps):
    if total_steps <= 0 or warmup_steps < 0 or warmup_steps > total_steps:
        raise ValueError(f"{name}: need 0 <= warmup_steps <= total_steps and total_steps > 0, "
                         f"got warmup_steps={warmup_steps}, total_steps={total_steps}")


def _warmup(step, warmup_steps):
    # Linear warmup that never hands the optimizer a zero lr (nanoGPT's form):
    # W=4: steps 0,1,2,3 -> 0.2, 0.4, 0.6, 0.8 and step 4 is the peak 1.0.
    return (step + 1) / (warmup_steps + 1)


class WarmupCosine:
    """m(s) = (s+1)/(W+1) for s < W; then min_ratio + (1-min_ratio) * (1 + cos(pi * (s-W)/(T-W))) / 2.

    Args:
        warmup_steps: W, steps of linear warmup; m(W) = 1.
        total_steps: T; m(T) = min_ratio and stays there afterwards.
        min_ratio: the final fraction of the base lr.
    """

    def __init__(self, warmup_steps: int, total_steps: int, min_ratio: float = 0.1):
        _check_steps("WarmupCosine", total_steps, warmup_steps)
        self.warmup_steps, self.total_steps, self.min_ratio = warmup_steps, total_steps, min_ratio

    def __call__(self, step: int) -> float:
        W, T = self.warmup_steps, self.total_steps
        if step < W:
            return _warmup(step, W)
        progress = min(1.0, (step - W) / max(1, T - W))
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def __repr__(self):
        return f"WarmupCosine(warmup_steps={self.warmup_steps}, total_steps={self.total_steps}, min_ratio={self.min_ratio})"


class LinearDecay:
    """m(s) = (s+1)/(W+1) for s < W; then (T - s) / (T - W), reaching 0 at T.

    Args:
        total_steps: T.
        warmup_steps: W (0 = start at the peak).
    """

    def __init__(self, total_steps: int, warmup_steps: int = 0):
        _check_steps("LinearDecay", total_steps, warmup_steps)
        self.total_steps, self.warmup_steps = total_steps, warmup_steps

    def __call__(self, step: int) -> float:
        W, T = self.warmup_steps, self.total_steps
        if step < W:
            return _warmup(step, W)
        return max(0.0, (T - step) / max(1, T - W))

    def __repr__(self):
        return f"LinearDecay(total_steps={self.total_steps}, warmup_steps={self.warmup_steps})"


class SlantedTriangular:
    """ULMFiT's slanted triangular lr (Howard & Ruder 2018, "Universal Language Model
    Fine-tuning for Text Classification", eq. 3):

        cut = floor(T * cut_frac)
        p   = t / cut                                     if t < cut
              1 - (t - cut) / (cut * (1 / cut_frac - 1))  otherwise
        m   = (1 + p * (ratio - 1)) / ratio

    A short steep rise to the peak m(cut) = 1, then a long linear fall back to 1/ratio.

    Args:
        total_steps: T, the number of training steps.
        cut_frac: fraction of steps spent rising.
        ratio: how much smaller the lowest lr is than the peak.
    """

    def __init__(self, total_steps: int, cut_frac: float = 0.1, ratio: float = 32):
        if total_steps <= 0 or not 0.0 < cut_frac < 1.0 or ratio < 1:
            raise ValueError(f"SlantedTriangular: need total_steps > 0, 0 < cut_frac < 1, ratio >= 1; "
                             f"got {total_steps}, {cut_frac}, {ratio}")
        self.total_steps, self.cut_frac, self.ratio = total_steps, cut_frac, ratio
        self.cut = max(1, math.floor(total_steps * cut_frac))  # max(1, .): tiny T still works

    def __call__(self, step: int) -> float:
        cut, cf = self.cut, self.cut_frac
        p = step / cut if step < cut else 1.0 - (step - cut) / (cut * (1.0 / cf - 1.0))
        p = max(0.0, p)  # after T the paper's line would go negative; stay at the floor
        return (1.0 + p * (self.ratio - 1.0)) / self.ratio

    def __repr__(self):
        return f"SlantedTriangular(total_steps={self.total_steps}, cut_frac={self.cut_frac}, ratio={self.ratio})"


warmup_cosine = WarmupCosine
linear_decay = LinearDecay
slanted_triangular = SlantedTriangular


class LRScheduler:
    """Sets each group's lr = base_lr * fn(step); call ``step()`` once per optimizer step.

    A group's base lr is its ``"initial_lr"``, taken from ``"lr"`` the first
    time the scheduler sees the group (as PyTorch does).  Construction applies
    fn(0), so the very first optimizer step already uses the schedule.

    Args:
        optimizer: any minitl optimizer.
        fn: a callable step -> multiplier (e.g. ``WarmupCosine(...)``).
    """

    def __init__(self, optimizer: Any, fn: Callable[[int], float]):
        self.optimizer, self.fn = optimizer, fn
        self.last_step = 0
        self._apply()

    @property
    def base_lrs(self) -> List[float]:
        return [g.setdefault("initial_lr", g["lr"]) for g in self.optimizer.param_groups]

    def _apply(self):
        m = float(self.fn(self.last_step))
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = base * m

    def step(self) -> None:
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> List[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> Dict[str, Any]:
        return {"last_step": self.last_step, "base_lrs": self.base_lrs}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        groups = self.optimizer.param_groups
        if len(state["base_lrs"]) != len(groups):
            raise ValueError(f"LRScheduler.load_state_dict: state has {len(state['base_lrs'])} "
                             f"base lrs, optimizer has {len(groups)} groups")
        for g, base in zip(groups, state["base_lrs"]):
            g["initial_lr"] = base
        self.last_step = int(state["last_step"])
        self._apply()
