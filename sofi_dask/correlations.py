"""Cross-cumulant images and time-lag moments/cumulants, streamed over frame chunks in one pass.

pysofi's ``calc_xc_im``, ``calc_moments_with_lag``, ``calc_cumulants_from_moments_with_lag``
and ``sorted_k_partitions``, with the same definitions and output layout, computed out of core:

* every frame chunk ``(t, ty, tx)`` becomes a small state: the number of frames, the per-pixel
  sum, and product sums about the chunk's *own* mean (kernels in
  :mod:`sofi_dask._correlation_kernels`);
* states are merged in a tree along ``t`` by the exact binomial shift of product sums, so the
  final state holds sums about the global mean (sum / N, the same mean pysofi uses) without a
  first pass over the movie and without the cancellation of raw power sums;
* lag products need frames ``t + tau``: each chunk is read and reduced in one task (a
  ``da.reduction``, ordered like the moment stack), which also hands out copies of its first and
  last ``max(tau)`` frames; a small per-chunk leaf adds the products straddling the boundary
  with the next chunk, so raw chunks never wait for their neighbours;
  cross-cumulants need ``ri_range`` neighbouring pixels: spatial halos come from
  :func:`dask.array.overlap.overlap` (``boundary="none"``).

For dask input everything is lazy and the outputs of one call come from one graph (compute
them together: ``dask.compute(result)``); numpy input gives numpy output.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Hashable, Sequence
from functools import partial
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.highlevelgraph import HighLevelGraph

from sofi_dask._correlation_kernels import (
    lag_subset_sums,
    mask_tables,
    pair_offset_sums,
    shift_subset_sums,
)
from sofi_dask.moments import as_movie_array, check_frames

__all__ = [
    "cross_cumulant_image",
    "cumulants_with_lag",
    "lag_subsets",
    "moments_with_lag",
    "sorted_k_partitions",
    "xc_offsets",
]

_MAX_LAGS = 10


# --------------------------------------------------------------------------- partitions
def sorted_k_partitions(seq: Sequence[Hashable], k: int) -> list[list[tuple]]:
    """All partitions of ``seq`` into exactly ``k`` parts whose parts all have >= 2 elements.

    Same result and order as pysofi's ``sorted_k_partitions``: the parts of each partition
    are sorted by (length, elements), the partitions by (part lengths, parts); partitions with
    a part of a single element are dropped.

    Parameters
    ----------
    seq : sequence
        Distinct, mutually comparable elements (typically ``range(order)``).
    k : int
        Number of parts, >= 1.

    Returns
    -------
    list of list of tuple

    Raises
    ------
    ValueError
        ``k`` not a positive integer.

    Examples
    --------
    >>> sorted_k_partitions([0, 1, 2, 3], 2)
    [[(0, 1), (2, 3)], [(0, 2), (1, 3)], [(0, 3), (1, 2)]]
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    items = list(seq)
    n = len(items)
    found: list[list[tuple]] = []
    if k > n:
        return found
    # restricted growth strings: labels[i] <= max(labels[:i]) + 1, exactly k labels in use
    labels = [0] * n

    def grow(i: int, used: int) -> None:
        if i == n:
            if used == k:
                parts = [tuple(items[j] for j in range(n) if labels[j] == g) for g in range(k)]
                found.append(sorted(parts, key=lambda p: (len(p), p)))
            return
        if used + (n - i) < k:
            return
        for g in range(min(used + 1, k)):
            labels[i] = g
            grow(i + 1, max(used, g + 1))

    grow(0, 0)
    found.sort(key=lambda ps: (*map(len, ps), ps))
    return [ps for ps in found if len(ps[0]) > 1]


