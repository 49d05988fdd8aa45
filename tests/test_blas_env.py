"""``import minitl`` makes OpenBLAS's idle threads sleep at once (they would spin and take the cores
the Numba kernels' threads need), and keeps a value the user set."""
import os
import subprocess
import sys

CODE = "import minitl, os, numpy; print(os.environ['OPENBLAS_THREAD_TIMEOUT'])"


def _run(env):
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_sets_openblas_thread_timeout():
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    assert _run(env) == "4"


def test_user_value_is_kept():
    assert _run({**os.environ, "OPENBLAS_THREAD_TIMEOUT": "12"}) == "12"
