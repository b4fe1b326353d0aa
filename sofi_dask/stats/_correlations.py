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
from collections.abc import Hashable, Sequence
from typing import Any

import dask.array as da
import numpy as np  # noqa: F401  (the docstring examples use np)

from sofi_dask._validation import as_movie_array, check_frames, check_positive_int, fail, shown
from sofi_dask.stats._fold_graph import _check_split_every, _finish
from sofi_dask.stats._lag_graph import _lag_stack
from sofi_dask.stats._xc_graph import _xc_stack

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
        raise fail("k", "an integer >= 1", k)
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
        raise fail("tau", "a sequence of integer lags", tau) from None
    if not 2 <= len(lags) <= _MAX_LAGS:
        raise fail("tau", f"2 to {_MAX_LAGS} lags", shown(f"{len(lags)} lags ({tau!r})"))
    for v in lags:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise fail("tau", "integer lags", tau)
    lags = [int(v) for v in lags]
    if lags[0] != 0:
        raise fail("tau[0]", "0 (as in pysofi)", lags[0])
    if min(lags) < 0:
        raise fail("tau", "non-negative lags", lags)
    if max(lags) >= n_frames:
        raise fail(
            "tau",
            f"lags smaller than the number of frames ({n_frames})",
            shown(f"max(tau)={max(lags)}"),
        )
    return tuple(lags)


def _check_ri_range(ri_range: Any, height: int, width: int) -> int:
    r = check_positive_int(ri_range, "ri_range")
    if height - 2 * r < 1 or width - 2 * r < 1:
        raise fail(
            "ri_range",
            f"an integer <= {(min(height, width) - 1) // 2} for {height}x{width} frames "
            f"(the output is (H - 2*ri_range, W - 2*ri_range))",
            r,
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
    return [(i, j) for i in range(-r, 0) for j in range(-r, r + 1)] + [(0, j) for j in range(-r, 0)]


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


# --------------------------------------------------------------------------- lag moments
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
    (like :func:`~sofi_dask.moment_stack`); the products straddling a chunk boundary
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
        raise fail("tau", "a sequence of lags", tau) from None
    if n_lags < 2:
        raise fail("tau", "at least 2 lags", shown(f"{n_lags}"))

    def get(subset: tuple[int, ...]) -> Any:
        try:
            return moments[len(subset)][subset]
        except (KeyError, TypeError):
            raise fail(
                "moments",
                f"the output of moments_with_lag with the same tau (len {n_lags})",
                shown(f"no image for index subset {subset} (order {len(subset)})"),
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
    offsets = xc_offsets(r)
    stack = _xc_stack(x, r, offsets, every)
    result = {o: stack[k] for k, o in enumerate(offsets)}
    return _finish(result, lazy)
