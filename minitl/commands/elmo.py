"""``minitl pretrain elmo`` and ``minitl elmo evaluate|probe|similarity``.

    minitl pretrain elmo --corpus wiki --preset nano --steps 3000 --out runs/elmo --max-minutes 6
    minitl elmo evaluate runs/elmo --corpus wiki        # perplexity per direction vs a unigram model
    minitl elmo probe runs/elmo --labels 100 1000      # frozen features vs an untrained twin
    minitl elmo similarity runs/elmo bank "I sat on the river bank." "The bank raised its rates."

The run directory is laid out as GPT's and BERT's (``minitl/commands/lm.py``):
``tokenizer.json``, ``train_ids.npy``/``val_ids.npy``, ``checkpoint/`` (for
``--resume``), ``metrics.jsonl`` and, at the end, ``model/`` -- a
``from_pretrained`` directory for ``minitl.models.ELMo``.
"""
import json
import os
import sys

RUN_KEYS = ("corpus", "preset", "batch_size", "lr", "warmup", "seed", "vocab_size")


def register(subparsers, pretrain_subparsers):
    p = pretrain_subparsers.add_parser("elmo", help="pretrain a tiny ELMo (forward + backward LSTM LMs)")
    p.add_argument("--corpus", default="wiki", help="dataset names joined by '+', e.g. wiki+news")
    p.add_argument("--preset", default="nano", choices=["nano", "micro"])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--vocab-size", type=int, default=None, help="BPE vocabulary (default: the preset's)")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--ckpt-every", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=0.0,
                   help="stop training (evaluate, save) after this many minutes, even before --steps")
    p.set_defaults(func=pretrain)

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


def unigram_logp(tok, train_ids, specials=False):
    """log p(token) of an add-one unigram model of ``train_ids``; specials=False gives them count 0 first."""
    import numpy as np
    counts = np.bincount(train_ids, minlength=tok.vocab_size).astype(np.float64)
    if not specials:
        counts[[tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id, tok.eot_id]] = 0
    return np.log((counts + 1) / (counts.sum() + tok.vocab_size))


def _fail(msg):
    print(f"minitl pretrain elmo: {msg}", file=sys.stderr)
    return 2


def _prepare(args):
    """The tokenizer of the run in ``args.out``: trained and saved (new run) or loaded (--resume)."""
    import minitl.data
    from minitl.models.elmo import ELMoConfig
    from minitl.text import BPETokenizer
    out = args.out
    run_file, tok_file = os.path.join(out, "run.json"), os.path.join(out, "tokenizer.json")
    if args.resume:
        if not os.path.exists(run_file):
            raise ValueError(f"--resume but {run_file} does not exist (nothing to resume)")
        with open(run_file) as f:
            saved = json.load(f)
        for key in RUN_KEYS:
            if saved.get(key) != getattr(args, key):
                raise ValueError(f"--resume with --{key.replace('_', '-')} {getattr(args, key)!r} but the run in "
                                 f"{out} used {saved.get(key)!r}")
        return BPETokenizer.load(tok_file)
    if os.path.exists(os.path.join(out, "checkpoint")):
        raise ValueError(f"{out} already holds a run; add --resume or choose another --out")
    os.makedirs(out, exist_ok=True)
    vocab = args.vocab_size or ELMoConfig.from_preset(args.preset).vocab_size
    docs = minitl.data.corpus(args.corpus, split="train")
    print(f"training a {vocab}-token BPE on {args.corpus} ({len(docs)} documents)...")
    tok = BPETokenizer.train(docs, vocab)
    tok.save(tok_file)
    with open(run_file, "w") as f:
        json.dump({k: v for k, v in vars(args).items() if k != "func"}, f, indent=1)
    return tok


def pretrain(args):
    import numpy as np
    import minitl
    from minitl.data.batching import get_lm_batch
    from minitl.models.elmo import ELMo, ELMoConfig, evaluate_bilm
    from minitl.train import TrainConfig, Trainer

    try:
        tok = _prepare(args)
    except ValueError as e:
        return _fail(e)
    out = args.out
    train_ids = corpus_ids(tok, args.corpus, "train", os.path.join(out, "train_ids.npy"))
    val_ids = corpus_ids(tok, args.corpus, "validation", os.path.join(out, "val_ids.npy"))
    print(f"{args.corpus}: {len(train_ids):,} training tokens, {len(val_ids):,} validation tokens")

    minitl.manual_seed(args.seed)
    model = ELMo(ELMoConfig.from_preset(args.preset, vocab_size=tok.vocab_size))
    T = model.config.block_size
    # Start the shared softmax at the unigram model (bias = log p(token)), as BERT's MLM head
    # does: from zero an output bias needs thousands of steps to learn the log-frequencies.
    model.lm_head.bias.data = unigram_logp(tok, train_ids).astype(np.float32)
    val_eval = val_ids[:200 * T]

    def get_batch(step):
        return get_lm_batch(train_ids, T, args.batch_size)[0]           # (B, T)

    def loss_fn(m, batch):
        return m(batch)[1]

    def eval_fn(m):
        nll = evaluate_bilm(m, val_eval)
        return {"val_loss": nll["mean"], "val_perplexity_fwd": float(np.exp(nll["forward"])),
                "val_perplexity_bwd": float(np.exp(nll["backward"]))}

    cfg = TrainConfig(steps=args.steps, lr=args.lr, warmup_steps=min(args.warmup, args.steps),
                      eval_every=args.eval_every, ckpt_every=args.ckpt_every, max_minutes=args.max_minutes,
                      desc="pretrain elmo")
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


def load(path):
    """ELMo.from_pretrained on ``path/model`` (a run directory) or ``path`` itself."""
    from minitl.models.elmo import ELMo
    d = os.path.join(path, "model") if os.path.isdir(os.path.join(path, "model")) else path
    meta = os.path.join(d, "meta.json")
    if not os.path.exists(meta):
        raise SystemExit(f"{d}: no meta.json (not a from_pretrained directory)")
    with open(meta) as f:
        name = json.load(f).get("model")
    if name != "ELMo":
        raise SystemExit(f"{d} holds a {name} model; this command needs ELMo")
    return ELMo.from_pretrained(d)


def evaluate(args):
    """Perplexity of each LM on the validation split, beside an add-one unigram model on the same targets."""
    import numpy as np
    from minitl.models.elmo import evaluate_bilm
    model = load(args.dir)
    tok, T = model.tokenizer, model.config.block_size
    logp = unigram_logp(tok, corpus_ids(tok, args.corpus, "train"), specials=True)
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
