"""The lessons' tiny configurator: constants on top of a script, overridable
from the command line as ``--key=value`` (nanoGPT's idea, without ``exec``).

    # -----------------------------------------------------------------------
    config = dict(steps=200, lr=0.05, seed=0)   # the knobs of this lesson
    # -----------------------------------------------------------------------
    args = minitl.lesson.parse(config, __doc__)  # --steps=50 --lr=0.1, --smoke, --full, --out DIR

Every lesson also understands ``--quick`` (the default), ``--full``,
``--smoke`` (seconds; used by the tests) and ``--out DIR``; ``args.mode`` says
which.  A value is converted to the type of its default, and an unknown key is
an error that lists the known ones.
"""
import argparse
import json


def _convert(key, text, default):
    if isinstance(default, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--{key}: expected true/false, got {text!r}")
    if default is None or isinstance(default, str):
        return text
    try:
        return type(default)(json.loads(text)) if isinstance(default, (list, tuple)) else type(default)(text)
    except ValueError:
        raise ValueError(f"--{key}: expected a {type(default).__name__} like {default!r}, got {text!r}") from None


def parse(config, doc=None, argv=None):
    """Return an ``argparse.Namespace`` with the config keys (overridden) plus mode and out."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick")
    mode.add_argument("--full", dest="mode", action="store_const", const="full")
    mode.add_argument("--smoke", dest="mode", action="store_const", const="smoke")
    parser.add_argument("--out", default="runs/lessons")
    known, rest = parser.parse_known_args(argv)
    values = dict(config)
    for item in rest:
        if not item.startswith("--") or "=" not in item:
            parser.error(f"unrecognized argument {item!r}: overrides are written --key=value")
        key, text = item[2:].split("=", 1)
        if key not in config:
            parser.error(f"unknown setting {key!r}; this lesson has: {', '.join(sorted(config))}")
        try:
            values[key] = _convert(key, text, config[key])
        except ValueError as e:
            parser.error(str(e))
    return argparse.Namespace(mode=known.mode or "quick", out=known.out, **values)
