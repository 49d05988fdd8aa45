"""minitl.config: the matmul switch lives here with the other switches."""
import numpy as np
import pytest

from minitl import config
from minitl.tensor import Tensor


def test_matmul_switch_forces_the_path_and_says_so(capsys):
    a = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    b = np.random.default_rng(1).normal(size=(7, 3)).astype(np.float32)
    outs, before = {}, config.MATMUL
    for mode, words in [("numba", "numba kernel (forced (minitl.config.MATMUL=numba))"),
                        ("blas", "numpy BLAS (forced (minitl.config.MATMUL=blas))")]:
        with config.matmul(mode), config.debug(True):
            outs[mode] = (Tensor(a) @ Tensor(b)).data
        assert words in capsys.readouterr().out
    assert config.MATMUL == before                            # the context manager put it back
    np.testing.assert_allclose(outs["numba"], outs["blas"], rtol=1e-5, atol=1e-6)
    with config.matmul("numba"), config.debug(True):            # integers never go to the float kernel
        Tensor(np.ones((2, 2), np.int64)) @ Tensor(np.ones((2, 2), np.int64))
    assert "numpy BLAS" in capsys.readouterr().out


def test_matmul_switch_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match=r"matmul mode 'gpu': expected one of \('auto', 'numba', 'blas'\)"):
        config.set_matmul("gpu")
    with pytest.raises(ValueError, match="matmul mode 'gpu'"):
        config.matmul("gpu")
    before = config.MATMUL
    config.set_matmul("blas")
    try:
        assert config.MATMUL == "blas"
    finally:
        config.set_matmul(before)
