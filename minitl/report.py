"""Generated sections of markdown files: a block between two markers, rewritten by a script.

The README's results and the lessons' expected outputs are never typed by hand:
a command writes them between markers such as

    <!-- BEGIN claims (written by `minitl experiment claims --readme README.md`) -->
    ...
    <!-- END claims -->

and :func:`splice` replaces what lies between (the markers stay, so the next
run finds them again).  Text outside the markers is never touched.
"""
import os
import re


def markers(name, how):
    """The (begin, end) marker lines of the block ``name``; ``how`` says which command writes it."""
    return f"<!-- BEGIN {name} (written by `{how}`) -->", f"<!-- END {name} -->"


def splice(path, name, body):
    """Replace the block ``name`` in the markdown file ``path`` by ``body``; return the new text.

    Args:
        path: a markdown file holding ``<!-- BEGIN name ... -->`` and ``<!-- END name -->``.
        name: the block's name (letters, digits, ``-`` and ``_``).
        body: the new content (markdown).
    Raises:
        ValueError: the markers are missing, repeated or out of order (the file is left as it was).
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    begin = re.compile(r"^<!-- BEGIN " + re.escape(name) + r"\b[^\n]*-->$", re.M)
    end = re.compile(r"^<!-- END " + re.escape(name) + r" -->$", re.M)
    b, e = list(begin.finditer(text)), list(end.finditer(text))
    if len(b) != 1 or len(e) != 1 or e[0].start() < b[0].end():
        raise ValueError(f"{path}: expected one '<!-- BEGIN {name} ... -->' line followed by one "
                         f"'<!-- END {name} -->' line, found {len(b)} BEGIN and {len(e)} END")
    new = text[:b[0].end()] + "\n" + body.strip("\n") + "\n" + text[e[0].start():]
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(new)
    os.replace(tmp, path)
    return new


def cpu_model():
    """The CPU's model name ("AMD EPYC"), from /proc/cpuinfo where there is one."""
    import platform
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine():
    """One line saying which machine a figure comes from: CPU model, Numba's target and vector
    width, cores (e.g. "AMD EPYC (znver4, avx512), 2 cores")."""
    from minitl.kernels.machine import machine_info
    info = machine_info()
    return f"{cpu_model()} ({info['cpu_name']}, {info['simd']}), {os.cpu_count()} cores"


if __name__ == "__main__":
    import argparse
    import sys
    cmd = argparse.ArgumentParser(prog="python -m minitl.report",
                                  description="rewrite a markdown file's generated block from a file a script wrote")
    cmd.add_argument("target", help="the markdown file holding the block's markers (e.g. README.md)")
    cmd.add_argument("name", help="the block's name")
    cmd.add_argument("source", help="the markdown to put there (e.g. runs/lessons/10_timeline.md)")
    a = cmd.parse_args()
    try:
        with open(a.source, encoding="utf-8") as f:
            splice(a.target, a.name, f.read())
    except (OSError, ValueError) as e:
        cmd.exit(2, f"error: {e}\n")
    print(f"{a.target}: block {a.name!r} rewritten from {a.source}")
    sys.exit(0)
