"""Fourier interpolation of images and movies (pysofi's ``finterp`` module).

An (H, W) image becomes ((H - 1) f + 1, (W - 1) f + 1) by trigonometric interpolation of its
mirror extension (2H, 2W) (no ringing from the periodic boundary). The original samples are
reproduced on the coarse grid (every f-th sample). The operator is linear and separable; it is
applied by phases (only the new samples are matrix products; the samples of the input are
copied, see :func:`sofi_dask.image._finterp_kernels.apply_operators`), in float64 (or float32
on request: ~2x faster, relative error ~2e-6 of the largest value), with the matrices
computed once per movie.

Difference from pysofi v0.1.1-alpha (defect 8): pysofi returns the absolute value of the
(complex, rounding-level imaginary part) result, which flips the sign of negative values (signed
inputs such as cumulants). Here the result is the real part: negative values stay negative. For
non-negative data the two agree to rounding wherever the interpolant is >= 0.

Streaming: :func:`interpolate_movie` is lazy (one task per chunk of frames); write it with
:func:`fourier_interp_movie_to_zarr` / :func:`fourier_interp_movie_to_tiff`, or take moments of
the interpolated frames without writing them (:func:`moments_with_finterp`).
"""

from __future__ import annotations

import numbers
from functools import partial
from typing import Any

import dask
import dask.array as da
import numpy as np

from sofi_dask._validation import as_movie_array, check_frames, check_positive_int, fail, shown
from sofi_dask.image import _finterp_kernels as K
from sofi_dask.image._finterp_moments import finterp_moment_stacks
from sofi_dask.image._finterp_writers import (
    fourier_interp_movie_to_tiff,
    fourier_interp_movie_to_zarr,
    interpolate_movie_uint16,
    rescale_to_uint16,
)
from sofi_dask.image._utils import is_dask_array

__all__ = [
    "as_lazy_or_numpy",
    "average_image_with_finterp",
    "fourier_interp",
    "fourier_interp_array",
    "fourier_interp_movie_to_tiff",
    "fourier_interp_movie_to_zarr",
    "ft_matrix2d",
    "ift_matrix2d",
    "interp_operators",
    "interpolate_image",
    "interpolate_movie",
    "interpolate_movie_uint16",
    "interpolated_grid_shape",
    "moment_im_with_finterp",
    "moments_with_finterp",
    "rescale_to_uint16",
]

#: target size of one output chunk of :func:`interpolate_movie`
CHUNK_BYTES = 64 * 2**20


def interpolated_grid_shape(shape: Any, factor: int) -> tuple[int, ...]:
    """Shape after interpolation: the last two axes become ``(n - 1) * factor + 1``.

    Examples
    --------
    >>> interpolated_grid_shape((10, 5, 4), 3)
    (10, 13, 10)
    """
    factor = check_positive_int(factor, "factor", integral_float=True)
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2 or min(shape[-2:]) < 1:
        raise fail("shape", "two positive sizes (y, x) at the end", shape)
    return shape[:-2] + tuple(K.interpolated_length(n, factor) for n in shape[-2:])


def ft_matrix2d(xrange: int, yrange: int) -> tuple[np.ndarray, np.ndarray]:
    """DFT matrices (pysofi ``ft_matrix2d``): ``F[r, c] = exp(-2 pi i r c / n)``.

    Parameters
    ----------
    xrange, yrange : int
        Spectrum spans, usually twice the image height and width.

    Returns
    -------
    fx, fy : numpy.ndarray
        (xrange, xrange) and (yrange, yrange) complex matrices; ``fx @ ext @ fy`` is the 2-D DFT.

    Examples
    --------
    >>> fx, fy = ft_matrix2d(4, 6)
    >>> bool(np.allclose(fx @ np.eye(4)[:, :1], 1.0))
    True
    """
    return K.dft_matrix(int(xrange)), K.dft_matrix(int(yrange)).T


