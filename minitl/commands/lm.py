"""``minitl pretrain gpt|bert``, ``minitl generate``, ``minitl fill-mask``, ``minitl evaluate``.

    minitl pretrain gpt --corpus wiki+news+tweets-text --preset micro --steps 3000 --out runs/gpt
    minitl generate runs/gpt "The history of"
    minitl pretrain bert --corpus wiki --preset micro --steps 3000 --out runs/bert
    minitl fill-mask runs/bert "The capital of France is [MASK]."
    minitl evaluate runs/gpt --corpus wiki
    minitl probe runs/gpt --labels 100 1000     # frozen features vs an untrained twin

A run directory holds ``tokenizer.json`` and the encoded corpus (written first,
so ``--resume`` rebuilds exactly the same data), ``checkpoint/`` (for resume),
``metrics.jsonl`` and, at the end, ``model/`` -- a ``from_pretrained``
directory.  Ctrl-C writes a checkpoint; run the same command with ``--resume``.
"""
import argparse
import json
import os

from minitl.commands._args import nonnegative_float, nonnegative_int, positive_float, positive_int
from minitl.transfer.probe import probe_scores  # noqa: F401  (the library function)


PRESET_NAMES = ("nano", "micro", "mini", "deep")   # minitl.models.blocks.PRESETS (not imported: --help stays instant)


