"""``forgetting``: what fine-tuning does to the pretrained knowledge, per strategy and learning rate.

Claims tested: "too high a learning rate destroys the pretrained features
(catastrophic forgetting)" and "freezing / gradual unfreezing protects them".
For each (strategy, lr): the pretraining objective (GPT's next-token loss) on
held-out Wikipedia text before and after fine-tuning -- the backbone keeps its
LM head, tied to the embedding -- beside the validation accuracy after every
epoch.  A loss that climbs far above its starting point means the model forgot
how to model language; the accuracy curve shows what the task got in exchange.
"""
import numpy as np

from minitl.transfer import methods as M
from minitl.transfer.experiments.base import Experiment
from minitl.transfer.probe import balanced_subsample

GRID = {
    "smoke": (["full"], [1e-3, 1e-1]),
    "quick": (["full", "light", "gradual"], [1e-4, 1e-3, 1e-2]),
    "full": (["full", "light", "gradual"], [3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2]),
}
# The held-out LM loss is read on the first N windows of wiki's validation split.  Full shares
# quick's N: a cell's key does not name N, so a full run reuses quick's cells as they are.
HELD_OUT_WINDOWS = {"smoke": 20, "quick": 100, "full": 100}


class Forgetting(Experiment):
    name = "forgetting"
    claim = ("Fine-tuning with too high a learning rate causes catastrophic forgetting of the pretrained "
             "knowledge; freezing layers or gradual unfreezing protects it.")

    def cells(self, mode, seeds):
        strategies, lrs = GRID[mode]
        n = 20 if mode == "smoke" else 100
        return [{"strategy": s, "lr": lr, "n_train": n, "seed": seed}
                for s in strategies for lr in lrs for seed in range(seeds)]

    def run_cell(self, cell, env):
        from dataclasses import replace
        from minitl.pretrain import corpus_ids, evaluate_pretraining
        from minitl.transfer.finetune import finetune
        ds = env.dataset()
        train, val = ds["train"], ds["validation"]
        nval = 100 if env.mode == "smoke" else 400
        ctx = env.context(("gpt",))
        clf, recipe = M.classifier(ctx, f"gpt:{cell['strategy']}", 2, seed=cell["seed"])
        tok = clf.backbone.tokenizer
        ids = env.memo(("wiki-val", tok.vocab_size), lambda: corpus_ids(tok, "wiki", "validation"))
        limit = HELD_OUT_WINDOWS[env.mode]
        before = evaluate_pretraining(clf.backbone, ids, limit=limit)["val_loss"]
        idx = balanced_subsample(train.labels, cell["n_train"], np.random.default_rng(cell["seed"]))
        res = finetune(clf, [train.texts[i] for i in idx], train.labels[idx], replace(recipe, lr=cell["lr"]),
                       eval_texts=val.texts[:nval // 2] + val.texts[-nval // 2:],
                       eval_labels=np.concatenate([val.labels[:nval // 2], val.labels[-nval // 2:]]))
        if res.interrupted:                 # never cache a half-trained cell
            raise KeyboardInterrupt
        after = evaluate_pretraining(clf.backbone, ids, limit=limit)["val_loss"]
        curve = [r["val_balanced_accuracy"] for r in res.history if "val_balanced_accuracy" in r]
        return {"accuracy": curve[-1], "lm_loss_before": before, "lm_loss_after": after,
                "lm_loss_increase": after - before, "val_curve": curve}

    def summarize(self, table, mode):
        lrs = sorted({r["lr"] for r in table})
        full = {r["lr"]: r for r in table if r["strategy"] == "full"}
        hi, lo = full[lrs[-1]], full[lrs[0]]
        parts = [f"full fine-tuning: held-out LM loss +{lo['lm_loss_increase']:.2f} nats at lr {lrs[0]:g} vs "
                 f"+{hi['lm_loss_increase']:.2f} at lr {lrs[-1]:g} (validation accuracy "
                 f"{100 * lo['accuracy']:.1f}% vs {100 * hi['accuracy']:.1f}%)"]
        forgets = hi["lm_loss_increase"] > 2 * max(lo["lm_loss_increase"], 0.05)
        protected = None
        for s in ("light", "gradual"):
            row = next((r for r in table if r["strategy"] == s and r["lr"] == lrs[-1]), None)
            if row:
                parts.append(f"{s} at lr {lrs[-1]:g}: +{row['lm_loss_increase']:.2f} nats")
                protected = (protected or False) or row["lm_loss_increase"] < hi["lm_loss_increase"]
        verdict = ("holds" if forgets and protected is not False else
                   "holds in part" if forgets or protected else "does not hold at this scale")
        return {"verdict": verdict, "measured": "; ".join(parts),
                "columns": ["strategy", "lr", "accuracy", "std", "lm_loss_before", "lm_loss_after",
                            "lm_loss_increase"]}

    def plot(self, table, path):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        for s in dict.fromkeys(r["strategy"] for r in table):
            rows = sorted((r for r in table if r["strategy"] == s), key=lambda r: r["lr"])
            ax.plot([r["lm_loss_increase"] for r in rows], [100 * r["accuracy"] for r in rows], "o-", label=s)
            for r in rows:
                ax.annotate(f"lr {r['lr']:g}", (r["lm_loss_increase"], 100 * r["accuracy"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        ax.axvline(0, color="grey", lw=1)
        ax.axhline(50, color="grey", lw=1, ls=":")
        ax.set_xlabel("held-out Wikipedia next-token loss: after - before fine-tuning (nats; right = forgot more)")
        ax.set_ylabel("validation balanced accuracy (%)")
        ax.set_title("Catastrophic forgetting: what each learning rate costs and buys", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
