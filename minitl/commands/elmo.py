"""``minitl pretrain elmo|t5``, ``minitl elmo evaluate|probe|similarity``, ``minitl t5 evaluate|finetune``.

    minitl pretrain elmo --corpus wiki --preset nano --steps 3000 --out runs/elmo --max-minutes 6
    minitl elmo evaluate runs/elmo --corpus wiki        # perplexity per direction vs a unigram model
    minitl elmo probe runs/elmo --labels 100 1000      # frozen features vs an untrained twin
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

RUN_KEYS = ("corpus", "preset", "batch_size", "lr", "warmup", "seed", "vocab_size")


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
        p.add_argument("--lr", type=float, default=3e-3 if kind == "elmo" else 1e-3)
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
    tf.add_argument("--steps", type=int, default=300)
    tf.add_argument("--batch-size", type=int, default=16)
    tf.add_argument("--lr", type=float, default=5e-4)
    tf.add_argument("--seed", type=int, default=0)
    tf.set_defaults(func=t5_finetune)

    e = subparsers.add_parser("elmo", help="use a pretrained ELMo: evaluate, probe, similarity")
    sub = e.add_subparsers(dest="elmo_command", metavar="ACTION")
    sub.required = True
    ev = sub.add_parser("evaluate", help="validation perplexity of both LMs vs an add-one unigram model")
    ev.add_argument("dir")
    ev.add_argument("--corpus", default="wiki")
    ev.set_defaults(func=evaluate)
    pr = sub.add_parser("probe", help="linear probe on frozen mean-pooled features vs an untrained twin")
    pr.add_argument("dir")
    pr.add_argument("--dataset", default="tweets")
    pr.add_argument("--labels", type=int, nargs="+", default=[100, 1000])
    pr.add_argument("--draws", type=int, default=3, help="labelled subsets per label count")
    pr.add_argument("--seed", type=int, default=0)
    pr.set_defaults(func=probe)
    si = sub.add_parser("similarity", help="cosine similarity of one word's vectors across sentences")
    si.add_argument("dir")
    si.add_argument("word")
    si.add_argument("sentences", nargs="+")
    si.set_defaults(func=similarity)


def tok_specials(tok):
    """The special ids of a minitl BPE tokenizer ([PAD] [UNK] [CLS] [SEP] [MASK] <|endoftext|>)."""
    return [tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id, tok.eot_id]


def _fail(msg):
    print(f"minitl pretrain elmo: {msg}", file=sys.stderr)
    return 2


def _prepare(args):
    """The tokenizer of the run in ``args.out``: trained and saved (new run) or loaded (--resume)."""
    import minitl.data
    from minitl.models.elmo import ELMoConfig
    from minitl.models.t5 import T5Config
    from minitl.text import BPETokenizer
    out = args.out
    run_file, tok_file = os.path.join(out, "run.json"), os.path.join(out, "tokenizer.json")
    if args.resume:
        if not os.path.exists(run_file):
            raise ValueError(f"--resume but {run_file} does not exist (nothing to resume)")
        with open(run_file) as f:
            saved = json.load(f)
        for key in RUN_KEYS + ("kind",):
            if saved.get(key) != getattr(args, key):
                raise ValueError(f"--resume with --{key.replace('_', '-')} {getattr(args, key)!r} but the run in "
                                 f"{out} used {saved.get(key)!r}")
        return BPETokenizer.load(tok_file)
    if os.path.exists(os.path.join(out, "checkpoint")):
        raise ValueError(f"{out} already holds a run; add --resume or choose another --out")
    os.makedirs(out, exist_ok=True)
    Config = ELMoConfig if args.kind == "elmo" else T5Config
    vocab = args.vocab_size or Config.from_preset(args.preset).vocab_size
    docs = minitl.data.corpus(args.corpus, split="train")
    print(f"training a {vocab}-token BPE on {args.corpus} ({len(docs)} documents)...")
    tok = BPETokenizer.train(docs, vocab)
    tok.save(tok_file)
    with open(run_file, "w") as f:
        json.dump({k: v for k, v in vars(args).items() if k != "func"}, f, indent=1)
    return tok


def _elmo_recipe(args, tok, train_ids, val_ids):
    """(model, get_batch, loss_fn, eval_fn) for ELMo: both LMs on random windows."""
    import numpy as np
    from minitl.data.batching import get_lm_batch
    from minitl.models.elmo import ELMo, ELMoConfig, evaluate_bilm
    from minitl.pretrain import unigram_logp
    model = ELMo(ELMoConfig.from_preset(args.preset, vocab_size=tok.vocab_size))
    T = model.config.block_size
    # Start the shared softmax at the unigram model (bias = log p(token)), as BERT's MLM head
    # does: from zero an output bias needs thousands of steps to learn the log-frequencies.
    model.lm_head.bias.data = unigram_logp(train_ids, tok.vocab_size, never=tok_specials(tok)).astype(np.float32)
    val_eval = val_ids[:200 * T]

    def eval_fn(m):
        nll = evaluate_bilm(m, val_eval)
        return {"val_loss": nll["mean"], "val_perplexity_fwd": float(np.exp(nll["forward"])),
                "val_perplexity_bwd": float(np.exp(nll["backward"]))}
    return (model, lambda step: get_lm_batch(train_ids, T, args.batch_size)[0],      # (B, T)
            lambda m, batch: m(batch)[1], eval_fn)


def span_eval_batches(tok, ids, config, n_batches=20, batch_size=32, seed=1234):
    """Fixed span-corruption batches of a validation stream (their own generator)."""
    import numpy as np
    from minitl.models.t5 import span_batch
    gen = np.random.default_rng(seed)
    return [span_batch(ids, config, batch_size, tok.mask_id, tok.eot_id, tok.pad_id, generator=gen)
            for _ in range(n_batches)]


def span_metrics(model, batches, skip=()):
    """{'val_loss', 'span_accuracy', 'content_accuracy'}: teacher-forced next-token accuracy on the
    targets, and on the targets' span tokens alone (``skip``: the sentinel and end ids)."""
    import numpy as np
    import minitl
    nll, hit, n, chit, cn = 0.0, 0, 0, 0, 0
    with minitl.no_grad():
        for x, mask, y in batches:
            logits, loss = model(x, mask, labels=y)
            real = y != -100
            content = real & ~np.isin(y, skip)
            ok = logits.data.argmax(-1) == y
            nll += float(loss.data) * real.sum()
            hit, n = hit + int(ok[real].sum()), n + int(real.sum())
            chit, cn = chit + int(ok[content].sum()), cn + int(content.sum())
    return {"val_loss": nll / n, "span_accuracy": hit / n, "content_accuracy": chit / max(cn, 1)}


