"""Small helpers shared by the benchmarks: timing, peer detection, the final JSON line.

Every benchmark prints, as its last stdout line, one JSON object
``{"benchmark": NAME, "config": {...}, "results": {...}}`` (``emit``).
"""
import importlib.util
import json
import os
import sys
import time

# Run from a plain checkout too (``python benchmarks/bench_x.py`` without ``pip install -e .``).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(1, _ROOT)


def timeit(fn, repeat=5, warmup=1):
    """Best wall-clock seconds of ``repeat`` calls of ``fn()``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def peer_available(name):
    """Whether a peer library (``"torch"``, ``"gensim"``) can be imported, without importing it."""
    return importlib.util.find_spec(name) is not None


def emit(name, config, results):
    """Print the benchmark's final line: one JSON object."""
    print(json.dumps({"benchmark": name, "config": config, "results": results}), flush=True)


class PeerProcess:
    """A peer (PyTorch) timed in a process of its own, driven line by line over a pipe.

    Why not in the benchmark's process: ``import minitl`` sets process-wide things that are right
    for minitl and not for the peer -- above all GNU OpenMP's spin (``minitl/_process.py``), which
    PyTorch shares, and which slowed its BERT train step by 5% (``bench_train_step.py --peer-env``).
    The child is started with ``argv`` (``python <argv>``), without minitl's settings in its
    environment, and must answer every request line with one JSON line; ``ask`` sends a request
    and returns the reply.
    Its first line (after the setup) is read by ``ready``.
    """

    def __init__(self, argv, env=None):
        import subprocess
        clean = {k: v for k, v in os.environ.items()
                 if k not in ("GOMP_SPINCOUNT", "OPENBLAS_THREAD_TIMEOUT", "NUMBA_THREADING_LAYER")}
        self.proc = subprocess.Popen([sys.executable, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env={**clean, **(env or {})})

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"peer process {self.proc.args[1:]} ended (exit {self.proc.wait()})")
        return json.loads(line)

    def ready(self):
        return self._read()

    def ask(self, request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def peer_malloc():
    """Give the PyTorch process minitl's malloc setting (it is no one framework's: it spares any
    train step the page faults of its freed arrays) -- but not minitl's OpenMP spin, which would
    slow PyTorch down.  ``minitl/_process.py`` is loaded as a file: importing
    the package would apply all of its settings."""
    import importlib.util
    path = os.path.join(_ROOT, "minitl", "_process.py")
    spec = importlib.util.spec_from_file_location("minitl_process_settings", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.keep_freed_memory()
