"""Numba kernels of cross-cumulant SOFI with virtual pixels (``nogil``; no dask here).

A *combination* is a set of ``n`` distinct pixels given as offsets ``(dy, dx)`` from a base
pixel. Its joint cumulant needs, about the mean, the product sums of every subset of its pixels
with at least two elements. Such a subset, moved so that its first offset (lexicographic
minimum) is ``(0, 0)``, is a *shape*; one shape serves every combination and base pixel that
contains it, so a chunk's state holds one product-sum image per shape (70 shapes for the 408
subsets of the orders 2..4 combinations) over the halo-extended tile:

    S_s(p) = sum_t prod_{o in s} (x[t, p + o] - c[p + o])      (c: the chunk's own mean).

Shapes are built in order of size; each is its *parent* (the shape without its last offset,
same anchor) times one more pixel, so every product is one multiplication.

States about different shifts merge exactly (:func:`shift_shape_sums`), one factor at a time:
``S_m += delta_i S_(m without i)`` for every subset ``m`` holding factor ``i``, with the
single-pixel sums and the frame count for subsets of one and no pixel.
"""

from __future__ import annotations

import itertools

import numba
import numpy as np

__all__ = [
    "ShapeTable",
    "product_masks",
    "shape_product_sums",
    "shape_table",
    "shift_shape_sums",
]

_MAX = 4  # largest shape (order 4)


class ShapeTable:
    """Shapes of a set of combinations and the lookups the kernels need.

    Attributes
    ----------
    offsets : ndarray of int64, shape (S, 4, 2)
        Offsets of each shape (anchor first, sorted), padded with zeros.
    size : ndarray of int64, shape (S,)
    parent : ndarray of int64, shape (S,)
        Index of the shape without the last offset (-1 for shapes of two pixels).
    sub_index, sub_dy, sub_dx : ndarray of int64, shape (S, 16)
        For every subset mask (of >= 2 of the shape's offsets): the index of its shape and the
        position of its anchor relative to the shape's anchor.
    lookup : dict
        Subset offsets (sorted tuple) -> ``(shape index, anchor (dy, dx))``.
    """

    def __init__(self, offset_sets: list[tuple[tuple[int, int], ...]]) -> None:
        shapes: dict[tuple, int] = {}
        subsets = set()
        for combo in offset_sets:
            off = sorted(tuple(o) for o in combo)
            for k in range(2, len(off) + 1):
                subsets.update(itertools.combinations(off, k))
        normal = sorted({self._normal(s)[0] for s in subsets}, key=lambda s: (len(s), s))
        for s in normal:
            shapes[s] = len(shapes)
        n = len(normal)
        self.offsets = np.zeros((n, _MAX, 2), dtype=np.int64)
        self.size = np.zeros(n, dtype=np.int64)
        self.parent = np.full(n, -1, dtype=np.int64)
        self.sub_index = np.full((n, 1 << _MAX), -1, dtype=np.int64)
        self.sub_dy = np.zeros((n, 1 << _MAX), dtype=np.int64)
        self.sub_dx = np.zeros((n, 1 << _MAX), dtype=np.int64)
        for s, i in shapes.items():
            self.offsets[i, : len(s)] = s
            self.size[i] = len(s)
            if len(s) > 2:
                self.parent[i] = shapes[s[:-1]]
            for mask in range(1 << len(s)):
                members = [s[j] for j in range(len(s)) if mask >> j & 1]
                if len(members) >= 2:
                    norm, anchor = self._normal(tuple(members))
                    self.sub_index[i, mask] = shapes[norm]
                    self.sub_dy[i, mask], self.sub_dx[i, mask] = anchor
        self.lookup = {s: (shapes[self._normal(s)[0]], self._normal(s)[1]) for s in subsets}

    @staticmethod
    def _normal(subset: tuple) -> tuple[tuple, tuple[int, int]]:
        s = sorted(subset)
        a = s[0]
        return tuple((o[0] - a[0], o[1] - a[1]) for o in s), (a[0], a[1])

    def __len__(self) -> int:
        return int(self.size.shape[0])


def product_masks(order: int) -> np.ndarray:
    """Subset masks of ``order`` factors with >= 2 elements, ascending (int64).

    Examples
    --------
    >>> product_masks(3).tolist()
    [3, 5, 6, 7]
    """
    return np.asarray([m for m in range(1 << order) if bin(m).count("1") >= 2], dtype=np.int64)


def shape_table(offset_sets: list) -> ShapeTable:
    """The :class:`ShapeTable` of combinations given as lists of ``(dy, dx)`` offsets.

    Examples
    --------
    >>> t = shape_table([((0, -1), (0, 1)), ((-1, 0), (1, 0))])
    >>> len(t), t.lookup[((0, -1), (0, 1))]
    (2, (0, (0, -1)))
    """
    return ShapeTable([tuple(map(tuple, c)) for c in offset_sets])


