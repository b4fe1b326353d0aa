"""Halves, whole and prefixes from one set of per-block states; convergence; FRC on SOFI."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from sofi_dask.errors import InputError
from sofi_dask.quality import (
    convergence,
    convergence_from_stacks,
    frc,
    split_moment_stacks,
)
from sofi_dask.stats import cumulant_stack, moment_stack


def _movie(t=230, shape=(12, 10), seed=0):
    rng = np.random.default_rng(seed)
    return (100 + rng.poisson(20.0, (t, *shape)) * rng.random((t, 1, 1))).astype(np.float64)


@pytest.mark.parametrize("chunks", [(50, -1, -1), (37, 5, 4), (-1, -1, -1)])  # one chunk too
def test_halves_whole_and_prefixes_match_direct_stacks(chunks):
    movie = _movie()
    split = split_moment_stacks(da.from_array(movie, chunks=chunks), 4, block_frames=20)
    done = split.compute(scheduler="threads")
    # blocks of 20 frames; the 10-frame tail is its own block (>= order 4)
    blocks = [(a, min(a + 20, 230)) for a in range(0, 230, 20)]
    even = np.concatenate([movie[a:b] for a, b in blocks[0::2]])
    odd = np.concatenate([movie[a:b] for a, b in blocks[1::2]])
    np.testing.assert_allclose(done.full, moment_stack(movie, 4), rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(done.half_a, moment_stack(even, 4), rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(done.half_b, moment_stack(odd, 4), rtol=1e-10, atol=1e-8)
    assert done.counts == (230, len(even), len(odd))
    assert [n for n, _ in done.prefixes] == [20, 40, 80, 160, 230]
    for n, stack in done.prefixes:
        np.testing.assert_allclose(stack, moment_stack(movie[:n], 4), rtol=1e-10, atol=1e-8)


def test_every_source_chunk_is_read_once(counting_source):
    """Whole, halves and prefixes computed together: each chunk of the source is read once."""
    source = counting_source(_movie())
    movie = da.from_array(source, chunks=(20, 6, 10), asarray=True)
    split = split_moment_stacks(movie, 3, block_frames=20)
    source.reads = 0
    split.compute(scheduler="threads")
    assert source.reads == movie.npartitions


def test_short_tail_joins_the_last_block_and_bad_input():
    movie = _movie(t=102)
    split = split_moment_stacks(movie, 4, block_frames=50)  # tail of 2 frames < order 4
    assert [n for n, _ in split.prefixes] == [50, 102]
    np.testing.assert_allclose(split.half_b, moment_stack(movie[50:], 4), rtol=1e-10)
    with pytest.raises(InputError, match="block_frames"):
        split_moment_stacks(movie, 2, block_frames=60)
    with pytest.raises(InputError, match="block_frames"):
        split_moment_stacks(movie, 4, block_frames=2)


def test_convergence_matches_direct_images_and_decreases():
    movie = _movie(t=640, seed=3)
    result = convergence(da.from_array(movie, chunks=(64, -1, -1)), 3, block_frames=40)
    assert result.frames.tolist() == [40, 80, 160, 320, 640]
    images = [cumulant_stack(moment_stack(movie[:n], 3)) for n in result.frames]
    for k in (1, 2, 3):
        expected = [
            np.linalg.norm(b[k] - a[k]) / np.linalg.norm(b[k])
            for a, b in zip(images[:-1], images[1:], strict=True)
        ]
        np.testing.assert_allclose(result.relative_change[k], expected, rtol=1e-8)
    # a stationary movie: the order-2 image changes less with every doubling
    assert np.all(np.diff(result.relative_change[2]) < 0)
    moments = convergence_from_stacks(
        split_moment_stacks(movie, 2, block_frames=40).prefixes, statistic="moments"
    )
    assert moments.statistic == "moments" and len(moments.relative_change[2]) == 4
    with pytest.raises(InputError, match="statistic"):
        convergence(movie, 2, statistic="median")


def test_sofi_order_two_has_finer_frc_resolution_than_the_average():
    """Simulated emitters: the order-2 cumulant from two interleaved halves resolves finer than
    the average image of the same halves (its PSF is sqrt(2) narrower)."""
    from sofi_dask.simulate import SimulationConfig, simulate_movie

    cfg = SimulationConfig(
        n_frames=2000,
        frame_shape=(128, 128),
        n_filaments=6,
        emitters_per_filament=80,
        n_isolated=20,
        seed=5,
    )
    split = split_moment_stacks(simulate_movie(cfg).data, 2, block_frames=100)
    a, b = cumulant_stack(split.half_a), cumulant_stack(split.half_b)
    average = frc(a[0], b[0], pixel_size=cfg.pixel_size)
    order2 = frc(a[2], b[2], pixel_size=cfg.pixel_size)
    assert average.resolution is not None and order2.resolution is not None
    assert order2.resolution < 0.85 * average.resolution


def test_two_movies_split_in_one_graph_keep_their_own_numbers():
    """Each call names its graph after its input: two movies (or two block lengths of one)
    computed together give each its own stacks, not the first one's under shared keys."""
    import dask

    rng = np.random.default_rng(0)
    a = da.from_array(rng.poisson(9.0, (40, 4, 4)).astype(float), chunks=10)
    b = da.from_array(rng.poisson(100.0, (40, 4, 4)).astype(float), chunks=10)
    sa, sb = (split_moment_stacks(m, 2, block_frames=10) for m in (a, b))
    s20 = split_moment_stacks(a, 2, block_frames=20)
    fa, fb, f20 = dask.compute(sa.full, sb.full, s20.full)
    for got, movie in ((fa, a), (fb, b), (f20, a)):
        np.testing.assert_allclose(got[0], movie.mean(axis=0).compute(), rtol=1e-12)
        np.testing.assert_allclose(got[2], movie.var(axis=0).compute(), rtol=1e-12)
