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
