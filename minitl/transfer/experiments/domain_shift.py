"""``domain-shift``: does the pretraining text have to resemble the target text?

Claim tested: transfer works best when the pretraining text comes from the
target's domain; text from another domain transfers less, and a model meets
"another language" with little to transfer.  Conditions, each fine-tuned the
same way (``gpt:full``, the same n labelled tweets per seed, test on the test tweets):

| condition         | pretrained on                  | fine-tuned and tested on |
| ----------------- | ------------------------------ | ------------------------ |
| matched           | tweets-text (unlabelled tweets) | tweets                   |
| mismatched        | wiki+news                      | tweets                   |
| foreign           | tweets-text (the matched model) | tweets through a cipher  |
| scratch           | nothing (matched's tokenizer)  | tweets                   |
| scratch-foreign   | nothing (matched's tokenizer)  | tweets through a cipher  |

The "foreign language" is controlled: a fixed bijective substitution of the
letters (``data.transforms.CharSubstitution(seed=0)``, a derangement of a-z,
case, digits and punctuation kept) applied to the labelled tweets, train and
test.  Same structure, same word order, same lengths -- and none of the word
forms the pretrained model and its tokenizer learned.  Its gain is measured
against ``scratch-foreign`` (the same ciphered text, random weights), since the
cipher also changes how the tokenizer cuts the text.

Each pretrained model is a small GPT of the mode's budget (``small_models.BUDGETS``),
cached under ``out/models/``.
"""
from minitl.data.transforms import CharSubstitution
from minitl.transfer.experiments import small_models as S
from minitl.transfer.experiments.base import Experiment

# condition -> (pretraining text, method, ciphered?)
CONDITIONS = {
    "matched": ("tweets-text", "gpt:full", False),
    "mismatched": ("wiki+news", "gpt:full", False),
    "foreign": ("tweets-text", "gpt:full", True),
    "scratch": ("tweets-text", "scratch:gpt", False),
    "scratch-foreign": ("tweets-text", "scratch:gpt", True),
}
CIPHER_SEED = 0


class DomainShift(Experiment):
    name = "domain-shift"
    claim = ("Pretraining on text from the target's domain transfers best; text from another domain "
             "transfers less, and a different language (same structure, other words) next to nothing.")

    def cells(self, mode, seeds):
        return [{"condition": c, "model": S.budget_tag(mode), "n_train": n, "seed": s}
                for n in S.N_TRAIN[mode] for c in CONDITIONS for s in range(seeds)]

    def run_cell(self, cell, env):
        text, method, ciphered = CONDITIONS[cell["condition"]]
        path, card = S.pretrained_gpt(env, text.replace("+", "-"), lambda: S.documents(env, text))
        res = S.finetune_accuracy(env, path, method, cell["n_train"], cell["seed"],
                                  transform=CharSubstitution(CIPHER_SEED) if ciphered else None)
        return {**res, "pretrain_seconds": card["seconds"], "pretrain_bytes": card["train_bytes"]}

    def summarize(self, table, mode):
        parts, checks = [], []
        for n in sorted({r["n_train"] for r in table}):
            row = {r["condition"]: r for r in table if r["n_train"] == n}
            for c, r in row.items():
                text, method, ciphered = CONDITIONS[c]
                r["pretrained on"] = "nothing (random init)" if method.startswith("scratch") else text
                r["tested on"] = "ciphered tweets" if ciphered else "tweets"
                base = row["scratch-foreign" if ciphered else "scratch"]
                r["gain (points)"] = round(100 * (r["accuracy"] - base["accuracy"]), 2)
            m, mm, f = row["matched"], row["mismatched"], row["foreign"]
            sc, sf = row["scratch"], row["scratch-foreign"]
            gain = m["gain (points)"] > 100 * S.noise(m, sc)
            domain = m["accuracy"] - mm["accuracy"] > S.noise(m, mm)
            foreign = m["gain (points)"] - f["gain (points)"] > 100 * S.noise(m, sc, f, sf)
            checks.append((gain, domain, foreign))
            parts.append(
                f"at {n} labels: tweets-pretrained {100 * m['accuracy']:.1f}% vs scratch {100 * sc['accuracy']:.1f}% "
                f"({m['gain (points)']:+.1f} points), wiki+news-pretrained {100 * mm['accuracy']:.1f}% "
                f"({mm['gain (points)']:+.1f}), ciphered tweets on the tweets model {100 * f['accuracy']:.1f}% vs "
                f"their scratch {100 * sf['accuracy']:.1f}% ({f['gain (points)']:+.1f}); std over seeds up to "
                f"{100 * S.noise(m, mm, f, sc, sf):.1f} points; the cipher takes a tweet from "
                f"{m['tokens_per_text']:.0f} to {f['tokens_per_text']:.0f} tokens")
        if not any(g for g, _, _ in checks):
            note = "matched pretraining gives no gain over scratch beyond the seeds' std at this budget"
        else:
            note = ("matched beats mismatched beyond the std: " + ("yes" if all(d for _, d, _ in checks) else "no")
                    + "; the cipher removes the gain beyond the std: "
                    + ("yes" if all(f for _, _, f in checks) else "no"))
        verdict = ("holds" if all(all(c) for c in checks) else
                   "holds in part" if any(g and (d or f) for g, d, f in checks) else "does not hold at this scale")
        return {"verdict": verdict, "measured": "; ".join(parts) + f" ({note})",
                "columns": ["n_train", "condition", "pretrained on", "tested on", "accuracy", "std", "seeds",
                            "gain (points)", "tokens_per_text"]}

    def plot(self, table, path):
        S.bar_plot(table, path, "condition", "Domain shift: the same fine-tuning after pretraining on tweets,\n"
                   "on wiki+news, and on tweets read through a cipher (+ random-init controls)",
                   groups={"scratch": "tab:gray", "scratch-foreign": "tab:gray", "foreign": "tab:orange",
                           "mismatched": "tab:green"})
