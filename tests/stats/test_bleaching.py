"""Bleaching correction: smoothing, block cuts, per-block statistics, corrected movie."""

from __future__ import annotations

import math
import threading

import dask
import dask.array as da
import numpy as np
import pytest
import zarr

from sofi_dask.errors import InputError
from sofi_dask.stats import (
    bleaching_blocks,
    block_average,
    block_cumulants,
    block_moments,
    correct_bleaching,
    cut_frames,
    med_smooth,
)


# --------------------------------------------------------------------------- references
def _ref_med_smooth(signal: np.ndarray, k: int) -> np.ndarray:
    """Sliding median over the series extended by its mirror image including the edge."""
    s = np.asarray(signal, dtype=np.float64)
    half = k // 2
    padded = np.pad(s, half, mode="symmetric")  # ... s1 s0 | s0 s1 ... (repeats if needed)
    windows = np.lib.stride_tricks.sliding_window_view(padded, k)
    return np.median(windows, axis=1)


def _ref_cut_frames(signal: np.ndarray, fbc: float) -> tuple[list[int], list[int]]:
    """Direct reading of the block rule: crossings of each fbc step after the maximum."""
    mx, mn = signal.max(), signal.min()
    n = math.ceil(1 / fbc)
    levels = [int(mx - (mx - mn) * fbc * i) for i in range(1, n + 1)]
    crossings = []
    t = int(np.argmax(signal))
    for level in levels:
        while t < len(signal) and not signal[t] < level:
            t += 1
        if t >= len(signal):
            break
        crossings.append(t)
        t += 1
    return [int(mx), *levels], [0, *crossings, len(signal)]


