"""Which experiments exist: name -> module and class, loaded on demand."""
import importlib

# name -> "module:Class"; a module not written yet is listed as missing, not an import error
REGISTRY = {
    "learning-curve": "learning_curve:LearningCurve",
    "time-to-accuracy": "time_to_accuracy:TimeToAccuracy",
    "strategies": "strategies:Strategies",
    "forgetting": "forgetting:Forgetting",
    "domain-shift": "domain_shift:DomainShift",
    "pretext-mismatch": "pretext_mismatch:PretextMismatch",
    "data-scale": "data_scale:DataScale",
}


def available():
    """{name: claim} of the experiments that exist."""
    out = {}
    for name in REGISTRY:
        try:
            out[name] = get(name).claim
        except ModuleNotFoundError:
            continue
    return out


def get(name):
    """An instance of experiment ``name``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown experiment {name!r}; expected one of {', '.join(REGISTRY)}")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(f"minitl.transfer.experiments.{module}"), cls)()
