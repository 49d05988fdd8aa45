"""The Optimizer base class: parameter groups, skipping frozen weights, state for resume.

An optimizer holds ``param_groups``: a list of dicts, each with its own
``"params"`` and hyper-parameters (``"lr"``, ``"weight_decay"``, ...).  One group
is the common case; several groups give discriminative learning rates
(ULMFiT: lower layers learn slower than the head)::

    AdamW([{"params": body.parameters(), "lr": 1e-4},
           {"params": head.parameters()}], lr=1e-3)    # head gets the default 1e-3

``step()`` skips every parameter with ``requires_grad=False`` or no ``.grad``.
Frozen parameters stay in their group, so ``unfreeze()`` later (gradual
unfreezing) needs no new optimizer.  Per-parameter state (momentum, Adam's
moments) lives in ``self.state[id(p)]`` and is created on the first update.
"""
from typing import Any, Dict, Iterable, Union

import numpy as np

from minitl.tensor import Tensor

# what an optimizer takes: Parameters, or group dicts {"params": [...], "lr": ..., ...}
ParamsArg = Union[Iterable[Tensor], Iterable[Dict[str, Any]]]


def _flatten(params_or_model):
    """Parameters from a Module, an optimizer, an iterable of Tensors, or of group dicts."""
    obj = params_or_model
    if hasattr(obj, "param_groups"):
        obj = obj.param_groups
    elif hasattr(obj, "parameters") and callable(obj.parameters):
        obj = obj.parameters()
    if isinstance(obj, Tensor):
        obj = [obj]
    flat, seen = [], set()
    for item in obj:
        for p in (item["params"] if isinstance(item, dict) else [item]):
            if id(p) not in seen:
                seen.add(id(p))
                flat.append(p)
    return flat


def param_summary(params_or_model: Any) -> str:
    """"trainable: N tensors / P params; frozen: M tensors / Q params" (nanoGPT prints this).

    Args:
        params_or_model: a Module, an optimizer, or an iterable of Parameters / group dicts.
    """
    flat = _flatten(params_or_model)
    train = [p for p in flat if p.requires_grad]
    frozen = [p for p in flat if not p.requires_grad]
    return (f"trainable: {len(train)} tensors / {sum(p.size for p in train):,} params; "
            f"frozen: {len(frozen)} tensors / {sum(p.size for p in frozen):,} params")


class Optimizer:
    """Base class: subclasses set ``defaults`` and implement ``_update(p, grad, state, group)``."""

    def __init__(self, params: ParamsArg, defaults: Dict[str, Any], verbose: bool = False):
        self.defaults = dict(defaults)
        self.state = {}  # id(param) -> {"step": int, "exp_avg": array, ...}
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Parameters, "
                            "got a single Tensor (wrap it in a list)")
        if hasattr(params, "parameters") and callable(params.parameters):
            raise TypeError(f"{type(self).__name__}: got a {type(params).__name__} module; "
                            "pass model.parameters()")
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for g in groups:
            self.add_param_group(g)
        if verbose:
            print(f"{type(self).__name__}: {param_summary(self)}")

    def add_param_group(self, group: Dict[str, Any]) -> None:
        """Add ``{"params": [...], **hyper-parameters}``; missing settings come from the defaults."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{type(self).__name__}: a parameter group must be a dict with a "
                            f"'params' key, got {type(group).__name__}")
        g = dict(group)
        ps = g["params"]
        g["params"] = [ps] if isinstance(ps, Tensor) else list(ps)
        gi = len(self.param_groups)
        seen = {id(p) for old in self.param_groups for p in old["params"]}
        for i, p in enumerate(g["params"]):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: group {gi} param {i} is a "
                                f"{type(p).__name__}, not a Parameter/Tensor")
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: group {gi} param {i} (shape {p.shape}) "
                                 "appears in more than one place; each parameter belongs to one group")
            seen.add(id(p))
        for k, v in self.defaults.items():
            g.setdefault(k, v)
        if g["lr"] < 0:
            raise ValueError(f"{type(self).__name__}: group {gi} has lr={g['lr']} < 0")
        self.param_groups.append(g)

    def zero_grad(self) -> None:
        """Drop every parameter's ``.grad`` (``set_to_none=True``, PyTorch's default)."""
        for g in self.param_groups:
            for p in g["params"]:
                p.grad = None

    def step(self) -> None:
        """Update every parameter that requires grad and has a ``.grad``; skip the rest."""
        for gi, g in enumerate(self.param_groups):
            for i, p in enumerate(g["params"]):
                if not p.requires_grad or p.grad is None:
                    continue
                if p.grad.shape != p.shape:
                    raise ValueError(f"{type(self).__name__}.step: group {gi} param {i} has shape "
                                     f"{p.shape} but its grad has shape {p.grad.shape}")
                self._update(p, p.grad, self.state.setdefault(id(p), {}), g)

    def _update(self, p, grad, state, group):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- resume -------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        """{"state": {index: {name: array or int}}, "param_groups": [{..., "params": [index]}]}.

        Parameters are numbered 0, 1, ... across the groups in order (PyTorch's
        layout), so the dict can be loaded into a new optimizer over the same model.
        Arrays are copies.
        """
        state, groups, idx = {}, [], 0
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                if id(p) in self.state and self.state[id(p)]:
                    state[idx] = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                                  for k, v in self.state[id(p)].items()}
                ids.append(idx)
                idx += 1
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore hyper-parameters and per-parameter state saved by ``state_dict()``."""
        name = type(self).__name__
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: state has {len(groups)} parameter groups, "
                             f"optimizer has {len(self.param_groups)}")
        index = {}
        for gi, (saved, g) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(g["params"]):
                raise ValueError(f"{name}.load_state_dict: group {gi} has {len(saved['params'])} "
                                 f"parameters in the state, {len(g['params'])} in the optimizer")
            index.update(zip((int(i) for i in saved["params"]), g["params"]))
        new_state = {}
        for i, st in state_dict["state"].items():
            i = int(i)
            if i not in index:
                raise ValueError(f"{name}.load_state_dict: state for parameter {i}, which no group has")
            p = index[i]
            entry = {}
            for k, v in st.items():
                if isinstance(v, (np.ndarray, Tensor)):
                    v = np.asarray(v.data if isinstance(v, Tensor) else v)
                    if v.shape != p.shape:
                        raise ValueError(f"{name}.load_state_dict: parameter {i} {k} has shape "
                                         f"{v.shape}, the parameter has shape {p.shape}")
                    v = np.array(v, dtype=p.dtype, copy=True)
                entry[k] = v
            new_state[id(p)] = entry
        for saved, g in zip(groups, self.param_groups):
            g.update({k: (tuple(v) if isinstance(v, list) else v)
                      for k, v in saved.items() if k != "params"})
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            hp = ", ".join(f"{k}={v}" for k, v in g.items() if k != "params")
            lines.append(f"  group {i}: {len(g['params'])} tensors, {hp}")
        return "\n".join(lines) + "\n)"