def _bleaching_movie(seed: int, n: int = 300, shape=(6, 7), tau: float = 120.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    decay = np.exp(-np.arange(n) / tau)[:, None, None]
    on = rng.random((n, *shape)) < 0.6
    return (rng.poisson(400.0, (n, *shape)) * decay * on + rng.poisson(50.0, (n, *shape))).astype(
        np.uint16
    )


def _ref_block_moments(movie: np.ndarray, order: int, blocks) -> list[dict]:
    out = []
    for a, b in blocks:
        seg = movie[a:b].astype(np.float64)
        d = seg - seg.mean(axis=0)
        out.append({p: (d**p).mean(axis=0) for p in range(1, order + 1)})
    return out


def _ref_correct(movie: np.ndarray, blocks) -> np.ndarray:
    parts = []
    for a, b in blocks:
        seg = movie[a:b].astype(np.float64)
        parts.append(np.around(seg - seg.sum(axis=0) / (b - a)))
    stack = np.concatenate(parts)
    return (stack - stack.min(axis=0)).astype(np.int64)


class _CountingArray:
    """Array-like that records every read (to check one read per chunk)."""

    def __init__(self, a: np.ndarray) -> None:
        self.a, self.shape, self.dtype, self.ndim = a, a.shape, a.dtype, a.ndim
        self.reads: list = []
        self._lock = threading.Lock()

    def __getitem__(self, key):
        with self._lock:
            self.reads.append(key)
        return self.a[key]


# --------------------------------------------------------------------------- med_smooth
def test_med_smooth_hand_case():
    # kernel 3: windows over (5 | 5 1 9 3 7 | 7)
    assert med_smooth([5.0, 1.0, 9.0, 3.0, 7.0], 3).tolist() == [5.0, 5.0, 3.0, 7.0, 7.0]
    # kernel 5 at the left edge: (1 5 | 5 1 9 ...) -> median(1, 5, 5, 1, 9) = 5
    assert med_smooth([5.0, 1.0, 9.0, 3.0, 7.0, 2.0], 5)[0] == 5.0


@pytest.mark.parametrize(("n", "k"), [(1000, 251), (600, 251), (251, 251), (40, 7)])
def test_med_smooth_matches_reference(n, k):
    rng = np.random.default_rng(n)
    signal = 1e6 * np.exp(-np.arange(n) / 300.0) + rng.normal(0, 1e4, n)
    np.testing.assert_array_equal(med_smooth(signal, k), _ref_med_smooth(signal, k))


@pytest.mark.parametrize("n", [1, 2, 30, 124, 200])
def test_med_smooth_short_series_keeps_length(n):
    # pysofi returns a wrong length here; the extension simply reflects again
    signal = np.random.default_rng(n).normal(size=n)
    got = med_smooth(signal, 251)
    assert got.shape == (n,)
    np.testing.assert_array_equal(got, _ref_med_smooth(signal, 251))


@pytest.mark.parametrize("k", [0, 4, -3, 2.5])
def test_med_smooth_bad_kernel(k):
    with pytest.raises(ValueError, match="kernel_size"):
        med_smooth(np.arange(10.0), k)


@pytest.mark.parametrize("signal", [[], [[1.0, 2.0]], [1.0, np.nan]])
def test_med_smooth_bad_signal(signal):
    with pytest.raises(ValueError, match="signal"):
        med_smooth(signal, 3)


# --------------------------------------------------------------------------- cut_frames
def test_cut_frames_hand_case():
    # max 10, min 5, fbc 0.5: bounds int(7.5) = 7 and int(5) = 5; 6 < 7 at frame 4
    assert cut_frames([10.0, 9.0, 8.0, 7.0, 6.0, 5.0], 0.5) == ([10, 7, 5], [0, 4, 6])
    # frames before the maximum stay in the first block; one crossing per frame
    assert cut_frames([3.0, 10.0, 2.0, 1.0, 0.0], 0.25) == ([10, 7, 5, 2, 0], [0, 2, 3, 4, 5])


@pytest.mark.parametrize(
    ("fbc", "tau", "noise"),
    [(0.04, 4000.0, 0.0), (0.1, 900.0, 2e3), (0.3, 2500.0, 5e2), (1.0, 100.0, 0.0)],
)
def test_cut_frames_on_exponential_bleaching(fbc, tau, noise):
    n = 10000
    rng = np.random.default_rng(int(tau))
    signal = 2e5 + 1e6 * np.exp(-np.arange(n) / tau) + rng.normal(0, noise, n)
    smooth = med_smooth(signal, 251)
    got = cut_frames(smooth, fbc)
    assert got == _ref_cut_frames(smooth, fbc)
    blocks = bleaching_blocks(signal, fbc, 251)
    assert blocks[0][0] == 0 and blocks[-1][1] == n
    assert all(a < b for a, b in blocks)
    assert all(p[1] == q[0] for p, q in zip(blocks[:-1], blocks[1:], strict=True))
    assert len(blocks) == len(got[1]) - 1 <= math.ceil(1 / fbc)
    if noise == 0:  # the exact crossing times of the noiseless exponential
        mx, mn = smooth.max(), smooth.min()
        for i, start in enumerate(got[1][1:-1], start=1):
            level = int(mx - (mx - mn) * fbc * i)
            assert smooth[start] < level <= smooth[start - 1]


def test_never_falling_signal_gives_one_working_block():
    signal = np.linspace(1e5, 2e5, 400)
    assert cut_frames(signal, 0.04)[1] == [0, 400]
    blocks = bleaching_blocks(signal, 0.04)
    assert blocks == [(0, 400)]
    movie = _bleaching_movie(1, n=400, shape=(2, 3))
    m = block_average(block_moments(movie, 3, blocks))
    ref = _ref_block_moments(movie, 3, blocks)[0]
    np.testing.assert_allclose(m[2], ref[2], rtol=1e-12)
    np.testing.assert_array_equal(correct_bleaching(movie, blocks), _ref_correct(movie, blocks))


def test_constant_signal_gives_one_block():
    assert bleaching_blocks(np.full(50, 7.0), 0.1, 5) == [(0, 50)]


@pytest.mark.parametrize("fbc", [0, -0.1, 1.5, "0.1", True, float("nan")])
def test_bad_fbc(fbc):
    with pytest.raises(ValueError, match="fbc"):
        cut_frames(np.arange(10.0)[::-1], fbc)
    with pytest.raises(ValueError, match="fbc"):
        bleaching_blocks(np.arange(10.0)[::-1], fbc, 3)


# --------------------------------------------------------------------------- block statistics
BLOCKS = [(0, 37), (37, 90), (90, 161), (161, 300)]


def test_block_moments_and_cumulants_match_numpy():
    movie = _bleaching_movie(2)
    x = da.from_array(movie, chunks=(32, 4, 7))
    moments = block_moments(x, 4, BLOCKS, split_every=2)
    cumulants = block_cumulants(x, 4, BLOCKS)
    assert isinstance(moments[0][2], da.Array)
    (moments, cumulants) = dask.compute(moments, cumulants)
    ref = _ref_block_moments(movie, 4, BLOCKS)
    for got, want in zip(moments, ref, strict=True):
        for p in range(1, 5):
            np.testing.assert_allclose(got[p], want[p], rtol=1e-10, atol=1e-9)
    for got, want, (a, b) in zip(cumulants, ref, BLOCKS, strict=True):
        np.testing.assert_allclose(got[1], movie[a:b].mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(got[2], want[2], rtol=1e-10)
        np.testing.assert_allclose(got[3], want[3], rtol=1e-10, atol=1e-6)
        np.testing.assert_allclose(got[4], want[4] - 3 * want[2] ** 2, rtol=1e-9, atol=1e-3)


def test_block_average_is_unweighted():
    movie = np.array([1.0, 3.0, 10.0, 14.0, 20.0, 0.0]).reshape(6, 1, 1)
    per_block = block_moments(movie, 2, [(0, 2), (2, 6)])
    # block 0: var 1; block 1 (10 14 20 0, mean 11): (1 + 9 + 81 + 121) / 4 = 53
    avg = block_average(per_block)
    assert avg[2][0, 0] == pytest.approx((1.0 + 53.0) / 2)
    # pysofi's {block: {order: image}} layout works too
    assert block_average(dict(enumerate(per_block)))[2][0, 0] == pytest.approx(27.0)


def test_block_average_of_lazy_blocks_is_a_tree():
    """No task takes every block as input (a chain of lazy adds fuses into one such task, which
    holds every block's images until the last is done); the values are the plain mean."""
    rng = np.random.default_rng(5)
    images = [rng.normal(size=(6, 8)) for _ in range(10)]
    per_block = [{2: da.from_array(a, chunks=(3, 8))} for a in images]
    avg = block_average(per_block)[2]
    graph = dict(dask.base.collections_to_expr([avg], optimize_graph=True).__dask_graph__())
    assert max(len(task.dependencies) for task in graph.values()) <= 2
    np.testing.assert_allclose(avg.compute(), np.mean(images, axis=0), rtol=1e-13)


def test_block_average_errors():
    with pytest.raises(ValueError, match="per_block"):
        block_average([])
    with pytest.raises(ValueError, match="per_block"):
        block_average([{1: 0.0, 2: 1.0}, {1: 0.0}])


def test_block_statistics_read_each_chunk_once():
    movie = _bleaching_movie(3)
    source = _CountingArray(movie)
    x = da.from_array(source, chunks=(32, 3, 7))
    stats = block_moments(x, 3, BLOCKS) + block_cumulants(x, 3, BLOCKS)
    source.reads.clear()
    dask.compute(stats)
    n_chunks = x.npartitions
    assert len(source.reads) == n_chunks
    assert len({str(k) for k in source.reads}) == n_chunks


@pytest.mark.parametrize(
    ("blocks", "match"),
    [
        ([], r"parameter 'blocks': expected at least one .*, got none"),
        (
            [(0, 400)],
            r"parameter 'blocks\[0\]': expected .*0 <= start < end <= 300, got \(0, 400\)",
        ),
        ([(5, 5)], r"parameter 'blocks\[0\]': .*0 <= start < end <= 300, got \(5, 5\)"),
        ([(0, 1.5)], r"parameter 'blocks\[0\]': expected two integers .*, got \(0, 1.5\)"),
        (3, r"parameter 'blocks': expected a sequence .*, got 3"),
    ],
)
def test_block_moments_bad_blocks(blocks, match):
    with pytest.raises(InputError, match=match):
        block_moments(np.zeros((300, 2, 2)), 2, blocks)


def test_block_moments_too_short_block():
    match = r"parameter 'windows\[0\]': expected at least 4 frames for order 4, got 3 frames"
    with pytest.raises(InputError, match=match):
        block_moments(np.zeros((300, 2, 2)), 4, [(0, 3), (3, 300)])


# --------------------------------------------------------------------------- corrected movie
def test_correct_bleaching_hand_case():
    movie = np.array([4, 6, 5, 1, 2, 2], dtype=np.uint16).reshape(6, 1, 1)
    # block 0 mean 5 -> -1 1 0; block 1 mean 5/3 -> round(-0.67, 0.33, 0.33) = -1 0 0; min -1
    got = correct_bleaching(movie, [(0, 3), (3, 6)])
    assert got.dtype == np.int32
    assert got[:, 0, 0].tolist() == [0, 2, 1, 0, 1, 1]
    # half-way values round to even: mean 2.5 -> 1 - 2.5 = -1.5 -> -2, 4 - 2.5 = 1.5 -> 2
    got = correct_bleaching(np.array([1, 4], dtype=np.uint8).reshape(2, 1, 1), [(0, 2)])
    assert got[:, 0, 0].tolist() == [0, 4]


@pytest.mark.parametrize("chunks", [(32, 3, 7), (7, 6, 4), ((100, 1, 199), 6, 7)])
def test_correct_bleaching_matches_numpy(chunks):
    movie = _bleaching_movie(4)
    blocks = bleaching_blocks(movie.sum(axis=(1, 2), dtype=np.float64), 0.2, 51)
    assert len(blocks) >= 4
    x = da.from_array(movie, chunks=chunks)
    corrected = correct_bleaching(x, blocks, split_every=2)
    assert isinstance(corrected, da.Array)
    assert corrected.chunks == x.chunks and corrected.dtype == np.int32
    np.testing.assert_array_equal(corrected.compute(), _ref_correct(movie, blocks))


def test_corrected_and_average_share_one_pass():
    from sofi_dask.stats._bleaching import corrected_and_average

    movie = _bleaching_movie(7)
    x = da.from_array(movie, chunks=(32, 3, 7))
    corrected, average = corrected_and_average(x, BLOCKS, split_every=3)
    got_c, got_a = dask.compute(corrected, average, scheduler="threads")
    np.testing.assert_array_equal(got_c, _ref_correct(movie, BLOCKS))
    np.testing.assert_allclose(got_a, movie.astype(np.float64).mean(axis=0), rtol=1e-13)
    assert average.shape == movie.shape[1:] and average.dtype == np.float64


def test_correct_bleaching_float_input_and_dtype():
    movie = _bleaching_movie(5).astype(np.float32) + 0.25
    got = correct_bleaching(da.from_array(movie, chunks=(50, 6, 7)), BLOCKS)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.compute(), _ref_correct(movie, BLOCKS))
    got16 = correct_bleaching(movie, BLOCKS, dtype=np.int16)
    assert isinstance(got16, np.ndarray) and got16.dtype == np.int16
    with pytest.raises(ValueError, match="dtype"):
        correct_bleaching(movie, BLOCKS, dtype=np.float64)


def test_correct_bleaching_writes_to_zarr_without_side_files(tmp_path):
    movie = _bleaching_movie(6)
    src = tmp_path / "movie.zarr"
    z = zarr.create_array(str(src), shape=movie.shape, chunks=(40, 6, 7), dtype=movie.dtype)
    z[:] = movie
    before = sorted(p.name for p in tmp_path.iterdir())
    x = da.from_zarr(str(src))
    corrected = correct_bleaching(x, BLOCKS)
    out = tmp_path / "corrected.zarr"
    corrected.to_zarr(str(out))
    np.testing.assert_array_equal(zarr.open_array(str(out))[:], _ref_correct(movie, BLOCKS))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "corrected.zarr"])
    np.testing.assert_array_equal(zarr.open_array(str(src))[:], movie)  # input untouched


