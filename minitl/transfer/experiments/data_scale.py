"""``data-scale``: downstream accuracy vs how much text the model was pretrained on.

Claim tested: pretraining's value grows with its data -- the notes contrast
"800 GB of pretraining text vs 10 KB of labels", a ratio they give as 80,000x
(it is 800e9 / 10e3 = 80,000,000x).  Here GPTs of the same size are pretrained
with the same step budget (so the same number of tokens *seen*) on 1%, 10% and
100% of wiki+news+tweets-text (each source cut to that share of its bytes,
``data.transforms.take_fraction``, so the mix is the same; the smaller sets are
subsets of the larger and are seen for more epochs), then fine-tuned the same
way (``gpt:full``) on the same n labelled tweets per seed; ``scratch`` (fraction
0) is the architecture from random init with the 100% model's tokenizer.  Each
model trains its own BPE on its own text, as a real pipeline would: on 1% (~60 KB)
the BPE runs out of merges at ~3,200 tokens instead of 8,192, so that model's
embedding table is smaller (the transformer body is the same).

``measured`` also states this run's real ratio of pretraining text to labelled
text, in bytes and in tokens (corpus tokens, and tokens seen by the optimizer).
"""
from minitl.data.transforms import nbytes, take_fraction
from minitl.transfer.experiments import small_models as S
from minitl.transfer.experiments.base import Experiment

CORPUS = "wiki+news+tweets-text"
FRACTIONS = {"smoke": [0.1, 1.0], "quick": [0.01, 0.1, 1.0], "full": [0.01, 0.1, 1.0]}
NOTES = (800e9, 10e3)        # the notes' bytes of pretraining text and of labels


def fraction_docs(env, fraction):
    return [d for part in CORPUS.split("+") for d in take_fraction(S.documents(env, part), fraction, seed=0)]


class DataScale(Experiment):
    name = "data-scale"
    claim = ("More pretraining text gives a better model downstream (the notes: ~800 GB of pretraining text "
             "behind ~10 KB of labels).")

    def cells(self, mode, seeds):
        return [{"fraction": f, "model": S.budget_tag(mode), "n_train": n, "seed": s}
                for n in S.N_TRAIN[mode] for f in [0.0] + FRACTIONS[mode] for s in range(seeds)]

    def run_cell(self, cell, env):
        f = cell["fraction"]
        share = f or 1.0                              # scratch: the 100% model's shape and tokenizer
        path, card = S.pretrained_gpt(env, f"mix-{share:g}", lambda: fraction_docs(env, share))
        res = S.finetune_accuracy(env, path, "gpt:full" if f else "scratch:gpt", cell["n_train"], cell["seed"])
        texts, _ = S.labelled_subset(env, cell["n_train"], cell["seed"])
        out = {**res, "labelled_bytes": nbytes(texts), "labelled_tokens": res["tokens_per_text"] * len(texts)}
        if f:
            out.update(pretrain_bytes=card["train_bytes"], pretrain_tokens=card["train_tokens"],
                       tokens_seen=card["tokens_seen"], pretrain_seconds=card["seconds"], vocab_size=card["vocab_size"])
        return out

    def summarize(self, table, mode):
        parts, verdicts = [], []
        for n in sorted({r["n_train"] for r in table}):
            rows = sorted((r for r in table if r["n_train"] == n), key=lambda r: r["fraction"])
            sc, pre = rows[0], rows[1:]
            for r in rows:
                r["pretrained on"] = f"{100 * r['fraction']:g}% of {CORPUS}" if r["fraction"] else "nothing (scratch)"
                r["gain (points)"] = round(100 * (r["accuracy"] - sc["accuracy"]), 2)
            lo, hi = pre[0], pre[-1]
            grows = hi["accuracy"] - lo["accuracy"] > S.noise(lo, hi)
            monotone = all(b["accuracy"] - a["accuracy"] > -S.noise(a, b) for a, b in zip(pre, pre[1:]))
            verdicts.append("holds" if grows and monotone else "holds in part" if grows else "does not hold")
            accs = ", ".join(f"{100 * r['fraction']:g}%: {100 * r['accuracy']:.1f}%" for r in pre)
            parts.append(f"at {n} labels: {accs} vs scratch {100 * sc['accuracy']:.1f}% (std over seeds up to "
                         f"{100 * S.noise(*rows):.1f} points)")
        full = max(table, key=lambda r: (r["fraction"], -r["n_train"]))
        lab = min((r for r in table if r["fraction"] == full["fraction"]), key=lambda r: r["n_train"])
        ratio_b = full["pretrain_bytes"] / lab["labelled_bytes"]
        ratio_t = full["pretrain_tokens"] / lab["labelled_tokens"]
        seen_t = full["tokens_seen"] / lab["labelled_tokens"]
        parts.append(f"this run's ratio at 100%: {full['pretrain_bytes'] / 1e6:.2f} MB of pretraining text vs "
                     f"{lab['labelled_bytes'] / 1e3:.1f} KB of labelled text ({lab['n_train']} tweets) = "
                     f"{ratio_b:,.0f}x in bytes, {full['pretrain_tokens']:,.0f} vs {lab['labelled_tokens']:,.0f} "
                     f"tokens = {ratio_t:,.0f}x ({full['tokens_seen']:,.0f} tokens seen in pretraining = "
                     f"{seen_t:,.0f}x); the notes' 800 GB vs 10 KB is {NOTES[0] / NOTES[1]:,.0f}x "
                     f"(not 80,000x), {NOTES[0] / NOTES[1] / ratio_b:,.0f} times this run's")
        verdict = ("holds" if all(v == "holds" for v in verdicts) else
                   "holds in part" if any(v != "does not hold" for v in verdicts) else "does not hold at this scale")
        return {"verdict": verdict, "measured": "; ".join(parts), "ratio_bytes": ratio_b, "ratio_tokens": ratio_t,
                "columns": ["n_train", "fraction", "pretrained on", "pretrain_bytes", "pretrain_tokens", "vocab_size",
                            "accuracy", "std", "seeds", "gain (points)"]}

    def plot(self, table, path):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        for n in sorted({r["n_train"] for r in table}):
            rows = sorted((r for r in table if r["n_train"] == n and r["fraction"]), key=lambda r: r["fraction"])
            line = ax.errorbar([r["pretrain_bytes"] for r in rows], [100 * r["accuracy"] for r in rows],
                               yerr=[100 * r["std"] for r in rows], marker="o", capsize=3,
                               label=f"{n} labels: pretrained")
            sc = next(r for r in table if r["n_train"] == n and not r["fraction"])
            ax.axhspan(100 * (sc["accuracy"] - sc["std"]), 100 * (sc["accuracy"] + sc["std"]), alpha=0.15,
                       color=line[0].get_color(), label=f"{n} labels: scratch (+- std)")
            for r in rows:
                ax.annotate(f"{100 * r['fraction']:g}%", (r["pretrain_bytes"], 100 * r["accuracy"]), fontsize=7,
                            xytext=(3, -10), textcoords="offset points")
        ax.axhline(50, color="grey", lw=1, ls=":")
        ax.set_xscale("log")
        ax.set_ylim(40, 100)
        ax.set_xlabel("pretraining text, bytes (log; same steps and model size for every point)")
        ax.set_ylabel("balanced accuracy, test (%)")
        ax.set_title("Data scale: downstream accuracy vs pretraining corpus size", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
