"""Testing helpers: one shared gradient check, and Hypothesis strategies for arrays.

``grad_check(fn, *inputs)`` compares the tape's gradient with central
differences, (f(x + eps) - f(x - eps)) / 2 eps, element by element, in
float64.  ``fn`` may return any shape: it is reduced to a scalar by a fixed
random weighting, so every output element matters.

The strategies draw shapes, float64 arrays (some non-contiguous: permuted or
strided views), and pairs of shapes that broadcast.
"""
import numpy as np

from minitl.tensor import Tensor


def grad_check(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-4):
    """Assert that backward through ``fn(*tensors)`` matches numerical derivatives.

    Args:
        fn: takes Tensors (one per input) and returns a Tensor.
        inputs: float64 arrays (perturbed in place and restored; may be non-contiguous).
    Raises:
        AssertionError naming the input index, the element and both values.
    """
    arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
    for i, a in enumerate(arrays):
        if not isinstance(a, np.ndarray) or a.dtype != np.float64:
            raise TypeError(f"grad_check: input {i} must be a float64 array, got "
                            f"{type(a).__name__} {getattr(a, 'dtype', '')}")
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    weights = np.random.default_rng(0).uniform(0.5, 1.5, size=out.shape)  # loss = sum(w * out)
    out.backward(weights)

    def loss():
        return float(np.sum(weights * fn(*[Tensor(a) for a in arrays]).data))

    for i, (a, t) in enumerate(zip(arrays, tensors)):
        analytic = t.grad if t.grad is not None else np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            hi = loss()
            a[idx] = old - eps
            lo = loss()
            a[idx] = old
            numeric = (hi - lo) / (2 * eps)
            if not np.isclose(analytic[idx], numeric, atol=atol, rtol=rtol):
                raise AssertionError(
                    f"grad_check: input {i} (shape {a.shape}) element {idx}: "
                    f"backward gave {analytic[idx]!r}, central difference gave {numeric!r}")


# -- Hypothesis strategies (imported lazily: the package does not need hypothesis) --

def shapes(min_dims=1, max_dims=3, min_side=1, max_side=4):
    """Array shapes, e.g. (3,), (2, 1, 4)."""
    from hypothesis.extra import numpy as hnp
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def arrays(shape, lo=-2.0, hi=2.0, noncontiguous=None):
    """float64 arrays of ``shape`` (a tuple or a strategy) with values in [lo, hi].

    ``noncontiguous=None`` draws contiguous and non-contiguous ones alike;
    True/False forces one kind.  Non-contiguous arrays are permuted views of a
    transposed buffer or every-other-element slices of a bigger one: the same
    values, strange strides.
    """
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    shape_st = shape if isinstance(shape, st.SearchStrategy) else st.just(tuple(shape))
    kinds = ["contiguous", "permuted", "strided"] if noncontiguous is None else \
        (["permuted", "strided"] if noncontiguous else ["contiguous"])
    elements = st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=64)

    @st.composite
    def draw(draw_):
        shp = draw_(shape_st)
        kind = draw_(st.sampled_from(kinds))
        if kind == "permuted" and len(shp) >= 2:
            perm = draw_(st.permutations(range(len(shp))))
            base = draw_(hnp.arrays(np.float64, tuple(shp[p] for p in perm), elements=elements))
            return base.transpose(np.argsort(perm))   # shape shp, strides scrambled
        if kind in ("permuted", "strided") and shp:
            base = draw_(hnp.arrays(np.float64, tuple(2 * n for n in shp), elements=elements))
            return base[tuple(slice(None, None, 2) for _ in shp)]
        return draw_(hnp.arrays(np.float64, shp, elements=elements))

    return draw()


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4):
    """Tuples of shapes that broadcast together, e.g. ((2, 1, 3), (4, 3))."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, max_side=max_side
    ).map(lambda bs: bs.input_shapes)
