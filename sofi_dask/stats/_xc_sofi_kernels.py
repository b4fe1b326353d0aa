"""Numba kernels of cross-cumulant SOFI with virtual pixels (``nogil``; no dask here).

A *combination* is a set of ``n`` distinct pixels given as offsets ``(dy, dx)`` from a base
pixel. For a chunk of frames, a per-pixel shift ``c`` (the chunk's own mean) and every base
pixel of a tile, :func:`combo_product_sums` accumulates the sums over frames of the products
``prod_{i in m} (x[p_i] - c[p_i])`` of every subset ``m`` of the combination's pixels with at
least two elements (bit masks as in :mod:`sofi_dask.stats._correlation_kernels`). Subsets of one
pixel are the per-pixel sums of ``x - c`` and the empty subset the frame count, both shared by
all combinations, so they are kept once per tile.

States about different shifts merge exactly (:func:`shift_combo_sums`): with
``delta_i = c_i - c_new_i`` per factor,
``sum_t prod_{i in m} (x_i - c_new_i) = sum_{A subset of m} prod_{i in m \\ A} delta_i S_A``,
where ``S_A`` are the sums about ``c`` (``S_{} = n``, ``S_{i}`` the single sums).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["combo_product_sums", "product_masks", "shift_combo_sums"]


def product_masks(order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Subset masks of ``order`` factors with >= 2 elements, their parents and top bits.

    Returns ``(masks, parent, top)``: ``masks`` ascending (int64), ``parent[k]`` the mask
    ``masks[k]`` without its highest bit ``top[k]``.

    Examples
    --------
    >>> [m.tolist() for m in product_masks(3)]
    [[3, 5, 6, 7], [1, 1, 2, 3], [1, 2, 2, 2]]
    """
    masks = [m for m in range(1 << order) if bin(m).count("1") >= 2]
    top = [m.bit_length() - 1 for m in masks]
    parent = [m ^ (1 << t) for m, t in zip(masks, top, strict=True)]
    return (
        np.asarray(masks, dtype=np.int64),
        np.asarray(parent, dtype=np.int64),
        np.asarray(top, dtype=np.int64),
    )


@numba.njit(nogil=True, cache=True)
def combo_product_sums(
    x, shift, offsets, masks, parent, top, row0, n_rows, col0, n_cols
):  # pragma: no cover - numba
    """Product sums of every combination and subset, for every base pixel of a tile.

    Parameters
    ----------
    x : ndarray, shape (F, H, W)
        Frames of a halo-extended tile (any real dtype).
    shift : ndarray of float64, shape (H, W)
        Per-pixel shift subtracted from every value.
    offsets : ndarray of int64, shape (C, n, 2)
        Pixel offsets ``(dy, dx)`` of the ``C`` combinations of order ``n``.
    masks, parent, top : ndarray of int64, shape (K,)
        From :func:`product_masks` for order ``n``.
    row0, n_rows, col0, n_cols : int
        Base pixels ``row0 <= a < row0 + n_rows``, ``col0 <= b < col0 + n_cols`` (tile
        coordinates). Pixels outside the tile are read as 0 (the caller masks those bases).

    Returns
    -------
    ndarray of float64, shape (C, K, n_rows, n_cols)
        ``sum_t prod_{i in masks[k]} (x[t, p_i] - shift[p_i])``.
    """
    n_frames, height, width = x.shape
    n_combos, order, _ = offsets.shape
    n_masks = masks.shape[0]
    out = np.zeros((n_combos, n_masks, n_rows, n_cols))
    d = np.zeros((height, width))
    prod = np.zeros((1 << order, n_cols))
    for t in range(n_frames):
        for a in range(height):
            for b in range(width):
                d[a, b] = x[t, a, b] - shift[a, b]
        for c in range(n_combos):
            for a in range(n_rows):
                for i in range(order):
                    ra = row0 + a + offsets[c, i, 0]
                    row = prod[1 << i]
                    if ra < 0 or ra >= height:
                        row[:] = 0.0
                        continue
                    dc = col0 + offsets[c, i, 1]
                    for b in range(n_cols):
                        cb = dc + b
                        row[b] = d[ra, cb] if 0 <= cb < width else 0.0
                for k in range(n_masks):
                    pm = prod[masks[k]]
                    pp = prod[parent[k]]
                    pt = prod[1 << top[k]]
                    acc = out[c, k, a]
                    for b in range(n_cols):
                        v = pp[b] * pt[b]
                        pm[b] = v
                        acc[b] += v
    return out


@numba.njit(nogil=True, cache=True)
def shift_combo_sums(
    sums, single, count, delta, offsets, masks, row0, col0
):  # pragma: no cover - numba
    """Re-express the product sums of :func:`combo_product_sums` about a new shift.

    Parameters
    ----------
    sums : ndarray of float64, shape (C, K, n_rows, n_cols)
        Product sums about the shift ``c``.
    single : ndarray of float64, shape (H, W)
        ``sum_t (x - c)`` per pixel of the tile.
    count : int
        Number of frames of the state.
    delta : ndarray of float64, shape (H, W)
        ``c - c_new`` per pixel.
    offsets, masks, row0, col0
        As given to :func:`combo_product_sums`.

    Returns
    -------
    ndarray of float64, shape (C, K, n_rows, n_cols)
    """
    n_combos, n_masks, n_rows, n_cols = sums.shape
    order = offsets.shape[1]
    height, width = single.shape
    n_full = 1 << order
    out = np.empty_like(sums)
    full = np.zeros((n_full, n_cols))
    dl = np.zeros((order, n_cols))
    for c in range(n_combos):
        for a in range(n_rows):
            full[0, :] = float(count)
            for i in range(order):
                ra = row0 + a + offsets[c, i, 0]
                dc = col0 + offsets[c, i, 1]
                for b in range(n_cols):
                    cb = dc + b
                    if 0 <= ra < height and 0 <= cb < width:
                        dl[i, b] = delta[ra, cb]
                        full[1 << i, b] = single[ra, cb]
                    else:
                        dl[i, b] = 0.0
                        full[1 << i, b] = 0.0
            for k in range(n_masks):
                full[masks[k], :] = sums[c, k, a, :]
            # shift one factor at a time: S_m += delta_i S_(m without i) for every m holding i
            # (S_(m without i) does not hold i, so it is still about the old shift of factor i)
            for i in range(order):
                bit = 1 << i
                di = dl[i]
                for m in range(n_full - 1, 0, -1):
                    if m & bit:
                        fm = full[m]
                        fp = full[m ^ bit]
                        for b in range(n_cols):
                            fm[b] += di[b] * fp[b]
            for k in range(n_masks):
                out[c, k, a, :] = full[masks[k], :]
    return out
