"""The machine the kernels compile for: SIMD width and cache sizes, detected once at import.

The register tiles of matmul.py and attention.py hold their sums in SIMD
registers, so their shapes depend on how wide a register is and how many
there are:

* **AVX-512** (64-byte vectors, 16 float32 lanes, 32 registers): matmul's tile
  is 12 rows x 2 vectors = 12 x 32 floats (24 accumulator registers).
* **AVX2** (32-byte vectors, 8 lanes, 16 registers): 6 x 2 vectors = 6 x 16
  floats (12 accumulators + 2 of B + 1 broadcast = 15 registers), BLIS's
  Haswell shape.  The 12 x 32 tile here would need 48 registers and spill.
* **anything else** (SSE, ARM NEON, ...): 16-byte vectors, the AVX2 shape.
  The tile is plain LLVM IR (``<4 x float>`` and ``llvm.fma``), so LLVM
  lowers it for whatever CPU it targets: no x86 intrinsic is named anywhere.

What counts is what Numba compiles for, not only what the CPU has: Numba
targets ``NUMBA_CPU_NAME`` (default: this CPU) with ``NUMBA_CPU_FEATURES``
(default: *this CPU's* features, even when NUMBA_CPU_NAME names another).  So
``NUMBA_CPU_NAME=haswell`` alone still compiles AVX-512 code on an AVX-512
machine; ``NUMBA_CPU_NAME=haswell NUMBA_CPU_FEATURES=`` (empty) compiles for
a real Haswell.  The detection below reads the same two settings.

Cache sizes pick the blocking: matmul's reduction block KB keeps one packed
B micro-panel (KB x NR floats) in half of L1, and its rows per task keep the
packed A block in a quarter of L2.
"""
import os

import numba

# x86 CPU names (LLVM's) whose default feature set includes AVX-512F
_AVX512_CPUS = ("knl", "knm", "skylake-avx512", "skx", "cascadelake", "cooperlake", "cannonlake",
                "icelake-client", "icelake-server", "rocketlake", "tigerlake", "sapphirerapids",
                "graniterapids", "graniterapids-d", "emeraldrapids", "diamondrapids", "znver4", "znver5",
                "x86-64-v4")
_AVX2_CPUS = ("haswell", "broadwell", "skylake", "kabylake", "coffeelake", "cometlake", "alderlake",
              "raptorlake", "meteorlake", "arrowlake", "lunarlake", "gracemont", "znver1", "znver2", "znver3",
              "bdver4", "x86-64-v3")


def _arch():
    import llvmlite.binding as ll
    return ll.get_process_triple().split("-")[0]


def _features_flags(s):
    """'+avx2,-avx512f,...' -> {'avx2': True, 'avx512f': False}."""
    out = {}
    for f in (s or "").split(","):
        f = f.strip()
        if len(f) > 1 and f[0] in "+-":
            out[f[1:]] = f[0] == "+"
    return out


def _target():
    """(cpu name, feature flags) Numba compiles for, read the way Numba reads them."""
    import llvmlite.binding as ll
    name = numba.config.CPU_NAME or ll.get_host_cpu_name()
    if numba.config.CPU_FEATURES is not None:
        return name, _features_flags(numba.config.CPU_FEATURES), "NUMBA_CPU_FEATURES"
    try:
        flags = dict(ll.get_host_cpu_features())
    except RuntimeError:
        flags = {}
    if not numba.config.ENABLE_AVX:
        flags = {k: (v and not k.startswith("avx")) for k, v in flags.items()}
    return name, flags, "host"


def _simd(arch, name, flags):
    """('avx512' | 'avx2' | 'sse' | 'neon' | 'portable', vector bytes)."""
    if arch not in ("x86_64", "i386", "i686"):
        return ("neon" if arch in ("aarch64", "arm64") else "portable"), 16
    if flags.get("avx512f") or ("avx512f" not in flags and name in _AVX512_CPUS):
        return "avx512", 64
    if (flags.get("avx2") and flags.get("fma")) or ("avx2" not in flags and name in _AVX2_CPUS + _AVX512_CPUS):
        return "avx2", 32
    return "sse", 16


def _cache_bytes(name, default):
    try:
        v = os.sysconf(name)
        return v if v and v > 0 else default
    except (ValueError, OSError, AttributeError):
        return default


def detect():
    """The machine parameters the kernels are built with (a dict; see ``machine_info``)."""
    arch = _arch()
    name, flags, source = _target()
    simd, vb = _simd(arch, name, flags)
    l1 = _cache_bytes("SC_LEVEL1_DCACHE_SIZE", 32 * 1024)
    l2 = _cache_bytes("SC_LEVEL2_CACHE_SIZE", 512 * 1024)
    if vb == 64:
        mr, nv = 12, 2        # 24 of 32 zmm registers hold the tile
    else:
        mr, nv = 6, 2         # 12 of 16 ymm/xmm registers hold the tile
    nr = nv * vb // 4         # float32 columns of the tile
    kb = max(64, min(512, (l1 // 2) // (nr * 4) // 16 * 16))      # B micro-panel in half of L1
    step = mr * 4 // _gcd(mr, 4)                                  # row blocks: whole tiles, multiple of 4
    mb = max(step, min(11 * 12, (l2 // 4) // (kb * 4)) // step * step)   # A block in a quarter of L2
    return {
        "arch": arch, "cpu_name": name, "features_from": source, "simd": simd, "vector_bytes": vb,
        "float32_lanes": vb // 4, "float64_lanes": vb // 8,
        "l1d_bytes": int(l1), "l2_bytes": int(l2),
        "matmul_tile": (mr, nr), "matmul_vectors_per_row": nv, "matmul_kb": kb, "matmul_mb_max": mb,
        "attention_tile": (4, nr), "jit": not numba.config.DISABLE_JIT,
        "threading_layer": (numba.config.THREADING_LAYER if numba.config.THREADING_LAYER != "default"
                            else numba.config.THREADING_LAYER_PRIORITY[0]),     # kernels/__init__.py's pick
        "threads": numba.config.NUMBA_NUM_THREADS,
    }


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


INFO = detect()
VECTOR_BYTES = INFO["vector_bytes"]


def machine_info():
    """What the kernels detected about this machine, once, at import.

    Returns:
        dict: ``simd`` ("avx512", "avx2", "sse", "neon" or "portable"),
        ``vector_bytes``, ``float32_lanes``, cache sizes, the matmul and
        attention register tiles (rows, float32 columns), matmul's blocking
        (``matmul_kb``, ``matmul_mb_max``), the CPU name Numba targets and
        whether the JIT is on.
    """
    return dict(INFO)