def test_correct_bleaching_reads_stats_then_frames():
    movie = _bleaching_movie(7)
    source = _CountingArray(movie)
    x = da.from_array(source, chunks=(64, 6, 7))
    corrected = correct_bleaching(x, BLOCKS)
    source.reads.clear()
    corrected.compute()
    assert len(source.reads) == 2 * x.npartitions  # one pass for the stats, one for the output


@pytest.mark.parametrize(
    "blocks", [[(0, 100)], [(0, 100), (120, 300)], [(10, 300)], [(0, 200), (150, 300)]]
)
def test_correct_bleaching_blocks_must_cover_movie(blocks):
    with pytest.raises(ValueError, match="blocks"):
        correct_bleaching(np.zeros((300, 2, 2), dtype=np.uint16), blocks)


# --------------------------------------------------------------------------- schedulers
def test_threaded_and_distributed_agree(dask_client):
    movie = _bleaching_movie(8)
    x = da.from_array(movie, chunks=(40, 3, 7))
    blocks = bleaching_blocks(movie.sum(axis=(1, 2), dtype=np.float64), 0.25, 31)
    corrected = correct_bleaching(x, blocks)
    cum = block_average(block_cumulants(x, 4, blocks))
    threaded = dask.compute(corrected, cum, scheduler="threads")
    distributed = dask_client.gather(dask_client.compute([corrected, cum]))
    np.testing.assert_array_equal(threaded[0], distributed[0])
    for p in threaded[1]:
        np.testing.assert_array_equal(threaded[1][p], distributed[1][p])


