"""Moment stack -> cumulant stack in one numba pass (no dask).

The recursion of :func:`sofi_dask.stats.cumulants_from_moments`,
``k_n = m_n - sum_{i=1}^{n-1} C(n-1, i) k_{n-i} m_i``, evaluated per pixel with the same
floating-point operations in the same order as the numpy layers it replaces (``fastmath`` off:
no reassociation, no fused multiply-add), so the results are the same to the bit. The pixels are
walked in spans whose layers stay in L1 cache; the output may be a slice of a larger array
(e.g. one part of a packed stack), so nothing is concatenated afterwards.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

__all__ = ["cumulant_layers"]

_SPAN = 512  # pixels per pass: the span's layers stay in L1 cache


@numba.njit(nogil=True, cache=True, fastmath=False)
def _kernel(stack, binom, out):  # pragma: no cover - compiled
    n_orders = stack.shape[0] - 1
    npx = stack.shape[1]
    acc = np.empty(_SPAN)  # the order being built: its own buffer, so the loops vectorise
    for j0 in range(0, npx, _SPAN):
        j1 = min(npx, j0 + _SPAN)
        w = j1 - j0
        for n in range(1, n_orders + 1):
            sn = stack[n, j0:j1]
            for j in range(w):
                acc[j] = sn[j]
            for i in range(1, n):
                c = binom[n - 1, i]
                si = stack[i, j0:j1]
                # acc - C(n - 1, i) * k[n - i] * m[i], with k[1] = m[1] during the recursion
                kk = stack[1, j0:j1] if n - i == 1 else out[n - i, j0:j1]
                for j in range(w):
                    acc[j] = acc[j] - c * kk[j] * si[j]
            o = out[n, j0:j1]
            for j in range(w):
                o[j] = acc[j]
        for j in range(j0, j1):
            out[0, j] = stack[0, j]
        if n_orders >= 1:
            for j in range(j0, j1):
                out[1, j] = stack[0, j]


@functools.cache
def _binomials(n: int) -> np.ndarray:
    out = np.array([[math.comb(p, k) for k in range(n)] for p in range(n)], dtype=np.float64)
    out.flags.writeable = False
    return out


def cumulant_layers(stack: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Cumulant stack ``[mean, k_1 = mean, k_2, ..., k_N]`` of a moment stack
    ``[mean, m_1, ..., m_N]`` (central moments, ``m_1 = 0``), one pass.

    Parameters
    ----------
    stack : ndarray, shape (N + 1, ...)
        Moment stack (any float dtype; float64 inside).
    out : ndarray, optional
        Float64, C-contiguous, the shape of ``stack``: written and returned (e.g. a slice of a
        packed stack). Must not overlap ``stack``.

    Returns
    -------
    ndarray
        ``out`` (a new array when not given).

    Examples
    --------
    >>> s = np.array([5.0, 0.0, 2.0, 1.0, 15.0]).reshape(5, 1, 1)
    >>> cumulant_layers(s)[:, 0, 0].tolist()  # k_4 = m_4 - 3 m_2^2
    [5.0, 5.0, 2.0, 1.0, 3.0]
    """
    stack = np.ascontiguousarray(stack, dtype=np.float64)
    if out is None:
        out = np.empty_like(stack)
    elif out.shape != stack.shape or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError(
            f"out: expected a C-contiguous float64 array of shape {stack.shape}, got "
            f"{out.dtype} {out.shape}"
        )
    if stack.shape[0] == 0:
        return out
    layers = stack.shape[0]
    _kernel(stack.reshape(layers, -1), _binomials(layers), out.reshape(layers, -1))
    return out
