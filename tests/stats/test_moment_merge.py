"""The numba merge of moment states and stacks (``merge_sums``) and the one-pass chunk stack
(``chunk_stack``): the same numbers, to the bit, as the numpy code they replace, and the direct
numpy formula."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from sofi_dask.stats._moment_kernels import central_sums, chunk_stack
from sofi_dask.stats._moment_state import (
    chunk_state,
    merge_stacks,
    merge_states,
    stack_from_state,
    state_from_stack,
)


def _merge_states_numpy(states):
    """The numpy k-way Pébay merge that merge_sums replaced (kept here as the reference)."""
    n = sum(s["n"] for s in states)
    ref = states[0]["mean"]
    mean = ref + sum(s["n"] * (s["mean"] - ref) for s in states) / n
    n_sums = states[0]["M"].shape[0]
    merged = np.zeros_like(states[0]["M"])
    for s in states:
        delta = s["mean"] - mean
        ms = s["M"]
        powers = [None, delta]
        for _ in range(2, n_sums + 2):
            powers.append(powers[-1] * delta)
        for p in range(2, n_sums + 2):
            acc = ms[p - 2] + s["n"] * powers[p]
            for k in range(1, p - 1):
                acc = acc + comb(p, k) * ms[p - k - 2] * powers[k]
            merged[p - 2] += acc
    return {"n": n, "mean": mean, "M": merged}


def _merge_stacks_numpy(stacks, counts):
    merged = _merge_states_numpy(
        [state_from_stack(s, c) for s, c in zip(stacks, counts, strict=True)]
    )
    return stack_from_state(merged)[: stacks[0].shape[0]]


def _movie(seed, shape, offset=0.0):
    rng = np.random.default_rng(seed)
    return rng.poisson(30.0, shape).astype(np.float64) * rng.uniform(0.5, 2.0, shape) + offset


def _assert_close(got, x, max_order, rtol=1e-9):
    """``got`` equals the direct stack, layer p to ``rtol`` of the scale mean |x - mean|^p
    (odd moments cancel: a relative test of their value alone would ask too much)."""
    direct = _direct_stack(x, max_order)
    d = x - x.mean(axis=0)
    for p in range(got.shape[0]):
        scale = np.abs(x).mean() if p == 0 else np.mean(np.abs(d) ** max(p, 1))
        np.testing.assert_allclose(got[p], direct[p], rtol=0, atol=rtol * scale)


def _direct_stack(x, max_order):
    """Mean and central moments straight from their definition (numpy, float64)."""
    mean = x.mean(axis=0)
    out = [mean, np.zeros_like(mean)]
    out += [((x - mean) ** p).mean(axis=0) for p in range(2, max_order + 1)]
    return np.stack(out)


@pytest.mark.parametrize("max_order", [1, 2, 4, 6])
@pytest.mark.parametrize("sizes", [(7, 5), (3, 9, 1, 4), (1, 1, 1), (600,)])
def test_merge_states_bitwise_as_numpy(max_order, sizes):
    # 600 frames and 1200 pixels: several spans of the kernel, a last partial one
    x = _movie(max_order + len(sizes), (sum(sizes), 3, 400), offset=1e4)
    bounds = np.cumsum((0, *sizes))
    states = [
        chunk_state(x[a:b], max_order=max_order)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    got = merge_states(states)
    if len(states) == 1:
        assert got is states[0]
        return
    ref = _merge_states_numpy(states)
    assert got["n"] == ref["n"] == x.shape[0]
    np.testing.assert_array_equal(got["mean"], ref["mean"])
    np.testing.assert_array_equal(got["M"], ref["M"])
    # and the definition: the merged moments are those of all the frames
    _assert_close(stack_from_state(got), x, max_order)


@pytest.mark.parametrize("max_order", [2, 4, 5])
def test_merge_stacks_bitwise_as_numpy(max_order):
    x = _movie(7, (41, 16, 70), offset=250.0)
    cuts = [(0, 10), (10, 11), (11, 30), (30, 41)]
    stacks = [stack_from_state(chunk_state(x[a:b], max_order=max_order)) for a, b in cuts]
    counts = [b - a for a, b in cuts]
    for k in (2, 3, 4):
        got = merge_stacks(stacks[:k], counts[:k])
        np.testing.assert_array_equal(got, _merge_stacks_numpy(stacks[:k], counts[:k]))
    _assert_close(merge_stacks(stacks, counts), x, max_order)


def test_merge_stacks_of_a_tree_equal_the_whole():
    # merged pairwise (as the stack tree does) and k-way: the moments of all frames
    x = _movie(3, (64, 5, 9))
    stacks = [stack_from_state(chunk_state(x[i : i + 8], max_order=4)) for i in range(0, 64, 8)]
    level, counts = stacks, [8] * 8
    while len(level) > 1:
        level = [merge_stacks(level[i : i + 2], counts[i : i + 2]) for i in range(0, len(level), 2)]
        counts = [counts[i] + counts[i + 1] for i in range(0, len(counts), 2)]
    _assert_close(level[0], x, 4, rtol=1e-12)
    _assert_close(merge_stacks(stacks, [8] * 8), x, 4, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64, ">u2"])
def test_chunk_stack_bitwise_as_state(dtype):
    x = (_movie(5, (37, 6, 33)) * 10).astype(dtype)
    for max_order in (1, 2, 4, 7):
        got = chunk_stack(x, max_order)
        ref = stack_from_state(chunk_state(x, max_order=max_order))
        assert got.shape == (max(max_order, 1) + 1, 6, 33)
        np.testing.assert_array_equal(got, ref)
    mean, sums = central_sums(x, 4)
    np.testing.assert_array_equal(chunk_stack(x, 4)[0], mean)
    _assert_close(chunk_stack(x, 4), x.astype(np.float64), 4)


def test_chunk_stack_rejects_bad_blocks():
    with pytest.raises(ValueError, match="t, y, x"):
        chunk_stack(np.zeros((3, 4)), 2)
    with pytest.raises(ValueError, match="at least one frame"):
        chunk_stack(np.zeros((0, 2, 2)), 2)


def test_single_chunk_windows_take_one_task_and_equal_the_reduction():
    """A window of one time chunk per tile: one task per tile (map_blocks of chunk_stack), the
    numbers of the reduction's chunk + aggregate steps to the bit; several chunks: the
    reduction, whose merges (numba) equal the numpy ones to the bit."""
    import dask.array as da

    from sofi_dask.stats import moment_stacks

    x = (_movie(11, (48, 10, 12)) * 7).astype(np.uint16)
    movie = da.from_array(x, chunks=(16, 5, 12))
    one, three = moment_stacks(movie, 4, [(16, 32), (0, 48)])
    assert len(one.__dask_graph__().layers) == 3  # source, slice, one map_blocks layer
    tiles = [stack_from_state(chunk_state(x[16:32, r : r + 5], max_order=4)) for r in (0, 5)]
    np.testing.assert_array_equal(one.compute(), np.concatenate(tiles, axis=1))
    parts = [chunk_state(x[a : a + 16], max_order=4) for a in (0, 16, 32)]
    np.testing.assert_array_equal(three.compute(), stack_from_state(_merge_states_numpy(parts)))
