"""Numba kernels on plain numpy arrays; each has a numpy twin in reference.py."""
