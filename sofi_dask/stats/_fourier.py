"""Fourier helpers shared by the drift registration and the quality measures: the Tukey window
and the half-plane (``rfft2``) column weights. Numpy only (importing ``scipy.signal`` costs about
a second, more than the measures themselves); quality may import stats, not the reverse, so the
one copy of each lives here."""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["rfft_weights", "tukey", "tukey_window"]


def tukey(n: int, alpha: float = 0.25) -> np.ndarray:
    """Tukey (tapered cosine) window of ``n`` points, ``alpha`` the tapered fraction
    (the same values as ``scipy.signal.windows.tukey``, symmetric).

    Examples
    --------
    >>> tukey(5, 0.5).round(3).tolist()
    [0.0, 1.0, 1.0, 1.0, 0.0]
    """
    if n <= 1 or alpha <= 0:
        return np.ones(max(n, 0))
    k = np.arange(n, dtype=np.float64)
    if alpha >= 1:
        return 0.5 * (1.0 - np.cos(2.0 * np.pi * k / (n - 1)))
    width = int(np.floor(alpha * (n - 1) / 2.0))
    w = np.ones(n)
    head = k[: width + 1]
    tail = k[n - width - 1 :]
    w[: width + 1] = 0.5 * (1.0 + np.cos(np.pi * (-1.0 + 2.0 * head / alpha / (n - 1))))
    w[n - width - 1 :] = 0.5 * (
        1.0 + np.cos(np.pi * (-2.0 / alpha + 1.0 + 2.0 * tail / alpha / (n - 1)))
    )
    return w


@functools.lru_cache(maxsize=8)
def _cached_window(shape: tuple[int, int], alpha: float) -> np.ndarray:
    window = np.outer(tukey(shape[0], alpha), tukey(shape[1], alpha))
    window.setflags(write=False)
    return window


def tukey_window(shape: tuple[int, int], alpha: float = 0.25) -> np.ndarray:
    """Separable 2-D Tukey window (cosine taper over ``alpha / 2`` of each side); read-only,
    made once per shape.

    Examples
    --------
    >>> tukey_window((5, 4), 0.5)[2].round(3).tolist()
    [0.0, 1.0, 1.0, 0.0]
    """
    return _cached_window((int(shape[0]), int(shape[1])), float(alpha))


def rfft_weights(nx: int) -> np.ndarray:
    """Weight of each column of a half-plane transform (``rfft2`` of an image ``nx`` wide) in
    sums over the full plane: 2 for a column whose mirror ``-k`` is not stored (same radius,
    conjugate value), 1 for the zero column and, for even ``nx``, the Nyquist column.

    Examples
    --------
    >>> rfft_weights(6).tolist(), rfft_weights(5).tolist()
    ([1.0, 2.0, 2.0, 1.0], [1.0, 2.0, 2.0])
    """
    weights = np.full(nx // 2 + 1, 2.0)
    weights[0] = 1.0
    if nx % 2 == 0:
        weights[-1] = 1.0
    return weights
