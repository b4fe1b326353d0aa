"""The Fourier interpolation fused into the moment reduction, against direct formulas: every
frame interpolated by a cosine series of its mirror extension (written here), then np.mean and
the central moments by their definition."""

from __future__ import annotations

import threading
import tracemalloc

import dask
import dask.array as da
import numpy as np
import pytest

from sofi_dask.errors import InputError
from sofi_dask.image._finterp_kernels import interp_operator
from sofi_dask.image._finterp_moments import finterp_moment_stacks
from sofi_dask.image._finterp_moments_kernels import band_moment_stack
from sofi_dask.stats._moment_fused_kernels import (
    accumulate_powers_split,
    stack_from_power_sums,
)


def cosine_interp_matrix(n, f):
    """(Hn, n) matrix: the DCT-II cosine series of a length-n signal evaluated at t = m / f."""
    k = np.arange(n)[:, None]
    samples = np.arange(n)[None, :]
    weights = np.where(np.arange(n) == 0, 1.0, 2.0)[:, None] / n
    analysis = weights * np.cos(np.pi * k * (2 * samples + 1) / (2 * n))  # coefficients
    t = np.arange((n - 1) * f + 1)[:, None] / f
    synthesis = np.cos(np.pi * np.arange(n)[None, :] * (2 * t + 1) / (2 * n))
    return synthesis @ analysis


def direct_stack(movie, f, max_order):
    """Mean and central moments (divided by t) of every frame interpolated one by one."""
    mx = cosine_interp_matrix(movie.shape[1], f)
    my = cosine_interp_matrix(movie.shape[2], f)
    frames = np.array([mx @ frame.astype(np.float64) @ my.T for frame in movie])
    mean = np.mean(frames, axis=0)
    dev = frames - mean
    return np.array(
        [mean, np.zeros_like(mean)] + [np.mean(dev**p, axis=0) for p in range(2, max_order + 1)]
    )


def assert_stack_close(got, expected, rtol):
    for p in range(expected.shape[0]):
        scale = np.abs(expected[p]).max()
        np.testing.assert_allclose(
            got[p], expected[p], rtol=0, atol=rtol * scale, err_msg=f"layer {p}"
        )


@pytest.fixture
def rng():
    return np.random.default_rng(5)


def test_the_cosine_reference_reproduces_the_samples():
    m = cosine_interp_matrix(7, 3)
    np.testing.assert_allclose(m[::3], np.eye(7), atol=1e-12)


@pytest.mark.parametrize("shape", [(7, 5), (4, 9), (1, 6), (6, 1)])
@pytest.mark.parametrize("factor", [2, 3])
def test_fused_stacks_equal_the_direct_formula(rng, shape, factor):
    movie = rng.poisson(40.0, (45, *shape)).astype(np.uint16) + np.uint16(1000)
    lazy = da.from_array(movie, chunks=(8, -1, -1))  # 6 chunks, the last one short
    windows = [(0, 45), (3, 30), (17, 18), (40, 45)]  # across chunk edges, one frame, the tail
    stacks = finterp_moment_stacks(lazy, 6, windows, factor, check_length=False)
    got = dask.compute(*stacks)
    for (a, b), stack in zip(windows, got, strict=True):
        assert stack.shape == (7, (shape[0] - 1) * factor + 1, (shape[1] - 1) * factor + 1)
        assert_stack_close(stack, direct_stack(movie[a:b], factor, 6), 1e-8)


@pytest.mark.parametrize("factor", [2, 3])
def test_float32_interpolation_within_1e5_of_the_direct_formula(rng, factor):
    movie = rng.poisson(30.0, (40, 9, 8)).astype(np.float64) - 25.0  # signed values
    (stack,) = finterp_moment_stacks(movie, 4, [(0, 40)], factor, dtype=np.float32)
    expected = direct_stack(movie, factor, 4)
    assert_stack_close(stack, expected, 1e-5)
    assert not np.array_equal(stack, finterp_moment_stacks(movie, 4, [(0, 40)], factor)[0])


def test_bands_of_rows_and_merge_fan_in_give_the_same_stack(rng):
    movie = da.from_array(rng.poisson(20.0, (30, 11, 6)), chunks=(7, -1, -1))
    (whole,) = finterp_moment_stacks(movie, 4, [(0, 30)], 2)
    (banded,) = finterp_moment_stacks(movie, 4, [(0, 30)], 2, band_bytes=1, split_every=3)
    assert len(banded.chunks[1]) == 21  # one output row per band
    np.testing.assert_allclose(banded.compute(), whole.compute(), rtol=1e-12, atol=1e-9)
    assert_stack_close(whole.compute(), direct_stack(movie.compute(), 2, 4), 1e-8)


