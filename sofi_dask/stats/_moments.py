"""Central moments of every order in one pass over the movie; mean, minimum, total signal.

The engine is one ``dask.array.reduction`` over the frame axis with ``concatenate=False``: each
chunk ``(t, ty, tx)`` becomes a small state (``n``, per-pixel mean and central sums of every
order, see :mod:`sofi_dask._moment_state`), states are merged exactly in a tree
(``split_every``), and the aggregate returns the *moment stack* ``(max_order + 1, y, x)``:
layer 0 the mean image, layer ``p >= 1`` the ``p``-th central moment divided by the number of
frames (pysofi's convention, so layer 1 is 0). :func:`central_moments` hands out slices of that
one stack, so computing all orders together reads the data once.

Spatially tiled chunks work as they are: each tile is reduced on its own and the per-chunk
state is ``max_order x ty x tx x 8`` bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import dask.array as da
import numpy as np

from sofi_dask._cpus import threaded_compute
from sofi_dask._validation import as_movie_array, check_frames, check_positive_int, fail, shown
from sofi_dask.io._chunk_refs import apply_to_block
from sofi_dask.stats._moment_kernels import chunk_stack
from sofi_dask.stats._moment_state import (
    aggregate_states,
    chunk_state,
    combine_states,
    merge_stacks,
)

__all__ = [
    "average_image",
    "central_moments",
    "merge_moment_stacks",
    "minimum_image",
    "moment_stack",
    "moment_stacks",
    "total_signal",
]


# --------------------------------------------------------------------------- validation
def _check_enough_frames(n: int, max_order: int, name: str = "frames") -> None:
    if n < max_order:
        raise fail(name, f"at least {max_order} frames for order {max_order}", shown(f"{n} frames"))


# --------------------------------------------------------------------------- engine
def _block_stack(block: Any, max_order: int) -> np.ndarray:
    """:func:`chunk_stack` of a block or of a chunk reference (read into scratch for it)."""
    return apply_to_block(block, chunk_stack, max_order)


def _block_state(block: Any, axis: Any = None, keepdims: bool = True, *, max_order: int) -> dict:
    """:func:`chunk_state` of a block or of a chunk reference (read into scratch for it)."""
    return apply_to_block(block, chunk_state, max_order=max_order)


def _chunk_refs(data: Any, arr: Any, refs: Any) -> da.Array | None:
    """The chunk references to read aligned windows from: ``refs``, else a ``Movie``'s
    ``chunk_refs``; None for numpy input. They must match ``arr`` block for block."""
    if refs is None and not isinstance(data, (da.Array, np.ndarray)):
        refs = getattr(data, "chunk_refs", None)
    if refs is None or not isinstance(arr, da.Array):
        return None
    if not isinstance(refs, da.Array) or refs.shape != arr.shape or refs.chunks != arr.chunks:
        got = f"{type(refs).__name__} {getattr(refs, 'shape', '')} {getattr(refs, 'chunks', '')}"
        raise fail("refs", f"chunk references of the movie's shape {arr.shape} and chunks", got)
    return refs


def _window(arr: Any, refs: da.Array | None, start: int, end: int) -> Any:
    """Frames ``start..end-1`` of ``arr``, its whole chunks from ``refs`` (each then read in
    the task that reduces it) and the parts of chunks it cuts from ``arr`` (a chunk cut
    between two windows is read once); the same blocks either way."""
    whole = arr if (start, end) == (0, arr.shape[0]) else arr[start:end]
    if refs is None:
        return whole
    edges = np.cumsum((0, *arr.chunks[0]))
    inner = edges[(edges >= start) & (edges <= end)]
    if len(inner) < 2:  # no whole chunk inside
        return whole
    lo, hi = int(inner[0]), int(inner[-1])
    parts = [arr[start:lo]] if start < lo else []
    parts.append(refs if (lo, hi) == (0, arr.shape[0]) else refs[lo:hi])
    if hi < end:
        parts.append(arr[hi:end])
    return parts[0] if len(parts) == 1 else da.concatenate(parts, axis=0)


def _reduce_stack(arr: da.Array, max_order: int, split_every: int | None) -> da.Array:
    stack_meta = np.empty((0, 0, 0), dtype=np.float64)
    if arr.ndim == 3 and arr.numblocks[0] == 1:
        # one chunk along time per tile: its stack in one task (what the reduction's chunk and
        # aggregate steps give, to the bit, without the state in between)
        return arr.map_blocks(
            _block_stack,
            max_order,
            chunks=((max_order + 1,), *arr.chunks[1:]),
            dtype=np.float64,
            meta=stack_meta,
            token=f"moment-stack-{max_order}",
        )
    return da.reduction(
        arr,
        chunk=partial(_block_state, max_order=max_order),
        combine=combine_states,
        aggregate=partial(aggregate_states, max_order=max_order),
        axis=0,
        keepdims=True,
        dtype=np.float64,
        split_every=split_every,
        concatenate=False,
        output_size=max_order + 1,
        meta=stack_meta,
        name=f"moment-stack-{max_order}",
    )


def moment_stack(
    data: Any,
    max_order: int,
    *,
    frames: tuple[int, int] | None = None,
    split_every: int | None = None,
    refs: da.Array | None = None,
) -> da.Array | np.ndarray:
    """The moment stack ``(max_order + 1, y, x)`` of a frame window, from one pass.

    Layer 0 is the mean image, layer ``p >= 1`` the ``p``-th central moment divided by the
    number of frames (layer 1 is 0). This is the building block for per-block and per-window
    statistics: stacks of disjoint windows merge exactly with :func:`merge_moment_stacks`.

    Parameters
    ----------
    data : array, shape (t, y, x)
        dask or numpy array (or ``Movie``) of any integer or float dtype.
    max_order : int
        Highest order, >= 1.
    frames : (int, int), optional
        Frames ``start..end-1``; default all.
    split_every : int, optional
        Fan-in of the merge tree (dask's ``split_every``); 2 forces a deep tree.
    refs : dask.array.Array, optional
        Chunk references of ``data`` (``Movie.chunk_refs``, the default for a ``Movie``): a
        window from chunk edge to chunk edge reads each chunk in the task that reduces it,
        into a per-thread scratch buffer (the same numbers; no fresh memory per chunk).

    Returns
    -------
    dask.array.Array or numpy.ndarray
        float64 ``(max_order + 1, y, x)``; lazy for dask input, numpy for numpy input.

    Raises
    ------
    ValueError
        ``max_order`` < 1, ``frames`` empty or outside the movie, fewer frames than
        ``max_order``, ``data`` not a 3-D integer/float array.

    Examples
    --------
    >>> movie = np.array([[[1, 2]], [[3, 2]], [[5, 8]]], dtype=np.uint16)
    >>> moment_stack(movie, 2)[:, 0, 0].tolist()
    [3.0, 0.0, 2.6666666666666665]
    """
    max_order = check_positive_int(max_order, "max_order")
    arr, lazy = as_movie_array(data)
    start, end = check_frames(frames, arr.shape[0])
    _check_enough_frames(end - start, max_order)
    if lazy:
        window = _window(arr, _chunk_refs(data, arr, refs), start, end)
        return _reduce_stack(window, max_order, split_every)
    if (start, end) != (0, arr.shape[0]):
        arr = arr[start:end]
    darr = da.from_array(arr, chunks=(max(1, min(arr.shape[0], 256)), -1, -1))
    return threaded_compute(_reduce_stack(darr, max_order, split_every))[0]


def moment_stacks(
    data: Any,
    max_order: int,
    windows: Sequence[tuple[int, int]],
    *,
    split_every: int | None = None,
    check_length: bool = True,
    refs: da.Array | None = None,
) -> list[da.Array | np.ndarray]:
    """Moment stacks of several frame windows from one pass over the movie.

    For dask input all stacks are lazy reductions over slices of the same source chunks, so
    ``dask.compute(*stacks)`` reads each chunk once, however the windows cut the chunks
    (bleaching blocks, video segments). Windows may overlap or leave gaps.

    Parameters
    ----------
    data : array, shape (t, y, x)
        dask or numpy array (or ``Movie``).
    max_order : int
        Highest order, >= 1.
    windows : sequence of (start, end)
        Frame windows ``start..end-1``, each non-empty and inside the movie.
    split_every : int, optional
        Fan-in of each merge tree.
    check_length : bool
        Require at least ``max_order`` frames per window (default); ``False`` accepts any
        non-empty window (segments that are merged later).
    refs : dask.array.Array, optional
        Chunk references of ``data`` (as :func:`moment_stack`): windows from chunk edge to
        chunk edge read each chunk in the task that reduces it.

    Returns
    -------
    list of Array
        One float64 stack ``(max_order + 1, y, x)`` per window (numpy for numpy input).

    Raises
    ------
    ValueError
        Bad ``max_order``, a window empty, outside the movie or too short.

    Examples
    --------
    >>> movie = np.arange(12.0).reshape(6, 1, 2)
    >>> [float(s[2, 0, 0]) for s in moment_stacks(movie, 2, [(0, 2), (2, 6)])]
    [1.0, 5.0]
    """
    max_order = check_positive_int(max_order, "max_order")
    arr, lazy = as_movie_array(data)
    bounds = []
    for i, w in enumerate(windows):
        start, end = check_frames(w, arr.shape[0], name=f"windows[{i}]")
        if check_length:
            _check_enough_frames(end - start, max_order, name=f"windows[{i}]")
        bounds.append((start, end))
    if not bounds:
        raise fail("windows", "at least one (start, end) window", shown("none"))
    darr = arr if lazy else da.from_array(arr, chunks=(max(1, min(arr.shape[0], 256)), -1, -1))
    chunk_refs = _chunk_refs(data, arr, refs)
    stacks = [
        _reduce_stack(_window(darr, chunk_refs, a, b), max_order, split_every) for a, b in bounds
    ]
    if lazy:
        return stacks
    return list(threaded_compute(*stacks))


def central_moments(
    data: Any,
    max_order: int,
    *,
    frames: tuple[int, int] | None = None,
    split_every: int | None = None,
) -> dict[int, da.Array | np.ndarray]:
    """Central moment images of orders 1..``max_order`` from one pass over the frames.

    ``m_p = mean_t (x_t - mean)^p`` per pixel, divided by the number of frames (pysofi's
    convention; ``m_1`` is 0). pysofi truncates every value to int64; here they stay float64.

    Parameters
    ----------
    data : array, shape (t, y, x)
        dask or numpy array (or ``Movie``) of any integer or float dtype.
    max_order : int
        Highest order, >= 1.
    frames : (int, int), optional
        Frames ``start..end-1``; default all.
    split_every : int, optional
        Fan-in of the merge tree.

    Returns
    -------
    dict[int, Array]
        Order -> float64 image ``(y, x)``; for dask input each is a lazy slice of one stacked
        reduction, so ``dask.compute(*moments.values())`` reads the movie once.

    Raises
    ------
    ValueError
        As :func:`moment_stack`.

    Examples
    --------
    >>> movie = np.array([[[1.0]], [[3.0]], [[8.0]]])
    >>> {k: float(v[0, 0]) for k, v in central_moments(movie, 3).items()}
    {1: 0.0, 2: 8.666666666666666, 3: 12.0}
    """
    stack = moment_stack(data, max_order, frames=frames, split_every=split_every)
    return {p: stack[p] for p in range(1, int(max_order) + 1)}


def merge_moment_stacks(
    stacks: Sequence[da.Array | np.ndarray], counts: Sequence[int]
) -> da.Array | np.ndarray:
    """Exact moment stack of the union of disjoint frame windows.

    Parameters
    ----------
    stacks : sequence of arrays ``(max_order + 1, y, x)``
        Stacks from :func:`moment_stack` (all dask or all numpy, same shape and chunks).
    counts : sequence of int
        Number of frames behind each stack.

    Returns
    -------
    Array
        The merged stack (lazy for dask input: one task per spatial tile).

    Examples
    --------
    >>> movie = np.random.default_rng(0).poisson(50, (30, 2, 2))
    >>> a, b = moment_stack(movie[:10], 4), moment_stack(movie[10:], 4)
    >>> bool(np.allclose(merge_moment_stacks([a, b], [10, 20]), moment_stack(movie, 4)))
    True
    """
    counts = [int(c) for c in counts]
    if len(stacks) != len(counts) or not stacks:
        raise fail(
            "counts",
            f"one count per stack ({len(stacks)} stacks, at least one)",
            shown(f"{len(counts)} counts"),
        )
    if any(c < 1 for c in counts):
        raise fail("counts", "positive frame counts", counts)
    if not any(isinstance(s, da.Array) for s in stacks):
        return merge_stacks([np.asarray(s) for s in stacks], counts)
    if len(stacks) == 1:
        return stacks[0]
    stacks = [da.asarray(s) for s in stacks]
    return da.map_blocks(
        _merge_blocks,
        *stacks,
        counts=tuple(counts),
        dtype=np.float64,
        meta=np.empty((0, 0, 0), dtype=np.float64),
        token="merge-moment-stacks",
    )


def _merge_blocks(*blocks: np.ndarray, counts: tuple[int, ...]) -> np.ndarray:
    return merge_stacks(list(blocks), list(counts))


# --------------------------------------------------------------------------- simple stats
def average_image(data: Any, *, frames: tuple[int, int] | None = None) -> da.Array | np.ndarray:
    """Mean image over frames ``start..end-1`` (float64).

    Examples
    --------
    >>> average_image(np.array([[[1, 2]], [[3, 5]]], dtype=np.uint8)).tolist()
    [[2.0, 3.5]]
    """
    arr, _ = as_movie_array(data)
    start, end = check_frames(frames, arr.shape[0])
    return arr[start:end].mean(axis=0, dtype=np.float64)


def minimum_image(data: Any, *, frames: tuple[int, int] | None = None) -> da.Array | np.ndarray:
    """Per-pixel minimum over frames ``start..end-1``, in the movie's dtype.

    Examples
    --------
    >>> minimum_image(np.array([[[1, 7]], [[3, 5]]], dtype=np.uint8)).tolist()
    [[1, 5]]
    """
    arr, _ = as_movie_array(data)
    start, end = check_frames(frames, arr.shape[0])
    return arr[start:end].min(axis=0)


def total_signal(data: Any) -> da.Array | np.ndarray:
    """Total signal per frame (sum over pixels), float64, one value per frame.

    A ``Movie`` (any object with ``.data`` and ``.frame_stats``) with ingestion statistics gives
    ``frame_stats.total`` without reading the movie (wrapped as a dask array). Unlike pysofi,
    the sum is accumulated in float64, so uint16 frames never wrap.

    Examples
    --------
    >>> total_signal(np.full((2, 256, 256), 65535, dtype=np.uint16)).tolist()
    [4294901760.0, 4294901760.0]
    """
    stats = getattr(data, "frame_stats", None)
    total = getattr(stats, "total", None)
    if total is not None and isinstance(getattr(data, "data", None), da.Array):
        total = np.asarray(total, dtype=np.float64)
        if total.shape != (data.data.shape[0],):
            raise fail(
                "data.frame_stats.total",
                f"one value per frame, shape ({data.data.shape[0]},)",
                shown(f"shape {total.shape}"),
            )
        return da.from_array(total, chunks=-1)
    arr, _ = as_movie_array(data)
    return arr.sum(axis=(1, 2), dtype=np.float64)
