"""How the fine-tuning recipes in ``methods.RECIPES`` were chosen: a small grid on the validation split.

    python -m minitl.transfer.tuning --out runs/tuning [--kinds gpt bert scratch]   # tuning-*.md / .json

For each backbone kind (pretrained GPT, pretrained BERT, GPT from random init) and
each (lr, epochs) of a small grid, fine-tune on n = 100 class-balanced training
tweets (3 seeds) and score balanced accuracy on the *validation* split -- the
1,000 tweets set aside for exactly this, once.  The test split is never read
here.  The best cell per kind is what ``RECIPES`` holds; the table is printed so
a reader can see how flat (or not) the choice was.
"""
import argparse
import json
import os
import time
from dataclasses import replace

import numpy as np

GRID = {"gpt": [(1e-4, 10), (3e-4, 10), (1e-3, 10), (3e-4, 20)],
        "bert": [(1e-4, 10), (3e-4, 10), (1e-3, 10), (3e-4, 20)],
        "scratch": [(3e-4, 20), (1e-3, 20), (3e-3, 20), (1e-3, 40)]}


def tune(n_train=100, seeds=3, grid=GRID, out=None, progress=True):
    """Returns {kind: [(lr, epochs, mean, std)]} and the best (lr, epochs) per kind."""
    from minitl import data, hub
    from minitl.progress import Progress
    from minitl.transfer import methods as M
    from minitl.transfer.metrics import balanced_accuracy
    from minitl.transfer.probe import balanced_subsample
    train, val = data.load("tweets", "train"), data.load("tweets", "validation")
    method = {"gpt": "gpt:full", "bert": "bert:full", "scratch": "scratch:gpt"}
    ctx = M.hub_context(sorted({M.needs(method[kind])[0] for kind in grid}), progress=True)
    table, best = {}, {}
    bar = Progress(total=sum(len(v) for v in grid.values()) * seeds, desc="tuning", unit="fit",
                   disable=not progress)
    t0 = time.perf_counter()
    for kind, cells in grid.items():
        table[kind] = []
        for lr, epochs in cells:
            accs = []
            for seed in range(seeds):
                idx = balanced_subsample(train.labels, n_train, np.random.default_rng(seed))
                ctx.recipes = {**M.RECIPES, kind: replace(M.RECIPES[kind], lr=lr, epochs=epochs)}
                pred, _ = M.fit_predict(method[kind], ctx, [train.texts[i] for i in idx], train.labels[idx],
                                        val.texts, seed=seed)
                accs.append(balanced_accuracy(val.labels, pred))
                bar.update(1, kind=kind, lr=lr, epochs=epochs)
            table[kind].append((lr, epochs, float(np.mean(accs)), float(np.std(accs))))
        best[kind] = max(table[kind], key=lambda r: r[2])[:2]
    bar.close()
    text = report(table, best, n_train, seeds, time.perf_counter() - t0)
    print(text)
    if out:
        os.makedirs(out, exist_ok=True)
        tag = "-".join(grid)
        with open(os.path.join(out, f"tuning-{tag}.md"), "w") as f:
            f.write(text)
        with open(os.path.join(out, f"tuning-{tag}.json"), "w") as f:
            json.dump({"table": table, "best": best, "cards": {k: hub.card(k) for k in ctx.backbones}}, f,
                      indent=1)
    return table, best


def report(table, best, n_train, seeds, seconds):
    lines = [f"Fine-tuning recipes chosen on the tweets validation split ({n_train} training labels, "
             f"{seeds} seeds, balanced accuracy, {seconds / 60:.0f} min):", "",
             "| backbone | lr | epochs | validation balanced accuracy |", "| --- | --- | --- | --- |"]
    for kind, rows in table.items():
        for lr, epochs, mean, std in rows:
            mark = " **(chosen)**" if (lr, epochs) == tuple(best[kind]) else ""
            lines.append(f"| {kind} | {lr:g} | {epochs} | {100 * mean:.1f}% +- {100 * std:.1f}{mark} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/tuning")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--kinds", nargs="+", default=list(GRID), choices=list(GRID))
    args = p.parse_args(argv)
    tune(seeds=args.seeds, out=args.out, grid={k: GRID[k] for k in args.kinds})


if __name__ == "__main__":
    main()
