"""The course's claims, each an experiment with a verdict: ``run("learning-curve", mode="quick")``.

Each experiment lives in its own module and registers here; ``claims(out)``
gathers the verdicts every finished experiment wrote into one table.
"""
import importlib
import json
import os

from minitl.transfer.experiments.base import MODES, run  # noqa: F401

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


def claims(out="runs/experiments"):
    """The claims table: one row per experiment that has run (its summary JSON in ``out``)."""
    rows = []
    for name in REGISTRY:
        path = os.path.join(out, f"{name}.json")
        if os.path.exists(path):
            with open(path) as f:
                s = json.load(f)
            rows.append({"experiment": name, "claim": s["claim"], "verdict": s.get("verdict"),
                         "measured": s.get("measured"), "mode": s["mode"], "seeds": s["seeds"],
                         "machine": s["machine"]})
    lines = ["| claim (course notes) | verdict | what minitl measured | command |", "| --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['claim']} | **{r['verdict']}** | {r['measured']} | "
                     f"`minitl experiment {r['experiment']} --{r['mode']} --seeds {r['seeds']}` |")
    text = "\n".join(lines) + "\n"
    if rows:
        text += f"\nMachine: {rows[0]['machine']}.\n"
        with open(os.path.join(out, "CLAIMS.md"), "w") as f:
            f.write(text)
    return rows, text
