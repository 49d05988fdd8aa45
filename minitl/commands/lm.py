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
import json
import os
import sys

SPECIAL_IDS = tuple(range(6))   # [PAD] [UNK] [CLS] [SEP] [MASK] <|endoftext|> in minitl's BPE


def register(subparsers, pretrain_subparsers):
    for kind in ("gpt", "bert"):
        what = "a tiny GPT (next-token prediction)" if kind == "gpt" else "a tiny BERT (masked tokens)"
        p = pretrain_subparsers.add_parser(kind, help=f"pretrain {what}")
        p.add_argument("--corpus", default="wiki", help="dataset names joined by '+', e.g. wiki+news+tweets-text")
        p.add_argument("--preset", default="micro", choices=["nano", "micro", "mini"])
        p.add_argument("--steps", type=int, default=3000)
        p.add_argument("--out", required=True, help="run directory")
        p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
        p.add_argument("--batch-size", type=int, default=32)
        p.add_argument("--lr", type=float, default=2e-3)
        p.add_argument("--warmup", type=int, default=100)
        p.add_argument("--vocab-size", type=int, default=None, help="BPE vocabulary (default: the preset's)")
        p.add_argument("--eval-every", type=int, default=500)
        p.add_argument("--ckpt-every", type=int, default=500)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--max-minutes", type=float, default=0.0,
                       help="stop training (evaluate, save) after this many minutes, even before --steps")
        p.set_defaults(func=pretrain, kind=kind)
    g = subparsers.add_parser("generate", help="sample text from a pretrained GPT")
    g.add_argument("dir")
    g.add_argument("prompt")
    g.add_argument("--max-new-tokens", type=int, default=40)
    g.add_argument("--temperature", type=float, default=0.8)
    g.add_argument("--top-k", type=int, default=40)
    g.add_argument("--num-samples", type=int, default=1)
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=generate)
    f = subparsers.add_parser("fill-mask", help="top-k fillers for [MASK] from a pretrained BERT")
    f.add_argument("dir")
    f.add_argument("text")
    f.add_argument("--top-k", type=int, default=5)
    f.set_defaults(func=fill_mask)
    e = subparsers.add_parser("evaluate", help="validation perplexity (GPT) / masked-token accuracy (BERT)")
    e.add_argument("dir")
    e.add_argument("--corpus", default="wiki")
    e.add_argument("--seed", type=int, default=1234, help="the masking seed (BERT)")
    e.set_defaults(func=evaluate)
    pr = subparsers.add_parser("probe", help="linear probe on frozen features (tweets) vs an untrained twin")
    pr.add_argument("dir")
    pr.add_argument("--dataset", default="tweets")
    pr.add_argument("--labels", type=int, nargs="+", default=[100, 1000])
    pr.add_argument("--draws", type=int, default=3, help="labelled subsets per label count")
    pr.add_argument("--seed", type=int, default=0)
    pr.set_defaults(func=probe)


# -- data ------------------------------------------------------------------------
def corpus_ids(tok, spec, split, cache=None):
    """The corpus split as one id stream (documents separated by <|endoftext|>), cached as .npy."""
    import numpy as np
    from minitl.data import corpus
    from minitl.data.batching import encode_corpus
    if cache and os.path.exists(cache):
        return np.load(cache, allow_pickle=False)
    ids = encode_corpus(corpus(spec, split=split), tok)
    if cache:
        np.save(cache, ids, allow_pickle=False)
    return ids


def bert_windows(ids, block_size):
    """Consecutive windows of block_size - 2 tokens, as [CLS] window [SEP]: (n, block_size)."""
    import numpy as np
    w = block_size - 2
    n = len(ids) // w
    body = ids[:n * w].reshape(n, w)                                     # (n, T-2)
    return np.concatenate([np.full((n, 1), SPECIAL_IDS[2]), body, np.full((n, 1), SPECIAL_IDS[3])], 1)


def mlm_eval_batches(tok, ids, block_size, seed, batch_size=64, limit=None):
    """Fixed masked batches (their own generator, so every evaluation sees the same masks)."""
    import numpy as np
    from minitl.data.batching import mlm_mask
    win = bert_windows(ids, block_size)[:limit]
    gen = np.random.default_rng(seed)
    return [mlm_mask(win[s:s + batch_size], tok.vocab_size, tok.mask_id, SPECIAL_IDS, generator=gen)
            for s in range(0, len(win), batch_size)]


def evaluate_mlm(model, batches):
    """{'mlm_loss', 'mlm_perplexity', 'masked_accuracy'} over fixed (inputs, labels) batches."""
    import numpy as np
    import minitl
    nll, hit, n = 0.0, 0, 0
    with minitl.no_grad():
        for x, labels in batches:
            logits, loss = model(x, mlm_labels=labels)
            y = labels[labels != -100]
            nll += float(loss.data) * len(y)
            hit += int((logits.data.argmax(-1) == y).sum())
            n += len(y)
    return {"mlm_loss": nll / n, "mlm_perplexity": float(np.exp(nll / n)), "masked_accuracy": hit / n}


def unigram_counts(train_ids, V):
    import numpy as np
    return np.bincount(train_ids, minlength=V).astype(np.float64)


