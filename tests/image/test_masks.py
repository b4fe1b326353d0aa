"""Gaussian masks against MATLAB's fspecial('gaussian') definition and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sofi_dask.errors import InputError
from sofi_dask.image import gauss1d_mask, gauss2d_mask


def fspecial_gaussian_loop(rows, cols, sigma):
    """fspecial('gaussian') written out element by element."""
    h = np.empty((rows, cols))
    for i in range(rows):
        for j in range(cols):
            y, x = i - (rows - 1) / 2, j - (cols - 1) / 2
            h[i, j] = math.exp(-(x * x + y * y) / (2 * sigma * sigma))
    peak = h.max()
    for i in range(rows):
        for j in range(cols):
            if h[i, j] < np.finfo(float).eps * peak:
                h[i, j] = 0.0
    return h / h.sum()


def test_hand_computed_3x3():
    # exp(-1/(2*0.25)) = e^-2 on the edges, e^-4 on the corners
    e2, e4 = math.exp(-2), math.exp(-4)
    total = 1 + 4 * e2 + 4 * e4
    expected = np.array([[e4, e2, e4], [e2, 1, e2], [e4, e2, e4]]) / total
    np.testing.assert_allclose(gauss2d_mask((3, 3), 0.5), expected, rtol=1e-15)
    # MATLAB prints 0.0113 0.0838 0.6193
    np.testing.assert_allclose(gauss2d_mask((3, 3), 0.5)[0], [0.0113, 0.0838, 0.0113], atol=5e-5)


@pytest.mark.parametrize(
    ("shape", "sigma"), [((5, 5), 1.0), ((4, 7), 1.3), ((6, 2), 0.7), ((1, 21), 2.0), ((9, 9), 9)]
)
def test_matches_loop(shape, sigma):
    h = gauss2d_mask(shape, sigma)
    assert h.shape == shape and h.dtype == np.float64
    np.testing.assert_allclose(h, fspecial_gaussian_loop(*shape, sigma), rtol=1e-14, atol=0)
    assert math.isclose(h.sum(), 1.0, rel_tol=1e-14)
    np.testing.assert_array_equal(h, h[::-1, ::-1])  # centred, even sizes too


def test_eps_cut_off():
    h = gauss2d_mask((41, 41), 1.0)
    r2 = (np.arange(41) - 20.0)[:, None] ** 2 + (np.arange(41) - 20.0)[None, :] ** 2
    # exp(-r2/2) < eps  <=>  r2 > -2 ln(eps): those entries are exactly zero, the others not
    cut = np.exp(-r2 / 2) < np.finfo(float).eps
    assert cut.any() and not cut.all()
    assert np.all(h[cut] == 0) and np.all(h[~cut] > 0)


def test_int_shape_is_square():
    np.testing.assert_array_equal(gauss2d_mask(5, 1.0), gauss2d_mask((5, 5), 1.0))


def test_gauss1d():
    k = gauss1d_mask(21, 2)
    np.testing.assert_array_equal(k, gauss1d_mask((1, 21), 2))
    x = np.arange(21) - 10.0
    np.testing.assert_allclose(k, np.exp(-(x**2) / 8) / np.exp(-(x**2) / 8).sum(), rtol=1e-14)
    assert gauss1d_mask(1, 0.5).tolist() == [1.0]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: gauss2d_mask((0, 3), 1.0), "shape"),
        (lambda: gauss2d_mask((3, -1), 1.0), "shape"),
        (lambda: gauss2d_mask((3, 3, 3), 1.0), "shape"),
        (lambda: gauss2d_mask((3, 3), 0.0), "sigma"),
        (lambda: gauss2d_mask((3, 3), -1.0), "sigma"),
        (lambda: gauss2d_mask((3, 3), float("nan")), "sigma"),
        (lambda: gauss1d_mask(0, 1.0), "size"),
        (lambda: gauss1d_mask((2, 5), 1.0), "size"),
        (lambda: gauss1d_mask(5, -2), "sigma"),
    ],
)
def test_bad_parameters(call, match):
    with pytest.raises(InputError, match=rf"parameter '{match}(\[\d\])?': expected"):
        call()
