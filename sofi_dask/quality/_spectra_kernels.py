"""Sums over half-plane Fourier transforms in one numba pass each (no dask, no temporaries).

The FRC's ring sums and the error map's folded spectra read the two transforms once, where the
numpy expressions they replace made a gathered copy of each transform and one image-sized
temporary per product (on 2048 x 2048 images, ~30 MB of fresh memory each: page faults that
cost as much as the arithmetic). The operations per element, and their order of accumulation
into bins, are those of the numpy code (``np.bincount`` adds its weights in input order): the
ring sums and the folded spectra are the same to the bit. The scalar totals are sequential sums
where numpy's are pairwise, and numba's ``expm1`` may differ from numpy's in the last bit: those
are equal to rounding (the tests check both).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["filtered_sums", "folded_spectra", "ring_sums"]


@numba.njit(nogil=True, cache=True, fastmath=False)
def _ring_sums(fa, fb, keep, ring, weight, num, pa, pb):  # pragma: no cover - compiled
    for t in range(keep.size):
        i = keep[t]
        a = fa[i]
        b = fb[i]
        w = weight[t]
        r = ring[t]
        num[r] += w * (a.real * b.real + a.imag * b.imag)
        pa[r] += w * (a.real * a.real + a.imag * a.imag)
        pb[r] += w * (b.real * b.real + b.imag * b.imag)


def ring_sums(
    fa: np.ndarray,
    fb: np.ndarray,
    keep: np.ndarray,
    ring: np.ndarray,
    weight: np.ndarray,
    length: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ring: ``sum w Re(a conj b)``, ``sum w |a|^2``, ``sum w |b|^2`` over the stored
    pixels ``keep`` (flat indices into the transforms ``fa``, ``fb``) with their ring and
    weight; arrays of ``length`` (ring 0 included).

    Examples
    --------
    >>> f = np.array([1 + 1j, 2 + 0j, 0 + 3j])
    >>> num, pa, pb = ring_sums(f, f, np.array([0, 2]), np.array([1, 1]), np.ones(2), 2)
    >>> num.tolist(), pa.tolist()
    ([0.0, 11.0], [0.0, 11.0])
    """
    num, pa, pb = (np.zeros(length) for _ in range(3))
    _ring_sums(fa.reshape(-1), fb.reshape(-1), keep, ring, weight, num, pa, pb)
    return num, pa, pb


@numba.njit(nogil=True, cache=True, fastmath=False)
def _folded(fs, fr, col, power, cross):  # pragma: no cover - compiled
    ny, nxh = fs.shape
    half = ny // 2
    ref_power = 0.0
    for i in range(ny):
        r = i if i <= half else ny - i
        for j in range(nxh):
            a = fs[i, j]
            b = fr[i, j]
            power[r, j] += (a.real * a.real + a.imag * a.imag) * col[j]
            cross[r, j] += (a.real * b.real + a.imag * b.imag) * col[j]
            ref_power += (b.real * b.real + b.imag * b.imag) * col[j]
    return ref_power


def folded_spectra(
    fs: np.ndarray, fr: np.ndarray, col: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """``|S|^2 w`` and ``Re(S conj R) w`` with rows ``+fy`` and ``-fy`` folded onto the
    frequencies ``0 .. ny // 2``, and ``sum |R|^2 w``, of two half-plane transforms
    ``(ny, nx // 2 + 1)`` and the column weights ``w``.

    Examples
    --------
    >>> s = np.array([[1 + 0j], [2 + 0j], [3 + 0j]])  # rows 0, +1, -1
    >>> power, cross, ref = folded_spectra(s, s, np.ones(1))
    >>> power.ravel().tolist(), ref
    ([1.0, 13.0], 14.0)
    """
    shape = (fs.shape[0] // 2 + 1, fs.shape[1])
    power, cross = np.zeros(shape), np.zeros(shape)
    ref_power = _folded(fs, fr, np.ascontiguousarray(col, dtype=np.float64), power, cross)
    return power, cross, float(ref_power)


@numba.njit(nogil=True, cache=True, fastmath=False)
def _filtered(mag, radius2, weight, first, g2, out):  # pragma: no cover - compiled
    total = 0.0
    for t in range(mag.size):
        a = mag[t] if g2 == 0.0 else mag[t] * -math.expm1(-2.0 * g2 * radius2[t])
        total += weight[t] * (a * a)
        out[first[t]] += weight[t] * a
    return total


def filtered_sums(
    mag: np.ndarray,
    radius2: np.ndarray,
    weight: np.ndarray,
    first: np.ndarray,
    g: float,
    length: int,
) -> tuple[float, np.ndarray]:
    """For the decorrelation curve of an image high-pass filtered by ``1 - exp(-2 g^2 k^2)``
    (``g = 0``: unfiltered): ``sum w |I_g|^2`` and, per radius bin ``first``, ``sum w |I_g|``
    (``length`` bins), in one pass over the pixels inside the disc.

    Examples
    --------
    >>> mag, w = np.array([3.0, 4.0]), np.ones(2)
    >>> total, bins = filtered_sums(mag, np.zeros(2), w, np.array([0, 1]), 0.0, 2)
    >>> total, bins.tolist()
    (25.0, [3.0, 4.0])
    """
    out = np.zeros(length)
    total = _filtered(mag, radius2, weight, first, float(g) ** 2, out)
    return float(total), out
