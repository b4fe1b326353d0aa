"""Noise filtering of a sequence of reconstructions along the sequence axis.

``filter1d_same`` is a 1-D convolution cropped to the input length (MATLAB's ``conv(u, v,
'same')``); ``noise_filter1d`` applies it to every pixel of a stack (e.g. a SOFI video), lazily
and chunk by chunk for dask input (``map_overlap`` along the sequence axis). ``med_smooth``
(median filter with symmetric padding) is re-exported from :mod:`sofi_dask.bleaching`.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy import ndimage

from sofi_dask._validation import fail, shown
from sofi_dask.image._masks import gauss1d_mask
from sofi_dask.image._utils import centred_depth, is_dask_array
from sofi_dask.stats._bleaching import med_smooth

__all__ = ["filter1d_same", "med_smooth", "noise_filter1d"]

Convention = Literal["matlab", "pysofi"]


def _check_kernel(kernel: Any) -> np.ndarray:
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim == 2 and 1 in k.shape:
        k = k.ravel()
    if k.ndim != 1 or k.size == 0:
        raise fail("kernel", "a non-empty 1-D array", shown(f"shape {np.shape(kernel)}"))
    if not np.all(np.isfinite(k)):
        raise fail("kernel", "finite values", shown("NaN or infinite values"))
    return k


def _same_start(n: int, k: int, convention: str) -> int:
    """Index in the full convolution (length n + k - 1) of the first 'same' sample."""
    if convention == "matlab":
        return k // 2
    if convention == "pysofi":
        return (n + k - 1) // 2 - n // 2
    raise fail("convention", "'matlab' or 'pysofi'", convention)


def _convolve_same_block(x: np.ndarray, kernel: np.ndarray, axis: int, start: int) -> np.ndarray:
    """``out[i] = sum_k kernel[k] * x[i + start - k]`` along ``axis``, ``x`` zero outside."""
    k = kernel.size
    origin = k - 1 - start - k // 2
    return ndimage.correlate1d(
        np.asarray(x, dtype=np.float64),
        kernel[::-1],
        axis=axis,
        mode="constant",
        cval=0.0,
        origin=origin,
        output=np.float64,
    )


def filter1d_same(
    series: Any, kernel: Any, *, axis: int = -1, convention: Convention = "matlab"
) -> np.ndarray:
    """Convolve ``series`` with ``kernel`` and keep the central part of the input's length.

    Parameters
    ----------
    series : array_like
        Samples along ``axis`` (other axes are filtered independently).
    kernel : array_like
        1-D filter (a (1, n) row is accepted).
    axis : int, default -1
        Axis to filter along.
    convention : {"matlab", "pysofi"}, default "matlab"
        ``"matlab"``: MATLAB's ``conv(u, v, 'same')``, the full convolution from index
        ``len(kernel) // 2``. ``"pysofi"``: pysofi's ``filter1d_same``, which is one sample to
        the left of MATLAB when the kernel and the series lengths are both even (identical
        otherwise).

    Returns
    -------
    ndarray
        float64, the shape of ``series``.

    Raises
    ------
    ValueError
        Empty or non-1-D ``kernel``, unknown ``convention``, ``axis`` out of range.

    Examples
    --------
    >>> filter1d_same([0.0, 1.0, 0.0, 0.0], [1.0, 2.0, 3.0])
    array([1., 2., 3., 0.])
    """
    x = np.asarray(series, dtype=np.float64)
    k = _check_kernel(kernel)
    if x.ndim == 0:
        raise fail("series", "at least one dimension", shown("a scalar"))
    if not -x.ndim <= axis < x.ndim:
        raise fail("axis", f"an axis of the {x.ndim}-D series", axis)
    axis %= x.ndim
    start = _same_start(x.shape[axis], k.size, convention)
    return _convolve_same_block(x, k, axis, start)


def noise_filter1d(
    stack: Any, kernel: Any = None, *, axis: int = 0, convention: Convention = "matlab"
) -> Any:
    """Filter a sequence of reconstructions along the sequence axis, pixel by pixel.

    Each pixel's series along ``axis`` (e.g. the images of a SOFI video) is convolved with
    ``kernel`` and cropped to its length (:func:`filter1d_same`, zeros beyond both ends).

    Parameters
    ----------
    stack : ndarray or dask.array.Array
        Sequence of images, e.g. (n, y, x). Dask input stays lazy, chunked along any axis:
        ``map_overlap`` with depth ``len(kernel) // 2`` along ``axis`` and
        ``boundary="none"``, equal to the in-memory result.
    kernel : array_like, optional
        1-D filter; default ``gauss1d_mask(21, 2)`` (pysofi's default noise filter).
    axis : int, default 0
        Sequence axis.
    convention : {"matlab", "pysofi"}, default "matlab"
        'same' cropping convention, see :func:`filter1d_same`.

    Returns
    -------
    ndarray or dask.array.Array
        float64, the shape of ``stack``.

    Raises
    ------
    ValueError
        Bad ``kernel``, ``axis`` or ``convention``.

    Examples
    --------
    >>> import numpy as np
    >>> video = np.ones((30, 4, 5))
    >>> out = noise_filter1d(video)
    >>> out.shape, round(float(out[15, 0, 0]), 12)
    ((30, 4, 5), 1.0)
    """
    k = gauss1d_mask(21, 2.0) if kernel is None else _check_kernel(kernel)
    ndim = getattr(stack, "ndim", None)
    if not is_dask_array(stack):
        return filter1d_same(stack, k, axis=axis, convention=convention)
    if ndim == 0:
        raise fail("stack", "at least one dimension", shown("a scalar"))
    if not -ndim <= axis < ndim:
        raise fail("axis", f"an axis of the {ndim}-D stack", axis)
    axis %= ndim
    n = stack.shape[axis]
    start = _same_start(n, k.size, convention)
    depth = centred_depth(k.size)
    meta = np.empty((0,) * ndim, dtype=np.float64)
    kwargs = {"kernel": k, "axis": axis, "start": start, "dtype": np.float64, "meta": meta}
    if stack.numblocks[axis] == 1 or depth == 0:
        return stack.map_blocks(_convolve_same_block, **kwargs)
    if n <= depth:
        return stack.rechunk({axis: -1}).map_blocks(_convolve_same_block, **kwargs)
    return stack.map_overlap(_convolve_same_block, depth={axis: depth}, boundary="none", **kwargs)