def register(subparsers, pretrain_subparsers):
    for kind in ("gpt", "bert"):
        what = "a tiny GPT (next-token prediction)" if kind == "gpt" else "a tiny BERT (masked tokens)"
        p = pretrain_subparsers.add_parser(
            kind, help=f"pretrain {what}",
            description=f"Pretrain {what} into a run directory; writes metrics.jsonl, loss.png (train and "
                        "validation loss, redrawn at each evaluation) and, at the end, model/.",
            epilog="The presets' sizes (layers, heads, width, parameters): `minitl presets`.")
        p.add_argument("--corpus", default="wiki",
                       help="dataset names joined by '+' (see `minitl datasets`), or a text/CSV file; the "
                            "README's examples and the cached default models use wiki+news+tweets-text")
        p.add_argument("--preset", default="micro", choices=PRESET_NAMES,
                       help="model size; `minitl presets` lists each one's layers, heads, width and parameters")
        p.add_argument("--steps", type=positive_int, default=3000, help="optimizer steps")
        p.add_argument("--out", required=True, help="run directory (required)")
        p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
        p.add_argument("--batch-size", type=positive_int, default=32, help="windows per step")
        p.add_argument("--lr", type=positive_float, default=2e-3, help="peak learning rate (AdamW, cosine decay)")
        p.add_argument("--warmup", type=nonnegative_int, default=100, help="linear warm-up steps")
        p.add_argument("--vocab-size", type=positive_int, default=None,
                       help="BPE vocabulary size (default: the preset's, 512 for nano, 8192 otherwise)")
        p.add_argument("--eval-every", type=nonnegative_int, default=500,
                       help="steps between validation evaluations (0: only at the end)")
        p.add_argument("--ckpt-every", type=nonnegative_int, default=500,
                       help="steps between checkpoints (0: only at the end)")
        p.add_argument("--seed", type=int, default=0, help="random seed (initial weights, batches, masks)")
        p.add_argument("--max-minutes", type=nonnegative_float, default=0.0,
                       help="stop training (evaluate, save) after this many minutes, even before --steps (0: no limit)")
        p.add_argument("--init", default=None, metavar="DIR",
                       help="continue pretraining this from_pretrained directory (its tokenizer too) on "
                            "--corpus: ULMFiT's target-domain LM fine-tuning")
        p.set_defaults(func=pretrain, kind=kind)
    g = subparsers.add_parser("generate", help="sample text from a pretrained GPT")
    g.add_argument("dir", help="a run directory of `minitl pretrain gpt`, or its model/")
    g.add_argument("prompt", help="the text to continue")
    g.add_argument("--max-new-tokens", type=positive_int, default=40, help="tokens to sample")
    g.add_argument("--temperature", type=nonnegative_float, default=0.8,
                   help="softmax temperature (lower: safer, 0: always the most likely token)")
    g.add_argument("--top-k", type=positive_int, default=40, help="sample among the k most likely tokens")
    g.add_argument("--num-samples", type=positive_int, default=1, help="independent continuations")
    g.add_argument("--seed", type=int, default=0, help="random seed of the sampling")
    g.set_defaults(func=generate)
    f = subparsers.add_parser("fill-mask", help="top-k fillers for [MASK] from a pretrained BERT")
    f.add_argument("dir", help="a run directory of `minitl pretrain bert`, or its model/")
    f.add_argument("text", help="a sentence with one or more [MASK]")
    f.add_argument("--top-k", type=positive_int, default=5, help="fillers shown per [MASK]")
    f.set_defaults(func=fill_mask)
    e = subparsers.add_parser("evaluate", help="a pretrained model (GPT, BERT, ELMo, T5) on a corpus's validation "
                                               "split, or a classifier with --data, each beside its baseline")
    e.add_argument("dir", help="a run directory or from_pretrained directory (GPT, BERT, ELMo, T5, classifier)")
    e.add_argument("--corpus", default="wiki", help="the corpus whose validation split is scored (a language model)")
    e.add_argument("--windows", type=positive_int, default=None,
                   help="score only the first N windows (default: all of them); training's evaluations in "
                        "metrics.jsonl use the first 200 (GPT) / 400 (BERT), so this reproduces them")
    e.add_argument("--data", default=None, help="a classifier: tweets | tweets3 | movie200 | sst2 | imdb | FILE")
    e.add_argument("--split", default=None, help="a classifier: the split to score (default: test)")
    e.add_argument("--text-column", default="text", help="a classifier with a CSV/JSONL --data: the text column")
    e.add_argument("--label-column", default="label", help="a classifier with a CSV/JSONL --data: the label column")
    e.add_argument("--seed", type=int, default=1234, help="the masking seed (BERT; training's evaluations use 1234)")
    e.set_defaults(func=evaluate)
    pr = subparsers.add_parser("probe", help="linear probe on frozen features (tweets) vs an untrained twin")
    pr.add_argument("dir", help="a GPT, BERT, ELMo or T5 run directory or from_pretrained directory")
    pr.add_argument("--dataset", default="tweets", help="labelled dataset (its train split to fit, test to score)")
    pr.add_argument("--labels", type=positive_int, nargs="+", default=[100, 1000],
                    help="labelled training examples per probe (class-balanced)")
    pr.add_argument("--draws", type=positive_int, default=3, help="random labelled subsets per label count")
    pr.add_argument("--seed", type=int, default=0, help="random seed (the subsets, the untrained twin)")
    pr.set_defaults(func=probe)


# -- pretrain --------------------------------------------------------------------
def pretrain(args):
    from minitl.pretrain import PretrainConfig, pretrain as run
    cfg = PretrainConfig(kind=args.kind, corpus=args.corpus, preset=args.preset, steps=args.steps,
                         batch_size=args.batch_size, lr=args.lr, warmup=args.warmup, vocab_size=args.vocab_size,
                         eval_every=args.eval_every, ckpt_every=args.ckpt_every, seed=args.seed,
                         max_minutes=args.max_minutes, init=args.init)
    result = run(cfg, args.out, resume=args.resume)
    return 130 if result["interrupted"] else 0


# -- using a pretrained model ------------------------------------------------------
LOADABLE = ("GPT", "BERT", "ELMo", "T5")


