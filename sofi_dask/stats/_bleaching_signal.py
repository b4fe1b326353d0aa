"""The bleaching signal: pysofi's ``med_smooth`` and ``cut_frames``, and the merging of short
blocks (re-exported by :mod:`sofi_dask.stats._bleaching`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from sofi_dask._validation import check_positive_int, fail, shown

__all__ = ["cut_frames", "med_smooth", "merge_short_blocks"]


def _signal_1d(signal: Any, name: str = "signal") -> np.ndarray:
    arr = np.asarray(signal, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise fail(name, "a non-empty 1-D series", shown(f"shape {arr.shape}"))
    if not np.all(np.isfinite(arr)):
        raise fail(name, "finite values", shown(f"{int((~np.isfinite(arr)).sum())} NaN/inf"))
    return arr


def med_smooth(signal: Any, kernel_size: int = 251) -> np.ndarray:
    """Median filter of a 1-D series with symmetric padding (pysofi's ``med_smooth``).

    The series is extended by its mirror image *including* the edge sample
    (``... s1 s0 | s0 s1 ...``, scipy.ndimage's ``"reflect"``), exactly as pysofi pads before
    ``scipy.signal.medfilt``. Unlike pysofi, a series shorter than the kernel is still
    extended correctly (repeated reflection) and the result always has the input's length.

    Parameters
    ----------
    signal : array_like, shape (N,)
        Finite values (e.g. the total signal per frame).
    kernel_size : int
        Odd window length >= 1 (default 251).

    Returns
    -------
    numpy.ndarray of float64, shape (N,)

    Raises
    ------
    ValueError
        ``signal`` empty, not 1-D or not finite; ``kernel_size`` not a positive odd integer.

    Examples
    --------
    >>> med_smooth([5.0, 1.0, 9.0, 3.0, 7.0], kernel_size=3).tolist()
    [5.0, 5.0, 3.0, 7.0, 7.0]
    """
    arr = _signal_1d(signal)
    if (
        isinstance(kernel_size, bool)
        or not isinstance(kernel_size, numbers.Integral)
        or kernel_size < 1
        or kernel_size % 2 == 0
    ):
        raise fail("kernel_size", "a positive odd integer", kernel_size)
    half = int(kernel_size) // 2
    # explicit extension (np.pad reflects again when the series is shorter than the window;
    # scipy.ndimage misbehaves for windows longer than the line), then the valid medians only
    padded = np.pad(arr, half, mode="symmetric")
    return ndimage.median_filter(padded, size=int(kernel_size), mode="nearest")[
        half : half + arr.size
    ].copy()


def _check_fbc(fbc: Any) -> float:
    if isinstance(fbc, bool) or not isinstance(fbc, numbers.Real) or not 0 < fbc <= 1:
        raise fail("fbc", "a number in (0, 1]", fbc)
    return float(fbc)


def cut_frames(signal: Any, fbc: float = 0.04) -> tuple[list[int], list[int]]:
    """Frames where the (smoothed) signal crosses each ``fbc`` step of its total drop.

    pysofi's ``cut_frames``: with ``mx, mn`` the signal's maximum and minimum and
    ``n = ceil(1 / fbc)``, the bounds are ``int(mx - (mx - mn) * i * fbc)`` for ``i = 1..n``;
    the scan starts at the first maximum and each frame can cross at most one bound (the
    first frame below the current bound ends a block). Frames before the maximum belong to
    the first block.

    Parameters
    ----------
    signal : array_like, shape (N,)
        The smoothed total signal (:func:`med_smooth`).
    fbc : float
        Fraction of the total drop per block, in (0, 1] (default 0.04: 25 blocks).

    Returns
    -------
    bounds : list of int
        ``[int(mx)] + bounds``.
    frame_bounds : list of int
        ``[0] + crossings + [N]``: blocks are ``[frame_bounds[b], frame_bounds[b + 1])``. A
        signal that never falls gives ``[0, N]`` (one block; pysofi then fails downstream).

    Raises
    ------
    ValueError
        ``fbc`` outside (0, 1]; ``signal`` empty, not 1-D or not finite.

    Examples
    --------
    >>> cut_frames([10.0, 9.0, 8.0, 7.0, 6.0, 5.0], fbc=0.5)
    ([10, 7, 5], [0, 4, 6])
    """
    arr = _signal_1d(signal)
    fbc = _check_fbc(fbc)
    mx, mn = float(arr.max()), float(arr.min())
    n_blocks = math.ceil(1 / fbc)
    drop = mx - mn
    bounds = [int(mx - drop * i * fbc) for i in range(1, n_blocks + 1)]
    crossings: list[int] = []
    level = 0
    for frame in range(int(np.argmax(arr)), arr.size):
        if level >= n_blocks:  # only possible with negative signals (int() truncates up)
            break
        if arr[frame] < bounds[level]:
            crossings.append(frame)
            level += 1
    return [int(mx), *bounds], [0, *crossings, int(arr.size)]


def merge_short_blocks(blocks: Sequence[tuple[int, int]], min_frames: int) -> list[tuple[int, int]]:
    """Merge blocks shorter than ``min_frames`` with each other, or else into one neighbour.

    Every run of consecutive short blocks is cut, in order, into groups that each gather short
    blocks until they span ``min_frames`` frames or more; a short remainder at the end of a run
    joins the run's last group. A block of ``min_frames`` or more is never enlarged, except by
    a run whose blocks together stay shorter than ``min_frames``: that run joins the shorter of
    its two neighbours (the one before on a tie; the only one at either end of the movie). The
    result covers the same frames with consecutive blocks in the same order, every block spans
    ``min_frames`` or more when the movie does, and one block is kept however short.

    Parameters
    ----------
    blocks : sequence of (int, int)
        Consecutive frame blocks ``[(start, end), ...]`` (:func:`bleaching_blocks`).
    min_frames : int
        Shortest block kept on its own, >= 1.

    Returns
    -------
    list of (int, int)

    Raises
    ------
    ValueError
        ``min_frames`` is not a positive integer.

    Examples
    --------
    A run of short blocks merges into blocks of >= ``min_frames``, not into the long block
    before it; a lone short block joins its shorter neighbour:

    >>> merge_short_blocks([(0, 30), (30, 60), (60, 90), (90, 120), (120, 150), (150, 400)], 50)
    [(0, 60), (60, 150), (150, 400)]
    >>> merge_short_blocks([(0, 50), (50, 53), (53, 120), (120, 122)], 10)
    [(0, 53), (53, 122)]
    """
    min_frames = check_positive_int(min_frames, "min_frames")
    # groups of consecutive blocks: a long block alone, or short blocks until min_frames
    groups: list[list[int]] = []  # [start, end, is_long]
    in_run = False  # the last group is part of a run of short blocks
    for a, b in blocks:
        if b - a >= min_frames:
            groups.append([a, b, 1])
            in_run = False
        elif in_run and groups[-1][1] - groups[-1][0] < min_frames:
            groups[-1][1] = b  # the run's open group grows
        else:
            groups.append([a, b, 0])
            in_run = True
    merged: list[list[int]] = []
    for i, (a, b, is_long) in enumerate(groups):
        if is_long or b - a >= min_frames or not merged:
            merged.append([a, b])
        elif not groups[i - 1][2]:  # a short remainder after a full group of its run
            merged[-1][1] = b
        elif i + 1 < len(groups) and (
            groups[i + 1][1] - groups[i + 1][0] < merged[-1][1] - merged[-1][0]
        ):
            groups[i + 1][0] = a  # joins the shorter, following neighbour
        else:
            merged[-1][1] = b  # joins the block before
    # a run short in total at the start of the movie joins the block after it
    if len(merged) > 1 and merged[0][1] - merged[0][0] < min_frames:
        first = merged.pop(0)
        merged[0][0] = first[0]
    return [(a, b) for a, b in merged]