# -- pretrain --------------------------------------------------------------------
def pretrain(args):
    import numpy as np
    import minitl
    from minitl.data.batching import get_lm_batch, mlm_mask
    from minitl.models import BERT, BERTConfig, GPT, GPTConfig
    from minitl.models.gpt import evaluate_lm
    from minitl.text import BPETokenizer
    from minitl.train import TrainConfig, Trainer

    out, kind = args.out, args.kind
    run_file, tok_file = os.path.join(out, "run.json"), os.path.join(out, "tokenizer.json")
    if args.resume:
        if not os.path.exists(run_file):
            print(f"minitl pretrain: --resume but {run_file} does not exist (nothing to resume)", file=sys.stderr)
            return 2
        with open(run_file) as f:
            saved = json.load(f)
        for key in ("corpus", "preset", "batch_size", "lr", "warmup", "seed", "kind"):
            if saved[key] != getattr(args, key):
                print(f"minitl pretrain: --resume with --{key.replace('_', '-')} {getattr(args, key)!r} but the "
                      f"run in {out} used {saved[key]!r}", file=sys.stderr)
                return 2
        tok = BPETokenizer.load(tok_file)
    else:
        if os.path.exists(os.path.join(out, "checkpoint")):
            print(f"minitl pretrain: {out} already holds a run; add --resume or choose another --out",
                  file=sys.stderr)
            return 2
        os.makedirs(out, exist_ok=True)
        Config = GPTConfig if kind == "gpt" else BERTConfig
        vocab = args.vocab_size or Config.from_preset(args.preset).vocab_size
        docs = minitl.data.corpus(args.corpus, split="train")
        print(f"training a {vocab}-token BPE on {args.corpus} ({len(docs)} documents)...")
        tok = BPETokenizer.train(docs, vocab)
        tok.save(tok_file)
        with open(run_file, "w") as f:
            json.dump({k: v for k, v in vars(args).items() if k != "func"}, f, indent=1)
    train_ids = corpus_ids(tok, args.corpus, "train", os.path.join(out, "train_ids.npy"))
    val_ids = corpus_ids(tok, args.corpus, "validation", os.path.join(out, "val_ids.npy"))
    print(f"{args.corpus}: {len(train_ids):,} training tokens, {len(val_ids):,} validation tokens")

    minitl.manual_seed(args.seed)
    if kind == "gpt":
        model = GPT(GPTConfig.from_preset(args.preset, vocab_size=tok.vocab_size))
        T = model.config.block_size

        def get_batch(step):
            return get_lm_batch(train_ids, T, args.batch_size)

        def loss_fn(m, batch):
            return m(*batch)[1]

        def eval_fn(m):
            nll, n = evaluate_lm(m, val_ids[:200 * T + 1])
            return {"val_loss": nll / n, "val_perplexity": float(np.exp(nll / n))}
    else:
        model = BERT(BERTConfig.from_preset(args.preset, vocab_size=tok.vocab_size))
        T = model.config.block_size
        # Start the MLM head at the unigram model: bias = log p(token).  An output bias
        # moves only ~lr per step, so from zero it needs thousands of steps to learn
        # the 10-nat spread of log-frequencies; measured here: 7.45 vs 7.61 MLM loss
        # after 100 steps.  (On --resume the checkpoint's weights replace this.)
        counts = unigram_counts(train_ids, tok.vocab_size)
        counts[list(SPECIAL_IDS)] = 0
        model.mlm_bias.data = np.log((counts + 1) / (counts + 1).sum()).astype(np.float32)
        fixed = mlm_eval_batches(tok, val_ids, T, seed=1234, limit=400)

        def get_batch(step):
            x, _ = get_lm_batch(train_ids, T - 2, args.batch_size)          # (B, T-2)
            B = len(x)
            x = np.concatenate([np.full((B, 1), tok.cls_id), x, np.full((B, 1), tok.sep_id)], 1)  # (B, T)
            return mlm_mask(x, tok.vocab_size, tok.mask_id, SPECIAL_IDS)

        def loss_fn(m, batch):
            return m(batch[0], mlm_labels=batch[1])[1]

        def eval_fn(m):
            return evaluate_mlm(m, fixed)
    cfg = TrainConfig(steps=args.steps, lr=args.lr, warmup_steps=min(args.warmup, args.steps),
                      eval_every=args.eval_every, ckpt_every=args.ckpt_every, max_minutes=args.max_minutes,
                      desc=f"pretrain {kind}")
    trainer = Trainer(model, loss_fn, get_batch, cfg, out_dir=out, eval_fn=eval_fn)
    trainer.fit(resume=args.resume)
    if trainer.interrupted:
        return 130
    final = [r for r in trainer.history if r.get("split") == "validation"][-1:]
    model.save_pretrained(os.path.join(out, "model"), tokenizer=tok, meta={
        "corpus": args.corpus, "preset": args.preset, "steps": trainer.step, "seed": args.seed,
        "train_tokens": int(len(train_ids)), "validation": final[0] if final else None})
    print(f"saved {os.path.join(out, 'model')}")
    return 0


# -- using a pretrained model ------------------------------------------------------
def _load(path, want):
    from minitl.models import BERT, GPT
    from minitl.checkpoint import load_dir  # noqa: F401  (errors name the missing file)
    d = os.path.join(path, "model") if os.path.isdir(os.path.join(path, "model")) else path
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
    from minitl.models.gpt import evaluate_lm
    model = _load(args.dir, None)
    tok, V = model.tokenizer, model.config.vocab_size
    train_ids = corpus_ids(tok, args.corpus, "train")
    val_ids = corpus_ids(tok, args.corpus, "validation")
    counts = unigram_counts(train_ids, V)
    logp = np.log((counts + 1) / (counts.sum() + V))                    # add-one unigram model
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
