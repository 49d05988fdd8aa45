"""Small GPTs pretrained per condition, shared by ``domain-shift``, ``pretext-mismatch``, ``data-scale``.

Those experiments change the *pretraining text* and compare what each model
transfers, so each condition needs its own model.  Every one is pretrained with
the hub's GPT recipe (lr, warmup, batch 32) at the mode's size and step budget
(``BUDGETS``), so conditions differ in their text only: same size, same number
of steps, same tokens seen.  A model is written to ``out/models/<condition>-<budget>/``
(``model/`` + ``card.json``) and reused by every later run; it is built in a
``.building`` folder and renamed into place, so an interrupted build is redone,
never half-read.  The BPE depends only on the text and the vocabulary size, so
it is kept under ``out/models/tokenizers/<hash of both>.json`` and a model of
another budget on the same text starts from it instead of training it again.

    path, card = pretrained_gpt(env, "tweets", lambda: documents(env, "tweets-text"))
    finetune_accuracy(env, path, "gpt:full", n=100, seed=0)     # {"accuracy", "steps", ...}
"""
import hashlib
import json
import os
import shutil
import time
from dataclasses import replace

import numpy as np

from minitl.data.transforms import nbytes, take_fraction
from minitl.transfer import methods as M
from minitl.transfer.experiments.base import SMOKE_RECIPES
from minitl.transfer.finetune import finetune
from minitl.transfer.metrics import balanced_accuracy
from minitl.transfer.probe import balanced_subsample

# Per mode: model preset, pretraining steps, BPE size (None: the preset's), corpus cap in bytes.
# full: the step budget of the hub's GPT (`minitl pretrain all --gpt-steps 1200`), the model the
# learning-curve, strategies and forgetting experiments fine-tune, so every condition's model has had
# the same training as that one (3,000 steps each would take ~2 h of pretraining on 2 cores).
BUDGETS = {
    "smoke": {"preset": "nano", "steps": 20, "vocab_size": 400, "max_bytes": 300_000},
    "quick": {"preset": "micro", "steps": 400, "vocab_size": None, "max_bytes": None},
    "full": {"preset": "micro", "steps": 1200, "vocab_size": None, "max_bytes": None},
}
N_TRAIN = {"smoke": [40], "quick": [100], "full": [100, 1000]}    # labelled tweets per fine-tuning
EXAMPLES_SEEN = 6000      # as learning-curve: epochs = min(recipe, ceil(6000 / n)) at large n


def budget_tag(mode):
    """"nano-1000steps": the part of a model's folder name (and of each cell) that says its budget."""
    b = BUDGETS[mode]
    return f"{b['preset']}-{b['steps']}steps" + (f"-v{b['vocab_size']}" if b["vocab_size"] else "")


def documents(env, spec):
    """Training documents of corpus ``spec`` in a fixed order (smoke: cut to the budget's bytes)."""
    import minitl

    def build():
        docs = minitl.data.corpus(spec, "train")
        cap = BUDGETS[env.mode]["max_bytes"]
        return take_fraction(docs, min(1.0, cap / nbytes(docs)) if cap else 1.0, seed=0)
    return env.memo(("documents", spec), build)


