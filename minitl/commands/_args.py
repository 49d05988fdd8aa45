"""argparse ``type=`` helpers: a bad number is refused while parsing, before anything runs.

    p.add_argument("--steps", type=positive_int, default=1000)
    p.add_argument("--lr", type=positive_float, default=3e-4)
    p.add_argument("--dropout", type=probability, default=0.1)

Each returns the parsed value or raises ``argparse.ArgumentTypeError`` with one
sentence naming the value, so argparse prints
``minitl pretrain gpt: error: argument --steps: -5 is not a positive integer``
and exits with status 2.  Floats must be finite: ``nan`` and ``inf`` are refused.
"""
import argparse
import math


def _int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _finite(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number")
    return value


def positive_int(text):
    """An integer > 0 (steps, batch size, dimensions, epochs)."""
    value = _int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer (it must be 1 or more)")
    return value


def nonnegative_int(text):
    """An integer >= 0 (a seed, a count where 0 means none)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative (it must be 0 or more)")
    return value


def positive_float(text):
    """A finite number > 0 (a learning rate, a temperature); nan and inf are refused."""
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number (it must be more than 0)")
    return value


def nonnegative_float(text):
    """A finite number >= 0 (weight decay, a threshold where 0 means off)."""
    value = _finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative (it must be 0 or more)")
    return value


def probability(text):
    """A finite number in [0, 1] (dropout, a masking rate, a fraction)."""
    value = _finite(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability (it must be between 0 and 1)")
    return value


def _shown(default):
    """A default as the user would type it: ``100 1000`` for a list."""
    return " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help line ends with its default, as ``ArgumentDefaultsHelpFormatter`` does,
    except where there is none to show (a flag's False, a None) or the help already says it."""

    def _get_help_string(self, action):
        help = action.help or ""
        default = action.default
        if ("(default" in help or default is argparse.SUPPRESS or default is None
                or isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction,
                                       argparse._StoreConstAction, argparse._HelpAction))):
            return help
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{help} (default: {_shown(default).replace('%', '%%')})".lstrip()
        return help


class ArgumentParser(argparse.ArgumentParser):
    """The parser of every minitl command: ``HelpFormatter`` unless a command asks for another, and
    an option given no help still gets a line showing its default."""

    def __init__(self, *args, formatter_class=HelpFormatter, **kwargs):
        if formatter_class is argparse.ArgumentDefaultsHelpFormatter:   # ours also leaves out "None"
            formatter_class = HelpFormatter
        super().__init__(*args, formatter_class=formatter_class, **kwargs)

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        if (action.option_strings and not action.help and action.default is not None
                and not isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction,
                                            argparse._StoreConstAction))):
            # argparse prints no line for an option without help; this one shows the default
            action.help = f"(default: {_shown(action.default)})".replace("%", "%%")
        return action
