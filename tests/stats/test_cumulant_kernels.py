"""The one-pass moment -> cumulant kernel against the recursion by definition and closed forms."""

import numpy as np
import pytest

from sofi_dask.stats import cumulants_from_moments
from sofi_dask.stats._cumulant_kernels import cumulant_layers


def _moment_stack(rng: np.random.Generator, n_orders: int, shape: tuple[int, ...]) -> np.ndarray:
    """``[mean, m_1, ..., m_N]``: central moments of random frames (m_1 about 0, not exactly)."""
    frames = rng.gamma(2.0, 50.0, size=(64, *shape)) + 100.0
    mean = frames.mean(axis=0)
    dev = frames - mean
    return np.stack([mean] + [np.mean(dev**p, axis=0) for p in range(1, n_orders + 1)])


@pytest.mark.parametrize("n_orders", [1, 2, 3, 4, 6, 8])
@pytest.mark.parametrize("shape", [(3, 5), (37, 700), (1,)])
def test_bitwise_the_recursion_by_definition(n_orders, shape):
    stack = _moment_stack(np.random.default_rng(n_orders), n_orders, shape)
    got = cumulant_layers(stack)
    want = cumulants_from_moments({p: stack[p] for p in range(1, n_orders + 1)})
    for p in range(2, n_orders + 1):
        np.testing.assert_array_equal(got[p], want[p])  # same operations, same order
    np.testing.assert_array_equal(got[0], stack[0])
    np.testing.assert_array_equal(got[1], stack[0])  # order 1 reported as the mean


def test_closed_forms():
    stack = _moment_stack(np.random.default_rng(0), 5, (8, 9))
    m = {p: stack[p] for p in range(1, 6)}
    k = cumulant_layers(stack)
    # with m_1 ~ 0 the recursion's terms in m_1 are tiny; the closed forms of central moments:
    np.testing.assert_allclose(k[2], m[2] - m[1] ** 2, rtol=1e-12)
    np.testing.assert_allclose(
        k[4], m[4] - 3 * m[2] ** 2, rtol=1e-6, atol=1e-9 * np.abs(m[4]).max()
    )
    np.testing.assert_allclose(
        k[5], m[5] - 10 * m[3] * m[2], rtol=1e-6, atol=1e-9 * np.abs(m[5]).max()
    )


def test_writes_into_a_slice_of_a_larger_array():
    stack = _moment_stack(np.random.default_rng(1), 4, (6, 7))
    packed = np.full((11, 6, 7), -1.0)
    got = cumulant_layers(stack, packed[5:10])
    assert got.base is packed or got is packed[5:10] or np.shares_memory(got, packed)
    np.testing.assert_array_equal(packed[5:10], cumulant_layers(stack))
    assert (packed[:5] == -1).all() and (packed[10] == -1).all()  # nothing outside the slice


def test_rejects_an_out_of_the_wrong_shape_or_layout():
    stack = np.zeros((3, 4, 4))
    with pytest.raises(ValueError, match="shape"):
        cumulant_layers(stack, np.empty((3, 4, 5)))
    with pytest.raises(ValueError, match="C-contiguous"):
        cumulant_layers(stack, np.empty((3, 4, 8))[:, :, ::2])
