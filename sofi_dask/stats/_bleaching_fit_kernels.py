"""Numba kernel of the streaming IIR bleaching correction (``nogil``; no dask here)."""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["iir_filter"]


@numba.njit(nogil=True, cache=True)
def iir_filter(x, b, a, zi):  # pragma: no cover - numba
    """Filter every pixel of ``x`` along time (direct form II transposed, as ``lfilter``).

    Parameters
    ----------
    x : ndarray, shape (F, P)
        Frames (any real dtype).
    b, a : ndarray of float64, shape (K + 1,)
        Filter coefficients, ``a[0] == 1``.
    zi : ndarray of float64, shape (K, P)
        Filter state before the first frame; updated in place to the state after the last.

    Returns
    -------
    ndarray of float64, shape (F, P)
    """
    n_frames, n_pix = x.shape
    order = b.shape[0] - 1
    out = np.empty((n_frames, n_pix))
    for t in range(n_frames):
        for p in range(n_pix):
            v = float(x[t, p])
            y = b[0] * v + (zi[0, p] if order > 0 else 0.0)
            for k in range(order - 1):
                zi[k, p] = b[k + 1] * v + zi[k + 1, p] - a[k + 1] * y
            if order > 0:
                zi[order - 1, p] = b[order] * v - a[order] * y
            out[t, p] = y
    return out
