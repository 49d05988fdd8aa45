"""What every experiment shares: modes, cached cells, CSV + markdown + PNG, mean +- std over seeds.

An experiment is a grid of *cells* (one method, one setting, one seed each).  A
cell's result is a small dict, cached as ``out/cells/<hash>.json`` the moment it
is done, so an interrupted run continues where it stopped and a rerun with the
same settings recomputes nothing.  Cells that differ only by seed are then
aggregated (mean, std) into the experiment's table.

    from minitl.transfer.experiments import run
    summary = run("learning-curve", mode="quick", seeds=3, out="runs/experiments")

Modes: ``smoke`` (seconds; tiny models from the hub's smoke profile; what the tests
run), ``quick`` (<= ~10 minutes on 2 cores once ``minitl pretrain all`` has run),
``full`` (the README's numbers).
"""
import csv
import hashlib
import json
import os
import shutil
import time

import numpy as np

from minitl.progress import Progress

MODES = ("smoke", "quick", "full")


class Experiment:
    """Subclasses set ``name``, ``claim`` and implement ``cells``, ``run_cell``, ``summarize``, ``plot``."""
    name = ""
    claim = ""               # the course notes' claim this experiment tests
    metric = "accuracy"      # the result key aggregated over seeds

    def cells(self, mode, seeds):          # -> [dict], each with a "seed" key
        raise NotImplementedError

    def run_cell(self, cell, env):         # -> dict of numbers
        raise NotImplementedError

    def summarize(self, table, mode):      # -> verdict dict {"verdict", "measured", ...}
        raise NotImplementedError

    def plot(self, table, path):
        raise NotImplementedError


def cell_key(name, cell):
    return hashlib.sha1(json.dumps([name, cell], sort_keys=True).encode()).hexdigest()[:16]


def aggregate(results, metric, keys=None):
    """Rows of {cell..., result...} -> one row per setting: mean/std of every numeric result over seeds."""
    groups = {}
    for r in results:
        setting = {k: v for k, v in r["cell"].items() if k != "seed"}
        groups.setdefault(json.dumps(setting, sort_keys=True), (setting, []))[1].append(r["result"])
    table = []
    for setting, res in groups.values():
        row = dict(setting)
        for k in sorted({k for x in res for k, v in x.items() if isinstance(v, (int, float))}):
            vals = [x[k] for x in res if isinstance(x.get(k), (int, float))]
            row[k] = float(np.mean(vals))
            if k == metric:
                row["std"] = float(np.std(vals))
                row["seeds"] = len(vals)
        table.append(row)
    return table


def run(experiment, mode="quick", seeds=3, out="runs/experiments", progress=True):
    """Run (or continue) one experiment; writes ``out/NAME.csv``, ``NAME.md``, ``NAME.png``."""
    from minitl import hub
    from minitl.transfer.experiments.registry import get
    exp = get(experiment) if isinstance(experiment, str) else experiment
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    hub.set_profile("smoke" if mode == "smoke" else "default")
    t0 = time.perf_counter()
    cache = os.path.join(out, "cells", exp.name)
    os.makedirs(cache, exist_ok=True)
    cells = exp.cells(mode, seeds)
    env = Env(mode, out)
    results, todo = [], []
    for cell in cells:
        path = os.path.join(cache, cell_key(exp.name, cell) + ".json")
        if os.path.exists(path):
            with open(path) as f:
                results.append(json.load(f))
        else:
            todo.append((cell, path))
    print(f"{exp.name} ({mode}): {len(cells)} cells, {len(cells) - len(todo)} cached, {len(todo)} to run")
    bar = Progress(total=len(todo), desc=exp.name, unit="cell", disable=not progress)
    try:
        for cell, path in todo:
            t = time.perf_counter()
            res = exp.run_cell(cell, env)
            rec = {"cell": cell, "result": {**res, "seconds": round(time.perf_counter() - t, 2)}}
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(rec, f)
            os.replace(tmp, path)                     # a cell is cached whole or not at all
            results.append(rec)
            bar.update(1, **{k: v for k, v in cell.items() if k not in ("seed",)})
    finally:
        bar.close()
        hub.set_profile("default")
    order = {cell_key(exp.name, c): i for i, c in enumerate(cells)}
    results.sort(key=lambda r: order.get(cell_key(exp.name, r["cell"]), 0))
    table = aggregate(results, exp.metric)
    verdict = exp.summarize(table, mode)
    summary = {"experiment": exp.name, "claim": exp.claim, "mode": mode, "seeds": seeds,
               "seconds_this_run": round(time.perf_counter() - t0, 1), "machine": machine(),
               "table": table, **verdict}
    write_outputs(exp, summary, results, out)
    return summary


