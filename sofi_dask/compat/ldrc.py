"""pysofi's ``ldrc`` module (local dynamic range compression) on :mod:`sofi_dask.ldrc`.

Examples
--------
>>> import numpy as np
>>> out = ldrc(np.ones((5, 6)), np.arange(30.0).reshape(5, 6) ** 2, 1, [3, 3])
>>> out.shape, float(out.min()), float(out.max())
((5, 6), 0.0, 1.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sofi_dask.compat._common import as_image, to_numpy

# native stage modules (by module path: the package re-exports functions of the
# same names, e.g. sofi_dask.ldrc and sofi_dask.cumulants)
from sofi_dask.image import _ldrc as _ldrc

__all__ = ["ldrc"]


def ldrc(
    mask_im: Any,
    input_im: Any,
    order: int = 1,
    window_size: Any = [25, 25],  # noqa: B006 (pysofi's default)
) -> np.ndarray:
    """Local dynamic range compression of ``input_im`` against the reference ``mask_im``.

    Native: :func:`sofi_dask.ldrc` (``image, mask``: note the argument order), O(pixels)
    instead of pysofi's loop over windows. A mask smaller than the input is resampled to
    ``((h-1) order + 1, (w-1) order + 1)`` by cubic ``griddata`` as pysofi, and must then
    match the input (checked: pysofi never checks, defect 6).

    Parameters
    ----------
    mask_im : ndarray
        Reference image (average or 2nd-order image).
    input_im : ndarray
        Image to compress (or a (n, y, x) stack, each image against the same mask).
    order : int
        Order of ``input_im`` (the mask's up-sampling factor).
    window_size : [int, int]
        Window (rows, columns).

    Returns
    -------
    numpy.ndarray
        float64, the shape of ``input_im``.

    Notes
    -----
    A window with a constant input contributes 0 (pysofi: NaN, and an all-NaN image for a
    constant input or a window larger than the image, defect 6); a window larger than the
    image raises ValueError.
    """
    window = window_size if np.isscalar(window_size) else tuple(window_size)
    image, mask = as_image(input_im, "input_im"), as_image(mask_im, "mask_im")
    return to_numpy(_ldrc.ldrc(image, mask, order=order, window_size=window))
