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


def register(subparsers, pretrain_subparsers):
    for kind in ("gpt", "bert"):
        what = "a tiny GPT (next-token prediction)" if kind == "gpt" else "a tiny BERT (masked tokens)"
        p = pretrain_subparsers.add_parser(kind, help=f"pretrain {what}",
                                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        p.add_argument("--corpus", default="wiki",
                       help="dataset names joined by '+', e.g. wiki+news+tweets-text, or a text/CSV file")
        p.add_argument("--preset", default="micro", choices=["nano", "micro", "mini", "deep"])
        p.add_argument("--steps", type=positive_int, default=3000)
        p.add_argument("--out", required=True, help="run directory")
        p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
        p.add_argument("--batch-size", type=positive_int, default=32)
        p.add_argument("--lr", type=positive_float, default=2e-3)
        p.add_argument("--warmup", type=nonnegative_int, default=100)
        p.add_argument("--vocab-size", type=positive_int, default=None, help="BPE vocabulary (default: the preset's)")
        p.add_argument("--eval-every", type=nonnegative_int, default=500)
        p.add_argument("--ckpt-every", type=nonnegative_int, default=500)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--max-minutes", type=nonnegative_float, default=0.0,
                       help="stop training (evaluate, save) after this many minutes, even before --steps")
        p.add_argument("--init", default=None, metavar="DIR",
                       help="continue pretraining this from_pretrained directory (its tokenizer too) on "
                            "--corpus: ULMFiT's target-domain LM fine-tuning")
        p.set_defaults(func=pretrain, kind=kind)
    g = subparsers.add_parser("generate", help="sample text from a pretrained GPT")
    g.add_argument("dir")
    g.add_argument("prompt")
    g.add_argument("--max-new-tokens", type=positive_int, default=40)
    g.add_argument("--temperature", type=nonnegative_float, default=0.8)
    g.add_argument("--top-k", type=positive_int, default=40)
    g.add_argument("--num-samples", type=positive_int, default=1)
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=generate)
    f = subparsers.add_parser("fill-mask", help="top-k fillers for [MASK] from a pretrained BERT")
    f.add_argument("dir")
    f.add_argument("text")
    f.add_argument("--top-k", type=positive_int, default=5)
    f.set_defaults(func=fill_mask)
    e = subparsers.add_parser("evaluate", help="validation perplexity (GPT) / masked-token accuracy (BERT); "
                                               "a classifier's accuracy with --data")
    e.add_argument("dir")
    e.add_argument("--corpus", default="wiki")
    e.add_argument("--data", default=None, help="a classifier: tweets | tweets3 | movie200 | sst2 | imdb | FILE")
    e.add_argument("--split", default=None, help="a classifier: the split to score (default test)")
    e.add_argument("--text-column", default="text")
    e.add_argument("--label-column", default="label")
    e.add_argument("--seed", type=int, default=1234, help="the masking seed (BERT)")
    e.set_defaults(func=evaluate)
    pr = subparsers.add_parser("probe", help="linear probe on frozen features (tweets) vs an untrained twin")
    pr.add_argument("dir")
    pr.add_argument("--dataset", default="tweets")
    pr.add_argument("--labels", type=positive_int, nargs="+", default=[100, 1000])
    pr.add_argument("--draws", type=positive_int, default=3, help="labelled subsets per label count")
    pr.add_argument("--seed", type=int, default=0)
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
def _load(path, want):
    from minitl.models import BERT, GPT
    from minitl.checkpoint import load_dir  # noqa: F401  (errors name the missing file)
    from minitl.commands.finetune import model_path
    d = model_path(path)
    with open(os.path.join(d, "meta.json")) as f:
        name = json.load(f).get("model")
    cls = {"GPT": GPT, "BERT": BERT}.get(name)
    if cls is None or (want and name != want):
        raise SystemExit(f"{d} holds a {name} model; this command needs {want or 'GPT or BERT'}")
    return cls.from_pretrained(d)


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


