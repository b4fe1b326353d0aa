"""Gaussian masks: MATLAB ``fspecial('gaussian')`` in 2-D and its 1-D row."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sofi_dask._validation import check_positive_int, check_real, check_size_tuple, fail

__all__ = ["gauss1d_mask", "gauss2d_mask"]


def _check_sigma(sigma: float) -> float:
    return check_real(sigma, "sigma", minimum=0, inclusive=False)


def gauss2d_mask(shape: int | Sequence[int] = (3, 3), sigma: float = 0.5) -> np.ndarray:
    """Rotationally symmetric Gaussian kernel, as MATLAB's ``fspecial('gaussian', shape, sigma)``.

    ``h(y, x) = exp(-(x^2 + y^2) / (2 sigma^2))`` on a grid centred on the middle of the kernel
    (half-integer offsets for even sizes); values below ``eps * max(h)`` are set to 0; the
    kernel is normalised to sum 1.

    Parameters
    ----------
    shape : int or (int, int), default (3, 3)
        Kernel size (rows, columns); an int means a square kernel.
    sigma : float, default 0.5
        Standard deviation in pixels, > 0.

    Returns
    -------
    ndarray
        float64 kernel of ``shape``, summing to 1.

    Raises
    ------
    ValueError
        Non-positive sizes or ``sigma``.

    Examples
    --------
    >>> h = gauss2d_mask((3, 3), 0.5)
    >>> round(float(h[1, 1]), 4), round(float(h[0, 1]), 4), round(float(h[0, 0]), 4)
    (0.6193, 0.0838, 0.0113)
    """
    rows, cols = check_size_tuple(shape, 2, "shape")
    sigma = _check_sigma(sigma)
    y = np.arange(rows, dtype=np.float64) - (rows - 1) / 2
    x = np.arange(cols, dtype=np.float64) - (cols - 1) / 2
    h = np.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / (2.0 * sigma * sigma))
    h[h < np.finfo(np.float64).eps * h.max()] = 0.0
    total = h.sum()
    if total != 0:
        h /= total
    return h


def gauss1d_mask(size: int | Sequence[int] = 3, sigma: float = 0.5) -> np.ndarray:
    """1-D Gaussian kernel: the row of ``gauss2d_mask((1, size), sigma)``.

    Parameters
    ----------
    size : int or (1, int)
        Number of taps; pysofi's ``(1, n)`` shape is accepted too.
    sigma : float, default 0.5
        Standard deviation in samples, > 0.

    Returns
    -------
    ndarray
        float64 kernel of ``size`` taps, summing to 1 (pysofi's noise filter is
        ``gauss1d_mask(21, 2)``).

    Raises
    ------
    ValueError
        Non-positive ``size``, a shape other than ``(1, n)``, non-positive ``sigma``.

    Examples
    --------
    >>> k = gauss1d_mask(21, 2)
    >>> k.shape, round(float(k.sum()), 12), int(k.argmax())
    ((21,), 1.0, 10)
    """
    if isinstance(size, Sequence | np.ndarray) and not isinstance(size, str):
        dims = tuple(size)
        if len(dims) == 2 and dims[0] == 1:
            n = dims[1]
        elif len(dims) == 1:
            n = dims[0]
        else:
            raise fail("size", "an int or a (1, n) shape", size)
    else:
        n = size
    return gauss2d_mask((1, check_positive_int(n, "size")), sigma)[0]


def order_psf(psf: np.ndarray, order: int) -> np.ndarray:
    """The PSF of an order-``order`` SOFI image: ``psf ** order`` (negatives clipped at 0),
    normalised to unit sum; a Gaussian of sigma ``s`` gives one of sigma ``s / sqrt(order)``.

    Examples
    --------
    >>> p = order_psf(gauss2d_mask((21, 21), 2.0), 4)
    >>> bool(np.allclose(p, gauss2d_mask((21, 21), 1.0), atol=1e-12))
    True
    """
    out = np.clip(np.asarray(psf, dtype=np.float64), 0.0, None) ** int(order)
    return out / out.sum()
