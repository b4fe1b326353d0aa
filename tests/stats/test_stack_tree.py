"""stats._stack_tree: whole, interleaved halves and prefixes of window stacks from one tree,
against direct one-pass stacks of the same frames; each window's stack has one consumer."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

from sofi_dask.stats import moment_stack, moment_stacks
from sofi_dask.stats._stack_tree import interleaved_stacks


def _direct(movie: np.ndarray, windows: list[tuple[int, int]], order: int) -> np.ndarray:
    return moment_stack(np.concatenate([movie[a:b] for a, b in windows]), order)


@pytest.mark.parametrize("n_windows", [1, 2, 5, 8, 11, 37])
@pytest.mark.parametrize("first_parity", [0, 1])
@pytest.mark.parametrize("prefixes", [True, False])  # False: k-way trees of fan-in 4
def test_whole_halves_and_prefixes_equal_direct_stacks(n_windows, first_parity, prefixes):
    rng = np.random.default_rng(n_windows)
    sizes = rng.integers(7, 15, n_windows)
    edges = np.concatenate([[0], np.cumsum(sizes)])
    windows = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    movie = (rng.poisson(30.0, (int(edges[-1]), 10, 12)) + 1000.0).astype(np.uint16)
    lazy = da.from_array(movie, chunks=(9, 5, 7))  # time chunks cut across windows; 2 x 2 tiles
    stacks = moment_stacks(lazy, 4, windows, check_length=False)
    tree = interleaved_stacks(stacks, sizes, first_parity=first_parity, prefixes=prefixes)
    full, a, b, *pref = dask.compute(
        tree.full, tree.half_a, tree.half_b, *(s for _, s in tree.prefixes), scheduler="sync"
    )
    np.testing.assert_allclose(full, moment_stack(movie, 4), rtol=1e-12, atol=1e-9)
    even = [w for i, w in enumerate(windows) if (first_parity + i) % 2 == 0]
    odd = [w for i, w in enumerate(windows) if (first_parity + i) % 2 == 1]
    for got, part, count in ((a, even, tree.counts[1]), (b, odd, tree.counts[2])):
        if not part:
            assert got is None and count == 0
            continue
        assert count == sum(e - s for s, e in part)
        np.testing.assert_allclose(got, _direct(movie, part, 4), rtol=1e-12, atol=1e-9)
    assert tree.counts[0] == movie.shape[0]
    sizes_of_prefixes = [1 << j for j in range(n_windows.bit_length()) if 1 << j < n_windows]
    if not prefixes:
        sizes_of_prefixes = []
    assert [n for n, _ in tree.prefixes] == [int(edges[s]) for s in sizes_of_prefixes]
    for got, s in zip(pref, sizes_of_prefixes, strict=True):
        np.testing.assert_allclose(got, _direct(movie, windows[:s], 4), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("prefixes", [False, True])
def test_each_window_stack_has_one_consumer(prefixes):
    """The property that keeps memory flat on a cluster: no window's stack waits for a second
    consumer (whole, half, prefixes; only the first two windows are also the first prefixes)
    and no merge takes more than two inputs (binary tree, with prefixes) or more than
    ``_FAN_IN`` (without: one k-way tree per half, far fewer merged stacks)."""
    from sofi_dask.stats._stack_tree import _FAN_IN

    movie = da.random.default_rng(0).poisson(20.0, (640, 8, 8), chunks=(20, 4, 8))
    windows = [(a, a + 20) for a in range(0, 640, 20)]
    stacks = moment_stacks(movie, 3, windows)
    tree = interleaved_stacks(stacks, [20] * len(windows), prefixes=prefixes)
    outs = [tree.full, tree.half_a, tree.half_b, *(s for _, s in tree.prefixes)]
    graph = dict(dask.base.collections_to_expr(outs).__dask_graph__())
    names = {s.name for s in stacks}
    dependents: dict = {}
    for key, task in graph.items():
        for dep in task.dependencies if hasattr(task, "dependencies") else ():
            dependents.setdefault(dep, set()).add(key)
    window_keys = [k for k in graph if isinstance(k, tuple) and k[0] in names]
    assert len(window_keys) == len(windows) * 2  # two spatial tiles
    first = {stacks[0].name, stacks[1].name} if prefixes else set()
    consumers = [len(dependents.get(k, ())) for k in window_keys if k[0] not in first]
    assert consumers and set(consumers) == {1}
    merges = [k for k in graph if isinstance(k, str) and k.startswith("stack-tree-")]
    limit = 2 if prefixes else _FAN_IN
    assert merges and all(len(graph[k].dependencies) <= limit for k in merges)
    if not prefixes:  # per tile and half: 16 windows -> 4 merges of 4 -> 1 (binary: 15)
        halves = [k for k in merges if "-a-" in k or "-b-" in k]
        assert len(halves) == 2 * (5 + 5)


def test_bad_arguments_are_refused_with_the_parameter_named():
    from sofi_dask.errors import InputError

    stacks = moment_stacks(da.ones((20, 4, 4), chunks=10), 2, [(0, 10), (10, 20)])
    with pytest.raises(InputError, match="parameter 'counts': expected one positive"):
        interleaved_stacks(stacks, [10])
    with pytest.raises(InputError, match="parameter 'counts'"):
        interleaved_stacks(stacks, [10, 0])
    other = moment_stacks(da.ones((20, 4, 4), chunks=(10, 2, 4)), 2, [(0, 10)])
    with pytest.raises(InputError, match="parameter 'stacks': expected moment stacks of one"):
        interleaved_stacks([stacks[0], other[0]], [10, 10])


@pytest.mark.parametrize("n", [1, 2, 3, 8, 13])
def test_sum_tree_total_and_prefixes_equal_numpy_sums_one_consumer_each(n):
    from sofi_dask.stats._stack_tree import sum_tree

    rng = np.random.default_rng(n)
    parts = [rng.normal(size=(3, 10, 12)) for _ in range(n)]
    lazy = [da.from_array(p, chunks=(3, 5, 7)) for p in parts]  # 2 x 2 tiles
    total, prefixes = sum_tree(lazy, prefixes=True)
    got, *pref = dask.compute(total, *(p for _, p in prefixes), scheduler="sync")
    np.testing.assert_allclose(got, np.sum(parts, axis=0), rtol=1e-12, atol=1e-12)
    assert [m for m, _ in prefixes] == [1 << j for j in range(n.bit_length()) if 1 << j < n]
    for (m, _), p in zip(prefixes, pref, strict=True):
        np.testing.assert_allclose(p, np.sum(parts[:m], axis=0), rtol=1e-12, atol=1e-12)
    graph = dict(dask.base.collections_to_expr([total], optimize_graph=True).__dask_graph__())
    dependents: dict = {}
    for key, task in graph.items():
        for dep in task.dependencies:
            dependents.setdefault(dep, set()).add(key)
    inputs = [k for k in graph if isinstance(k, tuple) and k[0] in {a.name for a in lazy}]
    assert n == 1 or all(len(dependents[k]) == 1 for k in inputs)
    assert max(len(task.dependencies) for task in graph.values()) <= 4  # 4: the tiles' join


def test_sum_tree_refuses_mismatched_arrays():
    from sofi_dask.errors import InputError
    from sofi_dask.stats._stack_tree import sum_tree

    with pytest.raises(InputError, match="parameter 'arrays'"):
        sum_tree([da.ones((4, 4), chunks=2), da.ones((4, 4), chunks=4)])
    with pytest.raises(InputError, match="parameter 'arrays'"):
        sum_tree([])
