"""The course's claims, each an experiment with a verdict: ``run("learning-curve", mode="quick")``.

Each experiment lives in its own module and registers here; ``claims(out)``
gathers the verdicts every finished experiment wrote into one table.
"""
import json
import os

from minitl.transfer.experiments.base import MODES, run  # noqa: F401
from minitl.transfer.experiments.registry import REGISTRY, available, get  # noqa: F401

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