# -- merging short blocks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blocks", "min_frames", "expected"),
    [
        ([(0, 50), (50, 53), (53, 120), (120, 122)], 10, [(0, 53), (53, 122)]),
        ([(0, 3), (3, 40), (40, 80)], 10, [(0, 40), (40, 80)]),  # a short first block
        ([(0, 3), (3, 5)], 10, [(0, 5)]),  # one block is kept however short
        ([(0, 20), (20, 40)], 1, [(0, 20), (20, 40)]),
        # a run of short blocks merges with itself, never into the long block before it
        (
            [(0, 30), (30, 60), (60, 90), (90, 120), (120, 150), (150, 400)],
            50,
            [(0, 60), (60, 150), (150, 400)],
        ),
        # ... after a long block too; its short remainder joins the run's last merged block
        (
            [(0, 100), (100, 120), (120, 140), (140, 160), (160, 170), (170, 400)],
            30,
            [(0, 100), (100, 140), (140, 170), (170, 400)],
        ),
        # a lone short run joins the shorter neighbour (the one before on a tie)
        ([(0, 100), (100, 110), (110, 300)], 50, [(0, 110), (110, 300)]),
        ([(0, 300), (300, 310), (310, 400)], 50, [(0, 300), (300, 400)]),
        ([(0, 60), (60, 70), (70, 130)], 50, [(0, 70), (70, 130)]),
        # short runs at both ends join their only neighbour
        ([(0, 10), (10, 20), (20, 200), (200, 210), (210, 215)], 50, [(0, 215)]),
    ],
)
def test_merge_short_blocks(blocks, min_frames, expected):
    from sofi_dask.stats import merge_short_blocks

    assert merge_short_blocks(blocks, min_frames) == expected