@numba.njit(nogil=True, cache=True)
def shape_product_sums(x, shift, offsets, size, parent):  # pragma: no cover - numba
    """Product sums of every shape at every anchor pixel of a tile.

    Parameters
    ----------
    x : ndarray, shape (F, H, W)
        Frames of a halo-extended tile (any real dtype).
    shift : ndarray of float64, shape (H, W)
        Per-pixel shift subtracted from every value.
    offsets, size, parent : ndarray of int64
        From :class:`ShapeTable`.

    Returns
    -------
    ndarray of float64, shape (S, H, W)
        ``sum_t prod_{o in s} (x[t, p + o] - shift[p + o])``; 0 where a pixel of the shape
        falls outside the tile.
    """
    n_frames, height, width = x.shape
    n_shapes = size.shape[0]
    out = np.zeros((n_shapes, height, width))
    max_dy = 0
    for s in range(n_shapes):
        for i in range(size[s]):
            max_dy = max(max_dy, offsets[s, i, 0])
    drow = np.zeros((max_dy + 1, width))
    prod = np.zeros((n_shapes, width))
    # one anchor row at a time, all frames: the accumulators of a row (S x W) stay in cache
    for a in range(height):
        for t in range(n_frames):
            for r in range(max_dy + 1):
                if a + r < height:
                    xr = x[t, a + r]
                    sr = shift[a + r]
                    dr = drow[r]
                    for b in range(width):
                        dr[b] = xr[b] - sr[b]
            for s in range(n_shapes):
                k = size[s] - 1
                dy = offsets[s, k, 0]
                dx = offsets[s, k, 1]
                row = prod[s]
                if a + dy >= height:
                    row[:] = 0.0
                    continue
                base = prod[parent[s]] if parent[s] >= 0 else drow[0]
                lo = max(0, -dx)
                hi = min(width, width - dx)
                row[:lo] = 0.0
                row[hi:] = 0.0
                dr = drow[dy]
                acc = out[s, a]
                for b in range(lo, hi):
                    v = base[b] * dr[b + dx]
                    row[b] = v
                    acc[b] += v
    return out


@numba.njit(nogil=True, cache=True)
def shift_shape_sums(
    sums, single, count, delta, offsets, size, sub_index, sub_dy, sub_dx
):  # pragma: no cover - numba
    """Re-express the shape product sums of :func:`shape_product_sums` about a new shift.

    Parameters
    ----------
    sums : ndarray of float64, shape (S, H, W)
        Shape product sums about the shift ``c``.
    single : ndarray of float64, shape (H, W)
        ``sum_t (x - c)`` per pixel of the tile.
    count : int
        Number of frames of the state.
    delta : ndarray of float64, shape (H, W)
        ``c - c_new`` per pixel.
    offsets, size, sub_index, sub_dy, sub_dx : ndarray of int64
        From :class:`ShapeTable`.

    Returns
    -------
    ndarray of float64, shape (S, H, W)
    """
    n_shapes, height, width = sums.shape
    out = np.zeros_like(sums)
    full = np.zeros((1 << _MAX, width))
    dl = np.zeros((_MAX, width))
    for s in range(n_shapes):
        k = size[s]
        n_full = 1 << k
        for a in range(height):
            ok = True
            for i in range(k):
                if not 0 <= a + offsets[s, i, 0] < height:
                    ok = False
            if not ok:
                continue
            lo = 0
            hi = width
            for i in range(k):
                lo = max(lo, -offsets[s, i, 1])
                hi = min(hi, width - offsets[s, i, 1])
            if hi <= lo:
                continue
            full[0, lo:hi] = float(count)
            for i in range(k):
                ra = a + offsets[s, i, 0]
                dx = offsets[s, i, 1]
                for b in range(lo, hi):
                    dl[i, b] = delta[ra, b + dx]
                    full[1 << i, b] = single[ra, b + dx]
            for m in range(3, n_full):
                idx = sub_index[s, m]
                if idx < 0:
                    continue
                src = sums[idx, a + sub_dy[s, m]]
                sx = sub_dx[s, m]
                for b in range(lo, hi):
                    full[m, b] = src[b + sx]
            for i in range(k):
                bit = 1 << i
                di = dl[i]
                for m in range(n_full - 1, 0, -1):
                    if m & bit:
                        fm = full[m]
                        fp = full[m ^ bit]
                        for b in range(lo, hi):
                            fm[b] += di[b] * fp[b]
            top = full[n_full - 1]
            o = out[s, a]
            for b in range(lo, hi):
                o[b] = top[b]
    return out