def pretrained_gpt(env, condition, make_docs):
    """The GPT pretrained on ``make_docs()`` at the mode's budget: (model dir, card), built once.

    Args:
        env: the experiment's Env (``env.out`` holds the cache, ``env.mode`` the budget).
        condition: a short name for the pretraining text ("tweets-text", "shuffled-...", "mix-0.01").
        make_docs: () -> list of training documents (called only when the model is built).
    Returns:
        (path of a from_pretrained directory, card dict with seconds, train_bytes, train_tokens, ...).
    """
    from minitl import hub
    from minitl.pretrain import pretrain
    folder = os.path.join(env.out, "models", f"{condition}-{budget_tag(env.mode)}")
    card_file = os.path.join(folder, "card.json")
    if os.path.exists(card_file):
        with open(card_file) as f:
            return os.path.join(folder, "model"), json.load(f)
    b = BUDGETS[env.mode]
    work = folder + ".building"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    docs = [d for d in make_docs() if d.strip()]
    corpus = os.path.join(work, "corpus.jsonl")
    with open(corpus, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"text": d}) + "\n")
    n_train_docs = len(docs) - max(1, len(docs) // 20)      # pretrain keeps the last 5% of a file's documents
    tok_cache = tokenizer_path(env, docs, b)
    cfg = replace(hub.RECIPES["gpt"], corpus=corpus, preset=b["preset"], steps=b["steps"],
                  vocab_size=b["vocab_size"], warmup=min(hub.RECIPES["gpt"].warmup, max(1, b["steps"] // 10)),
                  tokenizer=tok_cache if os.path.exists(tok_cache) else None, progress=False)
    print(f"pretraining {condition} ({budget_tag(env.mode)}) on {nbytes(docs):,} bytes of text...")
    t0 = time.perf_counter()
    run = pretrain(cfg, os.path.join(work, "run"))
    if run["interrupted"]:                       # Ctrl-C: stop the experiment; the next run rebuilds it
        raise KeyboardInterrupt(f"pretraining {condition} interrupted; {work} is rebuilt on the next run")
    model = run["model"]
    card = {"condition": condition, "preset": b["preset"], "steps": run["steps"],
            "seconds": round(time.perf_counter() - t0, 1), "train_documents": n_train_docs,
            "train_bytes": nbytes(docs[:n_train_docs]), "train_tokens": run["train_tokens"],
            "tokens_seen": run["steps"] * cfg.batch_size * model.config.block_size,
            "vocab_size": model.config.vocab_size, "val_loss": (run["validation"] or {}).get("val_loss")}
    if not os.path.exists(tok_cache):
        os.makedirs(os.path.dirname(tok_cache), exist_ok=True)
        shutil.copyfile(os.path.join(work, "run", "tokenizer.json"), tok_cache + ".tmp")
        os.replace(tok_cache + ".tmp", tok_cache)
    os.rename(run["model_dir"], os.path.join(work, "model"))
    shutil.rmtree(os.path.join(work, "run"), ignore_errors=True)     # checkpoint + id caches
    os.remove(corpus)
    with open(os.path.join(work, "card.json"), "w") as f:
        json.dump(card, f, indent=1)
    shutil.rmtree(folder, ignore_errors=True)
    os.rename(work, folder)
    return os.path.join(folder, "model"), card


def tokenizer_path(env, docs, budget):
    """Where the BPE for ``docs`` at ``budget``'s vocabulary size is kept (named by a hash of both)."""
    from minitl.models.blocks import PRESETS
    vocab = budget["vocab_size"] or PRESETS[budget["preset"]]["vocab_size"]
    h = hashlib.sha256(str(vocab).encode())
    for d in docs:
        h.update(d.encode("utf-8", "surrogatepass") + b"\0")
    return os.path.join(env.out, "models", "tokenizers", f"{h.hexdigest()[:16]}.json")


def labelled_subset(env, n, seed):
    """(texts, labels) of ``n`` class-balanced training tweets chosen by ``seed`` (the same for every method)."""
    train = env.dataset()["train"]
    idx = balanced_subsample(train.labels, n, np.random.default_rng(seed))
    return [train.texts[i] for i in idx], train.labels[idx]


def recipes(mode, n):
    """The methods' fine-tuning recipes, epochs capped so a large n sees ~EXAMPLES_SEEN examples."""
    base = SMOKE_RECIPES() if mode == "smoke" else dict(M.RECIPES)
    return {k: replace(v, epochs=max(1, min(v.epochs, -(-EXAMPLES_SEEN // n)))) for k, v in base.items()}


def finetune_accuracy(env, model_dir, method, n, seed, transform=None):
    """Balanced test accuracy of ``method`` ("gpt:full" or "scratch:gpt", the model at ``model_dir``).

    Args:
        transform: applied to every training and test text (e.g. a CharSubstitution).
    Returns:
        {"accuracy", "steps", "finetune_seconds", "tokens_per_text", "truncated"}: the last two say
        how the model's tokenizer cuts the training texts (mean tokens, share longer than the block).
    """
    texts, y = labelled_subset(env, n, seed)
    test_x, test_y = env.test_split()
    if transform is not None:
        texts, test_x = [transform(t) for t in texts], [transform(t) for t in test_x]
    ctx = M.Context(backbones={"gpt": model_dir}, recipes=recipes(env.mode, n))
    clf, recipe = M.classifier(ctx, method, 2, seed=seed)          # what M.fit_predict runs, step by step
    lengths = np.array([len(s) for s in clf.encode(texts, max_length=10 ** 6)])
    res = finetune(clf, texts, y, recipe)
    check_complete(res, len(texts))
    return {"accuracy": balanced_accuracy(test_y, clf.predict(list(test_x))), "steps": res.steps,
            "finetune_seconds": round(res.seconds, 2), "tokens_per_text": float(lengths.mean()),
            "truncated": float(np.mean(lengths > clf.backbone.config.block_size))}


def check_complete(res, n):
    """Raise KeyboardInterrupt when a fine-tuning stopped early (the Trainer turns Ctrl-C into a clean stop,
    and a cell whose training was cut short must not be cached as a result)."""
    want = res.config.epochs * -(-n // res.config.batch_size)
    if res.config.strategy != "features" and res.steps < want:
        raise KeyboardInterrupt(f"fine-tuning stopped at step {res.steps} of {want}; the cell is not cached")


def noise(*rows):
    """The larger std over seeds of the rows compared: a difference below it is not a difference."""
    return max(r["std"] for r in rows)


def bar_plot(table, path, label, title, groups=None):
    """Balanced test accuracy per condition (+- std over seeds), one panel per n_train."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ns = sorted({r["n_train"] for r in table})
    fig, axes = plt.subplots(1, len(ns), figsize=(4.2 * len(ns) + 1.5, 0.45 * len(table) / len(ns) + 1.8),
                             squeeze=False)
    for ax, n in zip(axes[0], ns):
        rows = [r for r in table if r["n_train"] == n]
        y = range(len(rows))
        colors = [(groups or {}).get(r[label], "tab:blue") for r in rows]
        ax.barh(list(y), [100 * r["accuracy"] for r in rows], xerr=[100 * r["std"] for r in rows], capsize=3,
                color=colors)
        ax.axvline(50, color="k", ls="--", lw=1)
        ax.set_yticks(list(y), [str(r[label]) for r in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("balanced accuracy, test (%)\n(+- std over seeds; dashed: chance)", fontsize=8)
        ax.set_title(f"{n} labelled tweets", fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
