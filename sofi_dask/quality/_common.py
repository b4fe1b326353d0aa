"""Shared argument checks, Fourier weights and smoothing of the quality measures (numpy only:
importing ``scipy.signal`` costs about a second, more than the measures themselves; the Tukey
window and the half-plane weights are :mod:`sofi_dask.stats._fourier`'s, shared with drift)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sofi_dask._validation import check_real, fail, shown
from sofi_dask.stats._fourier import rfft_weights, tukey, tukey_window  # one copy of each

__all__ = [
    "Scratch",
    "as_image",
    "check_pixel_size",
    "rfft2_into",
    "rfft_weights",
    "savgol_smooth",
    "tukey",
    "tukey_window",
]


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


class Scratch:
    """Work buffers that one thread's measures reuse from image to image.

    On 2048 x 2048 images every fresh image-sized array (the centred image, its transform, a
    blur) is ~32 MB of new memory: page faults and zeroing that cost as much system time as the
    arithmetic takes. A measure asks for a buffer by slot, shape and dtype and gets the same
    memory back on its next call; results never point into one. Not thread-safe: one per thread.

    Examples
    --------
    >>> scratch = Scratch()
    >>> a = scratch.take(0, (4, 4))
    >>> a is scratch.take(0, (4, 4)), a is scratch.take(1, (4, 4)), a.dtype.name
    (True, False, 'float64')
    """

    def __init__(self) -> None:
        self._buffers: dict[tuple[Any, tuple[int, ...], str], np.ndarray] = {}

    def take(self, slot: Any, shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
        """An uninitialised buffer of ``shape`` and ``dtype`` for ``slot`` (the same one on every
        call with these arguments)."""
        key = (slot, tuple(int(n) for n in shape), np.dtype(dtype).str)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = np.empty(key[1], dtype=dtype)
        return buf


def rfft2_into(image: np.ndarray, scratch: Scratch | None, slot: Any) -> np.ndarray:
    """The half-plane transform of ``image`` (``numpy.fft.rfft2``: the same pocketfft as
    ``scipy.fft.rfft2``, equal to the bit), into ``scratch``'s buffer ``slot`` when given.

    Examples
    --------
    >>> x = np.arange(12.0).reshape(3, 4)
    >>> bool(np.array_equal(rfft2_into(x, Scratch(), 0), np.fft.rfft2(x)))
    True
    """
    if scratch is None:
        return np.fft.rfft2(image)
    shape = (image.shape[0], image.shape[1] // 2 + 1)
    return np.fft.rfft2(image, out=scratch.take(slot, shape, np.complex128))
