"""The course's claims, each an experiment with a verdict: ``run("learning-curve", mode="quick")``.

Each experiment lives in its own module and registers here; ``claims(out)``
gathers the verdicts every finished experiment wrote into one table.
"""
import json
import os

from minitl.transfer.experiments.base import MODES, run  # noqa: F401
from minitl.transfer.experiments.registry import REGISTRY, available, get  # noqa: F401

MODE_RANK = {"smoke": 0, "quick": 1, "full": 2}


def best_summary(name, out="runs/experiments"):
    """The most complete summary ``name`` has written to ``out``: --full over --quick over --smoke,
    then more seeds, then the latest; None if it has not run."""
    import glob
    paths = glob.glob(os.path.join(out, "summaries", f"{name}.*.json")) + [os.path.join(out, f"{name}.json")]
    found = []
    for path in paths:
        if os.path.exists(path):
            with open(path) as f:
                s = json.load(f)
            found.append(((MODE_RANK.get(s["mode"], -1), s["seeds"], os.path.getmtime(path)), path, s))
    return max(found, key=lambda t: t[0])[1:] if found else (None, None)


def claims(out="runs/experiments", readme=None, figures="docs/results"):
    """The claims table: one row per experiment that has run, from its most complete summary.

    Writes ``out/CLAIMS.md``.  With ``readme``, also rewrites that file's ``claims`` block
    (see :mod:`minitl.report`): the table, then each experiment's own table and plot
    (the plot copied into ``figures`` so that the markdown can link it).
    Returns (rows, text).
    """
    rows = []
    for name in REGISTRY:
        path, s = best_summary(name, out)
        if s is None:
            continue
        cpu = sum(r.get("seconds", 0.0) * r.get("seeds", 1) for r in s["table"])
        rows.append({"experiment": name, "claim": s["claim"], "verdict": s.get("verdict"),
                     "measured": s.get("measured"), "mode": s["mode"], "seeds": s["seeds"],
                     "machine": s["machine"], "summary": path, "cell_seconds": cpu})
    lines = ["| claim (course notes) | verdict | what minitl measured | command (seconds of cells) |",
             "| --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['claim']} | **{r['verdict']}** | {r['measured']} | "
                     f"`minitl experiment {r['experiment']} --{r['mode']} --seeds {r['seeds']}` "
                     f"({r['cell_seconds']:,.0f} s) |")
    text = "\n".join(lines) + "\n"
    if rows:
        text += f"\nMachine: {rows[0]['machine']}.\n"
        with open(os.path.join(out, "CLAIMS.md"), "w") as f:
            f.write(text)
    if readme and rows:
        _write_readme_block(readme, rows, text, figures)
    return rows, text


def _write_readme_block(readme, rows, text, figures):
    import shutil
    from minitl.report import splice
    os.makedirs(figures, exist_ok=True)
    parts = [text]
    for r in rows:
        base = r["summary"][:-len(".json")]
        with open(base + ".md") as f:
            table = f.read().split("\n", 1)[1].strip()          # drop its "### name" heading
        png = os.path.join(figures, r["experiment"] + ".png")
        if os.path.exists(base + ".png"):
            shutil.copyfile(base + ".png", png)
        rel = os.path.relpath(png, os.path.dirname(os.path.abspath(readme)) or ".")
        parts.append(f"<details><summary><b>{r['experiment']}</b> -- {r['verdict']} "
                     f"(table and plot)</summary>\n\n{table}\n\n![{r['experiment']}]({rel})\n\n</details>\n")
    splice(readme, "claims", "\n".join(parts))
