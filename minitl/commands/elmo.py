"""``minitl pretrain elmo|t5``, ``minitl elmo evaluate|similarity``, ``minitl t5 evaluate|finetune``.

    minitl pretrain elmo --corpus wiki --preset nano --steps 3000 --out runs/elmo --max-minutes 6
    minitl elmo evaluate runs/elmo --corpus wiki        # perplexity per direction vs a unigram model
    minitl probe runs/elmo --labels 100 1000           # frozen features vs an untrained twin (commands/lm.py)
    minitl elmo similarity runs/elmo bank "I sat on the river bank." "The bank raised its rates."
    minitl pretrain t5 --corpus wiki --preset nano --steps 3000 --out runs/t5 --max-minutes 6
    minitl t5 evaluate runs/t5 --corpus wiki            # span accuracy vs the most frequent token
    minitl t5 finetune runs/t5 --labels 100 --multitask # sentiment as generating "positive"/"negative"

The run directory is laid out as GPT's and BERT's (``minitl/commands/lm.py``):
``tokenizer.json``, ``ids-<split>-<hash>.npy`` (``minitl.pretrain.corpus_ids``), ``checkpoint/`` (for
``--resume``), ``metrics.jsonl`` and, at the end, ``model/`` -- a
``from_pretrained`` directory for ``minitl.models.ELMo`` / ``minitl.models.t5.T5``.
"""
import json
import os
import sys


def register(subparsers, pretrain_subparsers):
    helps = {"elmo": "pretrain a tiny ELMo (forward + backward LSTM LMs)",
             "t5": "pretrain a tiny T5 (encoder-decoder, span corruption)"}
    for kind in ("elmo", "t5"):
        p = pretrain_subparsers.add_parser(kind, help=helps[kind])
        p.add_argument("--corpus", default="wiki", help="dataset names joined by '+', e.g. wiki+news")
        p.add_argument("--preset", default="nano", choices=["nano", "micro"])
        p.add_argument("--steps", type=int, default=3000)
        p.add_argument("--out", required=True, help="run directory")
        p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
        p.add_argument("--batch-size", type=int, default=32)
        p.add_argument("--lr", type=float, default=3e-3 if kind == "elmo" else 1e-3)   # pretrain_elmo_t5.DEFAULT_LR
        p.add_argument("--warmup", type=int, default=100)
        p.add_argument("--vocab-size", type=int, default=None, help="BPE vocabulary (default: the preset's)")
        p.add_argument("--eval-every", type=int, default=500)
        p.add_argument("--ckpt-every", type=int, default=500)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--max-minutes", type=float, default=0.0,
                       help="stop training (evaluate, save) after this many minutes, even before --steps")
        p.set_defaults(func=pretrain, kind=kind)

    t = subparsers.add_parser("t5", help="use a pretrained T5: evaluate, text-to-text fine-tuning")
    tsub = t.add_subparsers(dest="t5_command", metavar="ACTION")
    tsub.required = True
    te = tsub.add_parser("evaluate", help="span-corruption accuracy on the validation split vs baselines")
    te.add_argument("dir")
    te.add_argument("--corpus", default="wiki")
    te.set_defaults(func=t5_evaluate)
    tf = tsub.add_parser("finetune", help="sentiment as text-to-text ('positive'/'negative'), greedy decoding")
    tf.add_argument("dir")
    tf.add_argument("--dataset", default="tweets")
    tf.add_argument("--labels", type=int, default=100, help="class-balanced labelled training examples")
    tf.add_argument("--multitask", action="store_true", help="also train a 'cloze:' task on the same texts")
    tf.add_argument("--from-scratch", action="store_true", help="same recipe on an untrained twin")
    tf.add_argument("--epochs", type=int, default=10)
    tf.add_argument("--batch-size", type=int, default=16)
    tf.add_argument("--lr", type=float, default=1e-3)
    tf.add_argument("--seed", type=int, default=0)
    tf.set_defaults(func=t5_finetune)

    e = subparsers.add_parser("elmo", help="use a pretrained ELMo: evaluate, similarity (probe: `minitl probe DIR`)")
    sub = e.add_subparsers(dest="elmo_command", metavar="ACTION")
    sub.required = True
    ev = sub.add_parser("evaluate", help="validation perplexity of both LMs vs an add-one unigram model")
    ev.add_argument("dir")
    ev.add_argument("--corpus", default="wiki")
    ev.set_defaults(func=evaluate)
    si = sub.add_parser("similarity", help="cosine similarity of one word's vectors across sentences")
    si.add_argument("dir")
    si.add_argument("word")
    si.add_argument("sentences", nargs="+")
    si.set_defaults(func=similarity)


