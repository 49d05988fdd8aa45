"""Global switches, in one place, so a learner can find every knob.

* ``DEBUG``    -- print every op with its input and output shapes
                  (env ``MINITL_DEBUG=1`` or ``minitl.config.set_debug(True)``).
* ``BACKEND``  -- where fused ops get their arithmetic: ``"numba"`` (the JIT
                  kernels, default) or ``"reference"`` (the plain-numpy twins in
                  ``minitl/kernels/reference.py``).  Env ``MINITL_BACKEND``.
* ``FUSED``    -- whether ``minitl.nn.functional`` uses the fused ops
                  (softmax-cross-entropy, layer_norm, gelu, attention) or
                  composes them from the primitive ops (env ``MINITL_FUSED=0``).
* ``ANOMALY``  -- check every op's output for NaN/Inf and name the op that made
                  it (``minitl.detect_anomaly()``; slow, for debugging).
* ``MATMUL``   -- which matmul ``MatMul`` runs: ``"auto"`` (the crossover measured in
                  ``minitl/kernels/dispatch.py``: BLAS on the development machine),
                  ``"numba"`` (the kernel) or ``"blas"`` (numpy); env ``MINITL_MATMUL``,
                  ``set_matmul(mode)`` or ``with minitl.config.matmul("numba"):``.

Everything reads these module attributes at call time, so flipping them takes
effect immediately; the context managers below restore the old value.
"""
import contextlib
import os


def _env_flag(name, default):
    v = os.environ.get(name)
    if v is None:
        return default
    return v.strip().lower() not in ("", "0", "false", "no", "off")


DEBUG = _env_flag("MINITL_DEBUG", False)
BACKEND = os.environ.get("MINITL_BACKEND", "numba")
FUSED = _env_flag("MINITL_FUSED", True)
ANOMALY = _env_flag("MINITL_ANOMALY", False)
MATMUL = os.environ.get("MINITL_MATMUL", "auto").strip().lower()
GRAD_ENABLED = True

_BACKENDS = ("numba", "reference")
if BACKEND not in _BACKENDS:
    raise ValueError(f"MINITL_BACKEND={BACKEND!r}: expected one of {_BACKENDS}")
_MATMULS = ("auto", "numba", "blas")
if MATMUL not in _MATMULS:
    raise ValueError(f"MINITL_MATMUL={MATMUL!r}: expected one of {_MATMULS}")


def set_debug(on=True):
    global DEBUG
    DEBUG = bool(on)


def set_backend(name):
    """Choose ``"numba"`` kernels or their ``"reference"`` numpy twins."""
    global BACKEND
    if name not in _BACKENDS:
        raise ValueError(f"backend {name!r}: expected one of {_BACKENDS}")
    BACKEND = name


def set_matmul(mode):
    """Force ``"numba"`` or ``"blas"`` for every matmul, or go back to the measured ``"auto"``."""
    global MATMUL
    if mode not in _MATMULS:
        raise ValueError(f"matmul mode {mode!r}: expected one of {_MATMULS}")
    MATMUL = mode


@contextlib.contextmanager
def _swap(name, value):
    g = globals()
    old = g[name]
    g[name] = value
    try:
        yield
    finally:
        g[name] = old


def backend(name):
    """``with minitl.config.backend("reference"): ...`` runs fused ops on the numpy twins."""
    if name not in _BACKENDS:
        raise ValueError(f"backend {name!r}: expected one of {_BACKENDS}")
    return _swap("BACKEND", name)


def matmul(mode):
    """``with minitl.config.matmul("numba"): ...`` runs every matmul on the Numba kernel."""
    if mode not in _MATMULS:
        raise ValueError(f"matmul mode {mode!r}: expected one of {_MATMULS}")
    return _swap("MATMUL", mode)


def fused(on):
    """``with minitl.config.fused(False): ...`` composes everything from primitives."""
    return _swap("FUSED", bool(on))


def debug(on=True):
    return _swap("DEBUG", bool(on))


def detect_anomaly(on=True):
    """Context manager: raise as soon as an op outputs NaN or Inf, naming the op."""
    return _swap("ANOMALY", bool(on))


def no_grad():
    """Context manager: ops record no graph (like ``torch.no_grad()``)."""
    return _swap("GRAD_ENABLED", False)
