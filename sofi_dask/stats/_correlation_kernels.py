"""Pure array kernels for cross-cumulants and time-lag moments (numba, ``nogil``; no dask here).

Every streaming statistic here is a *shifted product sum*: for a chunk of frames, a per-pixel
shift ``c`` (the chunk's own mean) and a set of factors, the kernel accumulates
``sum_t prod_i (x[t + lag_i] - c)``. States about different shifts are merged exactly by the
binomial subset expansion
``prod_{i in S} (d_i + delta) = sum_{A subset of S} delta^(|S|-|A|) prod_{i in A} d_i``
(:func:`shift_subset_sums`), so one pass over the movie gives statistics about the global mean
without the cancellation of raw power sums.

Subsets of the lag indices ``0..L-1`` are bit masks ``m`` (bit ``i`` set: factor ``i`` is in the
product); mask 0 is the empty product, whose sum is the number of product terms.
"""

from __future__ import annotations

import numba
import numpy as np

_PIXEL_BLOCK = 128


def mask_tables(n_factors: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parent mask, highest bit and bit count of every subset mask of ``n_factors`` factors.

    Parameters
    ----------
    n_factors : int
        Number of factors ``L``; masks run over ``0 .. 2**L - 1``.

    Returns
    -------
    parent, top_bit, popcount : numpy.ndarray of int64, each of length ``2**L``
        ``parent[m]`` is ``m`` without its highest bit ``top_bit[m]`` (both 0 for ``m == 0``).

    Examples
    --------
    >>> parent, top, count = mask_tables(2)
    >>> parent.tolist(), top.tolist(), count.tolist()
    ([0, 0, 0, 1], [0, 0, 1, 1], [0, 1, 1, 2])
    """
    n_masks = 1 << n_factors
    parent = np.zeros(n_masks, dtype=np.int64)
    top_bit = np.zeros(n_masks, dtype=np.int64)
    popcount = np.zeros(n_masks, dtype=np.int64)
    for m in range(1, n_masks):
        top = m.bit_length() - 1
        top_bit[m] = top
        parent[m] = m ^ (1 << top)
        popcount[m] = popcount[parent[m]] + 1
    return parent, top_bit, popcount


@numba.njit(nogil=True, cache=True)
def lag_subset_sums(x, shift, lags, n_times, parent, top_bit):  # pragma: no cover - numba
    """Sums over ``t < n_times`` of every subset product of ``x[t + lags[i]] - shift``.

    Parameters
    ----------
    x : ndarray, shape (F, P)
        Frames (any real dtype), ``F >= n_times + max(lags)`` when ``n_times > 0``.
    shift : ndarray of float64, shape (P,)
        Per-pixel shift subtracted from every value.
    lags : ndarray of int64, shape (L,)
    n_times : int
        Number of product start times (``t = 0 .. n_times - 1``).
    parent, top_bit : ndarray of int64, shape (2**L,)
        From :func:`mask_tables`.

    Returns
    -------
    ndarray of float64, shape (2**L, P)
        Row ``m`` holds ``sum_t prod_{i in m} (x[t + lags[i]] - shift)``; row 0 is ``n_times``.
    """
    n_factors = lags.shape[0]
    n_masks = parent.shape[0]
    n_pix = x.shape[1]
    out = np.zeros((n_masks, n_pix))
    pb_max = _PIXEL_BLOCK
    prod = np.empty((n_masks, pb_max))
    acc = np.empty((n_masks, pb_max))
    for p0 in range(0, n_pix, pb_max):
        pb = min(pb_max, n_pix - p0)
        acc[:, :] = 0.0
        sh = shift[p0 : p0 + pb]
        for t in range(n_times):
            # single factors: the shifted values themselves, written straight into their rows
            for i in range(n_factors):
                xr = x[t + lags[i], p0 : p0 + pb]
                row = prod[1 << i]
                ar = acc[1 << i]
                for q in range(pb):
                    v = xr[q] - sh[q]
                    row[q] = v
                    ar[q] += v
            # 1-D row views let LLVM vectorise the pixel loop (rows never alias: m != parent)
            for m in range(1, n_masks):
                par = parent[m]
                if par == 0:
                    continue
                pp = prod[par]
                pm = prod[m]
                dd = prod[1 << top_bit[m]]
                am = acc[m]
                for q in range(pb):
                    v = pp[q] * dd[q]
                    pm[q] = v
                    am[q] += v
        for m in range(1, n_masks):
            out[m, p0 : p0 + pb] = acc[m, :pb]
        out[0, p0 : p0 + pb] = n_times
    return out


@numba.njit(nogil=True, cache=True)
def shift_subset_sums(sums, delta, popcount):  # pragma: no cover - numba
    """Re-express subset product sums about a new shift.

    With ``d = x - c`` and ``delta = c - c_new`` (per pixel),
    ``sum_t prod_{i in m} (x - c_new) = sum_{A subset of m} delta^(|m|-|A|) sums[A]``.

    Parameters
    ----------
    sums : ndarray of float64, shape (2**L, P)
        Subset sums about ``c``; row 0 is the number of terms.
    delta : ndarray of float64, shape (P,)
        ``c - c_new``.
    popcount : ndarray of int64, shape (2**L,)

    Returns
    -------
    ndarray of float64, shape (2**L, P)
    """
    n_masks, n_pix = sums.shape
    max_bits = 0
    for m in range(n_masks):
        max_bits = max(max_bits, popcount[m])
    out = np.empty_like(sums)
    powers = np.empty(max_bits + 1)
    for p in range(n_pix):
        powers[0] = 1.0
        for k in range(1, max_bits + 1):
            powers[k] = powers[k - 1] * delta[p]
        for m in range(n_masks):
            total = 0.0
            sub = m
            while True:
                total += powers[popcount[m] - popcount[sub]] * sums[sub, p]
                if sub == 0:
                    break
                sub = (sub - 1) & m
            out[m, p] = total
    return out


@numba.njit(nogil=True, cache=True)
def pair_offset_sums(x, shift, offsets, row0, n_rows, col0, n_cols):  # pragma: no cover - numba
    """Per-frame products of pixel pairs placed symmetrically about each centre.

    For a centre ``(a, b)`` and offset ``(i, j)`` the pair is ``(a + i, b + j)`` and
    ``(a - i, b - j)``.

    Parameters
    ----------
    x : ndarray, shape (F, H, W)
        Frames of a (halo-extended) tile, any real dtype.
    shift : ndarray of float64, shape (H, W)
    offsets : ndarray of int64, shape (K, 2)
    row0, n_rows, col0, n_cols : int
        Centres ``row0 <= a < row0 + n_rows``, ``col0 <= b < col0 + n_cols`` (tile coordinates);
        every pair must lie inside the tile.

    Returns
    -------
    pair_sums : ndarray of float64, shape (K, n_rows, n_cols)
        ``sum_t d[t, a+i, b+j] * d[t, a-i, b-j]`` with ``d = x - shift``.
    single_sums : ndarray of float64, shape (H, W)
        ``sum_t d[t]``.
    """
    n_frames, height, width = x.shape
    n_off = offsets.shape[0]
    pair = np.zeros((n_off, n_rows, n_cols))
    single = np.zeros((height, width))
    d = np.empty((height, width))
    for t in range(n_frames):
        for a in range(height):
            for b in range(width):
                v = x[t, a, b] - shift[a, b]
                d[a, b] = v
                single[a, b] += v
        for k in range(n_off):
            di = offsets[k, 0]
            dj = offsets[k, 1]
            for a in range(n_rows):
                ra = row0 + a
                for b in range(n_cols):
                    cb = col0 + b
                    pair[k, a, b] += d[ra + di, cb + dj] * d[ra - di, cb - dj]
    return pair, single