def _fail(msg):
    print(f"minitl pretrain: {msg}", file=sys.stderr)
    return 2


def pretrain(args):
    """``minitl pretrain elmo|t5``: ``minitl.pretrain_elmo_t5.pretrain`` into ``--out`` (``--out/model/`` at the end)."""
    from minitl.pretrain_elmo_t5 import ELMoT5PretrainConfig, pretrain as run
    try:
        cfg = ELMoT5PretrainConfig(args.kind, corpus=args.corpus, preset=args.preset, steps=args.steps,
                                   batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
                                   vocab_size=args.vocab_size, eval_every=args.eval_every,
                                   ckpt_every=args.ckpt_every, seed=args.seed, max_minutes=args.max_minutes)
        result = run(cfg, args.out, resume=args.resume)
    except ValueError as e:
        return _fail(e)
    return 130 if result["interrupted"] else 0


def load(path, want="ELMo"):
    """ELMo (or T5) .from_pretrained on ``path/model`` (a run directory) or ``path`` itself."""
    from minitl.models.elmo import ELMo
    from minitl.models.t5 import T5
    from minitl.commands.finetune import model_path
    d = model_path(path)
    meta = os.path.join(d, "meta.json")
    if not os.path.exists(meta):
        raise SystemExit(f"{d}: no meta.json (not a from_pretrained directory)")
    with open(meta) as f:
        name = json.load(f).get("model")
    if name != want:
        raise SystemExit(f"{d} holds a {name} model; this command needs {want}")
    return {"ELMo": ELMo, "T5": T5}[want].from_pretrained(d)


