"""``time-to-accuracy``: how much sooner does fine-tuning reach a given accuracy than training from scratch?

Claim tested: transfer learning is "15-30x faster" than training from scratch.
The same GPT architecture trained two ways on the same n labelled tweets --
``gpt:full`` (the hub's pretrained GPT, fine-tuned) and ``scratch:gpt`` (random
init, its own recipe) -- evaluated after every epoch on a class-balanced subset
of the *validation* split, recording the training wall-clock (evaluation time
excluded) and the steps so far.

The target: for each n, chance + 95% of the way from chance to the lower of the
two methods' final validation accuracies (means over seeds): a level both reach
by construction, near the weaker method's best, never a trivial one when that
method is near chance.  Each method's time to it is read off its mean curve (the
first epoch whose mean accuracy is at or above it; resolution: one epoch, so a
method that is there after its first epoch is *at most* that fast, and the
speed-up *at least* the figure given).  The speed-up is scratch's time / fine-
tuning's time, in wall-clock and in optimizer steps (steps don't depend on the
machine's load; both models have the same size, so a step costs the same), and
again with the pretraining cost counted (``hub.card("gpt")["seconds"]``, the time
the cached GPT took to build) added to fine-tuning's time.
"""
import time

import numpy as np

from minitl import hub
from minitl.transfer import methods as M
from minitl.transfer.experiments.base import Experiment
from minitl.transfer.experiments.small_models import check_complete
from minitl.transfer.finetune import finetune
from minitl.transfer.probe import balanced_subsample

METHODS = ("gpt:full", "scratch:gpt")
N_TRAIN = {"smoke": [20, 40], "quick": [100, 1000], "full": [100, 1000]}
EVAL_N = {"smoke": 60, "quick": 400, "full": 1000}        # balanced validation tweets scored per epoch
EXAMPLES_SEEN = {"smoke": None, "quick": 6000, "full": None}   # quick: epochs = min(recipe, ceil(6000 / n))
TARGET_SHARE = 0.95
CHANCE = 0.5                                              # balanced accuracy of a constant guess, 2 classes