def test_large_offset_keeps_the_accuracy(rng):
    movie = rng.normal(0.0, 1.0, (50, 5, 4)) + 1e7  # the moments are about 1e-14 of the mean^2
    (stack,) = finterp_moment_stacks(movie, 4, [(0, 50)], 2)
    assert_stack_close(stack, direct_stack(movie - 1e7, 2, 4) + np.eye(5)[:, :1, None] * 1e7, 1e-7)


def test_each_input_chunk_is_read_once(rng):
    movie = rng.poisson(10.0, (40, 6, 5)).astype(np.uint16)
    reads: dict[int, int] = {}
    lock = threading.Lock()

    def read(block, block_info=None):
        with lock:
            key = block_info[0]["chunk-location"][0]
            reads[key] = reads.get(key, 0) + 1
        return block

    source = da.from_array(movie, chunks=(10, -1, -1)).map_blocks(read, dtype=movie.dtype)
    windows = [(0, 40), (0, 20), (20, 40), (5, 35)]
    stacks = finterp_moment_stacks(source, 3, windows, 2, band_bytes=1)  # 11 bands
    dask.compute(*stacks, scheduler="threads")
    assert reads == {0: 1, 1: 1, 2: 1, 3: 1}


def test_a_task_holds_no_interpolated_chunk(rng):
    """Peak numpy memory of one task is flat in its frame count and far below the t x Y x X
    float64 chunk the unfused path made."""
    lx, ly = interp_operator(64, 2), interp_operator(64, 2)
    peaks = {}
    for t in (32, 256):
        movie = rng.poisson(10.0, (t, 64, 64)).astype(np.uint16)
        band_moment_stack(movie[:2], lx, ly, (0, 127), 4)  # compiled before measuring
        tracemalloc.start()
        band_moment_stack(movie, lx, ly, (0, 127), 4, batch_bytes=2**20)
        peaks[t] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    chunk_256 = 256 * 127 * 127 * 8
    assert peaks[256] < chunk_256 / 8
    assert peaks[256] < 1.2 * peaks[32]


def test_a_threads_reused_work_area_leaves_no_trace_between_tasks(rng):
    """Tasks of different shapes, dtypes and orders in a row on one thread (the work area is
    reused, never re-initialised) each equal the direct formula, and a repeat is bit-equal."""
    cases = [((9, 6, 7), 4, np.float64), ((20, 11, 5), 2, np.float32), ((9, 6, 7), 4, np.float64)]
    movies = [rng.poisson(30.0, shape).astype(np.uint16) for shape, _, _ in cases]
    got = []
    for movie, (shape, order, dt) in zip(movies, cases, strict=True):
        lx, ly = interp_operator(shape[1], 2), interp_operator(shape[2], 2)
        rows = (0, 2 * shape[1] - 1)
        got.append(band_moment_stack(movie, lx, ly, rows, order, dtype=dt, batch_bytes=600))
        tol = 1e-5 if dt is np.float32 else 1e-9
        assert_stack_close(got[-1], direct_stack(movie, 2, order), tol)
    again = band_moment_stack(
        movies[0], interp_operator(6, 2), interp_operator(7, 2), (0, 11), 4, batch_bytes=600
    )
    np.testing.assert_array_equal(again, got[0])


@pytest.mark.parametrize("dt", [np.float64, np.float32])
@pytest.mark.parametrize("rows", [(0, 13), (0, 5), (4, 11), (5, 6), (12, 13)])
def test_batches_of_the_row_major_layout_equal_the_direct_formula(rng, dt, rows):
    """Batches of 1, 3 (10 frames: a short last batch) and all frames, whole frames and bands
    starting and ending on coarse and new rows, against the direct formula."""
    movie = rng.poisson(50.0, (10, 7, 6)).astype(np.uint16)
    lx, ly = interp_operator(7, 2), interp_operator(6, 2)
    expected = direct_stack(movie, 2, 5)[:, rows[0] : rows[1]]
    frame_bytes = (7 + 6) * 6 * np.dtype(dt).itemsize + (rows[1] - rows[0]) * 5 * 8
    got = [
        band_moment_stack(movie, lx, ly, rows, 5, dtype=dt, batch_bytes=n * frame_bytes)
        for n in (1, 3, 10)
    ]
    for stack in got:
        assert_stack_close(stack, expected, 1e-5 if dt is np.float32 else 1e-9)
    if dt is np.float32:  # float32 products of a row are the same whatever the batch
        np.testing.assert_array_equal(got[0], got[2])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
