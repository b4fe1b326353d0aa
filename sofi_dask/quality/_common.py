"""Shared argument checks, window and smoothing functions of the quality measures (numpy only:
importing ``scipy.signal`` costs about a second, more than the measures themselves)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sofi_dask._validation import check_real, fail, shown

__all__ = ["as_image", "check_pixel_size", "savgol_smooth", "tukey", "tukey_window"]


def as_image(image: Any, name: str, *, min_size: int = 8) -> np.ndarray:
    """``image`` as a finite float64 2-D array of at least ``min_size`` pixels per side.

    Dask arrays are computed (quality measures work on finished 2-D images).
    """
    if hasattr(image, "compute") and not isinstance(image, np.ndarray):
        image = image.compute()
    try:
        arr = np.asarray(image, dtype=np.float64)
    except (TypeError, ValueError):
        got = shown(f"an object of type {type(image).__name__}")
        raise fail(name, "a 2-D real image", got) from None
    if arr.ndim != 2 or min(arr.shape) < min_size:
        raise fail(
            name,
            f"a 2-D image of at least {min_size} x {min_size} pixels",
            shown(f"shape {arr.shape}"),
        )
    if not np.all(np.isfinite(arr)):
        raise fail(name, "finite values", shown(f"{int((~np.isfinite(arr)).sum())} NaN/inf"))
    return arr


def check_pixel_size(pixel_size: Any) -> float | None:
    """``None`` or a finite pixel size > 0."""
    if pixel_size is None:
        return None
    return check_real(pixel_size, "pixel_size", minimum=0, inclusive=False)


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


def tukey_window(shape: tuple[int, int], alpha: float = 0.25) -> np.ndarray:
    """Separable 2-D Tukey window (cosine taper over ``alpha / 2`` of each side)."""
    return np.outer(tukey(shape[0], alpha), tukey(shape[1], alpha))


def savgol_smooth(y: np.ndarray, window: int, order: int) -> np.ndarray:
    """Savitzky-Golay smoothing: the least-squares polynomial of ``order`` over ``window`` (odd)
    points around each sample; the first and last ``window // 2`` samples from the polynomial
    fitted to the first / last window (``scipy.signal.savgol_filter``'s ``mode="interp"``).

    Examples
    --------
    >>> (savgol_smooth(np.arange(9.0) ** 2, 5, 2).round(6) + 0.0).tolist()  # exact for a quadratic
    [0.0, 1.0, 4.0, 9.0, 16.0, 25.0, 36.0, 49.0, 64.0]
    """
    y = np.asarray(y, dtype=np.float64)
    half = window // 2
    vander = np.vander(np.arange(window, dtype=np.float64) - half, order + 1, increasing=True)
    hat = vander @ np.linalg.pinv(vander)  # fitted values from the window's samples
    out = np.empty_like(y)
    out[half : y.size - half] = np.correlate(y, hat[half], mode="valid")
    out[:half] = hat[:half] @ y[:window]
    out[y.size - half :] = hat[window - half :] @ y[y.size - window :]
    return out
