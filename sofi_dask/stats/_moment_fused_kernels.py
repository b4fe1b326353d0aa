"""Central sums accumulated batch by batch about a mean known in advance (numba, no dask).

:mod:`sofi_dask.stats._moment_kernels` reduces a chunk that is in memory (mean first, then the
sums about it). A producer that makes its frames a few at a time (the Fourier interpolation
fused into the moment reduction, :mod:`sofi_dask.image._finterp_moments_kernels`) knows the
chunk's mean beforehand (interpolation is linear: the mean of the interpolated frames is the
interpolated mean frame) and feeds each batch once: :func:`accumulate_powers_split` adds
``sum (x - ref)^p`` for ``p = 1..max_order`` to float64 accumulators. ``ref`` may differ from
the exact mean of the values by rounding (or by the float32 error of the frames); the first
power sum records that offset and :func:`stack_from_power_sums` removes it with the exact
binomial shift, so the state is the chunk's central sums (as :func:`central_sums` gives them)
to rounding.
"""

from __future__ import annotations

import functools
from math import comb

import numba
import numpy as np

__all__ = [
    "accumulate_powers_split",
    "stack_from_power_sums",
]


def _make_split_kernel(n_pows: int):  # pragma: no cover - compiled
    """Kernel of :func:`accumulate_powers_split` for orders 1..n_pows (unrolled)."""

    @numba.njit(nogil=True, cache=True, fastmath=False)
    def kernel(left, src, right, ref, sums):
        ny = src.shape[0]
        t = left.shape[1]
        w = left.shape[2]
        wr = right.shape[2]
        for i in range(ny):  # one row at a time: the row's accumulators stay in L1 cache
            s = src[i]
            for k in range(t):
                for j in range(w):
                    d = left[s, k, j] - ref[i, j]
                    p = d
                    sums[0, i, j] += p
                    for o in range(1, n_pows):
                        p *= d
                        sums[o, i, j] += p
                for j in range(wr):
                    d = right[i, k, j] - ref[i, w + j]
                    p = d
                    sums[0, i, w + j] += p
                    for o in range(1, n_pows):
                        p *= d
                        sums[o, i, w + j] += p

    return kernel


@functools.cache
def _split_kernel(n_pows: int):
    return _make_split_kernel(n_pows)


def accumulate_powers_split(
    left: np.ndarray, src: np.ndarray, right: np.ndarray, ref: np.ndarray, sums: np.ndarray
) -> None:
    """Add ``sum_k (x_k - ref) ** p`` to ``sums[p - 1]`` for ``p = 1..len(sums)``, in place, for
    values laid out row-major across frames, in two blocks of columns: pixel ``(i, j)`` of
    frame ``k`` is ``left[src[i], k, j]`` for ``j < W`` and ``right[i, k, j - W]`` after
    (``W = left.shape[2]``).

    The layout of the fused Fourier interpolation
    (:mod:`sofi_dask.image._finterp_moments_kernels`): ``left`` holds a batch's input rows and
    new rows ``(rows, t, W)`` (one matrix product makes every frame's new rows), ``right`` the
    new columns of the band's rows ``(y, t, Wr)``. Per pixel the frames are added in order
    ``k = 0, 1, ...``, each power the previous one times ``x_k - ref``.

    Parameters
    ----------
    left : numpy.ndarray
        (rows, t, W) float32 or float64.
    src : numpy.ndarray
        (y,) int64: the row of ``left`` of each output row.
    right : numpy.ndarray
        (y, t, Wr) of ``left``'s dtype.
    ref : numpy.ndarray
        (y, W + Wr) float64 reference.
    sums : numpy.ndarray
        (max_order, y, W + Wr) float64 accumulators, C-contiguous.

    Examples
    --------
    >>> left = np.array([[[1.0], [3.0]]])  # one row, two frames, one column
    >>> right = np.array([[[5.0], [7.0]]])
    >>> sums = np.zeros((2, 1, 2))
    >>> accumulate_powers_split(left, np.array([0]), right, np.array([[2.0, 6.0]]), sums)
    >>> sums[1].tolist()
    [[2.0, 2.0]]
    """
    if left.shape[1] and sums.shape[0] and src.shape[0]:
        _split_kernel(int(sums.shape[0]))(left, src, right, ref, sums)


def stack_from_power_sums(
    n: int, ref: np.ndarray, sums: np.ndarray, rows: np.ndarray, cols: np.ndarray, out: np.ndarray
) -> None:
    """Write the moment stack ``[mean, 0, M_2 / n, ..., M_max / n]`` of the power sums about
    ``ref`` into ``out[:, rows[i], cols[j]]`` (pixel ``(i, j)`` of ``ref`` goes to output pixel
    ``(rows[i], cols[j])``), with no temporaries.

    With ``S_p = sum (x - ref)^p`` (``S_0 = n``) and ``delta = S_1 / n`` the mean is
    ``ref + delta`` and ``M_p = sum_k C(p, k) S_k (-delta)^(p - k)`` (exact).

    Examples
    --------
    >>> out = np.empty((3, 1, 1))
    >>> sums = np.array([[[4.0]], [[10.0]]])  # x = 1, 3 about ref 0: S_1 = 4, S_2 = 10
    >>> stack_from_power_sums(2, np.zeros((1, 1)), sums, np.arange(1), np.arange(1), out)
    >>> out[:, 0, 0].tolist()
    [2.0, 0.0, 1.0]
    """
    max_order = int(sums.shape[0])
    binom = np.array(
        [[comb(p, k) for k in range(max_order + 1)] for p in range(max_order + 1)], dtype=np.float64
    )
    if max_order < 1:
        raise ValueError("sums must hold at least the first power sum")
    rows, cols = rows.astype(np.int64), cols.astype(np.int64)
    _place_kernel(max_order)(float(n), ref, sums, binom, rows, cols, out)


def _make_place_kernel(max_order: int):  # pragma: no cover - compiled
    """Kernel of :func:`stack_from_power_sums` for ``max_order`` (a compile-time constant: the
    binomial sums unroll; 2.5x faster than a run-time order loop at order 4)."""

    @numba.njit(nogil=True, cache=True, fastmath=False)
    def kernel(n, ref, sums, binom, rows, cols, out):
        ny, nx = ref.shape
        for i in range(ny):
            r = rows[i]
            for j in range(nx):
                c = cols[j]
                neg = -sums[0, i, j] / n
                out[0, r, c] = ref[i, j] - neg
                out[1, r, c] = 0.0
                for p in range(2, max_order + 1):
                    acc = sums[p - 1, i, j]
                    power = 1.0
                    for k in range(p - 1, 0, -1):  # S_k (-delta)^(p - k), k = p-1 .. 1
                        power *= neg
                        acc += binom[p, k] * sums[k - 1, i, j] * power
                    power *= neg
                    acc += binom[p, 0] * n * power  # S_0 = n
                    out[p, r, c] = acc / n

    return kernel


@functools.cache
def _place_kernel(max_order: int):
    return _make_place_kernel(max_order)