def _t5_recipe(args, tok, train_ids, val_ids):
    """(model, get_batch, loss_fn, eval_fn) for T5: span corruption of random windows."""
    from minitl.models.t5 import T5, T5Config, span_batch
    model = T5(T5Config.from_preset(args.preset, vocab_size=tok.vocab_size))
    fixed = span_eval_batches(tok, val_ids, model.config)
    return (model, lambda step: span_batch(train_ids, model.config, args.batch_size, tok.mask_id, tok.eot_id,
                                           tok.pad_id),
            lambda m, b: m(b[0], b[1], labels=b[2])[1], lambda m: span_metrics(m, fixed, (tok.mask_id, tok.eot_id)))


def pretrain(args):
    from minitl.pretrain import corpus_ids   # heavy imports inside handlers: --help stays instant
    import minitl
    from minitl.train import TrainConfig, Trainer

    try:
        tok = _prepare(args)
    except ValueError as e:
        return _fail(e)
    out = args.out
    train_ids = corpus_ids(tok, args.corpus, "train", out)
    val_ids = corpus_ids(tok, args.corpus, "validation", out)
    print(f"{args.corpus}: {len(train_ids):,} training tokens, {len(val_ids):,} validation tokens")
    minitl.manual_seed(args.seed)
    recipe = _elmo_recipe if args.kind == "elmo" else _t5_recipe
    model, get_batch, loss_fn, eval_fn = recipe(args, tok, train_ids, val_ids)
    cfg = TrainConfig(steps=args.steps, lr=args.lr, warmup_steps=min(args.warmup, args.steps),
                      eval_every=args.eval_every, ckpt_every=args.ckpt_every, max_minutes=args.max_minutes,
                      desc=f"pretrain {args.kind}")
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
    from minitl.pretrain import corpus_ids, unigram_logp
    """Perplexity of each LM on the validation split, beside an add-one unigram model on the same targets."""
    import numpy as np
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


