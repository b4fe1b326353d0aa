"""pysofi's ``masks`` module on :mod:`sofi_dask.masks` (MATLAB ``fspecial('gaussian')``).

Examples
--------
>>> round(float(gauss1d_mask((1, 21), 2).sum()), 12)
1.0
"""

from __future__ import annotations

from typing import Any

import numpy as np

# native stage modules (by module path: the package re-exports functions of the
# same names, e.g. sofi_dask.ldrc and sofi_dask.cumulants)
from sofi_dask.image import _masks as _masks

__all__ = ["gauss1d_mask", "gauss2d_mask"]


def gauss2d_mask(shape: Any = (3, 3), sigma: float = 0.5) -> np.ndarray:
    """2-D Gaussian kernel summing to 1, as MATLAB ``fspecial('gaussian', shape, sigma)``.

    Native: :func:`sofi_dask.gauss2d_mask`. Non-positive sizes or sigma raise
    ValueError (pysofi returns NaNs or fails obscurely).

    Examples
    --------
    >>> round(float(gauss2d_mask((3, 3), 0.5)[1, 1]), 4)
    0.6193
    """
    return _masks.gauss2d_mask(shape, sigma)


def gauss1d_mask(shape: Any = (1, 3), sigma: float = 0.5) -> np.ndarray:
    """1-D Gaussian kernel: the row of ``gauss2d_mask((1, n), sigma)``.

    Native: :func:`sofi_dask.gauss1d_mask` (which also takes a plain size).

    Examples
    --------
    >>> gauss1d_mask((1, 21), 2).shape
    (21,)
    """
    return _masks.gauss1d_mask(shape, sigma)
