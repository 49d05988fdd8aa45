"""Run the speed benchmarks on two builds (as built, and AVX2) and write the README's speed table.

    python benchmarks/speed_report.py run              # ~10 min on 2 quiet cores: both builds
    python benchmarks/speed_report.py write --readme README.md

``run`` runs, for each build, ``bench_kernels.py --quick``, ``bench_train_step.py``
(2 threads, wall clock, with the ``torch.compile`` column; best of 6 rounds of 3 steps: the
wall clock of a 2-core VM jitters), the same at 1 thread in CPU time (best of 5 rounds), and
``bench_train_step.py --profile --threads 1``; each one's whole output goes to
``runs/bench/<build>/<name>.txt`` (its last line is the benchmark's JSON).  The AVX2 build sets
the environment in ``AVX2_ENV``:
Numba compiles for Haswell (AVX2, no AVX-512), OpenBLAS and PyTorch pick their
AVX2 kernels, so both sides of every ratio run on AVX2.  On a machine without
AVX-512 the "as built" column is already AVX2.

``write`` reads those files and writes ``docs/results/speed.md`` (and their JSON
lines to ``docs/results/speed.json``) and, with
``--readme``, the README block ``speed``: every figure in it comes from them.
Run ``run`` on a quiet machine: the 2-thread figures are wall clock.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time

import _common  # noqa: F401  (puts the repository on sys.path)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "runs", "bench")
AVX2_ENV = {"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": "", "OPENBLAS_CORETYPE": "Haswell",
            "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
BUILDS = {"as-built": {}, "avx2": AVX2_ENV}
RUNS = {"kernels": ["bench_kernels.py", "--quick"],
        "train_step_2t": ["bench_train_step.py", "--rounds", "6", "--steps", "3"],
        "train_step_1t": ["bench_train_step.py", "--rounds", "5", "--steps", "3", "--threads", "1", "--cpu-time",
                          "--no-compile"],
        "profile": ["bench_train_step.py", "--profile", "--threads", "1"]}


REPEATS = {"kernels": 2, "train_step_2t": 3, "train_step_1t": 3, "profile": 1}   # runs of each, per build


def run(builds):
    for build in builds:
        os.makedirs(os.path.join(OUT, build), exist_ok=True)
        for old in glob.glob(os.path.join(OUT, build, "*.txt")):
            os.remove(old)                      # a table never mixes this run's files with an older run's
        for name, args in RUNS.items():
            for i in range(REPEATS[name]):
                path = os.path.join(OUT, build, f"{name}.{i}.txt")
                print(f"[{build}] {' '.join(args)} -> {os.path.relpath(path, ROOT)}", flush=True)
                t0 = time.perf_counter()
                with open(path + ".tmp", "w") as f:
                    subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", args[0]), *args[1:]],
                                   stdout=f, stderr=subprocess.STDOUT, env={**os.environ, **BUILDS[build]}, check=True)
                os.replace(path + ".tmp", path)
                print(f"  {time.perf_counter() - t0:.0f} s", flush=True)


def load(build, name):
    """The JSON of a benchmark (its last stdout line), numbers as the median over its repeats, with
    ``spread`` = {key: (min, max)} and ``repeats``; None when it has not been run."""
    runs = raw(build, name)
    if not runs:
        return None
    merged = dict(runs[0], repeats=len(runs), spread={})
    res = dict(runs[0]["results"])
    for key in runs[0]["results"]:
        vals = [r["results"].get(key) for r in runs]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            res[key] = statistics.median(vals)
            merged["spread"][key] = (min(vals), max(vals))
    merged["results"] = res
    return merged


def raw(build, name):
    """Every repeat's JSON line of one benchmark, as run."""
    out = []
    for path in sorted(glob.glob(os.path.join(OUT, build, f"{name}.*.txt"))):
        with open(path) as f:
            out.append(json.loads(f.read().strip().splitlines()[-1]))
    return out


def _x(v):
    return "n/a" if v is None else f"{v:.2f}x"


def _xr(res, key):
    """``1.16x`` with ``[1.10-1.20]`` (min-max over the repeats) after it when there were several."""
    v = res["results"].get(key)
    lo, hi = res["spread"].get(key, (v, v))
    return _x(v) + (f" [{lo:.2f}-{hi:.2f}]" if v is not None and res["repeats"] > 1 else "")


def _tok(r, kind, side):
    v = r.get(f"{side}{kind}_tokens_per_s")
    return "n/a" if v is None else f"{v:,.0f}"


def _judge(ok):
    return "" if ok is None else " **met**" if ok else " **missed**"