def probe(args):
    """lm.probe_scores for a pretrained ELMo and for its untrained twin (same tokenizer)."""
    import numpy as np
    import minitl
    from minitl.commands.lm import probe_scores
    model = load(args.dir)
    minitl.manual_seed(args.seed)
    control = type(model)(model.config)
    control.tokenizer = model.tokenizer
    summary = {}
    res = {name: probe_scores(m, args.dataset, args.labels, args.draws, args.seed)
           for name, m in (("pretrained", model), ("untrained", control))}
    print(f"linear probe on frozen mean-pooled ELMo features (scalar mix at equal weights), {args.dataset} "
          f"test split, balanced accuracy (mean +- std over {args.draws} draws)")
    for n in args.labels:
        p, u = res["pretrained"][n], res["untrained"][n]
        summary[n] = {"pretrained": float(np.mean(p)), "pretrained_std": float(np.std(p)),
                      "untrained": float(np.mean(u)), "untrained_std": float(np.std(u)),
                      "gain_points": 100 * float(np.mean(p) - np.mean(u))}
        print(f"  {n:>5} labels: pretrained {np.mean(p):.3f} +- {np.std(p):.3f}   untrained {np.mean(u):.3f} "
              f"+- {np.std(u):.3f}   gain {summary[n]['gain_points']:+.1f} points")
    print(json.dumps({"probe": args.dataset, "dir": args.dir, "results": summary}))
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
    from minitl.pretrain import corpus_ids
    """Span-corruption accuracy on validation, beside always guessing the most frequent target token."""
    import numpy as np
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


def cloze_pairs(texts, rng):
    """'cloze: <text with one word blanked as ___>' -> that word, for texts with >= 3 words."""
    src, tgt = [], []
    for t in texts:
        words = t.split()
        cand = [i for i, w in enumerate(words) if w.isalpha() and len(w) > 2]
        if len(words) >= 3 and cand:
            i = cand[rng.integers(len(cand))]
            src.append("cloze: " + " ".join(words[:i] + ["___"] + words[i + 1:]))
            tgt.append(words[i])
    return src, tgt


def t5_finetune(args):
    """Sentiment as text-to-text on ``--labels`` balanced examples; greedy decoding on the test split."""
    import numpy as np
    import minitl
    from minitl.data import load as load_data
    from minitl.models.t5 import text_pairs_batch
    from minitl.train import TrainConfig, Trainer
    from minitl.transfer.probe import balanced_accuracy, balanced_subsample
    model = load(args.dir, "T5")
    tok = model.tokenizer
    minitl.manual_seed(args.seed)
    if args.from_scratch:
        model = type(model)(model.config)
        model.tokenizer = tok
    train, test = load_data(args.dataset, "train"), load_data(args.dataset, "test")
    rng = np.random.default_rng(args.seed)
    idx = balanced_subsample(np.asarray(train.labels), args.labels, rng)
    src = ["sentiment: " + train.texts[i] for i in idx]
    tgt = [train.label_names[train.labels[i]] for i in idx]
    if args.multitask:
        c_src, c_tgt = cloze_pairs([train.texts[i] for i in idx], rng)
        src, tgt = src + c_src, tgt + c_tgt

    def get_batch(step):
        pick = minitl.random.rng().integers(0, len(src), size=args.batch_size)
        return text_pairs_batch(tok, [src[i] for i in pick], [tgt[i] for i in pick], model.config)

    cfg = TrainConfig(steps=args.steps, lr=args.lr, warmup_steps=min(30, args.steps), weight_decay=0.01,
                      desc="finetune t5")
    Trainer(model, lambda m, b: m(b[0], b[1], labels=b[2])[1], get_batch, cfg).fit()
    names = list(test.label_names)
    longest = max(len(tok.encode(n)) for n in names) + 1                  # the label's pieces + <|endoftext|>
    preds = model.generate_text(["sentiment: " + t for t in test.texts], max_new_tokens=longest)
    y_pred = np.array([names.index(p) if p in names else -1 for p in preds])
    y = np.asarray(test.labels)
    res = {"dataset": args.dataset, "labels": args.labels, "multitask": args.multitask,
           "from_scratch": args.from_scratch, "steps": args.steps,
           "accuracy": float((y_pred == y).mean()), "balanced_accuracy": float(balanced_accuracy(y, y_pred)),
           "invalid_outputs": float((y_pred == -1).mean())}
    if args.multitask:
        c_src, c_tgt = cloze_pairs(test.texts[:300], np.random.default_rng(1))
        res["cloze_accuracy"] = float(np.mean([p == t for p, t in zip(model.generate_text(c_src), c_tgt)]))
    print(json.dumps(res))
    return 0