def test_merge_short_blocks_contract_on_random_blocks():
    """Contiguous cover, boundaries kept from the input, every block >= min_frames (when more
    than one), and a long block enlarged only by short blocks totalling < min_frames per side."""
    from sofi_dask.stats import merge_short_blocks

    rng = np.random.default_rng(3)
    for _ in range(2000):
        n = int(rng.integers(1, 13))
        cuts = np.sort(rng.choice(np.arange(1, 400), n - 1, replace=False)).tolist()
        frames = [0, *cuts, 400]
        blocks = list(zip(frames[:-1], frames[1:], strict=True))
        min_frames = int(rng.integers(1, 121))
        out = merge_short_blocks(blocks, min_frames)
        assert out[0][0] == 0 and out[-1][1] == 400
        assert all(p[1] == q[0] for p, q in zip(out[:-1], out[1:], strict=True))
        assert {a for a, _ in out} <= set(frames)
        assert len(out) == 1 or min(b - a for a, b in out) >= min_frames
        for a, b in blocks:
            if b - a < min_frames:
                continue
            start, end = next((s, e) for s, e in out if s <= a and b <= e)
            assert a - start < min_frames and end - b < min_frames
            inside = [(s, e) for s, e in blocks if start <= s and e <= end and (s, e) != (a, b)]
            assert all(e - s < min_frames for s, e in inside)


def test_merge_short_blocks_keeps_blocks_where_a_simulated_movie_bleaches_fast():
    """400 frames bleaching with a 300-frame lifetime: ~25 short pysofi blocks after a first
    one of >= 50 frames must not all pile into it (that turned the correction off)."""
    from sofi_dask.simulate import simulate_movie

    sim = simulate_movie(
        n_frames=400, frame_shape=(32, 32), bleach_lifetime=300, background=2, seed=1
    )
    signal = sim.data.sum(axis=(1, 2), dtype=np.float64)
    plain = bleaching_blocks(signal)
    merged = bleaching_blocks(signal, min_frames=50)
    assert len(plain) > 10
    assert min(b - a for a, b in merged) >= 50
    assert merged[0][0] == 0 and merged[-1][1] == 400
    assert all(b0 == a1 for (_, b0), (a1, _) in zip(merged[:-1], merged[1:], strict=True))
    assert sum(1 for a, _ in merged if a < 200) >= 3  # several blocks in the first half
    assert max(b - a for a, b in merged) < 2 * 50 + max(b - a for a, b in plain)


def test_bleaching_blocks_min_frames_merges_and_still_covers_all_frames():
    rng = np.random.default_rng(0)
    signal = 1000 * np.exp(-np.arange(3000) / 500.0) + rng.normal(0, 5, 3000)
    plain = bleaching_blocks(signal, fbc=0.04, kernel_size=51)
    merged = bleaching_blocks(signal, fbc=0.04, kernel_size=51, min_frames=200)
    assert min(b - a for a, b in plain) < 200 <= min(b - a for a, b in merged)
    assert merged[0][0] == 0 and merged[-1][1] == 3000
    assert all(b0 == a1 for (_, b0), (a1, _) in zip(merged[:-1], merged[1:], strict=True))
    # every merged boundary is one of pysofi's boundaries
    assert {a for a, _ in merged} <= {a for a, _ in plain}
    with pytest.raises(ValueError, match="min_frames"):
        bleaching_blocks(signal, min_frames=0)
