"""Fourier ring correlation (FRC) between two independent images of the same object.

Nieuwenhuizen et al., "Measuring image resolution in optical nanoscopy", Nat. Methods 10, 557
(2013): with ``F1``, ``F2`` the Fourier transforms of two images made from independent halves of
the data,

    FRC(q) = Re sum_{|k| in ring q} F1(k) F2*(k)
             / sqrt( sum_{ring q} |F1(k)|^2  sum_{ring q} |F2(k)|^2 ),

and the resolution is ``1 / q_c`` where the (smoothed) curve first drops below a threshold:
the fixed ``1/7`` of that paper, or van Heel & Schatz's half-bit criterion (J. Struct. Biol. 151,
250 (2005)),

    T_1/2bit(n) = (0.2071 + 1.9102 / sqrt(n)) / (1.2071 + 0.9102 / sqrt(n)),

with ``n`` the number of Fourier pixels in the ring. Before the transforms each image has its
mean removed and is apodised with a Tukey window (a quarter of each side tapered) so that the
frame edges add no spurious high frequencies. The smoothing is a Savitzky-Golay filter of
polynomial order 3 over about 7 % of the curve (NanoPyx's choice for its FRC).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
from scipy import fft

from sofi_dask._validation import fail, shown
from sofi_dask.quality._common import (
    Scratch,
    as_image,
    check_pixel_size,
    rfft2_into,
    rfft_weights,
    savgol_smooth,
    tukey_window,
)
from sofi_dask.quality._spectra_kernels import ring_sums

__all__ = ["FRCResult", "frc", "frc_threshold", "measure_frc"]

_THRESHOLDS = ("1/7", "half-bit")


@dataclasses.dataclass(frozen=True)
class FRCResult:
    """An FRC curve and the resolution read from it.

    Attributes
    ----------
    frequencies : numpy.ndarray
        Ring centres in cycles per pixel (``1 / L .. 1/2``, ``L`` the shorter image side), or in
        cycles per unit of ``pixel_size`` when it is given.
    curve : numpy.ndarray
        The FRC per ring (smoothed when ``smooth``).
    raw_curve : numpy.ndarray
        The FRC per ring before smoothing.
    threshold_curve : numpy.ndarray
        The threshold per ring.
    ring_counts : numpy.ndarray
        Fourier pixels per ring.
    resolution : float or None
        ``1 / q_c`` in pixels (or in units of ``pixel_size``); ``None`` when the curve never
        crosses the threshold (it stays above it up to the Nyquist frequency, or starts below).
    resolution_pixels : float or None
        The resolution in pixels.
    threshold : str
        ``"1/7"`` or ``"half-bit"``.
    pixel_size : float or None
        As given.
    """

    frequencies: np.ndarray
    curve: np.ndarray
    raw_curve: np.ndarray
    threshold_curve: np.ndarray
    ring_counts: np.ndarray
    resolution: float | None
    resolution_pixels: float | None
    threshold: str
    pixel_size: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (resolution, threshold, the curve as lists).

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> sorted(frc(rng.random((16, 16)), rng.random((16, 16))).to_dict())[:3]
        ['curve', 'frequencies', 'pixel_size']
        """
        return {
            "resolution": self.resolution,
            "resolution_pixels": self.resolution_pixels,
            "threshold": self.threshold,
            "pixel_size": self.pixel_size,
            "frequencies": [float(f) for f in self.frequencies],
            "curve": [float(c) for c in self.curve],
        }


def frc_threshold(kind: str, ring_counts: np.ndarray) -> np.ndarray:
    """The threshold per ring: fixed ``1/7`` or the half-bit curve of ``ring_counts``.

    Examples
    --------
    >>> frc_threshold("half-bit", np.array([1e12])).round(4).tolist()
    [0.1716]
    >>> frc_threshold("1/7", np.array([8, 80])).tolist() == [1 / 7, 1 / 7]
    True
    """
    n = np.asarray(ring_counts, dtype=np.float64)
    if kind == "1/7":
        return np.full(n.shape, 1.0 / 7.0)
    if kind == "half-bit":
        s = np.sqrt(np.maximum(n, 1.0))
        return (0.2071 + 1.9102 / s) / (1.2071 + 0.9102 / s)
    raise fail("threshold", f"one of {list(_THRESHOLDS)}", kind)


@functools.lru_cache(maxsize=8)
def _rings(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For the half-plane transform (``rfft2``) of an image of ``shape``: the flat indices of
    the Fourier pixels in rings 1 .. L//2, their ring, their weight (2 where the mirrored pixel
    is not stored) and the full plane's pixel count per ring."""
    ny, nx = shape
    size = min(ny, nx)
    qy = fft.fftfreq(ny)[:, None]
    qx = fft.rfftfreq(nx)[None, :]
    ring = np.rint(np.sqrt(qy**2 + qx**2) * size).astype(np.int64)
    weight = np.broadcast_to(rfft_weights(nx), ring.shape)
    n_rings = size // 2
    keep = np.flatnonzero((ring >= 1) & (ring <= n_rings))
    ring, weight = ring.ravel()[keep], weight.ravel()[keep]
    counts = np.rint(np.bincount(ring, weights=weight, minlength=n_rings + 1)[1:]).astype(np.int64)
    for a in (keep, ring, weight, counts):  # shared through the cache: nobody may change them
        a.setflags(write=False)
    return keep, ring, weight, counts