def rows(build):
    """[(what, measured, target)] for one build; ``measured`` ends with **met** / **missed** where the
    issue set a target."""
    k, t2, t1 = load(build, "kernels"), load(build, "train_step_2t"), load(build, "train_step_1t")
    out = []

    def add(what, text, target, ok=None):
        out.append((what, text + _judge(ok), target))
    for kind, target in (("gpt", 1.2), ("bert", 1.0)):
        for label, res in (("2 threads, wall", t2), ("1 thread, CPU time", t1)):
            if res is not None:
                r = res["results"]
                v = r[f"{kind}_speedup_vs_torch"]
                add(f"{kind.upper()} train step vs PyTorch eager, {label}",
                    f"{_xr(res, f'{kind}_speedup_vs_torch')} ({_tok(r, kind, '')} vs {_tok(r, kind, 'torch_')} tok/s)",
                    f">= {target}x",
                    None if v is None else v >= target)
        if t2 is not None:
            r = t2["results"]
            c = r.get(f"{kind}_speedup_vs_torch_compile")
            add(f"{kind.upper()} train step vs `torch.compile`, 2 threads, wall",
                f"{_xr(t2, f'{kind}_speedup_vs_torch_compile')} ({_tok(r, kind, '')} vs "
                f"{_tok(r, kind, 'torch_compile_')} tok/s)" if c else
                f"n/a: {r.get(f'torch_compile_{kind}_note', 'not run')}", ">= 1x (moonshot)",
                None if c is None else c >= 1.0)
    if t2 is not None:
        r = t2["results"]
        add("memory added by GPT training steps (peak RSS above imports + model build)",
            f"{r['gpt_train_rss_mb']:.0f} MB vs PyTorch {r['torch_gpt_train_rss_mb']:.0f} MB", "--")
    if k is not None:
        r = k["results"]
        for n in (512, 1024):
            two, one = r[f"matmul_speedup_vs_numpy_{n}"], r[f"matmul_speedup_vs_numpy_{n}_1thread_cpu"]
            add(f"matmul float32 n={n} vs numpy's BLAS, 2 threads / 1 thread CPU",
                f"{_xr(k, f'matmul_speedup_vs_numpy_{n}')} / {_xr(k, f'matmul_speedup_vs_numpy_{n}_1thread_cpu')} "
                f"({r['blas_kernel'].replace('openblas', 'OpenBLAS')})", ">= 0.8x (2 threads)",
                two >= 0.8)
        two, one = r.get("attention_speedup_vs_torch_T256"), r.get("attention_speedup_vs_torch_T256_1thread_cpu")
        add(f"fused attention fwd+bwd vs PyTorch SDPA ({k['config']['attention_shape']}), 2 threads / 1 thread CPU",
            f"{_xr(k, 'attention_speedup_vs_torch_T256')} / {_xr(k, 'attention_speedup_vs_torch_T256_1thread_cpu')}",
            ">= 1.0x on both", None if two is None else two >= 1 and one >= 1)
        add("compile, cold: the float32 kernels a lesson needs / all; then from the cache",
            f"{r['compile_seconds_cold_float32_only']:.0f} s / {r['compile_seconds_cold']:.0f} s; "
            f"{r['compile_seconds_cached']:.2f} s", "<= 30 s (float32); <= 1 s cached",
            r["compile_seconds_cold_float32_only"] <= 30 and r["compile_seconds_cached"] <= 1)
    return out


def profile_table(build):
    p = load(build, "profile")
    if p is None:
        return ""
    r = p["results"]
    cats = ["matmul", "attention", "layer ops", "optimizer", "python/tape/other"]
    lines = ["| one train step, 1 thread, CPU ms | " + " | ".join(cats) + " | total |",
             "| --- |" + " --- |" * (len(cats) + 1)]
    for kind in ("gpt", "bert"):
        for side in ("minitl", "torch"):
            row = r.get(f"{kind}_{side}")
            if not row:
                continue
            cells = [f"{1e3 * row.get(c, 0.0):.0f}" for c in cats]
            lines.append(f"| {kind.upper()} {'minitl' if side == 'minitl' else 'PyTorch eager'} | "
                         + " | ".join(cells) + f" | {1e3 * sum(row.values()):.0f} |")
    return "\n".join(lines)


def markdown():
    from minitl.report import machine
    builds = [b for b in BUILDS if load(b, "kernels") or load(b, "train_step_2t")]
    if not builds:
        raise SystemExit(f"speed_report: nothing measured under {OUT}; run `python benchmarks/speed_report.py run`")
    simd = {b: (load(b, "kernels") or load(b, "train_step_2t"))["config"].get("simd", "?") for b in builds}
    per = {b: rows(b) for b in builds}
    head = "| | " + " | ".join(f"{b} ({simd[b]})" for b in builds) + " | target |"
    lines = [f"Machine: {machine()}. `python benchmarks/speed_report.py run` (raw figures: `docs/results/speed.json`); "
             "ratios > 1: minitl faster; the median of the repeats, [min-max] after it, and the verdict on the median. The avx2 column sets " + " ".join(f"`{k}={v}`" for k, v in AVX2_ENV.items())
             + ".", "", head, "| --- |" + " --- |" * (len(builds) + 1)]
    for i, (what, _, target) in enumerate(per[builds[0]]):
        cells = [per[b][i][1] if i < len(per[b]) and per[b][i][0] == what else "n/a" for b in builds]
        lines.append(f"| {what} | " + " | ".join(cells) + f" | {target} |")
    for b in builds:
        t = profile_table(b)
        if t:
            lines += ["", f"Where one step's CPU time goes, {b} build (`python benchmarks/bench_train_step.py "
                      "--profile --threads 1`: cProfile for minitl, torch.profiler for PyTorch):", "", t]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the benchmarks (both builds) into runs/bench/")
    r.add_argument("--builds", nargs="+", default=list(BUILDS), choices=list(BUILDS), help="default: both")
    w = sub.add_parser("write", help="write docs/results/speed.md (and the README block with --readme)")
    w.add_argument("--readme", default=None, help="a markdown file with a 'speed' block to rewrite")
    args = ap.parse_args()
    if args.cmd == "run":
        return run(args.builds)
    md = markdown()
    os.makedirs(os.path.join(ROOT, "docs", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "docs", "results", "speed.md"), "w") as f:
        f.write(md)
    with open(os.path.join(ROOT, "docs", "results", "speed.json"), "w") as f:   # the raw figures, committed
        json.dump({b: {n: raw(b, n) for n in RUNS} for b in BUILDS}, f, indent=1)
    if args.readme:
        from minitl.report import splice
        splice(args.readme, "speed", md)
    print(md)


if __name__ == "__main__":
    main()
