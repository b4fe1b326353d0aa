"""Bleaching correction with pysofi's semantics: smoothed total signal, blocks, per-block stats.

The pipeline is pysofi's: total signal per frame -> :func:`med_smooth` (median filter, kernel
251, symmetric padding) -> :func:`cut_frames` (``fbc``: fraction of the total signal drop per
block) -> blocks ``[f_b, f_{b+1})`` -> per-block moments or cumulants (:func:`block_moments`,
:func:`block_cumulants`) -> their unweighted average (:func:`block_average`), or a corrected
movie (:func:`correct_bleaching`).

Out of core: the per-block statistics of all blocks are slices of one graph over the movie's
chunks (each chunk is read once however the blocks cut it), and :func:`correct_bleaching`
returns a lazy movie whose per-block means and minimum come from one streaming pass.

Differences from pysofi (its defects, see the notes in the docstrings): the total signal is
float64 (``sofi_dask.total_signal``); a signal that never falls gives one block
``[0, N)`` that works downstream; :func:`med_smooth` returns a series of the input's length
for any length; :func:`correct_bleaching` writes no temporary files.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np

from sofi_dask._cpus import threaded_compute
from sofi_dask._validation import as_movie_array, check_positive_int, fail, shown
from sofi_dask.stats._bleaching_correct import (
    _apply_correction,
    _correction_dtype,
    _segment_combine,
    _segment_state,
    _segment_stats,
)
from sofi_dask.stats._bleaching_signal import cut_frames, med_smooth, merge_short_blocks
from sofi_dask.stats._cumulants import cumulant_stack
from sofi_dask.stats._fold_graph import _bounds, _call, _check_split_every, _fold_reduce
from sofi_dask.stats._moments import moment_stacks
from sofi_dask.stats._reread import reread_after
from sofi_dask.stats._stack_tree import sum_tree

__all__ = [
    "block_average",
    "block_cumulants",
    "block_moments",
    "bleaching_blocks",
    "correct_bleaching",
    "corrected_and_average",
    "cut_frames",
    "med_smooth",
    "merge_short_blocks",
]


# --------------------------------------------------------------------------- blocks
def bleaching_blocks(
    signal: Any, fbc: float = 0.04, kernel_size: int = 251, *, min_frames: int | None = None
) -> list[tuple[int, int]]:
    """Frame blocks ``[(start, end), ...]`` for bleaching correction from the total signal.

    ``cut_frames(med_smooth(signal, kernel_size), fbc)`` as consecutive, non-empty blocks
    covering all frames; with ``min_frames``, blocks shorter than that are merged with each
    other or into a neighbour (:func:`merge_short_blocks`; pysofi keeps them, however short,
    and high-order statistics of a few frames are noise or fail).

    Parameters
    ----------
    signal : array_like, shape (N,)
        Total signal per frame, float64 (``sofi_dask.total_signal``; a dask array is
        computed).
    fbc : float
        Fraction of the total drop per block, in (0, 1].
    kernel_size : int
        Median-filter window (odd).
    min_frames : int, optional
        Shortest block kept on its own (default: no merging, pysofi's blocks).

    Returns
    -------
    list of (int, int)

    Raises
    ------
    ValueError
        Bad ``signal``, ``fbc`` or ``kernel_size``.

    Examples
    --------
    >>> bleaching_blocks(np.linspace(100.0, 0.0, 40), fbc=0.25, kernel_size=3)
    [(0, 10), (10, 20), (20, 30), (30, 40)]
    """
    smooth = med_smooth(signal, kernel_size)
    _, frames = cut_frames(smooth, fbc)
    blocks = [(a, b) for a, b in zip(frames[:-1], frames[1:], strict=True) if b > a]
    return blocks if min_frames is None else merge_short_blocks(blocks, min_frames)


# --------------------------------------------------------------------------- per-block stats
def _check_blocks(blocks: Any, n_frames: int, *, cover: bool = False) -> list[tuple[int, int]]:
    try:
        pairs = [tuple(b) for b in blocks]
    except TypeError:
        raise fail("blocks", "a sequence of (start, end) pairs", blocks) from None
    if not pairs:
        raise fail("blocks", "at least one (start, end) block", shown("none"))
    out = []
    for i, pair in enumerate(pairs):
        if len(pair) != 2 or any(
            isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in pair
        ):
            raise fail(f"blocks[{i}]", "two integers (start, end)", pair)
        a, b = int(pair[0]), int(pair[1])
        if not 0 <= a < b <= n_frames:
            raise fail(f"blocks[{i}]", f"(start, end) with 0 <= start < end <= {n_frames}", pair)
        out.append((a, b))
    if cover:
        if (
            out[0][0] != 0
            or out[-1][1] != n_frames
            or any(p[1] != q[0] for p, q in zip(out[:-1], out[1:], strict=True))
        ):
            raise fail(
                "blocks",
                f"consecutive blocks covering frames 0..{n_frames - 1} (as from bleaching_blocks)",
                out,
            )
    return out


def block_moments(
    data: Any,
    max_order: int,
    blocks: Sequence[tuple[int, int]],
    *,
    split_every: int | None = None,
) -> list[dict[int, Any]]:
    """Central moment images of orders 1..``max_order`` of every frame block.

    pysofi's ``moments_all_blocks`` (as a list): each block uses its own mean and divides by
    its own number of frames. For dask input all blocks are slices of one graph over the same
    chunks: ``dask.compute(...)`` of all of them reads each chunk once.

    Parameters
    ----------
    data : array, shape (t, y, x)
        dask or numpy array (or ``Movie``).
    max_order : int
        Highest order, >= 1.
    blocks : sequence of (start, end)
        Frame blocks (``bleaching_blocks``), each with at least ``max_order`` frames.
    split_every : int, optional
        Fan-in of each merge tree.

    Returns
    -------
    list of dict[int, Array]
        One ``{order: image}`` per block (order 1 is 0, as pysofi).

    Raises
    ------
    ValueError
        Bad ``max_order``; a block empty, outside the movie or shorter than ``max_order``.

    Examples
    --------
    >>> movie = np.array([1.0, 3.0, 10.0, 14.0]).reshape(4, 1, 1)
    >>> [float(m[2][0, 0]) for m in block_moments(movie, 2, [(0, 2), (2, 4)])]
    [1.0, 4.0]
    """
    max_order = check_positive_int(max_order, "max_order")
    arr, _ = as_movie_array(data)
    windows = _check_blocks(blocks, arr.shape[0])
    stacks = moment_stacks(arr, max_order, windows, split_every=split_every)
    return [{p: s[p] for p in range(1, max_order + 1)} for s in stacks]


def block_cumulants(
    data: Any,
    max_order: int,
    blocks: Sequence[tuple[int, int]],
    *,
    split_every: int | None = None,
) -> list[dict[int, Any]]:
    """Cumulant images of orders 1..``max_order`` of every frame block (pysofi's
    ``cumulants_all_blocks`` applied to ``moments_all_blocks``).

    Order 1 is the block's mean image (as ``sofi_dask.cumulants``); orders >= 2
    follow pysofi's recursion on the block's central moments. One graph for all blocks.

    Parameters
    ----------
    data, max_order, blocks, split_every
        As :func:`block_moments`.

    Returns
    -------
    list of dict[int, Array]

    Examples
    --------
    >>> movie = np.array([1.0, 3.0, 10.0, 14.0]).reshape(4, 1, 1)
    >>> [float(k[1][0, 0]) for k in block_cumulants(movie, 2, [(0, 2), (2, 4)])]
    [2.0, 12.0]
    """
    max_order = check_positive_int(max_order, "max_order")
    arr, _ = as_movie_array(data)
    windows = _check_blocks(blocks, arr.shape[0])
    stacks = moment_stacks(arr, max_order, windows, split_every=split_every)
    cum = [cumulant_stack(s) for s in stacks]
    return [{p: c[p] for p in range(1, max_order + 1)} for c in cum]


def block_average(
    per_block: Sequence[Mapping[int, Any]] | Mapping[Any, Mapping[int, Any]],
) -> dict[int, Any]:
    """Unweighted mean over blocks of per-block images (pysofi's ``block_ave_*``).

    Every block counts once, whatever its number of frames (pysofi's convention).

    Parameters
    ----------
    per_block : list of dict, or dict of dict
        Output of :func:`block_moments` / :func:`block_cumulants` (or pysofi's
        ``{block: {order: image}}`` layout); every block must have the same orders.

    Returns
    -------
    dict[int, Array]
        Order -> averaged image (lazy when the inputs are).

    Raises
    ------
    ValueError
        No blocks, or blocks with different orders.

    Examples
    --------
    >>> block_average([{2: np.array([1.0])}, {2: np.array([4.0])}])
    {2: array([2.5])}
    """
    blocks = list(per_block.values()) if isinstance(per_block, Mapping) else list(per_block)
    if not blocks:
        raise fail("per_block", "at least one block", shown("none"))
    orders = sorted(blocks[0])
    for i, b in enumerate(blocks):
        if sorted(b) != orders:
            raise fail(f"per_block[{i}]", f"orders {orders} like block 0", shown(f"{sorted(b)}"))
    out: dict[int, Any] = {}
    for p in orders:
        images = [b[p] for b in blocks]
        if _one_lazy_layout(images):  # a chain of lazy adds fuses into one task of every block
            acc, _ = sum_tree(images)
        else:
            acc = images[0]
            for image in images[1:]:
                acc = acc + image
        out[p] = acc / len(blocks)
    return out


def _one_lazy_layout(images: list[Any]) -> bool:
    """Several dask arrays of one shape and chunking (what :func:`sum_tree` adds)."""
    first = images[0]
    return (
        len(images) > 2
        and all(isinstance(a, da.Array) for a in images)
        and all(a.shape == first.shape and a.chunks == first.chunks for a in images)
    )


# --------------------------------------------------------------------------- corrected movie
def correct_bleaching(
    data: Any,
    blocks: Sequence[tuple[int, int]],
    *,
    dtype: Any = None,
    split_every: int | None = None,
) -> Any:
    """Bleaching-corrected movie (pysofi's ``correct_bleaching``), lazy and without temp files.

    Per block ``b``: ``round_half_even(x - mean_b)`` (the block's mean image), then the
    per-pixel minimum of that over all frames is subtracted, so every pixel's minimum is 0.
    The minimum is ``min_b round(min_{t in b} x - mean_b)`` (rounding is monotone), so the
    block means and minima come from one streaming pass; the corrected frames are produced by
    a second, independent read of each chunk that starts only when those small statistics are
    done (memory stays at a few chunks). pysofi writes and re-reads temporary TIFFs beside the
    input (and appends to stale ones); nothing is written here.

    Parameters
    ----------
    data : array, shape (t, y, x)
        dask or numpy array (or ``Movie``).
    blocks : sequence of (start, end)
        Consecutive blocks covering all frames (:func:`bleaching_blocks`).
    dtype : numpy dtype, optional
        Output integer dtype; default int32 for <= 16-bit integer input (values reach up to
        twice the input range), int64 otherwise (pysofi uses int64).
    split_every : int, optional
        Fan-in of the statistics merge tree (default 8).

    Returns
    -------
    Array, shape (t, y, x)
        Lazy dask array (numpy for numpy input) with the input's chunks, writable with
        ``to_zarr`` or a TIFF writer.

    Raises
    ------
    ValueError
        ``blocks`` not consecutive or not covering the movie; ``dtype`` not an integer type.

    Examples
    --------
    >>> movie = np.array([4, 6, 5, 1, 2, 2], dtype=np.uint16).reshape(6, 1, 1)
    >>> correct_bleaching(movie, [(0, 3), (3, 6)])[:, 0, 0].tolist()
    [0, 2, 1, 0, 1, 1]
    """
    corrected, _, lazy = _correction_graph(data, blocks, dtype, split_every)
    return corrected if lazy else threaded_compute(corrected)[0]


def corrected_and_average(
    data: Any, blocks: Sequence[tuple[int, int]], *, split_every: int | None = None
) -> tuple[da.Array, da.Array]:
    """:func:`correct_bleaching` of a dask movie and its average image (float64), lazily, the
    average from the correction's own statistics pass (frame-weighted block means): the
    movie's chunks are read once for both. A separate average reduction read them once more,
    and dask's task order then held most of the movie's chunks in memory between its two
    first-pass consumers (2.5 GB for 20000 frames of 256 x 256, measured).

    Examples
    --------
    >>> movie = da.from_array(np.array([4, 6, 5, 1, 2, 2], dtype=np.uint16).reshape(6, 1, 1))
    >>> corrected, average = corrected_and_average(movie, [(0, 3), (3, 6)])
    >>> corrected[:, 0, 0].compute().tolist(), average.compute().tolist()
    ([0, 2, 1, 0, 1, 1], [[3.3333333333333335]])
    """
    corrected, average, _ = _correction_graph(data, blocks, None, split_every)
    return corrected, average


def _correction_graph(data: Any, blocks: Any, dtype: Any, split_every: Any) -> tuple:
    """(lazy corrected movie, lazy average image, whether the input was lazy)."""
    arr, lazy = as_movie_array(data)
    n_frames = arr.shape[0]
    windows = _check_blocks(blocks, n_frames, cover=True)
    out_dtype = _correction_dtype(np.dtype(arr.dtype)) if dtype is None else np.dtype(dtype)
    if out_dtype.kind not in "iu":
        raise fail("dtype", "an integer dtype", shown(str(out_dtype)))
    every = _check_split_every(split_every)
    x = arr if lazy else da.from_array(arr, chunks=(max(1, min(n_frames, 256)), -1, -1))
    edges = tuple([w[0] for w in windows] + [n_frames])
    n_blocks = len(windows)

    token = dask.base.tokenize(x.name, edges, every, str(out_dtype))
    chunks = x.to_delayed(optimize_graph=False)
    t_bounds = _bounds(x.chunks[0])
    rows = []
    for iy, h in enumerate(x.chunks[1]):
        row = []
        for ix, w in enumerate(x.chunks[2]):
            leaves = [
                ((chunks[it, iy, ix],), dict(t0=t0, edges=edges))
                for it, (t0, _) in enumerate(t_bounds)
            ]
            final = _fold_reduce(
                leaves, _segment_state, _segment_combine, every, f"bleach-merge-{token}-{iy}-{ix}"
            )
            stats = _call(_segment_stats, f"bleach-stats-{token}-{iy}-{ix}", final, n_blocks)
            row.append(
                da.from_delayed(
                    stats,
                    shape=(n_blocks + 1, h, w),
                    dtype=np.float64,
                    meta=np.empty((0, 0, 0), dtype=np.float64),
                )
            )
        rows.append(da.concatenate(row, axis=2) if len(row) > 1 else row[0])
    stats_arr = da.concatenate(rows, axis=1) if len(rows) > 1 else rows[0]
    # a second read of the movie that waits for the statistics: no chunk is held meanwhile
    reread = reread_after(x, stats_arr)
    frame_index = da.arange(n_frames, chunks=(x.chunks[0],))
    corrected = da.blockwise(
        _apply_correction,
        "tyx",
        reread,
        "tyx",
        frame_index,
        "t",
        stats_arr,
        "byx",
        concatenate=True,
        edges=np.asarray(edges, dtype=np.int64),
        out_dtype=out_dtype,
        dtype=out_dtype,
        meta=np.empty((0, 0, 0), dtype=out_dtype),
        name=f"bleach-corrected-{token}",
    )
    weights = np.diff(np.asarray(edges, dtype=np.float64)) / n_frames
    average = da.tensordot(weights, stats_arr[:n_blocks], axes=1)
    return corrected, average, lazy
