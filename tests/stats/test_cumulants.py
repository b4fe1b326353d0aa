"""Cumulants: pysofi's recursion against direct closed forms, one-pass pipeline."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

from sofi_dask.errors import InputError
from sofi_dask.stats import central_moments, cumulant_stack, cumulants, cumulants_from_moments


def direct_cumulants(x: np.ndarray) -> dict[int, np.ndarray]:
    """Closed-form cumulants 1..6 from two-pass central moments."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    m = {p: ((x - mean) ** p).mean(axis=0) for p in range(2, 7)}
    return {
        1: mean,
        2: m[2],
        3: m[3],
        4: m[4] - 3 * m[2] ** 2,
        5: m[5] - 10 * m[3] * m[2],
        6: m[6] - 15 * m[4] * m[2] - 10 * m[3] ** 2 + 30 * m[2] ** 3,
    }


def rel_err(a, b):
    return float(np.abs(np.asarray(a) - b).max() / np.abs(b).max())


def test_recursion_scalar_hand_case():
    # normal distribution: central moments 0, s2, 0, 3 s2^2, 0, 15 s2^3 -> cumulants 0, s2, 0...
    s2 = 2.5
    m = {1: 0.0, 2: s2, 3: 0.0, 4: 3 * s2**2, 5: 0.0, 6: 15 * s2**3}
    k = cumulants_from_moments(m)
    assert k == pytest.approx({1: 0.0, 2: s2, 3: 0.0, 4: 0.0, 5: 0.0, 6: 0.0})
    # Poisson(lam) raw moments about zero: every cumulant equals lam
    lam = 3.0
    raw = {
        1: lam,
        2: lam + lam**2,
        3: lam**3 + 3 * lam**2 + lam,
        4: lam**4 + 6 * lam**3 + 7 * lam**2 + lam,
    }
    assert cumulants_from_moments(raw) == pytest.approx({1: lam, 2: lam, 3: lam, 4: lam})


def test_cumulants_match_direct_formula():
    rng = np.random.default_rng(1)
    on = rng.random((300, 7, 9)) < 0.2
    x = rng.poisson(500 + 400 * on).astype(np.uint16)
    d = da.from_array(x, chunks=(41, 4, 9))
    k = cumulants(d, 6)
    assert all(isinstance(v, da.Array) for v in k.values())
    got = dask.compute(k)[0]
    ref = direct_cumulants(x)
    for p in range(1, 7):
        assert rel_err(got[p], ref[p]) < 1e-9, p
    # the pure recursion on the dict of central moments gives the same, order 1 = 0
    via_dict = cumulants_from_moments(dask.compute(central_moments(x, 6))[0])
    np.testing.assert_array_equal(via_dict[1], 0.0)
    for p in range(2, 7):
        np.testing.assert_allclose(via_dict[p], got[p], rtol=1e-12, atol=1e-6)


def test_shift_invariance_raw_vs_central():
    rng = np.random.default_rng(2)
    x = rng.gamma(2.0, 3.0, (500, 3, 4))
    raw = {p: (x**p).mean(axis=0) for p in range(1, 6)}
    k_raw = cumulants_from_moments(raw)
    k_central = cumulants(x, 5)
    np.testing.assert_allclose(k_raw[1], x.mean(0), rtol=1e-12)
    for p in range(1, 6):
        np.testing.assert_allclose(k_central[p], k_raw[p], rtol=1e-6, atol=1e-8)


def test_mean_keyword_and_stack():
    m = {1: np.zeros(2), 2: np.array([1.0, 2.0]), 3: np.array([0.5, -1.0])}
    k = cumulants_from_moments(m, mean=np.array([7.0, 8.0]))
    np.testing.assert_array_equal(k[1], [7.0, 8.0])
    np.testing.assert_array_equal(k[3], [0.5, -1.0])
    stack = da.from_array(np.arange(15.0).reshape(5, 1, 3), chunks=(2, 1, 2))
    cs = cumulant_stack(stack).compute()
    np.testing.assert_array_equal(cs[0], cs[1])
    ref = cumulants_from_moments({p: stack.compute()[p] for p in range(1, 5)})
    np.testing.assert_allclose(cs[4], ref[4])


def test_frames_and_numpy_out():
    rng = np.random.default_rng(3)
    x = rng.poisson(100, (40, 2, 3)).astype(np.int32)
    k = cumulants(x, 4, frames=(10, 30))
    assert isinstance(k[4], np.ndarray)
    ref = direct_cumulants(x[10:30])
    for p in range(1, 5):
        assert rel_err(k[p], ref[p]) < 1e-9


@pytest.mark.parametrize(
    ("moments", "match"),
    [
        ({}, "expected orders 1..N, got an empty dict"),
        ({1: 0.0, 3: 1.0}, r"expected keys 1..N without gaps, got \[1, 3\]"),
        ({2: 1.0}, r"expected keys 1..N without gaps, got \[2\]"),
    ],
)
def test_bad_moment_dicts(moments, match):
    with pytest.raises(InputError, match="parameter 'moments': " + match):
        cumulants_from_moments(moments)


def test_bad_parameters():
    x = np.zeros((5, 2, 2))
    with pytest.raises(InputError, match="parameter 'max_order': expected an integer >= 1, got 0"):
        cumulants(x, 0)
    with pytest.raises(InputError, match=r"parameter 'frames': .* <= 5 .*, got \(4, 9\)"):
        cumulants(x, 2, frames=(4, 9))
    with pytest.raises(InputError, match="parameter 'frames': expected at least 6 frames"):
        cumulants(x, 6)
