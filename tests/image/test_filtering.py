"""Noise filtering against np.convolve slices, MATLAB's 'same' rule and closed forms."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from dask.array.utils import assert_eq

from sofi_dask.image import gauss1d_mask
from sofi_dask.image._filtering import filter1d_same, med_smooth, noise_filter1d
from sofi_dask.stats import _bleaching as bleaching


def same_reference(series, kernel, convention="matlab"):
    """np.convolve 'full' cropped: MATLAB keeps full[ceil((K-1)/2) : ... + N]; pysofi keeps the
    N samples around the middle of the full result (full[len//2 - floor(N/2) : ...])."""
    full = np.convolve(series, kernel, "full")
    n, k = len(series), len(kernel)
    start = int(np.ceil((k - 1) / 2)) if convention == "matlab" else len(full) // 2 - n // 2
    return full[start : start + n]


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.mark.parametrize("n", [1, 2, 7, 8, 30, 31])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 21, 22])
@pytest.mark.parametrize("convention", ["matlab", "pysofi"])
def test_filter1d_same_matches_cropped_full_convolution(rng, n, k, convention):
    x, h = rng.normal(size=n), rng.random(k)
    np.testing.assert_allclose(
        filter1d_same(x, h, convention=convention),
        same_reference(x, h, convention),
        rtol=1e-13,
        atol=1e-14,
    )


def test_conventions_differ_only_for_even_even(rng):
    x, h = rng.normal(size=10), rng.random(4)
    matlab, pysofi = filter1d_same(x, h), filter1d_same(x, h, convention="pysofi")
    # pysofi is one sample to the left of MATLAB
    np.testing.assert_allclose(pysofi[1:], matlab[:-1], rtol=1e-13)
    odd = x[:9]
    np.testing.assert_allclose(filter1d_same(odd, h), filter1d_same(odd, h, convention="pysofi"))


def test_hand_computed_matlab_same():
    # conv([1 2 3 4], [1 1]) = [1 3 5 7 4]; MATLAB 'same' keeps [3 5 7 4]
    np.testing.assert_array_equal(filter1d_same([1, 2, 3, 4], [1, 1]), [3.0, 5.0, 7.0, 4.0])
    np.testing.assert_array_equal(
        filter1d_same([1, 2, 3, 4], [1, 1], convention="pysofi"), [1.0, 3.0, 5.0, 7.0]
    )


def test_delta_gives_the_kernel_and_constant_is_preserved_inside():
    k = gauss1d_mask(21, 2)
    delta = np.zeros(61)
    delta[30] = 1.0
    np.testing.assert_allclose(filter1d_same(delta, k)[20:41], k, rtol=1e-15)
    out = filter1d_same(np.full(61, 3.0), k)
    np.testing.assert_allclose(out[10:51], 3.0, rtol=1e-14)
    assert out[0] < 3.0  # zeros beyond the ends, as MATLAB


def test_noise_filter1d_is_per_pixel(rng):
    stack = rng.random((25, 4, 6))
    out = noise_filter1d(stack)
    k = gauss1d_mask(21, 2)
    expected = np.empty_like(stack)
    for i in range(4):
        for j in range(6):
            expected[:, i, j] = same_reference(stack[:, i, j], k)
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(
        noise_filter1d(np.moveaxis(stack, 0, 2), axis=2),
        np.moveaxis(expected, 0, 2),
        rtol=1e-13,
        atol=1e-15,
    )


@pytest.mark.parametrize(
    "chunks",
    [
        (5, 4, 6),  # chunks smaller than the depth (10): dask rechunks
        ((1, 7, 2, 25, 5), 3, (2, 4)),  # uneven, spatially tiled
        ((39, 1), 4, 6),
        (40, 4, 6),
    ],
)
@pytest.mark.parametrize(("k", "convention"), [(21, "matlab"), (4, "matlab"), (4, "pysofi")])
def test_dask_equals_in_memory(rng, chunks, k, convention):
    stack = rng.random((40, 4, 6))
    kernel = rng.random(k)
    expected = noise_filter1d(stack, kernel, convention=convention)
    out = noise_filter1d(da.from_array(stack, chunks=chunks), kernel, convention=convention)
    assert isinstance(out, da.Array)
    assert_eq(out, expected, atol=1e-13)


def test_dask_shorter_than_the_kernel(rng):
    stack = rng.random((6, 3, 3))
    out = noise_filter1d(da.from_array(stack, chunks=(2, 3, 3)))
    assert_eq(out, noise_filter1d(stack), atol=1e-14)


def test_dask_on_distributed_cluster(rng, dask_client):
    stack = rng.random((50, 8, 8))
    lazy = noise_filter1d(da.from_array(stack, chunks=(12, 4, 8)))
    np.testing.assert_allclose(
        dask_client.compute(lazy).result(), noise_filter1d(stack), atol=1e-13
    )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: noise_filter1d(np.ones((5, 2)), np.ones((2, 2))), "kernel"),
        (lambda: noise_filter1d(np.ones((5, 2)), []), "kernel"),
        (lambda: noise_filter1d(np.ones((5, 2)), [1.0, np.nan]), "kernel"),
        (lambda: noise_filter1d(np.ones((5, 2)), axis=2), "axis"),
        (lambda: noise_filter1d(da.ones((5, 2)), axis=-3), "axis"),
        (lambda: noise_filter1d(np.ones((5, 2)), convention="scipy"), "convention"),
        (lambda: filter1d_same(3.0, [1.0]), "series"),
    ],
)
def test_bad_parameters(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_med_smooth_is_reexported_with_symmetric_padding(rng):
    assert med_smooth is bleaching.med_smooth
    x = rng.normal(size=40)
    k = 7
    padded = np.concatenate([x[:k][::-1], x, x[-k:][::-1]])  # ... x1 x0 | x0 x1 ...
    half = k // 2
    # x[i] sits at padded[i + k]; its median window is centred there
    expected = [np.median(padded[i + k - half : i + k + half + 1]) for i in range(40)]
    np.testing.assert_allclose(med_smooth(x, kernel_size=k), expected)