class TimeToAccuracy(Experiment):
    name = "time-to-accuracy"
    claim = "Transfer learning reaches a given accuracy 15-30x faster than training from scratch."

    def cells(self, mode, seeds):
        return [{"method": m, "n_train": n, "eval_n": EVAL_N[mode], "cap": EXAMPLES_SEEN[mode], "seed": s}
                for n in N_TRAIN[mode] for m in METHODS for s in range(seeds)]

    def run_cell(self, cell, env):
        from dataclasses import replace
        ds = env.dataset()
        train, val = ds["train"], ds["validation"]
        n, seed = cell["n_train"], cell["seed"]
        idx = balanced_subsample(train.labels, n, np.random.default_rng(seed))
        vidx = balanced_subsample(val.labels, cell["eval_n"], np.random.default_rng(10_000))  # same for all cells
        env.memo("time-to-accuracy warm-up", lambda: warm_up(env, train))    # kernels loaded before any clock
        clf, recipe = M.classifier(env.context(("gpt",)), cell["method"], 2, seed=seed)
        if cell["cap"]:
            recipe = replace(recipe, epochs=max(1, min(recipe.epochs, -(-cell["cap"] // n))))
        stamps = []                              # (start, end) of every per-epoch evaluation
        predict = clf.predict

        def timed_predict(texts, batch_size=128):
            t = time.perf_counter()
            out = predict(texts, batch_size)
            stamps.append((t, time.perf_counter()))
            return out
        clf.predict = timed_predict              # this instance only: finetune's evaluate calls it
        t0 = time.perf_counter()
        res = finetune(clf, [train.texts[i] for i in idx], train.labels[idx], recipe,
                       eval_texts=[val.texts[i] for i in vidx], eval_labels=val.labels[vidx])
        check_complete(res, n)
        curve = [r["val_balanced_accuracy"] for r in res.history if "val_balanced_accuracy" in r]
        if len(curve) != recipe.epochs or len(stamps) != recipe.epochs:
            raise RuntimeError(f"time-to-accuracy: expected {recipe.epochs} evaluations, got {len(curve)} "
                               f"({len(stamps)} timed)")
        train_s, spent = [], 0.0
        for a, b in stamps:                      # training time at each evaluation = elapsed - earlier evals
            train_s.append(a - t0 - spent)
            spent += b - a
        out = {"accuracy": curve[-1], "epochs": recipe.epochs, "steps_per_epoch": res.steps / recipe.epochs,
               "train_seconds": train_s[-1], "pretrain_seconds": (hub.card("gpt") or {}).get("seconds", 0.0)}
        for e, (acc, s) in enumerate(zip(curve, train_s), 1):
            out[f"val_acc_e{e:02d}"], out[f"train_s_e{e:02d}"] = acc, round(s, 3)
        return out

    def summarize(self, table, mode):
        parts, factors = [], []
        for n in sorted({r["n_train"] for r in table}):
            rows = {r["method"]: r for r in table if r["n_train"] == n}
            ft, sc = rows["gpt:full"], rows["scratch:gpt"]
            lower = min(ft["accuracy"], sc["accuracy"])
            if lower - CHANCE < 0.02:
                weak = "scratch:gpt" if sc["accuracy"] <= ft["accuracy"] else "gpt:full"
                parts.append(f"at {n} labels: {M.describe(weak)} stays at chance ({100 * lower:.1f}%): "
                             "no target to time")
                continue
            target = CHANCE + TARGET_SHARE * (lower - CHANCE)
            for r in (ft, sc):
                e = reached(r, target)
                r.update(target=target, epoch_to_target=e, time_to_target_s=r[f"train_s_e{e:02d}"],
                         steps_to_target=e * r["steps_per_epoch"])
            speed = sc["time_to_target_s"] / max(ft["time_to_target_s"], 1e-9)
            step_speed = sc["steps_to_target"] / ft["steps_to_target"]
            with_cost = sc["time_to_target_s"] / (ft["time_to_target_s"] + ft["pretrain_seconds"])
            at_least = "at least " if ft["epoch_to_target"] == 1 else ""
            factors.append(speed)
            for r in (ft, sc):
                r["speed-up"] = speed if r is ft else 1.0
            parts.append(f"at {n} labels (target {100 * target:.1f}% validation): fine-tuning "
                         f"{ft['time_to_target_s']:.1f} s / {ft['steps_to_target']:.0f} steps vs scratch "
                         f"{sc['time_to_target_s']:.1f} s / {sc['steps_to_target']:.0f} steps: {at_least}{speed:.1f}x "
                         f"faster in wall-clock ({at_least}{step_speed:.1f}x in steps), {with_cost:.2g}x with the "
                         f"{ft['pretrain_seconds']:.0f} s of pretraining counted (final {100 * ft['accuracy']:.1f}% "
                         f"vs {100 * sc['accuracy']:.1f}%)")
        verdict = ("holds" if factors and len(factors) == len(parts) and min(factors) >= 15 else
                   "holds in part" if factors and max(factors) >= 2 else "does not hold at this scale")
        return {"verdict": verdict, "measured": "; ".join(parts) + " (timings on a shared machine are noisy; "
                "steps are not)", "speed_up": factors,
                "columns": ["n_train", "method", "accuracy", "std", "seeds", "target", "epoch_to_target",
                            "steps_to_target", "time_to_target_s", "train_seconds", "speed-up"]}

    def plot(self, table, path):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        ns = sorted({r["n_train"] for r in table})
        fig, axes = plt.subplots(1, len(ns), figsize=(5 * len(ns), 3.8), squeeze=False)
        for ax, n in zip(axes[0], ns):
            for r in (r for r in table if r["n_train"] == n):
                e = np.arange(1, int(r["epochs"]) + 1)
                ax.plot([r[f"train_s_e{k:02d}"] for k in e], [100 * r[f"val_acc_e{k:02d}"] for k in e], "o-", ms=3,
                        label=M.describe(r["method"]))
                if np.isfinite(r.get("target", float("nan"))) and "time_to_target_s" in r:
                    ax.axvline(r["time_to_target_s"], color=ax.lines[-1].get_color(), ls=":", lw=1)
            tgt = next((r.get("target") for r in table if r["n_train"] == n), None)
            if tgt is not None and np.isfinite(tgt):
                ax.axhline(100 * tgt, color="k", ls="--", lw=1, label=f"target {100 * tgt:.1f}%")
            ax.set_xscale("log")
            ax.set_ylim(40, 100)
            ax.set_xlabel("training wall-clock, s (log; evaluation excluded)")
            ax.set_ylabel("balanced accuracy, validation (%)")
            ax.set_title(f"{n} labelled tweets (mean over seeds; dotted: reached)", fontsize=9)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def reached(row, target):
    """First epoch whose mean validation accuracy is >= target (the last one if none: it is the lower final)."""
    e = 1
    while f"val_acc_e{e:02d}" in row:
        if row[f"val_acc_e{e:02d}"] >= target - 1e-12:
            return e
        e += 1
    return e - 1


def warm_up(env, train):
    """One short fine-tuning of each method, untimed: compiles/loads every kernel the timed runs use."""
    from dataclasses import replace
    for method in METHODS:
        clf, recipe = M.classifier(env.context(("gpt",)), method, 2, seed=0)
        finetune(clf, train.texts[:16], np.arange(16) % 2, replace(recipe, epochs=1),
                 eval_texts=train.texts[:4], eval_labels=np.arange(4) % 2)
    return True
