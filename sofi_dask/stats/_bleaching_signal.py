"""The bleaching signal: pysofi's ``med_smooth`` and ``cut_frames`` (re-exported by
:mod:`sofi_dask.bleaching`).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from scipy import ndimage

from sofi_dask._validation import fail, shown

__all__ = ["cut_frames", "med_smooth"]


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
