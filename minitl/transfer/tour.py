"""The main job (``minitl tour``): with 100 labelled tweets, does transfer beat training from scratch?

1. load the tweets (balanced test split: 500 negative, 500 positive; chance = 50%);
2. get the pretrained models from the cache -- word2vec, GPT and BERT pretrained on
   Wikipedia + news + the tweets' own text with the labels unused -- building any
   that is missing within a time budget (``minitl pretrain all`` builds bigger ones);
3. for each of ``seeds`` draws of n = 100 class-balanced labelled tweets, train every
   method on the same n tweets: transfer methods (word2vec features, GPT and BERT
   fine-tuned, GPT frozen features) and from-scratch ones (a cross-validated bag of
   words, the GPT architecture from random init);
4. score each on the test split (balanced accuracy), print the table, save a plot
   and ``results.json``.

No method looks at the test split to choose anything; the fine-tuning recipes are
fixed (``methods.RECIPES``) and the probes choose their regularisation by
cross-validation on the n training labels only.
"""
import json
import os
import time

import numpy as np

from minitl.progress import Progress
from minitl.transfer import methods as M
from minitl.transfer.metrics import balanced_accuracy
from minitl.transfer.probe import balanced_subsample

METHODS = ("w2v", "gpt:full", "bert:full", "gpt:features", "bert:features", "bow", "scratch:gpt")


def run(n_train=100, seeds=3, out="runs/tour", minutes=3.0, methods=METHODS, dataset="tweets",
        recipes=None, progress=True, max_test=None):
    """Run the tour; returns the results dict (also ``out/results.json``).

    Args:
        minutes: pretraining budget for a missing model, split between GPT and BERT.
        recipes: overrides of ``methods.RECIPES`` (the smoke test uses tiny ones).
        max_test: score on the first ``max_test`` test texts only (smoke runs).
    """
    from minitl import data, hub
    from minitl.report import machine
    t0 = time.perf_counter()
    train, test = data.load(dataset, "train"), data.load(dataset, "test")
    test_texts, test_y = test.texts[:max_test], test.labels[:max_test]
    test_balance = {test.label_names[k]: int(c) for k, c in zip(*np.unique(test_y, return_counts=True))}
    print(f"{dataset}: train {train.class_balance()}, test {test_balance} -> {n_train} labelled examples "
          f"x {seeds} seeds")
    need = sorted({name for m in methods for name in M.needs(m)})
    missing = [n for n in need if not hub.is_built(n)]
    if missing:
        print(f"building the pretrained models not yet cached: {', '.join(missing)} "
              f"(~{minutes:.0f} min; `minitl pretrain all` builds bigger ones)")
    per = max(minutes - 1.0, 0.5) / max(1, len([n for n in missing if n != "w2v"]))
    ctx = M.hub_context(need, recipes=recipes, minutes=per, progress=progress)
    cards = {n: hub.card(n) for n in need}
    for n, c in cards.items():
        what = f"{c.get('steps')} steps" if n != "w2v" else f"{c['recipe']['epochs']} epochs"
        print(f"  {n}: {what}, built in {c['seconds']:.0f} s on {c.get('cpu')}")

    scores = {m: [] for m in methods}
    info = {m: [] for m in methods}
    bar = Progress(total=len(methods) * seeds, desc="tour", unit="fit", disable=not progress)
    for seed in range(seeds):
        idx = balanced_subsample(train.labels, n_train, np.random.default_rng(seed))
        texts, y = [train.texts[i] for i in idx], train.labels[idx]
        for m in methods:
            t = time.perf_counter()
            pred, extra = M.fit_predict(m, ctx, texts, y, test_texts, len(train.label_names), seed=seed)
            scores[m].append(balanced_accuracy(test_y, pred))
            info[m].append({**extra, "seconds": round(time.perf_counter() - t, 2)})
            bar.update(1, method=m, acc=f"{100 * scores[m][-1]:.1f}")
    bar.close()
    rows = [{"method": M.describe(m), "id": m, "kind": M.kind(m), "n_train": n_train,
             "mean": float(np.mean(scores[m])), "std": float(np.std(scores[m])), "seeds": seeds,
             "scores": [float(s) for s in scores[m]],
             "seconds_per_fit": float(np.mean([i["seconds"] for i in info[m]]))} for m in methods]
    result = {"task": f"{dataset} sentiment, {n_train} labelled examples", "metric": "balanced_accuracy",
              "seconds": round(time.perf_counter() - t0, 1), "rows": rows,
              "verdict": verdict(rows), "pretrained": cards, "machine": machine()}
    print_table(result)
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "results.json"), "w") as f:
            json.dump(result, f, indent=1)
        with open(os.path.join(out, "results.md"), "w") as f:
            f.write(markdown(result))
        plot(result, os.path.join(out, "tour.png"))
        print(f"\nwrote {out}/results.json and {out}/tour.png ({result['seconds']:.0f} s in all)")
        print("next: `minitl pretrain all --minutes 30` for better pretrained models, then rerun; "
              "`minitl finetune --model gpt --strategy gradual` to try one strategy; "
              "`python lessons/00_autograd.py` to start the course")
    return result


