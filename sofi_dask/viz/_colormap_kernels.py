"""The colour mapping of a scalar image in one pass (numba, no dask, no matplotlib).

:func:`lut_rgb` gives exactly what :func:`sofi_dask.viz._display.apply_colormap`'s numpy form
gives, ``lut[colormap_indices(to_display_range(image), N)]``: the same float64 operations per
pixel (``(x - low) / (high - low)``, clipped to [0, 1], NaN -> 0, ``int(v * N)`` clipped to
``N - 1``), without the five image-sized float64 temporaries of the numpy form (0.29 s -> a
few ms for 2048 x 2048, measured).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["lut_indices", "lut_rgb"]


@numba.njit(nogil=True, cache=True, inline="always")
def _index(x, low, span, n):  # pragma: no cover - numba
    if x != x:  # NaN
        v = 0.0
    elif span > 0:
        v = (x - low) / span
        v = min(max(v, 0.0), 1.0)
    else:
        v = 1.0 if x > low else 0.0
    k = int(v * n)
    return min(max(k, 0), n - 1)


@numba.njit(nogil=True, cache=True)
def _map(flat, low, high, lut, out):  # pragma: no cover - numba
    n = lut.shape[0]
    span = high - low
    for i in range(flat.shape[0]):
        k = _index(np.float64(flat[i]), low, span, n)
        for c in range(3):
            out[i, c] = lut[k, c]


@numba.njit(nogil=True, cache=True)
def _indices(flat, low, high, n, out):  # pragma: no cover - numba
    span = high - low
    for i in range(flat.shape[0]):
        out[i] = _index(np.float64(flat[i]), low, span, n)


def _flat(image: np.ndarray) -> np.ndarray:
    data = np.ascontiguousarray(image)
    if data.dtype.kind not in "fiub":
        data = data.astype(np.float64)
    return data


def lut_rgb(image: np.ndarray, low: float, high: float, lut: np.ndarray) -> np.ndarray:
    """uint8 ``image.shape + (3,)``: the LUT colour of each value on the range [low, high].

    Examples
    --------
    >>> lut = np.array([[0, 0, 0], [255, 255, 255]], dtype=np.uint8)
    >>> lut_rgb(np.array([0.0, 0.4, 0.6, np.nan]), 0.0, 1.0, lut)[:, 0].tolist()
    [0, 0, 255, 0]
    """
    data = _flat(image)
    out = np.empty((data.size, 3), dtype=np.uint8)
    _map(data.reshape(-1), float(low), float(high), np.ascontiguousarray(lut, np.uint8), out)
    return out.reshape(data.shape + (3,))


def lut_indices(image: np.ndarray, low: float, high: float, n_colors: int) -> np.ndarray:
    """uint8 LUT index of each value on [low, high] (``n_colors <= 256``): what :func:`lut_rgb`
    looks up, for palette images (GIF) and frames mapped by a LUT elsewhere.

    Examples
    --------
    >>> lut_indices(np.array([0.0, 0.5, 1.0, np.nan]), 0.0, 1.0, 256).tolist()
    [0, 128, 255, 0]
    """
    if not 1 <= int(n_colors) <= 256:
        raise ValueError(f"n_colors must be in [1, 256], got {n_colors}")
    data = _flat(image)
    out = np.empty(data.size, dtype=np.uint8)
    _indices(data.reshape(-1), float(low), float(high), int(n_colors), out)
    return out.reshape(data.shape)
