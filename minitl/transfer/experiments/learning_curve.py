"""``learning-curve``: accuracy vs number of labels, transfer vs from scratch.

Claims tested: "with 100 examples: ~60% from scratch, ~85% with transfer", and
ULMFiT's "transfer with 100 labels matches scratch with 10x-20x more".  The
labels-equivalence factor is measured: how many labels the best from-scratch
method needs to reach what the best transfer method reaches with 100
(log-linear interpolation between measured points; "> max/100" if never).
"""
import numpy as np

from minitl.transfer import methods as M
from minitl.transfer.experiments.base import Experiment
from minitl.transfer.metrics import balanced_accuracy
from minitl.transfer.probe import balanced_subsample

GRID = {
    "smoke": ([20, 40], ["bow", "w2v", "gpt:features", "gpt:full", "scratch:gpt"]),
    "quick": ([50, 100, 300, 1000], ["bow", "w2v", "gpt:features", "gpt:full", "scratch:gpt"]),
    "full": ([50, 100, 300, 1000, 3000, "all"],
             ["bow", "w2v", "gpt:features", "bert:features", "gpt:full", "bert:full", "scratch:gpt"]),
}
EXAMPLES_SEEN = 6000   # transformers: epochs = min(recipe, ceil(6000 / n)), so big n costs no more than ~6k examples
# ... except at "all" (~16k tweets), where even one epoch is ~16k examples: 5-8 minutes a cell on 2 cores
# for GPT/BERT fine-tuning and the from-scratch GPT.  --full leaves those three out at "all" (the
# cheap methods -- word2vec and frozen features -- run there).  The bag of words is left out there
# too: its dense features for all 15,957 tweets would be 9.3 GiB (BagOfWords.MAX_DENSE_BYTES).
SKIP_AT_ALL = ("gpt:full", "bert:full", "scratch:gpt", "bow")   # not run at n="all" (see above)


class LearningCurve(Experiment):
    name = "learning-curve"
    claim = ("With 100 labelled examples a model trained from scratch reaches ~60% and a pretrained one "
             "~85%; transfer with 100 labels matches scratch with 10-20x more (ULMFiT).")

    def cells(self, mode, seeds):
        ns, methods = GRID[mode]
        return [{"method": m, "n_train": n, "seed": s} for n in ns for m in methods for s in range(seeds)
                if not (n == "all" and m in SKIP_AT_ALL)]

    def run_cell(self, cell, env):
        from dataclasses import replace
        train = env.dataset()["train"]
        test_x, test_y = env.test_split()
        n = len(train) if cell["n_train"] == "all" else cell["n_train"]
        rng = np.random.default_rng(cell["seed"])
        idx = rng.permutation(len(train)) if cell["n_train"] == "all" else balanced_subsample(train.labels, n, rng)
        ctx = env.context(M.needs(cell["method"]))
        if ":" in cell["method"]:                 # cap the examples a transformer sees at large n
            ctx = M.Context(ctx.backbones, ctx.vectors, {
                k: replace(v, epochs=max(1, min(v.epochs, -(-EXAMPLES_SEEN // n)))) for k, v in ctx.recipes.items()})
        pred, info = M.fit_predict(cell["method"], ctx, [train.texts[i] for i in idx], train.labels[idx],
                                   test_x, len(train.label_names), seed=cell["seed"])
        return {"accuracy": balanced_accuracy(test_y, pred), "n": n,
                **{k: v for k, v in info.items() if k in ("trainable_params", "steps")}}

    def summarize(self, table, mode):
        for row in table:
            row["kind"] = M.kind(row["method"])
        best = {}
        for kind in ("transfer", "scratch"):
            for n in sorted({r["n"] for r in table}):
                rows = [r for r in table if r["kind"] == kind and r["n"] == n]
                if rows:
                    best.setdefault(kind, {})[n] = max(rows, key=lambda r: r["accuracy"])
        ref_n = 100 if 100 in best.get("transfer", {}) else min(best["transfer"])
        for row in table:
            row["n"] = int(row["n"])
        target = best["transfer"][ref_n]
        scratch = sorted(best["scratch"].items())
        factor = equivalence_factor([(n, r["accuracy"]) for n, r in scratch], target["accuracy"], ref_n)
        at_ref = best["scratch"].get(ref_n)
        gap = 100 * (target["accuracy"] - at_ref["accuracy"]) if at_ref else float("nan")
        holds_10x = factor is not None and factor >= 10
        if factor is not None and factor <= 1:
            need = f"from scratch already matches it at {ref_n} labels (labels-equivalence factor <= 1)"
        elif factor is not None:
            need = f"from scratch needs {factor:.1f}x the labels to match it (labels-equivalence factor)"
        else:
            need = (f"from scratch does not match it within the {scratch[-1][0]:,} labels tried "
                    f"(labels-equivalence factor > {scratch[-1][0] / ref_n:.0f})")
        measured = (f"at {ref_n} labels the best transfer method ({M.describe(target['method'])}) reaches "
                    f"{100 * target['accuracy']:.1f}% vs the best from scratch ({M.describe(at_ref['method'])}) "
                    f"{100 * at_ref['accuracy']:.1f}% ({gap:+.1f} points); {need}")
        verdict = ("holds" if gap >= 15 and holds_10x else
                   "holds in part" if gap > 2 or (factor or 0) >= 2 else "does not hold at this scale")
        return {"verdict": verdict, "measured": measured, "equivalence_factor": factor, "gap_points": gap,
                "columns": ["n_train", "method", "kind", "accuracy", "std", "seeds"]}

    def plot(self, table, path):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for m in dict.fromkeys(r["method"] for r in table):
            rows = sorted((r for r in table if r["method"] == m), key=lambda r: r["n"])
            style = "-" if M.kind(m) == "transfer" else "--"
            ax.errorbar([r["n"] for r in rows], [100 * r["accuracy"] for r in rows],
                        yerr=[100 * r["std"] for r in rows], ls=style, marker="o", ms=4, capsize=3,
                        label=f"{M.describe(m)} [{M.kind(m)}]")
        ax.set_xscale("log")
        ns = sorted({r["n"] for r in table})
        ax.set_xticks(ns, [f"{n:,}" for n in ns])
        ax.axhline(50, color="grey", lw=1, ls=":")
        ax.set_ylim(40, 100)
        ax.set_xlabel("labelled training tweets (log scale)")
        ax.set_ylabel("balanced accuracy, test (%)")
        ax.set_title("Learning curves: solid = transfer, dashed = from scratch\n(error bars: +- std over seeds; "
                     "dotted: chance)", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def equivalence_factor(curve, target, ref_n):
    """Labels needed on ``curve`` [(n, acc)] to reach ``target``, / ref_n; None if never reached."""
    for (n0, a0), (n1, a1) in zip(curve, curve[1:]):
        if a0 >= target:
            return n0 / ref_n
        if a1 >= target:                                  # interpolate on log n
            t = (target - a0) / (a1 - a0)
            return float(np.exp(np.log(n0) + t * (np.log(n1) - np.log(n0)))) / ref_n
    if curve and curve[0][1] >= target:
        return curve[0][0] / ref_n
    return None