def verdict(rows):
    """The claim "transfer beats scratch by >= 10 points at this n", checked on these rows."""
    best = {k: max((r for r in rows if r["kind"] == k), key=lambda r: r["mean"], default=None)
            for k in ("transfer", "scratch")}
    if not best["transfer"] or not best["scratch"]:
        return None
    gap = 100 * (best["transfer"]["mean"] - best["scratch"]["mean"])
    return {"best_transfer": best["transfer"]["method"], "best_scratch": best["scratch"]["method"],
            "gap_points": round(gap, 1), "claim_10_points_holds": bool(gap >= 10)}


def markdown(result):
    """The tour as markdown: the models used, the table, and what it says about the claim."""
    from minitl.report import machine
    rows = sorted(result["rows"], key=lambda r: -r["mean"])
    models = []
    for n, c in sorted(result.get("pretrained", {}).items()):
        v = c.get("validation", {})
        if n == "w2v":
            models.append(f"word2vec {c['recipe']['epochs']} epochs over {c['words']:,} words")
        elif "val_perplexity" in v:
            models.append(f"GPT {c['steps']:,} steps (validation perplexity {v['val_perplexity']:.0f})")
        elif "masked_accuracy" in v:
            models.append(f"BERT {c['steps']:,} steps (masked-token accuracy {100 * v['masked_accuracy']:.1f}%)")
        else:
            models.append(f"{n} {c.get('steps')} steps")
    lines = [f"{result['task']}; balanced accuracy on the test split (chance 50%), mean +- std over "
             f"{rows[0]['seeds']} draws of the labels. Pretrained models: {'; '.join(models)}.", "",
             "| method | kind | balanced accuracy | seconds per fit |", "| --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['kind']} | {100 * r['mean']:.1f}% ± {100 * r['std']:.1f} | "
                     f"{r['seconds_per_fit']:.1f} |")
    v, by_id = result.get("verdict"), {r.get("id"): r for r in rows}
    if v:
        lines += ["", f"**The claim \"at {rows[0]['n_train']} labels transfer beats the best from-scratch method "
                  f"by >= 10 points\" {'holds' if v['claim_10_points_holds'] else 'does not hold'} here: "
                  f"{v['gap_points']:+.1f} points** ({v['best_transfer']} vs {v['best_scratch']})."]
    pairs = [("gpt:full", "scratch:gpt", "pretraining is worth {:+.1f} points to the same network "
              "(GPT fine-tuned vs the same architecture from random init)"),
             ("gpt:full", "gpt:features", "fine-tuning all layers vs the same GPT's frozen features: {:+.1f} points"),
             ("bert:full", "bert:features", "for BERT: {:+.1f} points")]
    said = [what.format(100 * (by_id[a]["mean"] - by_id[b]["mean"])) for a, b, what in pairs
            if a in by_id and b in by_id]
    if said:
        lines += ["", "Also measured: " + "; ".join(said) + "."]
    lines += ["", f"`minitl tour` ({result['seconds']:.0f} s in all, on {result.get('machine', machine())})."]
    return "\n".join(lines) + "\n"


def write_readme(result, path="README.md"):
    """Rewrite the ``tour`` block of the markdown file ``path`` with :func:`markdown` (see minitl.report)."""
    from minitl.report import splice
    splice(path, "tour", markdown(result))


def print_table(result):
    print(f"\n{result['task']}: balanced accuracy on the test split (chance 50%), mean +- std over "
          f"{result['rows'][0]['seeds']} seeds")
    print(f"  {'method':<40}{'kind':<10}{'accuracy':>16}{'s/fit':>8}")
    for r in sorted(result["rows"], key=lambda r: -r["mean"]):
        acc = f"{100 * r['mean']:.1f}%" + (f" +- {100 * r['std']:.1f}" if r["seeds"] > 1 else "")
        print(f"  {r['method']:<40}{r['kind']:<10}{acc:>16}{r['seconds_per_fit']:>8.1f}")
    v = result["verdict"]
    if v:
        print(f"best transfer ({v['best_transfer']}) vs best from scratch ({v['best_scratch']}): "
              f"{v['gap_points']:+.1f} points -- the course's '>= 10 points' "
              f"{'holds' if v['claim_10_points_holds'] else 'does not hold'} here")


def plot(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = sorted(result["rows"], key=lambda r: r["mean"])
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.8))
    colors = ["tab:blue" if r["kind"] == "transfer" else "tab:gray" for r in rows]
    y = np.arange(len(rows))
    ax.barh(y, [100 * r["mean"] for r in rows], xerr=[100 * r["std"] for r in rows], color=colors, capsize=3)
    for yi, r in zip(y, rows):                       # each seed as a dot: the spread is visible
        ax.plot([100 * s for s in r["scores"]], [yi] * len(r["scores"]), "k.", ms=4)
    ax.set_yticks(y, [r["method"] for r in rows], fontsize=8)
    ax.axvline(50, color="k", ls="--", lw=1)
    ax.text(50.5, len(rows) - 0.6, "chance", fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"balanced accuracy on the test split (%)\nbars: mean +- std over "
                  f"{rows[0]['seeds']} seeds; dots: each seed")
    ax.set_title(f"{result['task']}: transfer (blue) vs from scratch (grey)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
