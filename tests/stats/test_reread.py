"""reread_after: a second read of a lazy movie, after another result, sharing no chunk task."""

from __future__ import annotations

from collections import defaultdict

import dask
import dask.array as da
import numpy as np
import pytest
from dask.core import get_dependencies
from dask.graph_manipulation import bind

from sofi_dask.stats import _bleaching
from sofi_dask.stats._reread import reread_after


def _movie():
    rng = np.random.default_rng(5)
    return rng.poisson(50.0, (30, 6, 5)).astype(np.uint16)


def _consumers(collection) -> dict:
    (opt,) = dask.optimize(collection)
    graph = dict(opt.__dask_graph__())
    out = defaultdict(set)
    for key in graph:
        for dep in get_dependencies(graph, key):
            out[dep].add(key)
    return out


@pytest.mark.parametrize("frames", [slice(None), slice(0, 17), slice(3, 29), slice(4, 8)])
def test_reread_equals_the_input_and_shares_no_task(frames):
    source = da.from_array(_movie(), chunks=(4, 3, 5), name="movie-src")
    x = source[frames]
    y = reread_after(x, x.sum())
    np.testing.assert_array_equal(y.compute(), _movie()[frames])
    assert y.chunks == x.chunks and y.dtype == x.dtype
    assert not set(y.dask.layers[y.name]) & set(dict(x.dask))


def test_reread_waits_for_the_other_result():
    """The clone's leaves depend on the checkpoint of ``after``: nothing of the second read
    can run before the first pass is complete."""
    x = da.from_array(_movie(), chunks=(4, 3, 5))[2:20]
    after = x.sum()
    y = reread_after(x, after)
    own = y.dask.layers[y.name]
    leaves = [node for node in own.values() if not set(node.dependencies) & set(own)]
    assert leaves
    for node in leaves:
        assert any(str(d).startswith("checkpoint") for d in node.dependencies)


def _shared_reads(corrected) -> list:
    """Chunk reads of the source consumed by both passes of the correction."""
    consumers = _consumers(corrected.sum(axis=0))
    return [k for k, c in consumers.items() if str(k).startswith("('movie-src") and len(c) > 1]


@pytest.mark.parametrize("frames", [slice(None), slice(3, 27)])
def test_bleaching_correction_reads_a_slice_twice_holding_nothing(frames):
    """The correction's two passes each read every chunk: with a frame range (a slice of the
    movie) dask's bind cloned the slice but not the reads under it, so every chunk was held
    between the passes (1.7 GB for 10000 of 256 x 256 frames)."""
    movie = _movie()
    source = da.from_array(movie, chunks=(4, 3, 5), name="movie-src")
    x = source[frames]
    n = x.shape[0]
    blocks = [(0, n // 2), (n // 2, n)]
    corrected, average = _bleaching.corrected_and_average(x, blocks)
    assert _shared_reads(corrected) == []
    expected = _bleaching.correct_bleaching(movie[frames], blocks)
    np.testing.assert_array_equal(corrected.compute(), expected)
    np.testing.assert_allclose(average.compute(), movie[frames].mean(axis=0, dtype=np.float64))


def test_dask_bind_still_shares_the_reads_under_a_slice():
    """Why reread_after exists: if dask's bind clones the tasks under a slice one day, this
    fails and the helper can go."""
    source = da.from_array(_movie(), chunks=(4, 3, 5), name="movie-src")
    x = source[3:27]
    bound = bind(x, x.sum())
    consumers = _consumers(bound + x)
    assert any(str(k).startswith("('movie-src") and len(c) > 1 for k, c in consumers.items())


def test_the_clone_runs_on_a_distributed_cluster(dask_client):
    """The cloned task-spec nodes travel to real workers: the same numbers as threads."""
    movie = _movie()
    x = da.from_array(movie, chunks=(4, 3, 5))[3:27]
    blocks = [(0, 12), (12, 24)]
    corrected, average = _bleaching.corrected_and_average(x, blocks)
    expected = dask.compute(corrected, average, scheduler="threads")
    got = dask_client.compute([corrected, average], sync=True)
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(a, b)


def test_reread_of_a_legacy_graph():
    """An array whose graph is old-style (tuple tasks, a key alias, a plain data value) is
    cloned too: the values equal the input's, with none of its keys."""
    from dask.highlevelgraph import HighLevelGraph

    data = _movie()
    name = "legacy-movie"
    dsk = {
        ("legacy-src", 0): data[:16],  # plain data
        ("legacy-src", 1): data[16:],
        (name, 0, 0, 0): (np.add, ("legacy-src", 0), 0),  # tuple tasks
        ("legacy-mid", 1): (np.multiply, ("legacy-src", 1), 1),
        (name, 1, 0, 0): ("legacy-mid", 1),  # an alias
    }
    x = da.Array(
        HighLevelGraph.from_collections(name, dsk),
        name,
        chunks=((16, 14), (6,), (5,)),
        dtype=data.dtype,
    )
    y = reread_after(x, x.sum())
    np.testing.assert_array_equal(y.compute(), data)
    assert not set(y.dask.layers[y.name]) & set(dsk)