def ift_matrix2d(xrange: int, yrange: int, interp_num: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse DFT matrices sampled every ``1 / interp_num`` (pysofi ``ift_matrix2d``).

    Returns
    -------
    ifx : numpy.ndarray
        ((xrange - 1) * interp_num + 1, xrange), ``exp(2 pi i c' t / xrange) / xrange``.
    ify : numpy.ndarray
        (yrange, (yrange - 1) * interp_num + 1), the same for y, transposed.

    Examples
    --------
    >>> ifx, ify = ift_matrix2d(4, 4, 2)
    >>> ifx.shape, ify.shape
    ((7, 4), (4, 7))
    """
    f = check_positive_int(interp_num, "interp_num", integral_float=True)
    return K.idft_interp_matrix(int(xrange), f), K.idft_interp_matrix(int(yrange), f).T


def interpolate_image(im: Any, fx: Any, fy: Any, ifx: Any, ify: Any, interp_num: int) -> np.ndarray:
    """pysofi's ``interpolate_image`` with explicit matrices; returns the real part.

    Examples
    --------
    >>> im = np.arange(6.0).reshape(2, 3)
    >>> fx, fy = ft_matrix2d(4, 6); ifx, ify = ift_matrix2d(4, 6, 2)
    >>> bool(np.allclose(interpolate_image(im, fx, fy, ifx, ify, 2)[::2, ::2], im))
    True
    """
    im = np.asarray(im, dtype=np.float64)
    f = check_positive_int(interp_num, "interp_num", integral_float=True)
    ext = np.block([[im, im[:, ::-1]], [im[::-1], im[::-1, ::-1]]])
    full = np.asarray(ifx) @ (np.asarray(fx) @ ext @ np.asarray(fy)) @ np.asarray(ify)
    hn, wn = interpolated_grid_shape(im.shape, f)
    return np.ascontiguousarray(full.real[:hn, :wn])


def interp_operators(shape: Any, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Real matrices ``(Lx, Ly)`` with ``interp = Lx @ image @ Ly.T`` for images of ``shape``."""
    factor = check_positive_int(factor, "factor", integral_float=True)
    h, w = (int(s) for s in tuple(shape)[-2:])
    return K.interp_operator(h, factor), K.interp_operator(w, factor)


def as_lazy_or_numpy(data: Any) -> Any:
    """numpy stays numpy, dask stays dask, a ``Movie`` gives its ``.data``; other array-likes
    with a shape (zarr arrays) are wrapped lazily; lists become numpy."""
    if isinstance(data, np.ndarray) or is_dask_array(data):
        return data
    inner = getattr(data, "data", None)
    if is_dask_array(inner):
        return inner
    if hasattr(data, "shape") and hasattr(data, "dtype"):
        return da.asarray(data)
    return np.asarray(data)


def _block_interp(
    block: np.ndarray, lx: np.ndarray, ly: np.ndarray, dtype: Any = np.float64
) -> np.ndarray:
    return K.apply_operators(block, lx, ly, dtype=dtype)


def _interp_graph(
    data: Any, factor: int, block_fn: Any, dtype: Any, frames_per_chunk: int | None
) -> da.Array:
    """Lazy ``block_fn(frames, lx, ly)`` over chunks of whole frames of ``data`` (..., y, x)."""
    factor = check_positive_int(factor, "factor", integral_float=True)
    arr = as_lazy_or_numpy(data)
    if arr.ndim < 2:
        raise fail("data", "at least 2 dimensions (y, x)", shown(f"shape {arr.shape}"))
    if frames_per_chunk is not None:
        frames_per_chunk = check_positive_int(
            frames_per_chunk, "frames_per_chunk", integral_float=True
        )
    out_shape = interpolated_grid_shape(arr.shape, factor)
    lead = arr.shape[:-2]
    flat = arr.reshape((int(np.prod(lead)),) + arr.shape[-2:]) if arr.ndim != 3 else arr
    darr = flat if is_dask_array(flat) else da.from_array(flat, chunks=(flat.shape[0], -1, -1))
    frame_bytes = out_shape[-2] * out_shape[-1] * np.dtype(dtype).itemsize
    nf = frames_per_chunk or max(1, min(max(darr.chunks[0]), CHUNK_BYTES // frame_bytes))
    darr = darr.rechunk({0: nf, 1: -1, 2: -1})
    lx, ly = interp_operators(arr.shape, factor)
    out = darr.map_blocks(
        block_fn,
        lx=dask.delayed(lx, pure=True),
        ly=dask.delayed(ly, pure=True),
        chunks=(darr.chunks[0], (out_shape[-2],), (out_shape[-1],)),
        dtype=dtype,
        meta=np.empty((0, 0, 0), dtype=dtype),
    )
    return out if arr.ndim == 3 else out.reshape(out_shape)


def interpolate_movie(
    data: Any, factor: int, *, frames_per_chunk: int | None = None, dtype: Any = np.float64
) -> da.Array:
    """Lazily Fourier-interpolate every frame of a movie (or any stack of images).

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array or Movie
        Frames (..., y, x); the last two axes are interpolated. Spatial chunks are merged so
        that every task holds whole frames.
    factor : int
        Interpolation factor, >= 1.
    frames_per_chunk : int, optional
        Frames per output chunk (default: the input's, capped so a chunk is <= 64 MiB).
    dtype : {numpy.float64, numpy.float32}
        Arithmetic and output type. float32 halves the time and the memory traffic; its
        relative error is ~2e-6 of the largest value on 256-px frames (float32 sums of
        products), and ~1e-6..6e-6 of the largest value on moments and cumulants of orders
        1-6 of the interpolated frames (measured, docs/benchmarks.md).

    Returns
    -------
    dask.array.Array
        (..., (y - 1) f + 1, (x - 1) f + 1) of ``dtype``, one task per chunk of frames; the
        matrices are computed once and shared by every task. Under the threaded scheduler,
        compute it inside :func:`sofi_dask._cpus.one_blas_thread` (the pipeline does): each
        task's matrix products then run on one thread instead of one per CPU.

    Raises
    ------
    ValueError
        ``factor`` not an integer >= 1; ``data`` with fewer than 2 dimensions.

    Examples
    --------
    >>> movie = np.random.default_rng(0).random((5, 4, 3))
    >>> out = interpolate_movie(movie, 2)
    >>> out.shape, bool(np.allclose(out[:, ::2, ::2].compute(), movie))
    ((5, 7, 5), True)
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise fail("dtype", "float64 or float32", shown(str(dtype)))
    block_fn = partial(_block_interp, dtype=dtype)
    return _interp_graph(data, factor, block_fn, dtype, frames_per_chunk)


def fourier_interp(image: Any, factor: int) -> Any:
    """Fourier-interpolate one image (or every image of a stack).

    Parameters
    ----------
    image : numpy.ndarray or dask.array.Array
        (y, x) or (..., y, x); any real dtype (signed values keep their sign).
    factor : int
        Interpolation factor, >= 1 (1 returns the image as float64).

    Returns
    -------
    numpy.ndarray or dask.array.Array
        float64 ((y - 1) f + 1, (x - 1) f + 1) (leading axes kept); numpy in -> numpy out.

    Raises
    ------
    ValueError
        ``factor`` not an integer >= 1; ``image`` not at least 2-D.

    Examples
    --------
    >>> fourier_interp(np.array([[0.0, 2.0], [3.0, 5.0]]), 2).round(6)[1].tolist()
    [1.5, 2.5, 3.5]
    """
    factor = check_positive_int(factor, "factor", integral_float=True)
    if is_dask_array(image):
        return interpolate_movie(image, factor)
    image = np.asarray(image)
    if image.ndim < 2:
        raise fail("image", "at least 2 dimensions (y, x)", shown(f"shape {image.shape}"))
    if np.iscomplexobj(image):
        raise fail("image", "a real array", shown("a complex array"))
    if min(image.shape[-2:]) < 1:
        raise fail("image", "positive sizes (y, x)", shown(f"shape {image.shape}"))
    lx, ly = interp_operators(image.shape, factor)
    return K.apply_operators(image, lx, ly)


def fourier_interp_array(image: Any, factors: Any) -> list[Any]:
    """Interpolate one image by each factor of a list (pysofi ``fourier_interp_array``).

    Examples
    --------
    >>> [a.shape for a in fourier_interp_array(np.ones((3, 4)), [1, 2, 3])]
    [(3, 4), (5, 7), (7, 10)]
    """
    if isinstance(factors, numbers.Real):
        raise fail("factors", "a list of integers >= 1", factors)
    checked = [
        check_positive_int(f, f"factors[{i}]", integral_float=True) for i, f in enumerate(factors)
    ]
    return [fourier_interp(image, f) for f in checked]


def average_image_with_finterp(data: Any, factor: int, *, frames: Any = None) -> Any:
    """Interpolated mean image: ``fourier_interp(average_image(data), factor)``.

    Interpolation is linear, so this equals the mean of the interpolated frames (pysofi computes
    it the same way). Lazy for dask input.
    """
    from sofi_dask.stats._moments import average_image

    factor = check_positive_int(factor, "factor", integral_float=True)
    return fourier_interp(average_image(data, frames=frames), factor)


def moments_with_finterp(
    data: Any, max_order: int, factor: int, *, frames: Any = None, split_every: Any = None
) -> dict[int, Any]:
    """Central moments of the Fourier-interpolated frames, orders 1..max_order, one pass.

    The interpolated movie is never materialised: each task interpolates a few frames of its
    chunk at a time into a reused buffer and accumulates their moments
    (:func:`sofi_dask.image._finterp_moments.finterp_moment_stacks`). Equivalent to pysofi's
    ``moment_im_with_finterp`` for every order at once, in float64 (pysofi truncates to int64).

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array or Movie
        (t, y, x) movie.
    max_order : int
        Highest order, >= 1.
    factor : int
        Interpolation factor, >= 1.
    frames : (int, int), optional
        Frames start..end-1 (only those are interpolated).
    split_every : int, optional
        Fan-in of the moment merge tree.

    Returns
    -------
    dict[int, Array]
        Order -> float64 image ((y - 1) f + 1, (x - 1) f + 1); lazy for dask input.

    Examples
    --------
    >>> movie = np.random.default_rng(1).random((20, 4, 5))
    >>> m = moments_with_finterp(movie, 2, 2)
    >>> m[2].shape
    (7, 9)
    """
    factor = check_positive_int(factor, "factor", integral_float=True)
    max_order = check_positive_int(max_order, "max_order")
    arr, lazy = as_movie_array(data)
    window = check_frames(frames, arr.shape[0])
    (stack,) = finterp_moment_stacks(arr, max_order, [window], factor, split_every=split_every)
    return {p: stack[p] for p in range(1, max_order + 1)}


def moment_im_with_finterp(data: Any, order: int, factor: int, *, frames: Any = None) -> Any:
    """One central moment image of the interpolated frames (pysofi ``moment_im_with_finterp``).

    Float64 (pysofi truncates to int64, defect 1). See :func:`moments_with_finterp`.
    """
    order = check_positive_int(order, "order")
    return moments_with_finterp(data, order, factor, frames=frames)[order]