# --------------------------------------------------------------------------- validation
def _check_tau(tau: Any, n_frames: int) -> tuple[int, ...]:
    try:
        lags = list(tau)
    except TypeError:
        raise ValueError(f"tau must be a sequence of integer lags, got {tau!r}") from None
    if len(lags) < 2:
        raise ValueError(f"tau must hold at least 2 lags, got {len(lags)} ({tau!r})")
    if len(lags) > _MAX_LAGS:
        raise ValueError(f"tau may hold at most {_MAX_LAGS} lags, got {len(lags)}")
    for v in lags:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise ValueError(f"tau must hold integers, got {tau!r}")
    lags = [int(v) for v in lags]
    if lags[0] != 0:
        raise ValueError(f"tau[0] must be 0 (as in pysofi), got {lags[0]}")
    if min(lags) < 0:
        raise ValueError(f"tau must not hold negative lags, got {lags}")
    if max(lags) >= n_frames:
        raise ValueError(
            f"tau: the largest lag must be smaller than the number of frames "
            f"({n_frames}), got max(tau)={max(lags)}"
        )
    return tuple(lags)


def _check_ri_range(ri_range: Any, height: int, width: int) -> int:
    if isinstance(ri_range, bool) or not isinstance(ri_range, numbers.Integral) or ri_range < 1:
        raise ValueError(f"ri_range must be an integer >= 1, got {ri_range!r}")
    r = int(ri_range)
    if height - 2 * r < 1 or width - 2 * r < 1:
        raise ValueError(
            f"ri_range={r} is too large for {height}x{width} frames: the output is "
            f"(H - 2*ri_range, W - 2*ri_range), so ri_range must be <= "
            f"{(min(height, width) - 1) // 2}"
        )
    return r


def xc_offsets(ri_range: int) -> list[tuple[int, int]]:
    """Pixel offsets of :func:`cross_cumulant_image`, in pysofi's order.

    Rows ``i = -r..-1`` with columns ``j = -r..r``, then ``(0, -r..-1)``: one offset of each
    point-symmetric pair, ``((2r + 1)^2 - 1) / 2`` in all.

    Examples
    --------
    >>> xc_offsets(1)
    [(-1, -1), (-1, 0), (-1, 1), (0, -1)]
    """
    r = int(ri_range)
    return [(i, j) for i in range(-r, 0) for j in range(-r, r + 1)] + [
        (0, j) for j in range(-r, 0)
    ]


def lag_subsets(n_lags: int) -> dict[int, list[tuple[int, ...]]]:
    """Index subsets reported by :func:`moments_with_lag` for ``n_lags`` lags (pysofi's rule).

    With ``L = n_lags > 3``: every subset of ``0..L-1`` of size 2..L-2, and only the prefixes
    ``(0..L-2)`` and ``(0..L-1)`` for orders L-1 and L; with ``L <= 3`` only the prefixes.

    Examples
    --------
    >>> lag_subsets(3)
    {2: [(0, 1)], 3: [(0, 1, 2)]}
    >>> [len(v) for v in lag_subsets(5).values()]
    [10, 10, 1, 1]
    """
    out: dict[int, list[tuple[int, ...]]] = {}
    for order in range(2, n_lags + 1):
        if n_lags > 3 and order <= n_lags - 2:
            out[order] = list(itertools.combinations(range(n_lags), order))
        else:
            out[order] = [tuple(range(order))]
    return out


# --------------------------------------------------------------------------- graph helpers
def _call(func: Callable, key: str, *args: Any, **kwargs: Any) -> Any:
    """A delayed call under an explicit, readable key (no argument hashing)."""
    return dask.delayed(func, pure=True)(*args, dask_key_name=key, **kwargs)


def _tree(states: list, combine: Callable, split_every: int, key: str) -> Any:
    """Merge ``states`` in a tree of fan-in ``split_every``; keys ``{key}-c{level}-{i}``."""
    level = 0
    while len(states) > 1:
        groups = [states[i : i + split_every] for i in range(0, len(states), split_every)]
        states = [
            _call(combine, f"{key}-c{level}-{i}", *g) if len(g) > 1 else g[0]
            for i, g in enumerate(groups)
        ]
        level += 1
    return states[0]


