"""One source of randomness: ``minitl.manual_seed(n)``.

Every random draw in minitl (weight init, dropout masks, data shuffling, MLM
masking, word2vec negative sampling) comes from ``minitl.random.rng()``, a
``numpy.random.Generator`` reset by ``manual_seed``.  Same seed, same numbers --
except where a Numba kernel updates weights from several threads at once
(word2vec's Hogwild training), which that kernel's docstring says.

Numba kernels that need randomness get an integer seed drawn from this
generator (``next_seed()``) so they stay reproducible too.
"""
import numpy as np

_SEED = 0
_RNG = np.random.default_rng(0)


def manual_seed(n):
    """Reset the global generator; returns it (like ``torch.manual_seed``)."""
    global _RNG, _SEED
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {n!r}")
    _SEED = int(n)
    _RNG = np.random.default_rng(_SEED)
    return _RNG


def initial_seed():
    return _SEED


def rng():
    """The global ``numpy.random.Generator``."""
    return _RNG


def next_seed():
    """A fresh 31-bit integer seed for a Numba kernel, drawn from the global generator."""
    return int(_RNG.integers(0, 2**31 - 1))


def get_state():
    """The generator's state, a JSON-able dict (saved in checkpoints for resume)."""
    return _RNG.bit_generator.state


def set_state(state):
    _RNG.bit_generator.state = state
