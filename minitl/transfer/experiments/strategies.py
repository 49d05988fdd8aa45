"""``strategies``: a small ULMFiT ablation -- which layers to train, and how.

Claims tested: fine-tuning beats frozen features; training more layers beats
training fewer (Option A vs Option B); ULMFiT's gradual unfreezing with
discriminative learning rates and the slanted triangular schedule helps.
Same pretrained GPT, same n labelled tweets, same seeds for every row.
"""
from minitl.transfer import methods as M
from minitl.transfer.experiments.base import Experiment
from minitl.transfer.metrics import balanced_accuracy
from minitl.transfer.probe import balanced_subsample

STRATEGIES = {
    "smoke": ["features", "light", "full", "gradual+dlr+stlr"],
    "quick": ["features", "light", "freeze_bottom:2", "full", "full+dlr", "full+stlr", "gradual",
              "gradual+dlr+stlr"],
    "full": ["features", "light", "freeze_bottom:1", "freeze_bottom:2", "freeze_bottom:3", "full", "full+dlr",
             "full+stlr", "gradual", "gradual+dlr", "gradual+dlr+stlr"],
}
N_TRAIN = {"smoke": 20, "quick": 100, "full": 100}


class Strategies(Experiment):
    name = "strategies"
    claim = ("Fine-tuning beats frozen features; training all layers (Option A) beats freezing the bottom "
             "(Option B); gradual unfreezing + discriminative learning rates + slanted triangular help (ULMFiT).")

    def __init__(self, backbone="gpt"):
        self.backbone = backbone

    def cells(self, mode, seeds):
        return [{"strategy": s, "backbone": self.backbone, "n_train": N_TRAIN[mode], "seed": seed}
                for s in STRATEGIES[mode] for seed in range(seeds)]

    def run_cell(self, cell, env):
        import numpy as np
        from minitl.transfer.finetune import finetune
        train = env.dataset()["train"]
        test_x, test_y = env.test_split()
        idx = balanced_subsample(train.labels, cell["n_train"], np.random.default_rng(cell["seed"]))
        ctx = env.context((cell["backbone"],))
        clf, recipe = M.classifier(ctx, f"{cell['backbone']}:{cell['strategy']}", 2, seed=cell["seed"])
        res = finetune(clf, [train.texts[i] for i in idx], train.labels[idx], recipe)
        if res.interrupted:                 # never cache a half-trained cell
            raise KeyboardInterrupt
        acc = balanced_accuracy(test_y, clf.predict(list(test_x)))
        return {"accuracy": acc, "trainable_params": res.trainable_params,
                "seconds_per_epoch": res.seconds_per_epoch, "steps": res.steps}

    def summarize(self, table, mode):
        """Each part of the claim counts only when the difference exceeds the larger std of the two rows
        (the noise rule of docs/EXPERIMENTS.md)."""
        rows = {r["strategy"]: r for r in table}
        best = max(table, key=lambda r: r["accuracy"])
        parts = [f"best: {best['strategy']} {100 * best['accuracy']:.1f}%"]
        verdicts = []

        def compare(a, b, what):
            d = rows[a]["accuracy"] - rows[b]["accuracy"]
            noise = max(rows[a]["std"], rows[b]["std"])
            parts.append(f"{what} {100 * d:+.1f} points (seeds' std {100 * noise:.1f})")
            verdicts.append(d > noise)
        if "features" in rows and "full" in rows:
            compare("full", "features", "full vs features")
        partial = [k for k in rows if k.startswith("freeze_bottom") or k == "light"]
        if "full" in rows and partial:
            compare("full", max(partial, key=lambda k: rows[k]["accuracy"]), "full vs the best partial freeze")
        if "gradual+dlr+stlr" in rows and "full" in rows:
            compare("gradual+dlr+stlr", "full", "ULMFiT's gradual+dlr+stlr vs plain full")
        verdict = ("holds" if verdicts and all(verdicts) else
                   "holds in part" if any(verdicts) else "does not hold at this scale")
        return {"verdict": verdict, "measured": "; ".join(parts),
                "columns": ["strategy", "accuracy", "std", "seeds", "trainable_params", "seconds_per_epoch"]}

    def plot(self, table, path):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        rows = sorted(table, key=lambda r: r["accuracy"])
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 0.4 * len(rows) + 1.6), sharey=True)
        y = range(len(rows))
        a1.barh(y, [100 * r["accuracy"] for r in rows], xerr=[100 * r["std"] for r in rows], capsize=3,
                color="tab:blue")
        a1.axvline(50, color="k", ls="--", lw=1)
        a1.set_yticks(list(y), [r["strategy"] for r in rows], fontsize=8)
        a1.set_xlim(0, 100)
        a1.set_xlabel("balanced accuracy, test (%) (+- std over seeds; dashed: chance)")
        a2.barh(y, [r["trainable_params"] for r in rows], color="tab:orange")
        a2.set_xscale("log")
        a2.set_xlabel("trainable parameters at the end (log)")
        fig.suptitle(f"Strategies on {rows[0]['backbone'].upper()}, {rows[0]['n_train']} labelled tweets",
                     fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