def evaluate(args):
    """Perplexity of each LM on the validation split, beside an add-one unigram model on the same targets."""
    import numpy as np
    from minitl.pretrain import corpus_ids, unigram_logp
    from minitl.models.elmo import evaluate_bilm
    model = load(args.dir)
    tok, T = model.tokenizer, model.config.block_size
    logp = unigram_logp(corpus_ids(tok, args.corpus, "train"), tok.vocab_size)
    val_ids = corpus_ids(tok, args.corpus, "validation")
    nll = evaluate_bilm(model, val_ids)
    win = val_ids[:(len(val_ids) // T) * T].reshape(-1, T)             # the windows evaluate_bilm read
    uni = -(logp[win[:, 1:]].mean() + logp[win[:, :-1]].mean()) / 2    # both directions' targets
    res = {"corpus": args.corpus, "validation_tokens": int(len(val_ids)),
           "val_perplexity_fwd": float(np.exp(nll["forward"])), "val_perplexity_bwd": float(np.exp(nll["backward"])),
           "val_perplexity": float(np.exp(nll["mean"])), "unigram_perplexity": float(np.exp(uni))}
    for k, v in res.items():
        print(f"{k:>22}: {v:.4f}" if isinstance(v, float) else f"{k:>22}: {v}")
    print(json.dumps(res))
    return 0


def similarity(args):
    """The "bank" demonstration: one word, several sentences, contextual vs context-free similarity."""
    import numpy as np
    from minitl.models.elmo import contextual_similarity
    model = load(args.dir)
    try:
        ctx = contextual_similarity(model, args.sentences, args.word)
        static = contextual_similarity(model, args.sentences, args.word, layer=0)
    except ValueError as e:
        print(f"minitl elmo similarity: {e}", file=sys.stderr)
        return 2
    print(f"cosine similarity of {args.word!r} across sentences: ELMo (scalar mix) / layer 0 (context-free)")
    for i, s in enumerate(args.sentences):
        print(f"[{i}] {s}")
    for i in range(len(args.sentences)):
        print("    " + "  ".join(f"{ctx[i, j]:.3f}/{static[i, j]:.3f}" for j in range(len(args.sentences))))
    print(json.dumps({"word": args.word, "elmo": np.round(ctx, 4).tolist(), "layer0": np.round(static, 4).tolist()}))
    return 0


def t5_evaluate(args):
    """Span-corruption accuracy on validation, beside always guessing the most frequent target token."""
    import numpy as np
    from minitl.pretrain import corpus_ids
    from minitl.pretrain_elmo_t5 import span_eval_batches, span_metrics
    model = load(args.dir, "T5")
    tok = model.tokenizer
    val_ids = corpus_ids(tok, args.corpus, "validation")
    batches = span_eval_batches(tok, val_ids, model.config)
    res = {"corpus": args.corpus, **span_metrics(model, batches, (tok.mask_id, tok.eot_id))}
    y = np.concatenate([b[2][b[2] != -100] for b in batches])
    content = y[~np.isin(y, (tok.mask_id, tok.eot_id))]
    vals, counts = np.unique(content, return_counts=True)
    res.update(most_frequent_span_token=tok.decode([int(vals[counts.argmax()])]),
               most_frequent_content_accuracy=float(counts.max() / len(content)), target_tokens=int(len(y)),
               span_tokens=int(len(content)))
    for k, v in res.items():
        print(f"{k:>24}: {v:.4f}" if isinstance(v, float) else f"{k:>24}: {v}")
    print(json.dumps(res))
    return 0


def t5_finetune(args):
    """Sentiment as text-to-text on ``--labels`` balanced examples (``transfer.text2text``); greedy
    decoding on the test split."""
    import numpy as np
    import minitl
    from minitl.data import load as load_data
    from minitl.transfer import text2text as T2T
    from minitl.transfer.finetune import FinetuneConfig
    from minitl.transfer.probe import balanced_accuracy, balanced_subsample
    model = load(args.dir, "T5")
    tok = model.tokenizer
    minitl.manual_seed(args.seed)
    if args.from_scratch:
        model = type(model)(model.config)
        model.tokenizer = tok
    train, test = load_data(args.dataset, "train"), load_data(args.dataset, "test")
    idx = balanced_subsample(np.asarray(train.labels), args.labels, np.random.default_rng(args.seed))
    cfg = FinetuneConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed)
    names = list(train.label_names)
    res = T2T.fit_text2text(model, [train.texts[i] for i in idx], np.asarray(train.labels)[idx], names, cfg,
                            aux="cloze" if args.multitask else None)
    if res.interrupted:
        return 130
    y_pred, invalid = T2T.predict_labels(model, test.texts, names)
    y = np.asarray(test.labels)
    out = {"dataset": args.dataset, "labels": args.labels, "multitask": args.multitask,
           "from_scratch": args.from_scratch, "steps": res.steps, "epochs": args.epochs,
           "accuracy": float((y_pred == y).mean()), "balanced_accuracy": float(balanced_accuracy(y, y_pred)),
           "invalid_outputs": float(invalid)}
    if args.multitask:
        c_src, c_tgt = T2T.cloze_pairs(test.texts[:300], np.random.default_rng(1))
        out["cloze_accuracy"] = float(np.mean([p == t for p, t in zip(model.generate_text(c_src), c_tgt)]))
    print(json.dumps(out))
    return 0
