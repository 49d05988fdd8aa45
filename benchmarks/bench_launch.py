"""What one parallel kernel launch costs on each Numba threading layer (the reason for minitl's pick).

    python benchmarks/bench_launch.py [--quick]

A train step launches about 60 parallel kernels, most of them a fraction of a millisecond, so the
cost of waking the thread pool matters.  For each layer -- Numba's ``workqueue``, GNU OpenMP with
minitl's short spin (``GOMP_SPINCOUNT=3000``) and with about OpenMP's default spin
(``GOMP_SPINCOUNT=300000``) -- a fresh process (2 threads) times an almost empty ``prange`` loop,
launched again and again: back to back, and with a pause of 20 us or 200 us between launches
(in a train step the launches are separated by Python and by BLAS calls).  Prints the median in
microseconds; the last stdout line is one JSON object.  ``minitl/_process.py`` explains the
choice these numbers (and the train step's) support.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit  # noqa: E402

LAYERS = {"workqueue": {"NUMBA_THREADING_LAYER": "workqueue"},
          "omp, GOMP_SPINCOUNT=3000 (minitl's)": {"NUMBA_THREADING_LAYER": "omp", "GOMP_SPINCOUNT": "3000"},
          "omp, GOMP_SPINCOUNT=300000": {"NUMBA_THREADING_LAYER": "omp", "GOMP_SPINCOUNT": "300000"}}


def child(n):
    import time
    import minitl  # noqa: F401  (its process settings, as in training)
    import numba
    import numpy as np

    @numba.njit(parallel=True)
    def touch(x):
        for i in numba.prange(x.shape[0]):
            x[i] += 1.0
    x = np.zeros(64, np.float32)
    touch(x)
    res = {"layer": numba.threading_layer()}
    for gap in (0.0, 20e-6, 200e-6):
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            touch(x)
            ts.append(time.perf_counter() - t0)
            t1 = time.perf_counter()
            while time.perf_counter() - t1 < gap:     # busy pause: sleep() is too coarse for 20 us
                pass
        res[f"median_us_gap_{round(gap * 1e6)}us"] = round(float(np.median(ts)) * 1e6, 1)
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer launches")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child)
    n = 500 if args.quick else 3000
    results = {}
    for name, env in LAYERS.items():
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(n)], capture_output=True,
                             text=True, check=True, env={**os.environ, "NUMBA_NUM_THREADS": "2", **env})
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results[name] = r
        print(f"{name:<38} ({r['layer']}): median per launch " + ", ".join(
            f"{r[f'median_us_gap_{g}us']:.1f} us" for g in (0, 20, 200)) + " (pause 0 / 20 / 200 us)")
    emit("launch", {"launches": n, "threads": 2}, results)


if __name__ == "__main__":
    main()
