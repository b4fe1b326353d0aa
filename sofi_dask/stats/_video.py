"""SOFI video: moment or cumulant images over adjacent or sliding windows of frames.

Window ``w`` covers frames ``w*step .. w*step + window - 1``; windows that would run past the
end of the movie are dropped. All windows come from one graph that reads each source chunk
once:

* ``step >= window`` (adjacent or gapped windows): one moment reduction per window;
* ``step < window`` (sliding windows): the movie is cut into segments of
  ``g = gcd(window, step)`` frames, each reduced once, and every window merges its
  ``window // g`` segment stacks exactly (Pébay), so a frame is reduced once, not
  ``window / step`` times. When ``g < 4`` a merge would cost more than re-reducing the
  frames, so each window is reduced directly (still one read: the windows share the source
  chunks in one graph).
"""

from __future__ import annotations

from math import gcd
from typing import Any

import dask.array as da

from sofi_dask._cpus import threaded_compute
from sofi_dask._validation import as_movie_array, check_positive_int, fail
from sofi_dask.stats._cumulants import cumulant_stack
from sofi_dask.stats._moments import merge_moment_stacks, moment_stacks

__all__ = ["sofi_video", "video_windows"]

_STATISTICS = ("cumulants", "moments")
# Merging one segment costs ~max_order^2 / 2 array operations per pixel, reducing one frame
# ~2 * max_order: below this many frames per segment, windows are reduced directly instead.
_MIN_SEGMENT = 4


def video_windows(n_frames: int, window: int, step: int | None = None) -> list[tuple[int, int]]:
    """Frame windows ``(start, end)`` of a SOFI video over ``n_frames`` frames.

    Raises
    ------
    ValueError
        ``window`` or ``step`` not a positive integer, or ``window`` longer than the movie.

    Examples
    --------
    >>> video_windows(10, 4)
    [(0, 4), (4, 8)]
    >>> video_windows(10, 4, step=3)
    [(0, 4), (3, 7), (6, 10)]
    """
    window = check_positive_int(window, "window")
    step = window if step is None else check_positive_int(step, "step")
    if window > n_frames:
        raise fail("window", f"at most the movie's {n_frames} frames", window)
    n_windows = (n_frames - window) // step + 1
    return [(w * step, w * step + window) for w in range(n_windows)]


def sofi_video(
    data: Any,
    max_order: int,
    *,
    window: int,
    step: int | None = None,
    statistic: str = "cumulants",
    split_every: int | None = None,
) -> dict[int, Any]:
    """Moment or cumulant images of every window: a SOFI video per order.

    Parameters
    ----------
    data : array, shape (t, y, x)
        dask or numpy array (or ``Movie``) of any integer or float dtype.
    max_order : int
        Highest order, >= 1.
    window : int
        Frames per window, ``max_order <= window <= t``.
    step : int, optional
        Frames between window starts; default ``window`` (adjacent windows).
    statistic : {"cumulants", "moments"}
        Cumulants (order 1 = mean image) or central moments (order 1 = 0), as
        :func:`sofi_dask.cumulants` / :func:`sofi_dask.central_moments`.
    split_every : int, optional
        Fan-in of the merge trees.

    Returns
    -------
    dict[int, Array]
        Order -> float64 ``(n_windows, y, x)``; lazy (one graph) for dask input, numpy for
        numpy input.

    Raises
    ------
    ValueError
        Bad ``max_order``, ``window`` longer than the movie or shorter than ``max_order``,
        bad ``step`` or ``statistic``.

    Examples
    --------
    >>> import numpy as np
    >>> movie = np.array([1.0, 3.0, 8.0, 0.0, 2.0, 4.0]).reshape(6, 1, 1)
    >>> video = sofi_video(movie, 2, window=3, statistic="moments")
    >>> video[2][:, 0, 0].round(4).tolist()
    [8.6667, 2.6667]
    """
    max_order = check_positive_int(max_order, "max_order")
    if statistic not in _STATISTICS:
        raise fail("statistic", f"one of {', '.join(map(repr, _STATISTICS))}", statistic)
    arr, lazy = as_movie_array(data)
    windows = video_windows(arr.shape[0], window, step)
    window = windows[0][1] - windows[0][0]
    step = window if step is None else int(step)
    if window < max_order:
        raise fail("window", f"at least {max_order} frames for order {max_order}", window)
    darr = arr if lazy else da.from_array(arr, chunks=(max(1, min(arr.shape[0], 256)), -1, -1))

    g = gcd(window, step)
    if step >= window or g < _MIN_SEGMENT:
        # adjacent/gapped windows, or segments too short for merging to beat re-reducing
        stacks = moment_stacks(darr, max_order, windows, split_every=split_every)
    else:
        n_segments = windows[-1][1] // g
        segments = [(s * g, (s + 1) * g) for s in range(n_segments)]
        seg_stacks = moment_stacks(
            darr, max_order, segments, split_every=split_every, check_length=False
        )
        per_window = window // g
        stacks = []
        for start, _ in windows:
            first = start // g
            parts = seg_stacks[first : first + per_window]
            stacks.append(merge_moment_stacks(parts, [g] * per_window))
    if statistic == "cumulants":
        stacks = [cumulant_stack(s) for s in stacks]
    video = da.stack(stacks, axis=0)
    if not lazy:
        video = threaded_compute(video)[0]
    return {p: video[:, p] for p in range(1, max_order + 1)}
