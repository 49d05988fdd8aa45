"""The ``minitl`` command line.

Each group of subcommands lives in its own module under ``minitl/commands/``
and exposes ``register(subparsers, pretrain_subparsers)``.  Heavy imports
(numba, the models) happen inside the command handlers, so ``minitl --help``
stays instant.
"""
import importlib
import sys

# Modules that add subcommands, in the order they appear in ``--help``.
COMMAND_MODULES = [
    "minitl.commands.finetune",
    "minitl.commands.experiment",
    "minitl.commands.demo",
    "minitl.commands.datasets",
    "minitl.commands.word2vec",
    "minitl.commands.lm",
    "minitl.commands.elmo",
    "minitl.commands.export",
    "minitl.commands.info",
]


def build_parser():
    """The ``minitl`` parser: every subcommand's parser is a ``_args.ArgumentParser``, so each option's
    help line shows its default."""
    from minitl.commands._args import ArgumentParser
    parser = ArgumentParser(
        prog="minitl",
        description="minitl: learn transfer learning by building it (word2vec, tiny GPT, tiny BERT).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    pretrain = sub.add_parser("pretrain", help="pretrain a model on a corpus (word2vec, gpt, bert)")
    pretrain_sub = pretrain.add_subparsers(dest="model", metavar="MODEL")
    pretrain_sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:  # a command group not built yet
            if e.name != name:
                raise
            continue
        module.register(sub, pretrain_sub)
    return parser


def main(argv=None):
    """Run one command; a user's mistake is printed as ``minitl: <sentence>`` with exit status 2.

    The rule for what counts as a mistake (ValueError, OSError, OfflineError)
    is in ``minitl/commands/_errors.py``; anything else keeps its traceback, and
    ``--debug`` (anywhere) or ``MINITL_DEBUG=1`` keeps it for everything.
    """
    from minitl.commands import _errors
    argv, debug = _errors.debug_flag(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the Python traceback (or set MINITL_DEBUG=1)")
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if debug or not _errors.is_user_error(e):
            raise
        print(f"minitl: {_errors.sentence(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