def model_kind(path):
    """(directory, the model's class name) of a run or from_pretrained directory: meta.json's
    ``model`` (GPT, BERT, ELMo, T5, SequenceClassifier) or config.json's (``word2vec``)."""
    from minitl.commands.finetune import model_path
    d = model_path(path)
    if not os.path.isdir(d):
        raise FileNotFoundError(f"{d}: no such directory (give a run directory or a from_pretrained directory)")
    for name in ("meta.json", "config.json"):
        f = os.path.join(d, name)
        if os.path.exists(f):
            with open(f, encoding="utf-8") as fh:
                meta = json.load(fh)
            kind = meta.get("model")
            if kind == "T5" and meta.get("task") == "text2text":
                return d, "Text2TextClassifier"          # a T5 fine-tuned to write label names
            if kind:
                return d, kind
    raise ValueError(f"{d}: neither meta.json nor config.json names a model (not a checkpoint directory "
                     f"of minitl; expected one of {', '.join(LOADABLE)})")


def _load(path, want):
    """The model in ``path``: ``want`` is one class name, a tuple of them, or None for any of LOADABLE."""
    d, name = model_kind(path)
    allowed = (want,) if isinstance(want, str) else tuple(want or LOADABLE)
    if name not in allowed:
        hint = {"word2vec": " (word vectors: `minitl neighbors` looks them up, `minitl demo` probes them)",
                "SequenceClassifier": " (a fine-tuned classifier: `minitl evaluate DIR --data D` or `minitl predict`)"}
        raise ValueError(f"{d} holds a {name} model{hint.get(name, '')}; this command needs "
                         f"{' or '.join(allowed)}")
    if name in ("ELMo", "T5"):
        from minitl.models.elmo import ELMo
        from minitl.models.t5 import T5
        return {"ELMo": ELMo, "T5": T5}[name].from_pretrained(d)
    from minitl.models import BERT, GPT
    return {"GPT": GPT, "BERT": BERT}[name].from_pretrained(d)


def generate(args):
    import minitl
    model = _load(args.dir, "GPT")
    minitl.manual_seed(args.seed)
    for i in range(args.num_samples):
        text = model.generate_text(args.prompt, args.max_new_tokens, args.temperature, args.top_k)
        print(text if args.num_samples == 1 else f"[{i + 1}] {text}")
    return 0


def fill_mask(args):
    model = _load(args.dir, "BERT")
    res = model.fill_mask(args.text, top_k=args.top_k)
    for i, rows in enumerate([res] if res and isinstance(res[0], tuple) else res):
        print(f"[MASK] #{i + 1}: " + ", ".join(f"{t!r} {p:.3f}" for t, p in rows))
    return 0


# (metric, baseline, True when higher is better, what the baseline is); the baseline's key may be "a.b"
BASELINES = [
    ("val_perplexity", "unigram_perplexity", False, "the add-one unigram model of the training split"),
    ("mlm_perplexity", "unigram_perplexity", False, "the add-one unigram model of the training split"),
    ("masked_accuracy", "most_frequent_accuracy", True, "always guessing the most frequent token"),
    ("content_accuracy", "most_frequent_content_accuracy", True, "always guessing the most frequent span token"),
    ("balanced_accuracy", "majority.balanced_accuracy", True, "always guessing the majority class"),
]


def _get(res, key):
    for part in key.split("."):
        res = res.get(part) if isinstance(res, dict) else None
    return res


def verdicts(res):
    """One sentence per metric in ``res`` that has its baseline there: above or below it, and by how much."""
    out = []
    for metric, base, higher, what in BASELINES:
        m, b = _get(res, metric), _get(res, base)
        if not isinstance(m, (int, float)) or not isinstance(b, (int, float)):
            continue
        pct = "accuracy" in metric
        show = (lambda v: f"{100 * v:.2f}%") if pct else (lambda v: f"{v:.1f}")
        name = metric.replace("val_", "validation ").replace("mlm_", "MLM ").replace("_", " ")
        if (m > b) == higher and m != b:
            out.append(f"{name} {show(m)} beats the baseline, {what} ({show(b)}).")
        else:
            out.append(f"BELOW BASELINE: {name} {show(m)} is no better than {what} ({show(b)}): the model "
                       "has not learned more than that yet (train longer, or check the learning rate).")
    return out