def _fold(state_fn: Callable, combine_fn: Callable, prev: Any, *args: Any, **kwargs: Any) -> Any:
    state = state_fn(*args, **kwargs)
    return state if prev is None else combine_fn(prev, state)


def _fold_reduce(
    leaves: list[tuple[tuple, dict]],
    state_fn: Callable,
    combine_fn: Callable,
    split_every: int,
    key: str,
) -> Any:
    """Reduce chunk states: runs of ``split_every`` consecutive chunks are folded in a chain
    (chunk state computed and merged in one task, so at most one state per chain is alive),
    then the chain results are merged in a tree. Memory stays flat in the number of chunks."""
    fold = partial(_fold, state_fn, combine_fn)
    heads = []
    for g in range(0, len(leaves), split_every):
        state = None
        for j, (args, kwargs) in enumerate(leaves[g : g + split_every]):
            state = _call(fold, f"{key}-f{g}-{j}", state, *args, **kwargs)
        heads.append(state)
    return _tree(heads, combine_fn, split_every, key)


def _check_split_every(split_every: Any) -> int:
    if split_every is None:
        return 8
    if isinstance(split_every, bool) or not isinstance(split_every, numbers.Integral) or (
        split_every < 2
    ):
        raise ValueError(f"split_every must be an integer >= 2, got {split_every!r}")
    return int(split_every)


