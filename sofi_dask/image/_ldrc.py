"""Local dynamic range compression (LDRC) of SOFI images, tiled with ``map_overlap``.

pysofi's ``ldrc`` semantics in O(pixels) array operations (see :mod:`sofi_dask._ldrc_kernels`
for the identity used), on one image, on a stack of images (every image in parallel) and on
images larger than a chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from sofi_dask._cpus import cpu_count
from sofi_dask._validation import check_positive_int, check_size_tuple, fail, shown
from sofi_dask.errors import InputError
from sofi_dask.image._ldrc_kernels import ldrc_block, resample_mask
from sofi_dask.image._utils import is_dask_array, overlap_depth
from sofi_dask.image._utils import window_depth as _window_depth

__all__ = ["ldrc", "resample_mask"]

logger = logging.getLogger(__name__)


def _prepare_mask(mask: Any, shape: tuple[int, int], order: int) -> Any:
    """Mask on the image grid: as given when the sizes match, else cubic-resampled."""
    if tuple(mask.shape) == shape:
        return mask
    mh, mw = mask.shape
    expected = ((mh - 1) * order + 1, (mw - 1) * order + 1)
    if expected != shape:
        raise InputError(
            f"parameter 'mask': of shape {tuple(mask.shape)} resampled for order={order} gives "
            f"{expected}, "
            f"expected the image shape {shape}; pass a mask of the image's shape or of shape "
            f"((H - 1) / order + 1, (W - 1) / order + 1)"
        )
    if mh < 2 or mw < 2:
        raise fail("mask", "at least 2 x 2 pixels to be resampled", shown(f"shape {(mh, mw)}"))
    logger.debug("resampling the LDRC mask %s -> %s (order %d)", (mh, mw), shape, order)
    if is_dask_array(mask):
        # lazily, in one task: the interpolation needs the whole (small) mask, and computing it
        # here would run the graph behind the mask (e.g. a pass over a movie) a second time
        return mask.rechunk(-1).map_blocks(
            resample_mask, order, chunks=shape, dtype=np.float64, meta=np.empty((0, 0))
        )
    resampled = resample_mask(np.asarray(mask), order)
    if resampled.shape != shape or not np.all(np.isfinite(resampled)):
        raise InputError(
            f"parameter 'mask': resampled, it has shape {resampled.shape} (expected {shape}) or "
            "non-finite values"
        )
    return resampled


#: target bytes (float64) of one block of images of an in-memory stack
STACK_BLOCK_BYTES = 8 * 2**20


def _stack_block_images(shape: tuple[int, ...]) -> int:
    """Images per task for an in-memory stack: <= ~8 MiB, and >= 2 tasks per core."""
    n, h, w = shape
    per_core = -(-n // (2 * cpu_count()))
    return max(1, min(per_core, STACK_BLOCK_BYTES // (8 * h * w)))


def ldrc(
    image: Any,
    mask: Any,
    *,
    order: int = 1,
    window_size: int | Sequence[int] = (25, 25),
) -> Any:
    """Local dynamic range compression of a SOFI image (or of every image of a stack).

    Every ``window_size`` window lying fully inside the image, at stride 1, is normalised to
    ``(w - min) / (max - min)``, multiplied by the maximum of ``mask`` over the same window, and
    accumulated; each pixel is the sum divided by the number of windows covering it (pysofi's
    ``ldrc``). The computation is O(pixels), independent of the window size.

    Parameters
    ----------
    image : ndarray or dask.array.Array
        One image (H, W) or a stack (n, H, W), e.g. a high-order cumulant image or a SOFI video.
        Dask input is processed tile by tile with ``map_overlap`` (overlap ``window - 1`` per
        side, ``boundary="none"``): same result as in one piece, bounded memory. A stack is
        processed image by image in parallel (an in-memory stack in blocks of images on
        threads).
    mask : ndarray or dask.array.Array
        Reference image (H, W), e.g. the average image or the 2nd-order SOFI image, shared by
        every image of a stack. When its shape differs from the image's it is first resampled
        to ``((h - 1) * order + 1, (w - 1) * order + 1)`` by piecewise cubic interpolation
        (``scipy.interpolate.griddata(method="cubic")``, as pysofi, computed in memory), which
        must equal (H, W).
    order : int, default 1
        Order of the SOFI image (the up-sampling factor of the mask).
    window_size : int or (int, int), default (25, 25)
        Window (rows, columns); at most the image size.

    Returns
    -------
    ndarray or dask.array.Array
        float64, the shape of ``image``; lazy for dask input. Values lie in ``[0, max(mask)]``
        for a non-negative mask.

    Raises
    ------
    ValueError
        ``image`` not 2-D or 3-D, ``mask`` not 2-D or of an incompatible shape, ``order < 1``,
        ``window_size`` not positive or larger than the image; a complex ``image`` or ``mask``;
        NaN or infinite values (for dask input, raised when the tile holding them is computed).

    Notes
    -----
    A window whose values are all equal (max == min) has no dynamic range: its normalised
    window is taken as 0, so it adds 0 to the sum but still counts in the number of windows
    (pysofi gives NaN there, and a NaN image for a constant input; here a constant image gives
    zeros). Rounding: the identity ``x * box(s) - box(min * s)`` computed in float64 is exact
    to ~1e-15 relative to ``max(mask)`` for ordinary images; it degrades as
    ``eps * (range of the image) / (range of a window)`` for windows far flatter than the image.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.arange(30.0).reshape(5, 6) ** 2
    >>> out = ldrc(img, np.ones((5, 6)), window_size=(3, 3))
    >>> out.shape, float(out.min()), float(out.max())
    ((5, 6), 0.0, 1.0)
    """
    if getattr(image, "ndim", None) not in (2, 3):
        raise fail(
            "image",
            "a 2-D image or a 3-D stack (n, y, x)",
            shown(f"shape {getattr(image, 'shape', None)}"),
        )
    if getattr(mask, "ndim", None) != 2:
        raise fail("mask", "a 2-D image", shown(f"shape {getattr(mask, 'shape', None)}"))
    for name, arr in (("image", image), ("mask", mask)):
        if np.dtype(arr.dtype).kind not in "biuf":
            raise fail(name, "a real-valued array", shown(f"dtype {arr.dtype}"))
    order = check_positive_int(order, "order")
    window = check_size_tuple(window_size, 2, "window_size")
    shape = tuple(int(n) for n in image.shape[-2:])
    if window[0] > shape[0] or window[1] > shape[1]:
        raise fail("window_size", f"at most the image's size {shape}", window)
    mask = _prepare_mask(mask, shape, order)

    import dask.array as da

    if not is_dask_array(image):
        if is_dask_array(mask):
            mask = mask.compute()
        image = np.asarray(image)
        if image.ndim == 3 and image.shape[0] > 1:
            # a stack in memory: blocks of images on threads, so that the kernel's float64
            # temporaries (~10x its input) are those of the blocks in flight, not of the whole
            # stack; each block is written straight into the output
            chunks = (_stack_block_images(image.shape), -1, -1)
            lazy = ldrc(da.from_array(image, chunks=chunks), mask, window_size=window)
            out = np.empty(image.shape, dtype=np.float64)
            da.store(lazy, out, lock=False, scheduler="threads")
            return out
        return ldrc_block(image, np.asarray(mask), window)

    spatial_chunks = image.chunks[-2:]
    if is_dask_array(mask):
        mask_d = mask.rechunk(spatial_chunks)
    else:
        mask_d = da.from_array(np.asarray(mask), chunks=spatial_chunks)
    reach = _window_depth(window)
    return da.map_overlap(
        ldrc_block,
        image,
        mask_d,
        depth=[overlap_depth(image.ndim, reach), overlap_depth(2, reach)],
        boundary="none",
        dtype=np.float64,
        meta=np.empty((0,) * image.ndim, dtype=np.float64),
        window=window,
    )


def _floored(mask: np.ndarray, percentile: float) -> np.ndarray:
    mask = np.asarray(mask, dtype=np.float64)
    return np.clip(mask - np.percentile(mask, percentile), 0.0, None)


def floor_mask(mask: Any, percentile: float | None) -> Any:
    """The LDRC mask less its ``percentile`` (clipped at 0): its background floor removed
    (``None``: the mask as is). Lazy for a dask mask (one task: a percentile needs the whole
    image).

    Examples
    --------
    >>> floor_mask(np.array([[10.0, 11.0], [12.0, 30.0]]), 0.0).tolist()
    [[0.0, 1.0], [2.0, 20.0]]
    """
    if percentile is None:
        return mask
    if is_dask_array(mask):
        return mask.rechunk(-1).map_blocks(
            _floored, float(percentile), dtype=np.float64, meta=np.empty((0, 0))
        )
    return _floored(mask, float(percentile))