class _HoldLastLine:
    """A stdout that passes every line through at once except the latest, which it holds back."""

    def __init__(self, out):
        self.out, self.partial, self.last = out, "", None

    def write(self, s):
        *lines, self.partial = (self.partial + s).split("\n")
        for line in lines:
            if self.last is not None:
                self.out.write(self.last + "\n")
            self.last = line
        return len(s)

    def flush(self):
        self.out.flush()

    def finish(self):
        """Write every line but the last, and return the last (a line without its newline counts)."""
        if self.partial:
            if self.last is not None:
                self.out.write(self.last + "\n")
            self.last, self.partial = self.partial, ""
        return self.last


def _with_verdicts(fn, args):
    """Run a command that ends by printing its results as one JSON line; print the verdicts in words
    before that line, so the JSON stays the last line (what scripts read).  Everything else the
    command prints comes through as it is printed."""
    import contextlib
    import sys
    hold = _HoldLastLine(sys.stdout)
    with contextlib.redirect_stdout(hold):
        code = fn(args)
    last = hold.finish()
    try:
        res = json.loads(last) if last else None
    except json.JSONDecodeError:
        res = None
    if res is None and last:
        print(last)
    for line in verdicts(res if isinstance(res, dict) else {}):
        print(line)
    if res is not None:
        print(last)
    return code


def evaluate(args):
    from minitl.commands.finetune import evaluate_classifier
    d, kind = model_kind(args.dir)
    if kind in ("SequenceClassifier", "Text2TextClassifier") or args.data:
        if not args.data:
            raise ValueError(f"{args.dir} holds a classifier: say which labelled data to score with --data")
        return _with_verdicts(evaluate_classifier, args)
    if kind in ("ELMo", "T5"):
        from minitl.commands import elmo
        if args.windows is not None:
            raise ValueError(f"evaluate: --windows is for GPT and BERT; {d} holds a {kind} model")
        return _with_verdicts(elmo.evaluate if kind == "ELMo" else elmo.t5_evaluate, args)
    model = _load(args.dir, ("GPT", "BERT"))
    res = lm_scores(model, args.corpus, args.windows, args.seed)
    _print_scores(res, getattr(model, "meta", None) or {})
    for line in verdicts(res):
        print(line)
    print(json.dumps(res))
    return 0


