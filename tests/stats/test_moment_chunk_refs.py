"""Moment stacks of a store read through its chunk references (each chunk read into a
per-thread scratch buffer by the task that reduces it): bit for bit the stacks of
``Movie.data``, on the threaded scheduler and on a real two-worker distributed cluster."""

from __future__ import annotations

import dask
import numpy as np
import pytest
import tifffile

from sofi_dask.errors import InputError
from sofi_dask.io import ingest, open_movie
from sofi_dask.stats import moment_stack, moment_stacks
from sofi_dask.stats._moment_kernels import central_sums_numpy

SHAPE = (95, 24, 20)
CHUNKS = (10, 16, 12)  # edge chunks on every axis
# aligned (chunk edge to chunk edge: one chunk, several chunks, the last partial chunk) and
# cut windows (a chunk shared by two windows, a window inside one chunk)
WINDOWS = [(0, 10), (10, 40), (40, 53), (53, 60), (60, 65), (65, 90), (90, 95)]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("refs")
    rng = np.random.default_rng(11)
    movie = (rng.poisson(200.0, SHAPE) + np.linspace(0, 400, SHAPE[0])[:, None, None]).astype(
        np.uint16
    )
    tifffile.imwrite(tmp / "m.tif", movie)
    return ingest(tmp / "m.tif", tmp / "m.zarr", chunks=CHUNKS), movie


def _reference(movie, a, b, order):
    """The moment stack of frames a..b-1 from the numpy reference kernel."""
    mean, sums = central_sums_numpy(movie[a:b], order)
    return np.concatenate([mean[None], np.zeros_like(mean)[None], sums / (b - a)])


def _layers(arr):
    return set(arr.__dask_graph__().layers)


@pytest.mark.parametrize("split_every", [None, 2])
def test_stacks_from_refs_equal_the_datas_bit_for_bit(store, split_every):
    dest, movie = store
    m = open_movie(dest)
    plain = moment_stacks(m.data, 4, WINDOWS, split_every=split_every, check_length=False)
    refs = moment_stacks(m, 4, WINDOWS, split_every=split_every, check_length=False)
    got = dask.compute(*plain, *refs, scheduler="threads")
    for (a, b), p, r in zip(WINDOWS, got[: len(WINDOWS)], got[len(WINDOWS) :], strict=True):
        np.testing.assert_array_equal(r, p)  # the same operations on the same numbers
        np.testing.assert_allclose(r, _reference(movie, a, b, 4), rtol=1e-9, atol=1e-9)
    # whole chunks read through the references, cut ones through the data (read once)
    uses = [any(n.startswith("chunk-refs") for n in _layers(s)) for s in refs]
    assert uses == [True, True, True, False, False, True, True]
    plain_reads = [any(n.startswith("read-zarr") for n in _layers(s)) for s in refs]
    assert plain_reads == [False, False, True, True, True, True, False]
    whole = moment_stack(m, 3)
    assert any(n.startswith("chunk-refs") for n in _layers(whole))
    np.testing.assert_array_equal(whole.compute(), moment_stack(m.data, 3).compute())
    part = moment_stack(m, 3, frames=(20, 60)).compute()  # frames: chunk edges
    np.testing.assert_array_equal(part, moment_stack(m.data, 3, frames=(20, 60)).compute())


def test_refs_must_match_the_movie(store):
    dest, _movie = store
    m = open_movie(dest)
    with pytest.raises(InputError, match="refs"):
        moment_stacks(m.data, 2, [(0, 10)], refs=m.chunk_refs[:50])
    with pytest.raises(InputError, match="refs"):
        moment_stack(m.data, 2, refs=m.chunk_refs.rechunk((20, 16, 12)))


def test_no_scratch_buffer_leaves_a_task_on_a_distributed_cluster(store, dask_client):
    """Every chunk reduced on two worker processes (its chunk read into the worker thread's
    scratch buffer, which the next chunk overwrites): each window's stack, gathered at the
    end, still holds its own chunk's moments. A stack that were (a view of) the scratch buffer
    would hold the last chunk its worker read."""
    dest, movie = store
    m = open_movie(dest)
    windows = [(a, min(a + 10, SHAPE[0])) for a in range(0, SHAPE[0], 10)]
    stacks = moment_stacks(m, 3, windows, check_length=False)
    assert all(any(n.startswith("chunk-refs") for n in _layers(s)) for s in stacks)
    futures = dask_client.compute(stacks)
    got = dask_client.gather(futures)
    workers = {w for who in dask_client.who_has(futures).values() for w in who}
    assert len(workers) == 2  # both workers reduced chunks
    for (a, b), stack in zip(windows, got, strict=True):
        np.testing.assert_allclose(stack, _reference(movie, a, b, 3), rtol=1e-9, atol=1e-9)
    local = dask.compute(*moment_stacks(m.data, 3, windows, check_length=False), scheduler="sync")
    for stack, plain in zip(got, local, strict=True):
        np.testing.assert_array_equal(stack, plain)
    # windows cut inside chunks (references and data blocks concatenated): the same bits
    mixed = dask_client.gather(dask_client.compute(moment_stacks(m, 4, WINDOWS, split_every=2)))
    plain = dask.compute(*moment_stacks(m.data, 4, WINDOWS, split_every=2), scheduler="sync")
    for stack, expected in zip(mixed, plain, strict=True):
        np.testing.assert_array_equal(stack, expected)


def test_a_movie_with_other_data_is_reduced_from_that_data(store):
    """``dataclasses.replace(movie, data=...)`` with the same chunks (corrected or scaled
    frames) drops the stored frames' chunk references: its statistics are of its own data."""
    import dataclasses

    dest, movie = store
    m = open_movie(dest)
    assert m.chunk_refs is not None and m.refs_for == m.data.name
    doubled = dataclasses.replace(m, data=m.data * 2.0)
    assert doubled.chunk_refs is None
    got = moment_stack(doubled, 2).compute()
    np.testing.assert_allclose(got, moment_stack(2.0 * movie.astype(np.float64), 2), rtol=1e-12)
    same = dataclasses.replace(m, attrs={"other": 1})  # the same data: references kept
    assert same.chunk_refs is m.chunk_refs
