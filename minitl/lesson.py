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

Run as a script, a lesson also keeps a transcript: everything it prints goes to
the terminal and to ``OUT/<lesson>.<mode>.txt``, with the command line, the
machine and the wall/CPU seconds at the end.  ``python -m minitl.lesson collect``
copies the transcripts and plots into ``lessons/expected/`` and rewrites the
expected-outputs block of ``lessons/README.md`` from them, so the README never
shows a number typed by hand.
"""
import argparse
import atexit
import glob
import json
import os
import shutil
import sys
import time


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
    args = argparse.Namespace(mode=known.mode or "quick", out=known.out, **values)
    if argv is None and sys.argv and sys.argv[0].endswith(".py"):
        record(args, sys.argv)
    return args


class _Tee:
    """A stdout that also writes to a file."""

    def __init__(self, stream, file):
        self.stream, self.file = stream, file

    def write(self, text):
        self.file.write(text)
        return self.stream.write(text)

    def flush(self):
        self.file.flush()
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def record(args, argv):
    """Tee stdout into ``args.out/<script>.<mode>.txt``; the footer says the command, machine and time."""
    from minitl.report import machine
    stem = os.path.splitext(os.path.basename(argv[0]))[0]
    os.makedirs(args.out, exist_ok=True)
    f = open(os.path.join(args.out, f"{stem}.{args.mode}.txt"), "w", encoding="utf-8")
    sys.stdout = _Tee(sys.stdout, f)
    wall, cpu = time.perf_counter(), time.process_time()

    def footer():
        sys.stdout.flush()
        sys.stdout = sys.stdout.stream                  # the real stdout again, before the file closes
        command = " ".join([f"python lessons/{stem}.py"] + argv[1:])
        f.write(f"\n[`{command}`: {time.perf_counter() - wall:.0f} s wall, {time.process_time() - cpu:.0f} s CPU "
                f"in this process, on {machine()}, {time.strftime('%Y-%m-%d')}]\n")
        f.close()
    atexit.register(footer)


def collect(runs="runs/lessons", mode="quick", to="lessons/expected", readme="lessons/README.md"):
    """Copy each lesson's ``runs/<lesson>.<mode>.txt`` and its PNGs into ``to``; rewrite ``readme``'s
    ``expected-<mode>`` block from them.  Returns the lessons found."""
    from minitl.report import splice
    os.makedirs(to, exist_ok=True)
    found, parts = [], []
    for path in sorted(glob.glob(os.path.join(runs, f"*.{mode}.txt"))):
        stem = os.path.basename(path)[:-len(f".{mode}.txt")]
        found.append(stem)
        shutil.copyfile(path, os.path.join(to, os.path.basename(path)))
        with open(path, encoding="utf-8") as f:
            text = f.read().rstrip()
        last = text.rsplit("\n", 1)[-1]
        pngs = sorted(p for p in glob.glob(os.path.join(runs, stem.split("_")[0] + "_*.png")))
        images = []
        for png in pngs:
            shutil.copyfile(png, os.path.join(to, os.path.basename(png)))
            rel = os.path.relpath(os.path.join(to, os.path.basename(png)), os.path.dirname(os.path.abspath(readme)))
            images.append(f"![{os.path.basename(png)}]({rel})")
        parts.append(f"<details><summary><b>{stem}</b> {last.strip('[]')}</summary>\n\n```text\n{text}\n```\n\n"
                     + "\n".join(images) + "\n\n</details>\n")
    if found:
        splice(readme, f"expected-{mode}", "\n".join(parts))
    return found


if __name__ == "__main__":
    cmd = argparse.ArgumentParser(prog="python -m minitl.lesson",
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                  description="collect the lessons' transcripts and plots into lessons/README.md")
    cmd.add_argument("action", choices=["collect"])
    cmd.add_argument("--runs", default="runs/lessons", help="where the lessons ran (their --out)")
    cmd.add_argument("--mode", default="quick", choices=["smoke", "quick", "full"])
    cmd.add_argument("--to", default="lessons/expected", help="where the copies go (committed)")
    cmd.add_argument("--readme", default="lessons/README.md")
    a = cmd.parse_args()
    try:
        print("collected:", ", ".join(collect(a.runs, a.mode, a.to, a.readme)) or "nothing")
    except ValueError as e:
        cmd.exit(2, f"error: {e}\n")