def lm_scores(model, corpus, windows=None, seed=1234):
    """A GPT's perplexity or a BERT's masked-token scores on ``corpus``'s validation split, with baselines.

    ``windows``: only the first that many windows of block_size tokens (None: all).  Training's
    evaluations (``minitl.pretrain.EVAL_WINDOWS``, masking seed 1234) read the first 200 / 400.
    """
    import numpy as np
    from minitl.models.gpt import evaluate_lm
    from minitl.pretrain import corpus_ids, evaluate_mlm, mlm_eval_batches, unigram_counts, unigram_logp
    tok, V, T = model.tokenizer, model.config.vocab_size, model.config.block_size
    train_ids = corpus_ids(tok, corpus, "train")
    val_ids = corpus_ids(tok, corpus, "validation")
    logp = unigram_logp(train_ids, V)                                   # add-one unigram model
    res = {"model": type(model).__name__, "corpus": corpus, "validation_tokens": int(len(val_ids))}
    if type(model).__name__ == "GPT":
        res["windows_available"] = int((len(val_ids) - 1) // T)
        ids = val_ids if windows is None else val_ids[:windows * T + 1]
        nll, n = evaluate_lm(model, ids)
        targets = ids[1:1 + ((len(ids) - 1) // T) * T]                  # exactly the tokens GPT predicted
        res.update(windows=int((len(ids) - 1) // T), val_loss=float(nll / n), val_perplexity=float(np.exp(nll / n)),
                   unigram_perplexity=float(np.exp(-logp[targets].mean())), predicted_tokens=int(n))
    else:
        res["windows_available"] = int(len(val_ids) // (T - 2))             # bert_windows' count
        batches = mlm_eval_batches(tok, val_ids, T, seed, limit=windows)
        res["windows"] = int(sum(len(x) for x, _ in batches))
        res.update(evaluate_mlm(model, batches))
        y = np.concatenate([lab[lab != -100] for _, lab in batches])
        counts = unigram_counts(train_ids, V)
        counts[list(tok.all_special_ids)] = 0
        top = int(counts.argmax())
        res.update(most_frequent_token=tok.decode([top]), most_frequent_accuracy=float((y == top).mean()),
                   unigram_perplexity=float(np.exp(-logp[y].mean())), masked_tokens=int(len(y)), mask_seed=seed)
    return res


def _print_scores(res, meta):
    """The scores, each beside its baseline, and how they relate to training's last evaluation."""
    print(f"{res['model']} on the {res['corpus']} validation split ({res['validation_tokens']:,} tokens; "
          f"{res['windows']} of its {res['windows_available']} windows scored)")
    if res["model"] == "GPT":
        rows = [("perplexity", f"{res['val_perplexity']:.2f}",
                 f"{res['unigram_perplexity']:.2f} (add-one unigram model, same {res['predicted_tokens']:,} targets)")]
    else:
        rows = [("masked accuracy", f"{100 * res['masked_accuracy']:.2f}%",
                 f"{100 * res['most_frequent_accuracy']:.2f}% (always {res['most_frequent_token']!r}; "
                 f"{res['masked_tokens']:,} masked tokens, seed {res['mask_seed']})"),
                ("MLM perplexity", f"{res['mlm_perplexity']:.2f}",
                 f"{res['unigram_perplexity']:.2f} (add-one unigram model, same targets)")]
    print(f"  {'':<16} {'model':>9}   baseline")
    for name, value, base in rows:
        print(f"  {name:<16} {value:>9}   {base}")
    last = meta.get("validation") or {}
    key = "val_perplexity" if res["model"] == "GPT" else "masked_accuracy"
    if key in last:
        from minitl.pretrain import EVAL_WINDOWS
        n = EVAL_WINDOWS[res["model"].lower()]
        same = res["windows"] == min(n, res["windows_available"])
        print(f"training's last evaluation (step {last.get('step')}) read the first "
              f"{min(n, res['windows_available'])} windows"
              + (" (masking seed 1234)" if res["model"] == "BERT" else "")
              + f": {key.replace('_', ' ')} "
              + (f"{100 * last[key]:.2f}%" if "accuracy" in key else f"{last[key]:.2f}")
              + ("" if same else f"; this one reads {res['windows']}, so the two differ by which tokens are "
                                 f"scored (--windows {n} reproduces training's number)"))




def probe(args):
    import numpy as np
    import minitl
    from minitl.transfer.probe import format_percent
    model = _load(args.dir, None)
    minitl.manual_seed(args.seed)
    control = type(model)(model.config)             # same shape and tokenizer, never trained
    control.tokenizer = model.tokenizer
    res = {}
    for name, m in (("pretrained", model), ("untrained", control)):
        res[name] = probe_scores(m, args.dataset, args.labels, args.draws, args.seed, desc=f"probe {name}")
    spread = f"mean ± std over {args.draws} draws" if args.draws > 1 else "one draw: no spread to judge a gap by"
    print(f"linear probe on frozen mean-pooled {type(model).__name__} features, {args.dataset} test split, "
          f"balanced accuracy ({spread})")
    summary = {}
    for n in args.labels:
        p, u = res["pretrained"][n], res["untrained"][n]
        summary[n] = {"pretrained": float(np.mean(p)), "untrained": float(np.mean(u)),
                      "gain_points": 100 * float(np.mean(p) - np.mean(u))}
        if args.draws > 1:
            summary[n].update(pretrained_std=float(np.std(p)), untrained_std=float(np.std(u)))
        print(f"  {n:>5} labels: pretrained {format_percent(p)}   untrained {format_percent(u)}   "
              f"gain {summary[n]['gain_points']:+.1f} points")
    print(json.dumps({"probe": args.dataset, "dir": args.dir, "draws": args.draws, "results": summary}))
    return 0