class Env:
    """What cells share within one run: the mode, the output folder, loaded models and data."""

    def __init__(self, mode, out):
        self.mode, self.out = mode, out
        self._memo = {}

    def memo(self, key, fn):
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    def context(self, need=("w2v", "gpt", "bert")):
        """A methods.Context with the cached pretrained models (built on first use)."""
        from minitl.transfer.methods import hub_context
        recipes = SMOKE_RECIPES() if self.mode == "smoke" else None
        return self.memo(("context", tuple(need)), lambda: hub_context(need, recipes=recipes, progress=True))

    def dataset(self, name="tweets"):
        from minitl import data
        return self.memo(("data", name), lambda: {s: data.load(name, s) for s in ("train", "validation", "test")})

    def test_split(self, name="tweets"):
        """(texts, labels) scored on; smoke runs score on the first 200 only."""
        ds = self.dataset(name)["test"]
        n = 200 if self.mode == "smoke" else len(ds)
        return ds.texts[:n], ds.labels[:n]


def SMOKE_RECIPES():
    from dataclasses import replace
    from minitl.transfer.methods import RECIPES
    return {k: replace(v, epochs=2) for k, v in RECIPES.items()}


def machine():
    from minitl.report import machine
    return machine()


def write_outputs(exp, summary, results, out):
    base = os.path.join(out, exp.name)
    keys = sorted({k for r in results for k in r["cell"]}) + sorted({k for r in results for k in r["result"]})
    with open(base + ".csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in results:
            w.writerow({**r["cell"], **{k: v for k, v in r["result"].items() if not isinstance(v, (list, dict))}})
    with open(base + ".json", "w") as f:
        json.dump(summary, f, indent=1, default=float)
    with open(base + ".md", "w") as f:
        f.write(markdown(summary))
    exp.plot(summary["table"], base + ".png")
    # a copy per mode and seed count, so a later --quick (or a lesson's 2-seed run) does not hide a --full
    keep = os.path.join(out, "summaries", f"{exp.name}.{summary['mode']}-s{summary['seeds']}")
    os.makedirs(os.path.dirname(keep), exist_ok=True)
    for ext in (".json", ".md", ".png"):
        shutil.copyfile(base + ext, keep + ext)
    print(markdown(summary))
    print(f"wrote {base}.csv, .md, .json, .png")


def fmt(v):
    if isinstance(v, float) and v.is_integer() and abs(v) >= 1000:
        return f"{int(v):,}"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) >= 1000 or abs(v) < 0.01 else f"{v:.3f}".rstrip("0").rstrip(".")
    return str(v)


def markdown(summary):
    """The summary as a markdown section: claim, verdict, table, command, machine."""
    table = summary["table"]
    cols = summary.get("columns") or list(table[0]) if table else []
    lines = [f"### {summary['experiment']}", "", f"*Claim:* {summary['claim']}", "",
             f"*Verdict:* **{summary.get('verdict', '?')}** -- {summary.get('measured', '')}", "",
             "| " + " | ".join(c + (" (%)" if c in ("accuracy", "std") else "") for c in cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    pct = {"accuracy", "std"}                       # fractions shown in percent
    for row in table:
        lines.append("| " + " | ".join(f"{100 * row[c]:.1f}" if c in pct and isinstance(row.get(c), float)
                                       else fmt(row.get(c, "")) for c in cols) + " |")
    lines += ["", f"`minitl experiment {summary['experiment']} --{summary['mode']} --seeds {summary['seeds']}` "
              f"on {summary['machine']}; mean +- std over seeds.", ""]
    return "\n".join(lines)