def test_integer_frames_give_the_stacks_of_their_float64_values(rng, dtype):
    """Integer frames (the mean frame summed exactly in 32-bit integers) give bit for bit the
    stacks of the same values as float64 frames (summed in float64), extremes of the range
    included."""
    info = np.iinfo(dtype)
    low = info.min if info.min < 0 else info.max - 40  # the end of the range farthest from 0
    movie = rng.integers(low, low + 40, (50, 6, 5), endpoint=True).astype(dtype)
    lx, ly = interp_operator(6, 2), interp_operator(5, 2)
    for dt in (np.float32, np.float64):
        got = band_moment_stack(movie, lx, ly, (0, 11), 4, dtype=dt)
        as_float = band_moment_stack(movie.astype(np.float64), lx, ly, (0, 11), 4, dtype=dt)
        np.testing.assert_array_equal(got, as_float)
    assert_stack_close(got, direct_stack(movie, 2, 4), 1e-9)  # float64


def test_split_layout_power_sums_equal_numpys_frame_by_frame(rng):
    """accumulate_powers_split on the row-major layout adds, per pixel, the terms numpy adds
    frame by frame (d = x_k - ref, d, d^2, ... each the previous times d): bit-equal; and
    numpy's direct sums to rounding."""
    frames = rng.normal(5.0, 2.0, (6, 4, 7))  # (t, y, W + Wr), W = 3
    src = np.array([2, 0, 3, 1])  # the left block's rows out of order, one spare row
    left = np.zeros((5, 6, 3))
    left[src] = frames[:, :, :3].transpose(1, 0, 2)
    right = np.ascontiguousarray(frames[:, :, 3:].transpose(1, 0, 2))
    ref = rng.normal(5.0, 0.1, (4, 7))
    split, plain = np.zeros((4, 4, 7)), np.zeros((4, 4, 7))
    accumulate_powers_split(left[:, :4], src, right[:, :4], ref, split)
    accumulate_powers_split(left[:, 4:], src, right[:, 4:], ref, split)
    for frame in frames:
        d = frame - ref
        power = d.copy()
        for p in range(4):
            if p:
                power *= d
            plain[p] += power
    np.testing.assert_array_equal(split, plain)
    for p in range(1, 5):
        np.testing.assert_allclose(split[p - 1], ((frames - ref) ** p).sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("max_order", [1, 2, 3, 6])
def test_stack_from_power_sums_places_the_moments(rng, max_order):
    x = rng.normal(3.0, 2.0, (15, 2, 3))
    ref = np.full((2, 3), 2.5)
    sums = np.array([((x - ref) ** p).sum(axis=0) for p in range(1, max_order + 1)])
    rows, cols = np.array([1, 0]), np.array([2, 0, 1])
    out = np.full((max_order + 1, 2, 3), np.nan)
    stack_from_power_sums(15, ref, sums, rows, cols, out)
    mean = x.mean(axis=0)
    expected = [mean, np.zeros_like(mean)][: max_order + 1]
    expected += [((x - mean) ** p).mean(axis=0) for p in range(2, max_order + 1)]
    for p in range(max_order + 1):
        placed = np.empty((2, 3))
        placed[np.ix_(rows, cols)] = expected[p]
        np.testing.assert_allclose(out[p], placed, rtol=1e-12, atol=1e-12)


def test_power_sums_shift_to_the_central_sums(rng):
    x = rng.normal(3.0, 2.0, (20, 2, 3))
    sums = np.zeros((5, 2, 3))
    ref = np.full((2, 3), 2.5)  # deliberately off the mean
    for batch in (x[:7], x[7:]):  # in two batches, as the fused kernels feed them
        rows = np.arange(2)
        accumulate_powers_split(
            batch.transpose(1, 0, 2), rows, np.empty((2, len(batch), 0)), ref, sums
        )
    stack = np.empty((6, 2, 3))
    stack_from_power_sums(20, ref, sums, np.arange(2), np.arange(3), stack)
    mean, central = stack[0], stack[2:] * 20
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-14)
    for p in range(2, 6):
        expected = ((x - x.mean(axis=0)) ** p).sum(axis=0)
        np.testing.assert_allclose(central[p - 2], expected, rtol=1e-10, atol=1e-10)


def test_bad_arguments(rng):
    movie = np.zeros((5, 3, 3))
    with pytest.raises(InputError, match="windows\\[0\\]"):
        finterp_moment_stacks(movie, 4, [(0, 3)], 2)
    with pytest.raises(InputError, match="windows\\[1\\]"):
        finterp_moment_stacks(movie, 2, [(0, 3), (4, 9)], 2)
    with pytest.raises(InputError, match="dtype"):
        finterp_moment_stacks(movie, 2, [(0, 5)], 2, dtype=np.int32)
    with pytest.raises(InputError, match="factor"):
        finterp_moment_stacks(movie, 2, [(0, 5)], 0)
    with pytest.raises(InputError, match="windows"):
        finterp_moment_stacks(movie, 2, [], 2)
