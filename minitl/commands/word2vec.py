"""``minitl pretrain word2vec`` and ``minitl neighbors``.

    minitl pretrain word2vec --corpus wiki+news --sg --dim 100 --epochs 5 --out runs/w2v
    minitl neighbors runs/w2v king music
    minitl neighbors runs/w2v --analogy man king woman
"""
import sys

from minitl.commands._args import nonnegative_float, nonnegative_int, positive_float, positive_int

PROBES = ["king", "war", "music", "city", "france", "computer", "river", "president", "one"]


def register(subparsers, pretrain_subparsers):
    p = pretrain_subparsers.add_parser(
        "word2vec", help="word vectors: skip-gram or CBOW with negative sampling",
        description="Train word2vec on a corpus: a '+'-joined list of dataset names (wiki, news, "
                    "tweets-text; see `minitl datasets`) or a text file with one document per line.")
    p.add_argument("--corpus", default="wiki+news", help="dataset names joined by '+', or a text file")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--sg", dest="sg", action="store_true", default=True, help="skip-gram (the default)")
    kind.add_argument("--cbow", dest="sg", action="store_false", help="continuous bag of words")
    p.add_argument("--dim", type=positive_int, default=100, help="vector size")
    p.add_argument("--epochs", type=positive_int, default=5, help="passes over the corpus")
    p.add_argument("--window", type=positive_int, default=5, help="context words on each side (at most)")
    p.add_argument("--negative", type=positive_int, default=5, help="noise words per pair")
    p.add_argument("--min-count", type=nonnegative_int, default=5, help="ignore words rarer than this")
    p.add_argument("--sample", type=nonnegative_float, default=1e-3, help="subsampling threshold (0: off)")
    p.add_argument("--alpha", type=positive_float, default=None,
                   help="initial learning rate (default: 0.025 for skip-gram, 0.05 for CBOW)")
    p.add_argument("--workers", type=positive_int, default=2,
                   help="threads (Hogwild: with more than 1 the vectors differ from run to run)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (initial vectors, sampling)")
    p.add_argument("--out", required=True, help="checkpoint directory to write (required)")
    p.add_argument("--no-eval", action="store_true", help="skip the analogy/WordSim/SimLex evaluation")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=pretrain)

    n = subparsers.add_parser("neighbors", help="nearest words in a trained word2vec model",
                              description="Print the nearest neighbours (cosine) of words, or answer "
                                          "an analogy a : b :: c : ? with --analogy a b c.")
    n.add_argument("dir", help="a directory written by `minitl pretrain word2vec`")
    n.add_argument("words", nargs="*", help="words to look up")
    n.add_argument("--topn", type=positive_int, default=10, help="neighbours shown per word")
    n.add_argument("--analogy", nargs=3, metavar=("A", "B", "C"), help="a : b :: c : ? (b - a + c)")
    n.set_defaults(func=neighbors)


def _sentences(spec):
    import os
    from minitl.text.words import tokenize
    if os.path.isfile(spec):
        with open(spec, encoding="utf-8") as f:
            docs = [line for line in f if line.strip()]
    else:
        from minitl.data import corpus
        docs = corpus(spec, split="train")
    return [t for t in (tokenize(d) for d in docs) if t]


def pretrain(args):
    import minitl
    from minitl.models.word2vec import Word2Vec, Word2VecConfig
    try:
        sentences = _sentences(args.corpus)
    except (KeyError, ValueError, OSError) as e:
        print(f"minitl pretrain word2vec: corpus {args.corpus!r}: {e}", file=sys.stderr)
        return 2
    minitl.manual_seed(args.seed)
    cfg = Word2VecConfig(sg=args.sg, dim=args.dim, epochs=args.epochs, window=args.window,
                         negative=args.negative, min_count=args.min_count, sample=args.sample,
                         alpha=args.alpha, workers=args.workers)
    model = Word2Vec(cfg)
    vocab = model.build_vocab(sentences)
    print(f"corpus {args.corpus}: {len(sentences)} documents, {sum(map(len, sentences))} tokens, "
          f"vocabulary {len(vocab) - 1} words (min_count {cfg.min_count})")
    stats = model.train(sentences, progress=not args.quiet)
    print(f"trained {stats['effective_words']} effective words in {stats['seconds']:.1f} s "
          f"({stats['words_per_s']:.0f} words/s); final loss {stats['epochs'][-1]['loss']:.4f}")
    wv = model.wv
    metrics = {}
    if not args.no_eval:
        from minitl.models.word2vec_eval import evaluate
        metrics = evaluate(wv)
        print(f"analogies {metrics['analogy_acc']:.2%} of {metrics['analogy_covered']} covered questions "
              f"(coverage {metrics['analogy_coverage']:.1%}); WordSim-353 rho "
              f"{metrics['wordsim_spearman']:.3f}; SimLex-999 rho {metrics['simlex_spearman']:.3f}")
    from minitl.models.word2vec_eval import untrained_warning
    warning = untrained_warning(wv) if len(wv) >= 3 else None
    if warning:
        print(f"warning: {warning}")
    for w in [w for w in PROBES if w in wv][:6]:
        print(f"  {w:10s} " + ", ".join(n for n, _ in wv.most_similar(w, topn=6)))
    where = model.save(args.out, vectors_txt=True, meta={
        "corpus": args.corpus, "train": {k: v for k, v in stats.items() if k != "epochs"},
        "loss_per_epoch": [e["loss"] for e in stats["epochs"]], "metrics": metrics})
    try:
        import os
        from minitl.viz.embeddings import DEFAULT_GROUPS, DEFAULT_PAIRS, plot_pca
        plot_pca(wv, DEFAULT_GROUPS, os.path.join(where, "pca.png"), pairs=DEFAULT_PAIRS)
        print(f"saved {where} (vectors.txt in word2vec text format, pca.png)")
    except ValueError as e:  # too few of the plotted words in this vocabulary
        print(f"saved {where} (no PCA plot: {e})")
    return 0


def neighbors(args):
    from minitl.models.word2vec import load_vectors
    try:
        wv = load_vectors(args.dir)
    except (FileNotFoundError, ValueError) as e:
        print(f"minitl neighbors: {e}", file=sys.stderr)
        return 2
    if not args.words and not args.analogy:
        print("minitl neighbors: give words to look up, or --analogy A B C", file=sys.stderr)
        return 2
    from minitl.models.word2vec_eval import untrained_warning
    warning = untrained_warning(wv) if len(wv) >= 3 else None
    if warning:
        print(f"minitl neighbors: warning: {warning}", file=sys.stderr)
    try:
        if args.analogy:
            a, b, c = args.analogy
            print(f"{a} : {b} :: {c} : ?   ({b} - {a} + {c})")
            for w, sim in wv.most_similar(positive=[b, c], negative=[a], topn=args.topn):
                print(f"  {w:20s} {sim:.3f}")
        for word in args.words:
            found = wv.most_similar(word, topn=args.topn)
            print(word)
            for w, sim in found:
                print(f"  {w:20s} {sim:.3f}")
    except KeyError as e:
        print(f"minitl neighbors: {e.args[0]}", file=sys.stderr)
        return 1
    return 0
