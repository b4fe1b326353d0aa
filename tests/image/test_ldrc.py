"""LDRC against a direct loop over windows (pysofi's algorithm), closed forms, tiled == untiled."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from dask.array.utils import assert_eq
from scipy.interpolate import RegularGridInterpolator

from sofi_dask.errors import InputError
from sofi_dask.image import ldrc, resample_mask
from sofi_dask.image._ldrc_kernels import sliding_sum_full
from sofi_dask.image._utils import window_depth


def ldrc_direct(image, mask, window):
    """Reference: loop over every window fully inside the image, as pysofi (flat window -> 0)."""
    image = np.asarray(image, dtype=np.float64)
    rows, cols = image.shape
    wr, wc = window
    acc = np.zeros(image.shape)
    hits = np.zeros(image.shape)
    for i in range(rows - wr + 1):
        for j in range(cols - wc + 1):
            win = image[i : i + wr, j : j + wc]
            lo, hi = win.min(), win.max()
            norm = (win - lo) / (hi - lo) if hi > lo else np.zeros_like(win)
            acc[i : i + wr, j : j + wc] += norm * mask[i : i + wr, j : j + wc].max()
            hits[i : i + wr, j : j + wc] += 1
    return acc / hits


@pytest.fixture
def rng():
    return np.random.default_rng(20240601)


@pytest.mark.parametrize(
    ("shape", "window"),
    [
        ((40, 33), (7, 5)),  # non-square, odd windows
        ((24, 31), (6, 4)),  # even windows
        ((21, 20), (21, 1)),  # window as tall as the image
        ((9, 8), (2, 8)),  # window as wide as the image
        ((30, 30), (25, 25)),  # the default size on a small image
        ((5, 7), (1, 1)),
    ],
)
def test_matches_direct_loop(rng, shape, window):
    image = rng.exponential(size=shape) ** 4  # high dynamic range, like a high-order cumulant
    mask = rng.random(shape)
    np.testing.assert_allclose(
        ldrc(image, mask, window_size=window), ldrc_direct(image, mask, window), rtol=0, atol=1e-10
    )


def test_matches_direct_loop_large_offset_and_flat_regions(rng):
    image = 1e8 + rng.normal(size=(35, 29))
    image[3:15, 2:20] = 1e8 + 0.5  # flat region: whole windows with max == min
    mask = 10.0 * rng.random((35, 29))
    out = ldrc(image, mask, window_size=(5, 6))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, ldrc_direct(image, mask, (5, 6)), rtol=0, atol=1e-10)


def test_sliding_sum_full_is_a_full_box_convolution(rng):
    a = rng.normal(size=(4, 23, 6))
    for axis in range(3):
        for w in (1, 2, 5, 9):
            ref = np.apply_along_axis(lambda v, w=w: np.convolve(v, np.ones(w)), axis, a)
            np.testing.assert_allclose(sliding_sum_full(a, w, axis=axis), ref, atol=1e-12)


def test_constant_image_gives_zeros_not_nan():
    out = ldrc(np.full((12, 15), 3.5), np.ones((12, 15)), window_size=(4, 4))
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out, 0.0)


def test_delta_closed_form(rng):
    # One bright pixel on a zero background: windows without it are flat (contribute 0), the
    # windows with it normalise to a delta, so out = delta * mean over covering windows of the
    # mask maximum.
    shape, window = (20, 17), (5, 3)
    image = np.zeros(shape)
    image[9, 6] = 7.0
    mask = rng.random(shape)
    out = ldrc(image, mask, window_size=window)
    maxima = [mask[i : i + 5, j : j + 3].max() for i in range(5, 10) for j in range(4, 7)]
    expected = np.zeros(shape)
    expected[9, 6] = np.mean(maxima)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-14)


def test_output_range_and_scale(rng):
    image = rng.random((30, 26))
    out = ldrc(image, np.full((30, 26), 4.0), window_size=(6, 6))
    assert out.min() >= -1e-12 and out.max() <= 4.0 + 1e-12
    # the mask acts as a scale: doubling it doubles the result
    np.testing.assert_allclose(ldrc(image, np.full((30, 26), 8.0), window_size=(6, 6)), 2 * out)


def test_stack_is_image_by_image(rng):
    stack = rng.random((3, 19, 22))
    mask = rng.random((19, 22))
    out = ldrc(stack, mask, window_size=(4, 5))
    assert out.shape == stack.shape
    for k in range(3):
        np.testing.assert_allclose(out[k], ldrc_direct(stack[k], mask, (4, 5)), atol=1e-10)


def test_window_depth_helper():
    assert window_depth((25, 25)) == (24, 24)
    assert window_depth(1) == 0


@pytest.mark.parametrize(
    ("chunks", "mask_chunks"),
    [
        (((13, 20, 17), (30, 31)), None),  # uneven chunks, numpy mask
        ((5, 7), (11, 40)),  # chunks smaller than the window (dask rechunks), dask mask
        ((50, 61), (50, 61)),  # one chunk
    ],
)
def test_tiled_equals_untiled(rng, chunks, mask_chunks):
    image = rng.exponential(size=(50, 61)) ** 2
    mask = rng.random((50, 61))
    window = (7, 9)
    expected = ldrc(image, mask, window_size=window)
    m = mask if mask_chunks is None else da.from_array(mask, chunks=mask_chunks)
    out = ldrc(da.from_array(image, chunks=chunks), m, window_size=window)
    assert isinstance(out, da.Array)
    assert out.dtype == np.float64
    assert_eq(out, expected, atol=1e-12)


def test_tiled_stack_equals_untiled(rng):
    stack = rng.random((4, 40, 33))
    mask = rng.random((40, 33))
    expected = ldrc(stack, mask, window_size=(6, 5))
    out = ldrc(
        da.from_array(stack, chunks=((1, 3), (15, 25), (10, 11, 12))), mask, window_size=(6, 5)
    )
    assert out.chunks[0] == (1, 3)
    assert_eq(out, expected, atol=1e-12)


def test_tiled_on_distributed_cluster(rng, dask_client):
    image = rng.random((64, 48))
    mask = rng.random((64, 48))
    lazy = ldrc(da.from_array(image, chunks=(20, 30)), mask, window_size=(9, 9))
    np.testing.assert_allclose(
        dask_client.compute(lazy).result(), ldrc_direct(image, mask, (9, 9)), atol=1e-10
    )


# -- mask resampling ------------------------------------------------------------------------


def test_resample_mask_keeps_nodes_and_reproduces_planes(rng):
    rows, cols = np.meshgrid(np.arange(7.0), np.arange(9.0), indexing="ij")
    plane = 2.0 + 0.5 * rows - 0.25 * cols
    fine = resample_mask(plane, 3)
    assert fine.shape == (19, 25)
    fr, fc = np.meshgrid(np.arange(19.0) / 3, np.arange(25.0) / 3, indexing="ij")
    # exact up to the tolerance of griddata's iterative gradient estimate
    np.testing.assert_allclose(fine, 2.0 + 0.5 * fr - 0.25 * fc, atol=1e-6)
    coarse = rng.random((6, 5))
    np.testing.assert_allclose(resample_mask(coarse, 4)[::4, ::4], coarse, atol=1e-12)


def test_resample_mask_is_a_smooth_cubic_interpolant():
    # on a smooth function the cubic resampling beats bilinear interpolation of the same nodes
    def f(r, c):
        return np.sin(r / 5.0) * np.cos(c / 7.0)

    nodes_r, nodes_c = np.arange(0, 41, 4.0), np.arange(0, 45, 4.0)
    rows, cols = np.meshgrid(nodes_r, nodes_c, indexing="ij")
    fine = resample_mask(f(rows, cols), 4)
    fr, fc = np.meshgrid(np.arange(41.0), np.arange(45.0), indexing="ij")
    bilinear = RegularGridInterpolator((nodes_r, nodes_c), f(rows, cols))((fr, fc))
    cubic_error = np.abs(fine - f(fr, fc)).max()
    assert cubic_error < 0.6 * np.abs(bilinear - f(fr, fc)).max()


def test_smaller_mask_is_resampled_to_the_image_grid(rng):
    image = rng.random((29, 21))  # (8 - 1) * 4 + 1, (6 - 1) * 4 + 1
    coarse = rng.random((8, 6))
    expected = ldrc_direct(image, resample_mask(coarse, 4), (5, 5))
    np.testing.assert_allclose(
        ldrc(image, coarse, order=4, window_size=(5, 5)), expected, atol=1e-10
    )
    lazy = ldrc(
        da.from_array(image, chunks=(10, 10)), da.from_array(coarse), order=4, window_size=(5, 5)
    )
    assert_eq(lazy, expected, atol=1e-10)
    # a lazy mask stays lazy: building the graph computes nothing (the graph behind a mask
    # is typically a pass over a movie)
    calls = []

    def counted(block):
        if block.size:  # dask probes functions with empty arrays to infer the meta
            calls.append(1)
        return block

    lazy_mask = da.from_array(coarse, chunks=(4, 3)).map_blocks(counted, dtype=coarse.dtype)
    lazy = ldrc(da.from_array(image, chunks=(10, 10)), lazy_mask, order=4, window_size=(5, 5))
    assert calls == []
    np.testing.assert_allclose(lazy.compute(), expected, atol=1e-10)


# -- bad parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window_size": (31, 5)}, r"'window_size': .*size \(30, 40\), got \(31, 5\)"),
        ({"window_size": (5, 41)}, r"'window_size': .*size \(30, 40\), got \(5, 41\)"),
        ({"window_size": (0, 5)}, r"'window_size\[0\]': expected an integer >= 1, got 0"),
        ({"window_size": -3}, r"'window_size\[0\]': expected an integer >= 1, got -3"),
        ({"window_size": (5, 5, 5)}, r"'window_size': expected 2 entries, got \(5, 5, 5\)"),
        ({"window_size": (2.5, 5)}, r"'window_size\[0\]': expected an integer >= 1, got 2.5"),
        ({"order": 0}, "'order': expected an integer >= 1, got 0"),
        ({"order": 1.5}, "'order': expected an integer >= 1, got 1.5"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(InputError, match="parameter " + match):
        ldrc(np.ones((30, 40)), np.ones((30, 40)), **kwargs)


def test_bad_mask_and_image():
    with pytest.raises(ValueError, match="mask"):
        ldrc(np.ones((30, 40)), np.ones((2, 30, 40)))
    with pytest.raises(ValueError, match="mask"):
        ldrc(np.ones((30, 40)), np.ones((10, 10)), order=3)  # 28 x 28, not 30 x 40
    with pytest.raises(ValueError, match="mask"):
        ldrc(np.ones((30, 40)), np.ones((30, 41)))
    with pytest.raises(InputError, match=r"parameter 'image': .*, got shape \(30,\)"):
        ldrc(np.ones(30), np.ones((30, 1)))
    with pytest.raises(InputError, match=r"parameter 'window_size': .*, got \(11, 2\)"):
        ldrc(da.ones((3, 10, 10)), np.ones((10, 10)), window_size=(11, 2))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["image", "mask"])
def test_non_finite_values_are_refused(bad, where):
    image, mask = np.random.default_rng(3).random((2, 12, 14))
    (image if where == "image" else mask)[5, 6] = bad
    with pytest.raises(ValueError, match=f"{where} contains NaN or infinite"):
        ldrc(image, mask, window_size=(3, 4))
    lazy = ldrc(da.from_array(image, chunks=(6, 7)), mask, window_size=(3, 4))
    with pytest.raises(ValueError, match=f"{where} contains NaN or infinite"):
        lazy.compute()
    stack = np.stack([np.ones_like(image), image, np.ones_like(image)])
    with pytest.raises(ValueError, match=f"{where} contains NaN or infinite"):
        ldrc(stack, mask, window_size=(3, 4))  # in-memory stack: blocks on threads


def test_complex_input_is_refused():
    with pytest.raises(InputError, match="parameter 'image': .* real-valued .*, got dtype complex"):
        ldrc(np.ones((8, 8), dtype=complex), np.ones((8, 8)), window_size=3)
    with pytest.raises(InputError, match="parameter 'mask': .* real-valued .*, got dtype complex"):
        ldrc(np.ones((8, 8)), np.ones((8, 8), dtype=complex), window_size=3)


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (40, 33), (3, 17, 12)])
@pytest.mark.parametrize("window", [(1, 1), (1, 4), (3, 3), (5, 2), (7, 5)])
def test_window_min_max_equal_scipy_filters_and_a_direct_loop(rng, shape, window):
    """The numba window minimum/maximum: the values of scipy's min/max filters at the windows
    fully inside (what ldrc_block used before), to the bit, and of a direct loop."""
    from scipy import ndimage

    from sofi_dask.image._ldrc_kernels import window_max, window_min

    if window[0] > shape[-2] or window[1] > shape[-1]:
        return
    x = np.round(rng.normal(0, 3, shape), 1)  # ties and negative values
    size = (1,) * (len(shape) - 2) + window
    valid = (...,) + tuple(
        slice(w // 2, w // 2 + n - w + 1) for n, w in zip(shape[-2:], window, strict=True)
    )
    for fn, filt, red in ((window_min, ndimage.minimum_filter, np.min),
                          (window_max, ndimage.maximum_filter, np.max)):  # fmt: skip
        got = fn(x, window)
        np.testing.assert_array_equal(got, filt(x, size=size, mode="nearest")[valid])
        oh, ow = shape[-2] - window[0] + 1, shape[-1] - window[1] + 1
        direct = np.empty(shape[:-2] + (oh, ow))
        for i in range(oh):
            for j in range(ow):
                direct[..., i, j] = red(x[..., i : i + window[0], j : j + window[1]], axis=(-2, -1))
        np.testing.assert_array_equal(got, direct)
