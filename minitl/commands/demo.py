"""``minitl demo``: the main job -- word2vec features vs. training from scratch on tweets."""
from minitl.commands._args import nonnegative_int, positive_int


def register(sub, pretrain_sub):
    p = sub.add_parser("demo", help="word2vec features vs bag of words at 100/1,000 labels "
                                    "(the first experiment; `minitl tour` is the main job)")
    p.add_argument("--full", action="store_true", help="more word2vec epochs (slower, better vectors)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (word2vec, the labelled draws)")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help="word2vec epochs (default: 10, or 20 with --full)")
    p.add_argument("--labels", type=positive_int, nargs="+", default=[100, 1000],
                   help="labelled tweets per probe (one cell per number)")
    p.add_argument("--draws", type=positive_int, default=3,
                   help="random draws of the labelled tweets per cell (mean ± std over them)")
    p.add_argument("--out", default="runs/demo", help="where results.json and demo.png go")
    p.set_defaults(func=_run)


def _run(args):
    from minitl.transfer import demo
    demo.run(quick=not args.full, seed=args.seed, out=args.out, epochs=args.epochs,
             label_counts=args.labels, draws=args.draws)