def _frame_slice(block: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return block[lo:hi].copy()  # a copy: a view would keep the whole chunk alive


def _bounds(chunks: Sequence[int]) -> list[tuple[int, int]]:
    edges = np.concatenate([[0], np.cumsum(chunks)]).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _assemble(pieces: list[list[Any]]) -> da.Array:
    rows = [da.concatenate(row, axis=2) if len(row) > 1 else row[0] for row in pieces]
    return da.concatenate(rows, axis=1) if len(rows) > 1 else rows[0]


def _finish(result: Any, lazy: bool) -> Any:
    if lazy:
        return result
    (computed,) = dask.compute(result, scheduler="threads")
    return computed


def _min_chunks(chunks: Sequence[int], least: int) -> tuple[int, ...]:
    """``chunks`` with runs merged so that every chunk holds >= ``least`` frames."""
    out: list[int] = []
    run = 0
    for c in chunks:
        run += int(c)
        if run >= least:
            out.append(run)
            run = 0
    if run:
        if out:
            out[-1] += run
        else:
            out.append(run)
    return tuple(out)


def _lag_chunk(block: np.ndarray, *, lags: tuple[int, ...], max_lag: int) -> tuple:
    """One chunk (fused with its read): the state of the products whose frames all lie in the
    chunk, plus copies of its first and last ``max_lag`` frames for the seams."""
    n_t, height, width = block.shape
    n_pix = height * width
    frames = np.ascontiguousarray(block).reshape(n_t, n_pix)
    total = frames.sum(axis=0, dtype=np.float64)
    shift = total / n_t
    parent, top_bit, _ = mask_tables(len(lags))
    n_times = n_t - max_lag  # start times t with t + max_lag still inside the chunk
    if n_times > 0:
        sums = lag_subset_sums(frames, shift, np.asarray(lags, np.int64), n_times, parent, top_bit)
    else:
        sums = np.zeros((len(parent), n_pix))
    head = frames[:max_lag].copy()
    tail = frames[n_t - max_lag :].copy()
    return (n_t, total, shift, sums, (height, width)), head, tail


def _lag_leaf(part: tuple, after: tuple | None, *, lags: tuple[int, ...]) -> tuple:
    """A chunk's state plus its seam: products starting in its last ``max_lag`` frames, whose
    later factors lie in the next chunk (summed about the same shift, so they simply add)."""
    state, _, tail = part
    if after is None or tail.shape[0] == 0:
        return state
    n_t, total, shift, sums, shape = state
    parent, top_bit, _ = mask_tables(len(lags))
    frames = np.concatenate((tail, after[1]), axis=0)
    seam = lag_subset_sums(
        frames, shift, np.asarray(lags, np.int64), tail.shape[0], parent, top_bit
    )
    return n_t, total, shift, sums + seam, shape


def _flat(parts: Any) -> list[tuple]:
    if isinstance(parts, tuple):
        return [parts]
    return [s for p in parts for s in _flat(p)]


def _lag_merge(parts: Any, axis: Any = None, keepdims: bool = True) -> tuple:
    states = _flat(parts)
    if len(states) == 1:
        return states[0]
    n = sum(s[0] for s in states)
    total = np.sum([s[1] for s in states], axis=0)
    shift = total / n
    popcount = None
    out = None
    for _, _, c, sums, _ in states:
        if sums[0, 0] == 0:  # no product terms in this state: nothing to shift
            continue
        if popcount is None:
            popcount = mask_tables(int(np.log2(sums.shape[0])))[2]
        moved = shift_subset_sums(sums, c - shift, popcount)
        out = moved if out is None else out + moved
    if out is None:
        out = np.zeros_like(states[0][3])
    return n, total, shift, out, states[0][4]


def _lag_images(
    parts: Any, axis: Any = None, keepdims: bool = True, *, masks: tuple[int, ...],
    n_products: int,
) -> np.ndarray:
    state = _lag_merge(parts)
    return (state[3][list(masks)] / n_products).reshape(len(masks), *state[4])


def _identity(x: Any, axis: Any = None, keepdims: bool = True) -> Any:
    return x


def _lag_stack(
    x: da.Array, lags: tuple[int, ...], masks: tuple[int, ...], split_every: int
) -> da.Array:
    """The lag-moment images ``(len(masks), y, x)`` as one ``da.reduction`` over ``t``.

    Each chunk is read and reduced in one fused task (as in :func:`moment_stack`, so the
    scheduler never holds raw chunks waiting for their neighbours); the products that straddle a
    chunk boundary come from the small head/tail copies in a per-chunk leaf task.
    """
    max_lag = max(lags)
    n_products = x.shape[0] - max_lag
    if max_lag and min(x.chunks[0]) < max_lag:
        x = x.rechunk({0: _min_chunks(x.chunks[0], max_lag)})
    token = dask.base.tokenize(x, lags, masks, split_every)
    obj_meta = np.empty((0, 0, 0), dtype=np.float64)
    parts = da.map_blocks(
        _lag_chunk, x, lags=lags, max_lag=max_lag, dtype=np.float64, meta=obj_meta,
        name=f"lag-chunk-{token}",
    )
    n_t = len(x.chunks[0])
    leaf_name = f"lag-leaf-{token}"
    dsk: dict = {}
    for it, iy, ix in itertools.product(*(range(len(c)) for c in x.chunks)):
        after = (parts.name, it + 1, iy, ix) if it + 1 < n_t else None
        dsk[(leaf_name, it, iy, ix)] = (
            partial(_lag_leaf, lags=lags), (parts.name, it, iy, ix), after
        )
    graph = HighLevelGraph.from_collections(leaf_name, dsk, dependencies=[parts])
    leaves = da.Array(graph, leaf_name, chunks=x.chunks, meta=obj_meta)
    stack = da.reduction(
        leaves,
        chunk=_identity,
        combine=_lag_merge,
        aggregate=partial(_lag_images, masks=masks, n_products=n_products),
        axis=0,
        keepdims=True,
        dtype=np.float64,
        split_every=split_every,
        concatenate=False,
        output_size=len(masks),
        meta=obj_meta,
        name=f"lag-moments-{token}",
    )
    return stack


def moments_with_lag(
    data: Any,
    tau: Sequence[int],
    *,
    frames: tuple[int, int] | None = None,
    split_every: int | None = None,
) -> dict[int, dict[tuple[int, ...], Any]]:
    """Time-lag moment images (pysofi's ``calc_moments_with_lag``), streamed in one pass.

    For an index subset ``S`` of the lags, the image is
    ``mean_{t in [0, N - max(tau))} prod_{i in S} (x[t + tau_i] - mean)``, where ``mean`` is
    the per-pixel mean over all ``N`` frames of the window. Repeated lags are allowed.

    Parameters
    ----------
    data : array, shape (t, y, x)
        dask or numpy array (or ``Movie``) of any integer or float dtype.
    tau : sequence of int
        Lags ``tau_0 = 0 <= tau_i < N``, 2 to 10 of them (``L = len(tau)``).
    frames : (int, int), optional
        Frames ``start..end-1`` (``N = end - start``); default all.
    split_every : int, optional
        Fan-in of the merge tree along ``t`` (default 2: the fewest lag states alive).

    Returns
    -------
    dict[int, dict[tuple[int, ...], Array]]
        Order -> index subset -> float64 image ``(y, x)``. The subsets follow pysofi
        (:func:`lag_subsets`): for ``L > 3`` all subsets of sizes 2..L-2 and the prefixes of
        sizes L-1 and L; for ``L <= 3`` the prefixes only. Lazy for dask input.

    Raises
    ------
    ValueError
        ``tau`` too short/long, ``tau[0] != 0``, a negative lag or ``max(tau) >= N``;
        ``frames`` empty or outside the movie.

    Notes
    -----
    Each chunk keeps ``2**L`` product sums per pixel (``2**L x ty x tx x 8`` bytes): choose
    spatial tiles accordingly for long lag series. Every chunk is read and reduced in one task
    (like :func:`~sofi_dask.moments.moment_stack`); the products straddling a chunk boundary
    come from copies of the ``max(tau)`` frames on either side, so no task waits on a
    neighbour's whole chunk and peak memory stays nearly flat in the number of frames.

    Examples
    --------
    >>> movie = np.array([[[1.0]], [[3.0]], [[2.0]], [[6.0]]])
    >>> m = moments_with_lag(movie, [0, 1])
    >>> float(m[2][(0, 1)][0, 0])  # mean 3: ((-2)(0) + (0)(-1) + (-1)(3)) / 3
    -1.0
    """
    arr, lazy = as_movie_array(data)
    start, end = check_frames(frames, arr.shape[0])
    lags = _check_tau(tau, end - start)
    # a binary tree by default: lag states are 2**L images, so few should wait in the tree
    every = 2 if split_every is None else _check_split_every(split_every)
    x = arr if lazy else da.from_array(arr, chunks=(max(1, min(arr.shape[0], 256)), -1, -1))
    if (start, end) != (0, x.shape[0]):
        x = x[start:end]
    subsets = lag_subsets(len(lags))
    wanted = [(order, s) for order, group in subsets.items() for s in group]
    masks = tuple(sum(1 << i for i in s) for _, s in wanted)
    stack = _lag_stack(x, lags, masks, every)
    result: dict[int, dict[tuple[int, ...], Any]] = {order: {} for order in subsets}
    for k, (order, s) in enumerate(wanted):
        result[order][s] = stack[k]
    return _finish(result, lazy)


def cumulants_with_lag(
    moments: dict[int, dict[tuple[int, ...], Any]], tau: Sequence[int]
) -> dict[int, Any]:
    """Time-lag cumulant images from :func:`moments_with_lag` (pysofi's
    ``calc_cumulants_from_moments_with_lag``).

    ``k_n = sum over set partitions P of {0..n-1} with every part of size >= 2 of
    (-1)^(|P|-1) (|P|-1)! prod_{B in P} m_B`` (the single-part term is ``m_(0..n-1)``): the
    joint cumulant of zero-mean factors. Orders 2 and 3 equal the moments.

    Parameters
    ----------
    moments : dict
        Output of :func:`moments_with_lag` (numpy or dask images).
    tau : sequence of int
        The lags given to :func:`moments_with_lag` (only ``len(tau)`` is used).

    Returns
    -------
    dict[int, Array]
        Order (2..L) -> cumulant image; lazy when the moments are.

    Raises
    ------
    ValueError
        ``moments`` lacks a subset the formula needs (not from the same ``tau``).

    Examples
    --------
    >>> one = np.ones((1, 1))
    >>> m = {2: {s: 2 * one for s in itertools.combinations(range(4), 2)},
    ...      3: {(0, 1, 2): 0 * one}, 4: {(0, 1, 2, 3): 15 * one}}
    >>> float(cumulants_with_lag(m, [0, 1, 2, 3])[4][0, 0])  # 15 - 3 * 2 * 2
    3.0
    """
    try:
        n_lags = len(tau)
    except TypeError:
        raise ValueError(f"tau must be a sequence of lags, got {tau!r}") from None
    if n_lags < 2:
        raise ValueError(f"tau must hold at least 2 lags, got {n_lags}")

    def get(subset: tuple[int, ...]) -> Any:
        try:
            return moments[len(subset)][subset]
        except (KeyError, TypeError):
            raise ValueError(
                f"moments has no image for index subset {subset} (order {len(subset)}); "
                f"pass the output of moments_with_lag with the same tau (len {n_lags})"
            ) from None

    out: dict[int, Any] = {}
    for order in range(2, n_lags + 1):
        acc = get(tuple(range(order)))
        for n_parts in range(2, order // 2 + 1):
            weight = (-1) ** (n_parts - 1) * math.factorial(n_parts - 1)
            for partition in sorted_k_partitions(range(order), n_parts):
                term = get(partition[0])
                for part in partition[1:]:
                    term = term * get(part)
                acc = acc + weight * term
        out[order] = acc
    return out


# --------------------------------------------------------------------------- cross-cumulants
def _xc_state(
    block: np.ndarray,
    *,
    offsets: np.ndarray,
    row0: int,
    n_rows: int,
    col0: int,
    n_cols: int,
) -> tuple:
    n_t = block.shape[0]
    total = block.sum(axis=0, dtype=np.float64)
    shift = total / n_t
    pair, single = pair_offset_sums(
        np.ascontiguousarray(block), shift, offsets, row0, n_rows, col0, n_cols
    )
    return n_t, total, shift, pair, single


def _xc_combine(*states: tuple, offsets: np.ndarray, row0: int, col0: int) -> tuple:
    n = sum(s[0] for s in states)
    total = np.sum([s[1] for s in states], axis=0)
    shift = total / n
    n_rows, n_cols = states[0][3].shape[1:]
    pair = np.zeros_like(states[0][3])
    single = np.zeros_like(states[0][4])
    for m, _, c, p, s in states:
        delta = c - shift
        single += s + m * delta
        for k, (i, j) in enumerate(offsets):
            a = (slice(row0 + i, row0 + i + n_rows), slice(col0 + j, col0 + j + n_cols))
            b = (slice(row0 - i, row0 - i + n_rows), slice(col0 - j, col0 - j + n_cols))
            pair[k] += p[k] + delta[a] * s[b] + delta[b] * s[a] + m * delta[a] * delta[b]
    return n, total, shift, pair, single


def _xc_images(state: tuple) -> np.ndarray:
    return state[3] / state[0]


def cross_cumulant_image(
    data: Any,
    ri_range: int,
    *,
    frames: tuple[int, int] | None = None,
    split_every: int | None = None,
) -> dict[tuple[int, int], Any]:
    """Second-order cross-cumulant images of pixel pairs (pysofi's ``calc_xc_im``), one pass.

    For an offset ``(i, j)`` from :func:`xc_offsets` the image at output pixel ``(a, b)`` is
    ``mean_t d(a + r + i, b + r + j) * d(a + r - i, b + r - j)`` with ``d = x - mean`` (mean
    over the frame window) and ``r = ri_range``: the pair is placed symmetrically about the
    input pixel ``(a + r, b + r)``, so the output is ``(H - 2r, W - 2r)``.

    Parameters
    ----------
    data : array, shape (t, y, x)
        dask or numpy array (or ``Movie``) of any integer or float dtype.
    ri_range : int
        Largest pixel distance along each axis, 1 <= r <= (min(H, W) - 1) // 2.
    frames : (int, int), optional
        Frames ``start..end-1``; default all.
    split_every : int, optional
        Fan-in of the merge tree along ``t`` (default 8).

    Returns
    -------
    dict[tuple[int, int], Array]
        Offset -> float64 image ``(H - 2r, W - 2r)``; lazy for dask input.

    Raises
    ------
    ValueError
        ``ri_range`` < 1 or too large for the frame; ``frames`` empty or outside the movie.

    Examples
    --------
    >>> movie = np.arange(2 * 3 * 3, dtype=float).reshape(2, 3, 3)
    >>> xc = cross_cumulant_image(movie, 1)
    >>> sorted(xc), float(xc[(0, -1)][0, 0])  # every pixel moves by +-4.5 together
    ([(-1, -1), (-1, 0), (-1, 1), (0, -1)], 20.25)
    """
    arr, lazy = as_movie_array(data)
    start, end = check_frames(frames, arr.shape[0])
    _, height, width = arr.shape
    r = _check_ri_range(ri_range, height, width)
    every = _check_split_every(split_every)
    x = arr if lazy else da.from_array(arr, chunks=(max(1, min(arr.shape[0], 256)), -1, -1))
    if (start, end) != (0, x.shape[0]):
        x = x[start:end]
    for axis in (1, 2):
        if len(x.chunks[axis]) > 1 and min(x.chunks[axis]) < r:
            x = x.rechunk({axis: -1})
    offsets = xc_offsets(r)
    off = np.asarray(offsets, dtype=np.int64)
    ext = da.overlap.overlap(x, depth={0: 0, 1: r, 2: r}, boundary="none")
    blocks = ext.to_delayed(optimize_graph=False)
    token = dask.base.tokenize(x.name, r, every)
    y_bounds, x_bounds = _bounds(x.chunks[1]), _bounds(x.chunks[2])
    pieces: list[list[Any]] = []
    for iy, (y0, y1) in enumerate(y_bounds):
        lo_a, hi_a = max(y0, r), min(y1, height - r)
        if hi_a <= lo_a:
            continue
        top = r if iy > 0 else 0
        row = []
        for ix, (x0, x1) in enumerate(x_bounds):
            lo_b, hi_b = max(x0, r), min(x1, width - r)
            if hi_b <= lo_b:
                continue
            left = r if ix > 0 else 0
            geom = dict(row0=lo_a - y0 + top, col0=lo_b - x0 + left)
            leaves = [
                (
                    (blocks[it, iy, ix],),
                    dict(offsets=off, n_rows=hi_a - lo_a, n_cols=hi_b - lo_b, **geom),
                )
                for it in range(blocks.shape[0])
            ]
            combine = partial(_xc_combine, offsets=off, **geom)
            final = _fold_reduce(leaves, _xc_state, combine, every, f"xc-merge-{token}-{iy}-{ix}")
            images = _call(_xc_images, f"xc-images-{token}-{iy}-{ix}", final)
            row.append(
                da.from_delayed(
                    images, shape=(len(offsets), hi_a - lo_a, hi_b - lo_b), dtype=np.float64,
                    meta=np.empty((0, 0, 0), dtype=np.float64),
                )
            )
        pieces.append(row)
    stack = _assemble(pieces)
    result = {o: stack[k] for k, o in enumerate(offsets)}
    return _finish(result, lazy)

