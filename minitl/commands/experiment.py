"""``minitl experiment NAME [--smoke|--quick|--full] [--seeds N] [--out DIR]``, ``--list``, ``claims``.

    minitl experiment --list
    minitl experiment learning-curve --quick --seeds 3
    minitl experiment claims            # the table of verdicts of every experiment run so far
    minitl experiment claims --readme README.md   # ... and rewrite the README's claims block with it
"""
import argparse

from minitl.commands._args import positive_int


def register(subparsers, pretrain_subparsers):
    p = subparsers.add_parser("experiment", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                              help="rerun a claim of the course and get a verdict (csv, markdown, plot)")
    p.add_argument("name", nargs="?", help="an experiment (see --list), or 'claims' for the verdict table")
    mode = p.add_mutually_exclusive_group()
    for m, what in (("smoke", "seconds, tiny models (the tests)"), ("quick", "<= ~10 min on 2 cores (default)"),
                    ("full", "the README's numbers")):
        mode.add_argument(f"--{m}", dest="mode", action="store_const", const=m, help=what)
    p.set_defaults(mode="quick")
    p.add_argument("--seeds", type=positive_int, default=3, help="seeds per cell (mean +- std over them)")
    p.add_argument("--out", default="runs/experiments", help="csv, md, png and the cell cache go here")
    p.add_argument("--list", action="store_true", help="list the experiments and the claim each tests")
    p.add_argument("--readme", metavar="FILE", default=None,
                   help="with 'claims': also rewrite FILE's claims block (its plots go to docs/results/)")
    p.set_defaults(func=experiment)


def experiment(args):
    from minitl.transfer import experiments as E
    if args.list or not args.name:
        for name, claim in E.available().items():
            print(f"{name:<18} {claim}")
        return 0
    if args.name == "claims":
        rows, text = E.claims(args.out, readme=args.readme)
        print(text if rows else f"no experiment has written its summary to {args.out} yet")
        return 0
    E.run(args.name, mode=args.mode, seeds=args.seeds, out=args.out)
    return 0
