"""LDRC kernels on in-memory blocks (numpy/scipy only, no dask).

LDRC (local dynamic range compression, Yi et al. 2019) averages, over every ``wr x wc`` window
``W`` lying fully inside the image (stride 1) that covers pixel ``p``, the min-max normalised
window scaled by the maximum of the mask over the same window::

    out(p) = 1/n(p) * sum_{W ∋ p} (x_p - min_W) * s_W,   s_W = maskmax_W / (max_W - min_W)
           = (x_p * S(p) - T(p)) / n(p)

with ``S = box(s)``, ``T = box(min * s)`` and ``n = box(1)``, where ``box`` sums a quantity
defined on the window-origin grid over the origins of the windows covering ``p`` (a "full"
correlation with a ``wr x wc`` box). Windows min/max come from separable min/max filters, and
the box sums from blocked prefix/suffix sums, so the cost per pixel does not depend on the
window size.

A window where ``max_W == min_W`` (a flat window) contributes 0 to the sum (its normalised
window ``(w - min)/(max - min)`` is taken as 0) but still counts in ``n(p)``.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "ldrc_block",
    "resample_mask",
    "sliding_sum_full",
    "window_max",
    "window_min",
]


def sliding_sum_full(a: np.ndarray, w: int, axis: int = -1) -> np.ndarray:
    """Full box correlation of ``a`` along ``axis``: ``out[i] = sum(a[i - w + 1 : i + 1])``.

    ``a`` is taken as zero outside its extent, so an axis of ``n`` samples gives ``n + w - 1``.
    The sums use prefix and suffix sums restarted every ``w`` samples (a van Herk/Gil-Werman
    scheme for sums), so each output is a sum of at most ``2 w`` nearby values: no rounding drift
    along the axis as with one running cumulative sum, and O(1) work per sample.
    """
    a = np.asarray(a, dtype=np.float64)
    axis = axis % a.ndim
    n = a.shape[axis]
    m = n + w - 1
    if w == 1:
        return a.copy()
    n_blocks = -(-(n + 2 * (w - 1)) // w)
    before, after = a.shape[:axis], a.shape[axis + 1 :]
    lead = (slice(None),) * axis

    padded = np.zeros(before + (n_blocks * w,) + after, dtype=np.float64)
    padded[lead + (slice(w - 1, w - 1 + n),)] = a
    blocks = padded.reshape(before + (n_blocks, w) + after)
    prefix = np.cumsum(blocks, axis=axis + 1).reshape(padded.shape)
    rev = lead + (slice(None), slice(None, None, -1))
    suffix = np.cumsum(blocks[rev], axis=axis + 1)[rev].reshape(padded.shape)
    # window [i, i + w): suffix of its first block + prefix of the next one; a window that
    # starts a block is that block's suffix alone.
    out = suffix[lead + (slice(0, m),)] + prefix[lead + (slice(w - 1, w - 1 + m),)]
    out[lead + (slice(0, m, w),)] = suffix[lead + (slice(0, m, w),)]
    return out


@numba.njit(nogil=True, cache=True)
def _extreme_2d(x, wr, wc, take_max, out):  # pragma: no cover - compiled
    # along the rows first (pixels innermost: vectorised), then along each row (shifted rows:
    # vectorised too); O(window) comparisons per pixel, with no temporaries but two rows
    h, w = x.shape
    oh, ow = h - wr + 1, w - wc + 1
    acc = np.empty(w, dtype=x.dtype)
    for i in range(oh):
        for j in range(w):
            acc[j] = x[i, j]
        for k in range(1, wr):
            for j in range(w):
                v = x[i + k, j]
                if take_max:
                    acc[j] = v if v > acc[j] else acc[j]
                else:
                    acc[j] = v if v < acc[j] else acc[j]
        for j in range(ow):
            out[i, j] = acc[j]
        for k in range(1, wc):
            for j in range(ow):
                v = acc[j + k]
                if take_max:
                    out[i, j] = v if v > out[i, j] else out[i, j]
                else:
                    out[i, j] = v if v < out[i, j] else out[i, j]


def _window_extreme(x: np.ndarray, window: tuple[int, int], take_max: bool) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float64)
    wr, wc = int(window[0]), int(window[1])
    lead, (h, w) = x.shape[:-2], x.shape[-2:]
    out = np.empty((*lead, h - wr + 1, w - wc + 1), dtype=np.float64)
    flat_in = x.reshape((-1, h, w))
    flat_out = out.reshape((-1, h - wr + 1, w - wc + 1))
    for i in range(flat_in.shape[0]):
        _extreme_2d(flat_in[i], wr, wc, take_max, flat_out[i])
    return out


def window_min(x: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """Minimum over every window fully inside the last two axes (window-origin grid; a numba
    kernel: minima are exact, so any order of the comparisons gives the same values).

    Examples
    --------
    >>> window_min(np.array([[3.0, 1.0, 2.0], [5.0, 4.0, 0.5]]), (2, 2)).tolist()
    [[1.0, 0.5]]
    """
    return _window_extreme(x, window, False)


def window_max(x: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """Maximum over every window fully inside the last two axes (window-origin grid)."""
    return _window_extreme(x, window, True)


def _box_full(a: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    return sliding_sum_full(sliding_sum_full(a, window[0], axis=-2), window[1], axis=-1)


def ldrc_block(x: np.ndarray, mask: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """LDRC of an in-memory image or stack ``x`` (..., H, W) with ``mask`` (H, W).

    Pixels covered by no window (only possible in a block smaller than the window, i.e. in the
    overlap margins that ``map_overlap`` trims away) are 0.
    """
    x = np.asarray(x, dtype=np.float64)
    mask = np.asarray(mask, dtype=np.float64)
    # min/max filters give arbitrary values around NaN: refuse instead of returning garbage
    if not np.isfinite(x).all():
        raise ValueError("image contains NaN or infinite values; LDRC needs finite values")
    if not np.isfinite(mask).all():
        raise ValueError("mask contains NaN or infinite values; LDRC needs finite values")
    shape = x.shape[-2:]
    n_origins = tuple(n - w + 1 for n, w in zip(shape, window, strict=True))
    if min(n_origins) < 1 or x.size == 0:
        return np.zeros(x.shape, dtype=np.float64)
    # Shift by the block minimum: LDRC is shift invariant, and the identity
    # x*S - T cancels less when x is small.
    ref = x.min(axis=(-2, -1), keepdims=True)
    xs = x - ref
    lo = window_min(xs, window)
    scale = window_max(xs, window)
    scale -= lo  # range of each window
    mask_max = window_max(mask, window)
    mask_max = np.broadcast_to(mask_max, scale.shape)
    flat = scale <= 0
    np.divide(mask_max, scale, out=scale, where=~flat)
    scale[flat] = 0.0  # flat window: contributes 0
    total = xs * _box_full(scale, window)
    lo *= scale
    total -= _box_full(lo, window)
    count = np.outer(
        sliding_sum_full(np.ones(n_origins[0]), window[0]),
        sliding_sum_full(np.ones(n_origins[1]), window[1]),
    )
    return total / count


def resample_mask(mask: np.ndarray, order: int) -> np.ndarray:
    """Resample ``mask`` (h, w) to ((h - 1) * order + 1, (w - 1) * order + 1), as pysofi does.

    Piecewise cubic (Clough-Tocher) interpolation of the mask given on the coarse grid
    ``(i * order, j * order)``, evaluated on every integer position of the fine grid: the same
    ``scipy.interpolate.griddata(..., method="cubic")`` call as pysofi, points in the same order,
    so the triangulation of the (degenerate) regular grid is the same.
    """
    mask = np.asarray(mask, dtype=np.float64)
    h, w = mask.shape
    fine = ((h - 1) * order + 1, (w - 1) * order + 1)
    if order == 1:
        return mask.copy()
    rows, cols = np.meshgrid(np.arange(h) * order, np.arange(w) * order, indexing="ij")
    points = np.column_stack([rows.ravel(), cols.ravel()])
    fine_rows, fine_cols = np.meshgrid(
        np.arange(fine[0], dtype=np.float64), np.arange(fine[1], dtype=np.float64), indexing="ij"
    )
    from scipy.interpolate import griddata  # 0.2-0.5 s to import: only when a mask is resampled

    out = griddata(points, mask.ravel(), (fine_rows, fine_cols), method="cubic")
    return np.asarray(out, dtype=np.float64).reshape(fine)