def evaluate(args):
    import numpy as np
    from minitl.commands.finetune import evaluate_classifier, model_path
    meta = os.path.join(model_path(args.dir), "meta.json")
    with open(meta) if os.path.exists(meta) else open(os.devnull) as f:
        is_classifier = '"SequenceClassifier"' in f.read()
    if is_classifier or args.data:
        if not args.data:
            raise ValueError(f"{args.dir} holds a classifier: say which labelled data to score with --data")
        return evaluate_classifier(args)
    from minitl.models.gpt import evaluate_lm
    from minitl.pretrain import SPECIAL_IDS, corpus_ids, evaluate_mlm, mlm_eval_batches, unigram_counts, unigram_logp
    model = _load(args.dir, None)
    tok, V = model.tokenizer, model.config.vocab_size
    train_ids = corpus_ids(tok, args.corpus, "train")
    val_ids = corpus_ids(tok, args.corpus, "validation")
    logp = unigram_logp(train_ids, V)                                   # add-one unigram model
    res = {"corpus": args.corpus, "validation_tokens": int(len(val_ids))}
    if type(model).__name__ == "GPT":
        T = model.config.block_size
        nll, n = evaluate_lm(model, val_ids)
        targets = val_ids[1:1 + ((len(val_ids) - 1) // T) * T]          # exactly the tokens GPT predicted
        res.update(val_perplexity=float(np.exp(nll / n)),
                   unigram_perplexity=float(np.exp(-logp[targets].mean())), predicted_tokens=int(n))
    else:
        batches = mlm_eval_batches(tok, val_ids, model.config.block_size, args.seed)
        res.update(evaluate_mlm(model, batches))
        y = np.concatenate([lab[lab != -100] for _, lab in batches])
        counts = unigram_counts(train_ids, V)
        counts[list(SPECIAL_IDS)] = 0
        top = int(counts.argmax())
        res.update(most_frequent_token=tok.decode([top]), most_frequent_accuracy=float((y == top).mean()),
                   unigram_perplexity=float(np.exp(-logp[y].mean())), masked_tokens=int(len(y)))
    for k, v in res.items():
        print(f"{k:>24}: {v:.4f}" if isinstance(v, float) else f"{k:>24}: {v}")
    print(json.dumps(res))
    return 0


def probe_scores(model, dataset, label_counts, draws, seed):
    """{n: [balanced accuracy of each draw]}: a linear probe on frozen mean-pooled features.

    The probe (``minitl.transfer.probe``) is the one the word2vec demo uses: n
    class-balanced training labels, class-weighted logistic regression, scored on
    the balanced test split.
    """
    import numpy as np
    from minitl.data import load
    from minitl.transfer.probe import balanced_accuracy, balanced_subsample, fit_linear_probe
    train, test = load(dataset, "train"), load(dataset, "test")
    y_train, y_test = np.asarray(train.labels), np.asarray(test.labels)
    rng = np.random.default_rng(seed)
    picks = {(n, d): balanced_subsample(y_train, n, rng) for n in label_counts for d in range(draws)}
    needed = np.unique(np.concatenate(list(picks.values())))
    X = dict(zip(needed.tolist(), model.encode_texts([train.texts[i] for i in needed])))
    X_test = model.encode_texts(test.texts)
    out = {}
    for n in label_counts:
        out[n] = []
        for d in range(draws):
            idx = picks[(n, d)]
            clf = fit_linear_probe(np.stack([X[i] for i in idx.tolist()]), y_train[idx], len(train.label_names))
            out[n].append(balanced_accuracy(y_test, clf.predict(X_test)))
    return out


def probe(args):
    import numpy as np
    import minitl
    model = _load(args.dir, None)
    minitl.manual_seed(args.seed)
    control = type(model)(model.config)             # same shape and tokenizer, never trained
    control.tokenizer = model.tokenizer
    res = {}
    for name, m in (("pretrained", model), ("untrained", control)):
        res[name] = probe_scores(m, args.dataset, args.labels, args.draws, args.seed)
    print(f"linear probe on frozen mean-pooled features, {args.dataset} test split, balanced accuracy "
          f"(mean +- std over {args.draws} draws)")
    summary = {}
    for n in args.labels:
        p, u = res["pretrained"][n], res["untrained"][n]
        summary[n] = {"pretrained": float(np.mean(p)), "untrained": float(np.mean(u)),
                      "gain_points": 100 * float(np.mean(p) - np.mean(u))}
        print(f"  {n:>5} labels: pretrained {np.mean(p):.3f} +- {np.std(p):.3f}   untrained {np.mean(u):.3f} "
              f"+- {np.std(u):.3f}   gain {summary[n]['gain_points']:+.1f} points")
    print(json.dumps({"probe": args.dataset, "dir": args.dir, "results": summary}))
    return 0
