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
