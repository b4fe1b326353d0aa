"""Moment stacks of the Fourier-interpolated frames, the interpolation fused into the reduction.

:func:`finterp_moment_stacks` has the contract of :func:`sofi_dask.stats.moment_stacks` for the
frames that :func:`sofi_dask.image.interpolate_movie` would give, without any interpolated chunk:
one task per (time chunk, band of output rows) reads the chunk of input frames (whole frames:
the interpolation is global along each axis), interpolates a few frames at a time into a
reused buffer and accumulates their float64 power sums
(:func:`sofi_dask.image._finterp_moments_kernels.band_moment_stack`); the chunks' stacks are
merged exactly in a tree per band (:func:`sofi_dask.stats._moment_state.merge_stacks`). Bands
keep a task's state under ``BAND_BYTES`` for big frames (4095 x 4095 after f = 2) and add no
arithmetic (rows are interpolated first).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np

from sofi_dask._cpus import threaded_compute
from sofi_dask._validation import as_movie_array, check_frames, check_positive_int, fail, shown
from sofi_dask.image import _finterp_kernels as K
from sofi_dask.image._finterp_moments_kernels import band_moment_stack
from sofi_dask.stats._moment_state import merge_stacks

__all__ = ["finterp_moment_stacks"]

#: float64 bytes of state (stack, power sums, reference) per task: sets the band height
BAND_BYTES = 64 * 2**20
#: input bytes per task (the time chunks of the input are split to this)
CHUNK_BYTES = 64 * 2**20


def _merge(*stacks: np.ndarray, counts: tuple[int, ...]) -> np.ndarray:
    return merge_stacks(list(stacks), list(counts))


def _tree(leaves: list[tuple[Any, int]], split_every: int, key: str) -> Any:
    """Exact merge of ``(stack task, frames)`` leaves in a tree of fan-in ``split_every``."""
    level = 0
    while len(leaves) > 1:
        groups = [leaves[i : i + split_every] for i in range(0, len(leaves), split_every)]
        leaves = [
            (
                dask.delayed(_merge, pure=True)(
                    *(s for s, _ in g),
                    counts=tuple(n for _, n in g),
                    dask_key_name=f"{key}-m{level}-{i}",
                ),
                sum(n for _, n in g),
            )
            if len(g) > 1
            else g[0]
            for i, g in enumerate(groups)
        ]
        level += 1
    return leaves[0][0]


def _bands(rows: int, cols: int, max_order: int, band_bytes: int) -> list[tuple[int, int]]:
    per_row = (2 * max_order + 3) * cols * 8  # stack + power sums + reference, float64
    height = max(1, min(rows, int(band_bytes) // per_row))
    return [(r, min(rows, r + height)) for r in range(0, rows, height)]


def finterp_moment_stacks(
    data: Any,
    max_order: int,
    windows: Sequence[tuple[int, int]],
    factor: int,
    *,
    dtype: Any = np.float64,
    check_length: bool = True,
    split_every: int | None = None,
    band_bytes: int = BAND_BYTES,
) -> list[da.Array | np.ndarray]:
    """Moment stacks of frame windows of the Fourier-interpolated movie, from one pass.

    Equal (to rounding) to ``moment_stacks(interpolate_movie(data, factor, dtype=dtype),
    max_order, windows)`` with no interpolated frames held beyond a small per-task buffer.

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array or Movie
        (t, y, x) movie of any integer or float dtype.
    max_order : int
        Highest order, >= 1.
    windows : sequence of (start, end)
        Frame windows ``start..end-1`` (non-empty, inside the movie).
    factor : int
        Interpolation factor, >= 1.
    dtype : {numpy.float64, numpy.float32}
        Arithmetic of the interpolation (the statistics accumulate in float64 either way).
    check_length : bool
        Require at least ``max_order`` frames per window (default).
    split_every : int, optional
        Fan-in of the merge tree of a window's chunks (default 2).
    band_bytes : int
        Bound on a task's float64 state; sets how many output rows a task makes.

    Returns
    -------
    list of Array
        One float64 stack ``(max_order + 1, (y - 1) f + 1, (x - 1) f + 1)`` per window (layer 0
        the mean, layer ``p`` the ``p``-th central moment); lazy for dask input.

    Raises
    ------
    ValueError
        Bad ``max_order``, ``factor`` or ``dtype``; a window empty, outside the movie or (with
        ``check_length``) shorter than ``max_order``.

    Examples
    --------
    >>> from sofi_dask.image import interpolate_movie
    >>> movie = np.random.default_rng(0).poisson(20.0, (30, 4, 5))
    >>> (stack,) = finterp_moment_stacks(movie, 3, [(0, 30)], 2)
    >>> frames = interpolate_movie(movie, 2).compute()
    >>> bool(np.allclose(stack[3], ((frames - frames.mean(0)) ** 3).mean(0), rtol=1e-10))
    True
    """
    max_order = check_positive_int(max_order, "max_order")
    factor = check_positive_int(factor, "factor", integral_float=True)
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise fail("dtype", "float64 or float32", shown(str(dt)))
    split_every = 2 if split_every is None else check_positive_int(split_every, "split_every")
    split_every = max(2, split_every)
    arr, lazy = as_movie_array(data)
    bounds = []
    for i, w in enumerate(windows):
        start, end = check_frames(w, arr.shape[0], name=f"windows[{i}]")
        if check_length and end - start < max_order:
            raise fail(
                f"windows[{i}]",
                f"at least {max_order} frames for order {max_order}",
                shown(f"{end - start} frames"),
            )
        bounds.append((start, end))
    if not bounds:
        raise fail("windows", "at least one (start, end) window", shown("none"))
    t, h, w = (int(s) for s in arr.shape)
    frame_bytes = h * w * np.dtype(arr.dtype).itemsize
    darr = arr if lazy else da.from_array(arr, chunks=(max(1, min(t, 256)), -1, -1))
    depth = max(1, min(max(darr.chunks[0]), CHUNK_BYTES // max(1, frame_bytes)))
    darr = darr.rechunk({0: depth, 1: -1, 2: -1})  # whole frames, bounded chunks
    hn, wn = K.interpolated_length(h, factor), K.interpolated_length(w, factor)
    lx = dask.delayed(K.interp_operator(h, factor), pure=True)
    ly = dask.delayed(K.interp_operator(w, factor), pure=True)
    bands = _bands(hn, wn, max_order, band_bytes)
    k = max_order + 1
    meta = np.empty((0, 0, 0), dtype=np.float64)
    token = dask.base.tokenize(darr.name, max_order, factor, str(dt), bounds, split_every, bands)
    stacks = []
    for iw, (a, b) in enumerate(bounds):
        part = darr if (a, b) == (0, t) else darr[a:b]
        chunks = part.to_delayed(optimize_graph=False).ravel()
        counts = part.chunks[0]
        pieces = []
        for ib, rows in enumerate(bands):
            key = f"finterp-moments-{token}-{iw}-{ib}"
            leaves = [
                (
                    dask.delayed(band_moment_stack, pure=True)(
                        chunk, lx, ly, rows, max_order, dtype=dt, dask_key_name=f"{key}-c{ic}"
                    ),
                    int(n),
                )
                for ic, (chunk, n) in enumerate(zip(chunks, counts, strict=True))
            ]
            task = _tree(leaves, split_every, key)
            shape = (k, rows[1] - rows[0], wn)
            pieces.append(da.from_delayed(task, shape=shape, dtype=np.float64, meta=meta))
        stacks.append(da.concatenate(pieces, axis=1) if len(pieces) > 1 else pieces[0])
    if lazy:
        return stacks
    return list(threaded_compute(*stacks))
