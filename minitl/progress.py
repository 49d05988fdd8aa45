"""A small progress bar (tqdm's look, no dependency).

    bar = Progress(total=1000, desc="pretrain gpt", unit="step")
    for step in range(1000):
        ...
        bar.update(1, loss=f"{loss:.3f}", tok_s=f"{rate:.0f}")
    bar.close()

It redraws at most every ``min_interval`` seconds, writes to stderr, and, when
stderr is not a terminal (CI, a log file), prints a plain line every
``log_every`` percent instead of carriage returns.
"""
import sys
import time
from typing import Optional, TextIO


def _fmt_time(s: float) -> str:
    s = int(s)
    return f"{s // 60:02d}:{s % 60:02d}" if s < 3600 else f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Progress:
    """A progress bar: ``update(n, **postfix)`` as work is done, ``close()`` at the end (or ``with``).

    Args:
        total: the amount of work (None: a counter without a bar).  desc: the label.  unit: what is counted.
        file: where to write (default stderr).  min_interval: seconds between redraws on a terminal.
        disable: write nothing.  log_every: percent between plain lines when ``file`` is not a terminal.
    """

    def __init__(self, total: Optional[int] = None, desc: str = "", unit: str = "it", file: Optional[TextIO] = None,
                 min_interval: float = 0.2, disable: bool = False, log_every: float = 10) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.file = file if file is not None else sys.stderr
        self.min_interval, self.disable = min_interval, disable
        self.n = 0
        self.postfix = {}
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._tty = hasattr(self.file, "isatty") and self.file.isatty()
        self._log_every = log_every
        self._next_log_pct = log_every

    def update(self, n: int = 1, **postfix) -> None:
        """Count ``n`` more units done; ``postfix`` values are shown after the bar (``loss=...``)."""
        self.n += n
        if postfix:
            self.postfix.update(postfix)
        now = time.perf_counter()
        if self.disable:
            return
        if self._tty:
            if now - self._last_draw >= self.min_interval or (self.total and self.n >= self.total):
                self._last_draw = now
                self.file.write("\r" + self.line() + "\033[K")
                self.file.flush()
        elif self.total:
            pct = 100.0 * self.n / self.total
            if pct >= self._next_log_pct:
                while self._next_log_pct <= pct:
                    self._next_log_pct += self._log_every
                self.file.write(self.line() + "\n")
                self.file.flush()

    def set_postfix(self, **postfix) -> None:
        """Set values shown after the bar without counting progress."""
        self.postfix.update(postfix)

    def line(self) -> str:
        """The bar as one line of text (percent, bar, count, elapsed<remaining, rate, postfix)."""
        elapsed = time.perf_counter() - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        post = " ".join(f"{k}={v}" for k, v in self.postfix.items())
        head = f"{self.desc}: " if self.desc else ""
        if self.total:
            frac = min(1.0, self.n / self.total)
            filled = int(24 * frac)
            eta = (self.total - self.n) / rate if rate > 0 else 0.0
            return (f"{head}{100 * frac:3.0f}%|{'#' * filled}{'.' * (24 - filled)}| {self.n}/{self.total} "
                    f"[{_fmt_time(elapsed)}<{_fmt_time(eta)}, {rate:.1f} {self.unit}/s] {post}").rstrip()
        return f"{head}{self.n} {self.unit} [{_fmt_time(elapsed)}, {rate:.1f} {self.unit}/s] {post}".rstrip()

    def close(self) -> None:
        """Draw the final state and end the line (on a terminal)."""
        if not self.disable and self._tty:
            self.file.write("\r" + self.line() + "\033[K\n")
            self.file.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc):
        self.close()
