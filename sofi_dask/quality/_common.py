"""Shared argument checks and window functions of the quality measures (numpy only)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.signal.windows import tukey

from sofi_dask._validation import check_real, fail, shown

__all__ = ["as_image", "check_pixel_size", "tukey_window"]


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


def tukey_window(shape: tuple[int, int], alpha: float = 0.25) -> np.ndarray:
    """Separable 2-D Tukey window (cosine taper over ``alpha / 2`` of each side)."""
    return np.outer(tukey(shape[0], alpha=alpha), tukey(shape[1], alpha=alpha))