def _ring_sums(
    a: np.ndarray, b: np.ndarray, scratch: Scratch | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Correlation per ring and ring pixel counts of two prepared images (rings 1 .. L//2).

    The sums over the full plane from the half plane: a pixel and its mirror ``-k`` have the
    same radius and conjugate values, so each stored pixel with a mirror counts twice.
    """
    keep, ring, weight, counts = _rings(a.shape)
    n_rings = counts.size
    fa, fb = rfft2_into(a, scratch, 0), rfft2_into(b, scratch, 1)
    # one pass over both transforms (no gathered copies, no per-product temporaries)
    num, pa, pb = ring_sums(fa, fb, keep, ring, weight, n_rings + 1)
    num = num[1:]
    den = np.sqrt(pa[1:] * pb[1:])
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    freqs = np.arange(1, n_rings + 1, dtype=np.float64) / min(a.shape)
    return freqs, curve, counts


def _smooth(curve: np.ndarray) -> np.ndarray:
    window = int(0.0707 * curve.size)
    window = max(window, 5)
    window += 1 - window % 2  # odd
    if window > curve.size:
        return curve.copy()
    return savgol_smooth(curve, window, 3)


def _first_crossing(freqs: np.ndarray, curve: np.ndarray, thresh: np.ndarray) -> float | None:
    diff = curve - thresh
    if diff[0] < 0:
        return None
    below = np.nonzero(diff < 0)[0]
    if below.size == 0:
        return None
    i = int(below[0])
    d0, d1 = diff[i - 1], diff[i]
    frac = d0 / (d0 - d1)
    return float(freqs[i - 1] + frac * (freqs[i] - freqs[i - 1]))


def frc(
    image_a: Any,
    image_b: Any,
    *,
    pixel_size: float | None = None,
    threshold: str = "1/7",
    smooth: bool = True,
) -> FRCResult:
    """Fourier ring correlation of two independent images and the resolution it gives.

    The two images must come from independent data of the same object (two halves of a movie,
    see :func:`sofi_dask.split_moment_stacks`); FRC of an image with itself is 1 everywhere.

    Parameters
    ----------
    image_a, image_b : array, shape (y, x)
        Two images of the same shape, at least 8 x 8 pixels (dask arrays are computed).
    pixel_size : float, optional
        Pixel size (e.g. micrometres): frequencies and resolution in its unit instead of pixels.
    threshold : {"1/7", "half-bit"}
        Fixed 1/7 (Nieuwenhuizen et al. 2013) or the half-bit curve (van Heel & Schatz 2005).
    smooth : bool
        Smooth the curve (Savitzky-Golay, order 3, ~7 % of the curve) before reading the
        resolution (default).

    Returns
    -------
    FRCResult

    Raises
    ------
    sofi_dask.errors.InputError
        Images not 2-D, of different shapes, smaller than 8 x 8 or not finite; bad
        ``threshold`` or ``pixel_size``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> yy, xx = np.mgrid[:64, :64]
    >>> obj = np.exp(-((yy - 32) ** 2 + (xx - 30) ** 2) / 8.0)
    >>> a = obj + 0.01 * rng.standard_normal(obj.shape)
    >>> b = obj + 0.01 * rng.standard_normal(obj.shape)
    >>> result = frc(a, b)
    >>> bool(result.curve[0] > 0.99), result.resolution is not None
    (True, True)
    """
    return measure_frc(image_a, image_b, pixel_size, threshold, smooth)


def measure_frc(
    image_a: Any,
    image_b: Any,
    pixel_size: float | None = None,
    threshold: str = "1/7",
    smooth: bool = True,
    scratch: Scratch | None = None,
) -> FRCResult:
    """:func:`frc`, its image-sized work arrays in ``scratch``'s buffers when given (the
    quality report's threads reuse them from pair to pair)."""
    a = as_image(image_a, "image_a")
    b = as_image(image_b, "image_b")
    if a.shape != b.shape:
        raise fail("image_b", f"the shape of image_a {a.shape}", shown(f"shape {b.shape}"))
    pixel = check_pixel_size(pixel_size)
    if threshold not in _THRESHOLDS:
        raise fail("threshold", f"one of {list(_THRESHOLDS)}", threshold)
    window = tukey_window(a.shape)
    prepared = []
    for i, x in enumerate((a, b)):  # (x - mean) * window, in one buffer
        p = np.subtract(x, x.mean(), out=None if scratch is None else scratch.take(i, x.shape))
        p *= window
        prepared.append(p)
    freqs, raw, counts = _ring_sums(*prepared, scratch)
    curve = _smooth(raw) if smooth else raw.copy()
    thresh = frc_threshold(threshold, counts)
    q_c = _first_crossing(freqs, curve, thresh)
    res_px = None if q_c is None or q_c <= 0 else 1.0 / q_c
    scale = 1.0 if pixel is None else pixel
    return FRCResult(
        frequencies=freqs / scale,
        curve=curve,
        raw_curve=raw,
        threshold_curve=thresh,
        ring_counts=counts,
        resolution=None if res_px is None else res_px * scale,
        resolution_pixels=res_px,
        threshold=threshold,
        pixel_size=pixel,
    )
