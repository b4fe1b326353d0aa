"""Richardson-Lucy and shrinking-kernel deconvolution (pysofi's ``deconvsk`` module).

``deconvsk`` deconvolves one image, a stack of images (a SOFI video: every image is an
independent dask task) or an image larger than one chunk (tiles with ``map_overlap``).
The kernels and their transfer functions are computed once per stack, not per image.

Differences from pysofi v0.1.1-alpha (on purpose):

* ``richardson_lucy`` follows MATLAB's ``deconvblind``: the ratio is *observed / reblurred
  estimate* and multiplies the *estimate*. pysofi swaps the two, which is the same thing in the
  first iteration only (``deconvsk`` uses one iteration per kernel, so it is unaffected).
* ``deconvsk`` accepts a PSF larger than the (2H, 2W) mirror extension (pysofi defect 7): the PSF
  is wrapped onto the periodic grid, which is what a circular convolution with it means.
* A PSF with negative values is clipped at 0 before the powers (pysofi gives NaN).
* The result of ``deconvsk`` is floored at eps (it is strictly positive).
"""

from __future__ import annotations

import logging
import math
import numbers
from typing import Any

import dask
import dask.array as da
import numpy as np
from scipy.fft import next_fast_len

from sofi_dask._cpus import cpu_count, task_threads, threaded_compute
from sofi_dask._validation import check_int, check_positive_int, check_real, fail, shown
from sofi_dask.image import _deconv_kernels as K
from sofi_dask.image._psf_otf import corelucy, otf2psf, psf2otf, zero_pad
from sofi_dask.image._utils import is_dask_array

logger = logging.getLogger(__name__)

__all__ = [
    "corelucy",
    "deconvsk",
    "otf2psf",
    "psf2otf",
    "richardson_lucy",
    "tile_depth",
    "zero_pad",
]

#: largest kernel spectra (bytes) shipped once to every task; above, each task builds them
SPECTRA_BUDGET = 256 * 2**20


def _check_image(image: Any, name: str = "image") -> None:
    if image.ndim not in (2, 3):
        raise fail(name, "2-D (y, x) or a 3-D stack (n, y, x)", shown(f"shape {image.shape}"))
    if min(image.shape) < 1:
        raise fail(name, "a non-empty image", shown(f"shape {image.shape}"))


def _check_psf(psf: Any) -> np.ndarray:
    psf = np.asarray(psf, dtype=np.float64)
    if psf.ndim != 2:
        raise fail("psf", "a 2-D array", shown(f"shape {psf.shape}"))
    if psf.size == 0 or not np.all(np.isfinite(psf)) or not psf.max() > 0:
        raise fail("psf", "finite, non-empty, with a positive maximum", shown("another array"))
    return psf


def _check_lam(lam: Any) -> float:
    return check_real(lam, "lam", minimum=1, inclusive=False)


def _check_depth(depth: Any) -> tuple[int, int] | None:
    """``None``, or the tile overlap as (dy, dx) non-negative ints (one int: both axes)."""
    if depth is None:
        return None
    values = [depth, depth] if not isinstance(depth, tuple | list) else list(depth)
    if len(values) != 2 or any(
        isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0 for v in values
    ):
        raise fail("depth", "None, an int >= 0 or two ints >= 0 (y, x)", depth)
    return int(values[0]), int(values[1])


def richardson_lucy(
    image: Any, psf: Any, iterations: int = 10, *, workers: int = -1
) -> tuple[np.ndarray, np.ndarray]:
    """Blind Richardson-Lucy deconvolution updating image and PSF (MATLAB ``deconvblind``).

    No acceleration, damping or weights. Each iteration: ``B`` = PSF normalised to unit sum;
    ``ratio = observed / (B * J)``; ``J <- max(J * (B ⋆ ratio) / (sum B + sqrt(eps)), 0)``;
    ``P <- max(B * (J_old ⋆ ratio) / (sum J_old + sqrt(eps)), 0)``, renormalised (``*`` circular
    convolution, ``⋆`` correlation, PSF centre at ``(ph // 2, pw // 2)``). Values <= 0 of the
    inputs become eps, the PSF starts normalised.

    Parameters
    ----------
    image : array_like
        2-D degraded image.
    psf : array_like
        2-D initial PSF; at most the image size on each axis.
    iterations : int
        Number of iterations (>= 1).
    workers : int
        ``scipy.fft`` workers (-1: the CPUs this process may use, one inside a distributed
        worker task).

    Returns
    -------
    psf : numpy.ndarray
        Restored PSF (unit sum), shape of ``psf``.
    image : numpy.ndarray
        Deblurred image, float64.

    Raises
    ------
    ValueError
        ``iterations`` < 1, ``psf`` not 2-D or larger than the image, ``image`` not 2-D.

    Examples
    --------
    >>> img = np.zeros((8, 8)); img[4, 4] = 1.0
    >>> p, j = richardson_lucy(img, np.ones((1, 1)), 3)
    >>> bool(np.isclose(j.sum(), 1.0, rtol=1e-6))
    True
    """
    iterations = check_positive_int(iterations, "iterations")
    psf = _check_psf(psf)
    image = np.array(image, dtype=np.float64)
    if image.ndim != 2:
        raise fail("image", "a 2-D image", shown(f"shape {image.shape}"))
    if any(p > s for p, s in zip(psf.shape, image.shape, strict=True)):
        raise fail("psf", f"a shape within the image's {image.shape}", shown(f"shape {psf.shape}"))
    image[image <= 0] = K.EPS
    psf = psf.copy()
    psf[psf <= 0] = K.EPS
    psf /= psf.sum()
    threads = task_threads() if workers == -1 else workers  # scipy's -1 counts the machine
    return K.rl_blind(image, psf, iterations, workers=threads)


def tile_depth(psf_shape: tuple[int, int], iterations: int) -> tuple[int, int]:
    """Tile overlap that makes tiled :func:`deconvsk` equal to the untiled result.

    Every kernel has the PSF's full support (values are floored at eps, never 0), and each
    Richardson-Lucy step reblurs and back-projects, so one step moves information by
    ``2 * (size // 2)`` pixels and ``iterations`` steps by ``2 * iterations * (size // 2)``.
    With at least that overlap every output pixel of a tile depends only on true image data
    (or on the same mirror at the image border), and the tiled result equals the untiled one to
    rounding. A smaller ``depth`` is approximate at the seams; see :func:`deconvsk`.

    Examples
    --------
    >>> tile_depth((9, 7), 20)
    (160, 120)
    """
    return (2 * iterations * (int(psf_shape[0]) // 2), 2 * iterations * (int(psf_shape[1]) // 2))


def _default_block_frames(n: int) -> int:
    return max(1, n // (4 * cpu_count()))


def _whole_block(block: np.ndarray, plan: K.SkPlan, workers: int) -> np.ndarray:
    if workers < 0:  # -cap: decided where the task runs (one thread on a distributed worker)
        workers = task_threads(-workers)
    lead = block.shape[:-2]
    flat = block.reshape((-1,) + block.shape[-2:])
    return K.deconvsk_stack(flat, plan, workers).reshape(lead + block.shape[-2:])


def _tile_block(block: np.ndarray, kernels: np.ndarray, workers: int) -> np.ndarray:
    plan = K.make_plan(kernels, block.shape[-2:], precompute=False, workers=workers)
    return _whole_block(block, plan, workers)


def _whole_images(arr: da.Array, kernels: np.ndarray, workers: int) -> da.Array:
    h, w = arr.shape[-2:]
    meta = np.empty((0,) * arr.ndim, dtype=np.float64)
    method = K.plan_method(kernels, (h, w))
    nbytes = K.spectra_nbytes((h, w), len(kernels), method)
    if nbytes <= SPECTRA_BUDGET:
        plan: Any = dask.delayed(K.make_plan, pure=True)(kernels, (h, w), method=method)
    else:
        plan = K.make_plan(kernels, (h, w), method=method, precompute=False)
    return arr.map_blocks(_whole_block, plan=plan, workers=workers, dtype=np.float64, meta=meta)


def fast_tiles(size: int, depth: int, chunk: int) -> tuple[int, ...]:
    """Tile sizes along one axis for tiles of at most ``chunk`` pixels overlapping by
    ``depth``: an interior tile plus its two margins is the largest fast FFT length
    (``scipy.fft.next_fast_len``) not above ``chunk + 2 * depth``; the last tile takes the rest.

    Examples
    --------
    >>> fast_tiles(1000, 100, 300)
    (300, 300, 300, 100)
    >>> fast_tiles(1000, 101, 300)
    (298, 298, 298, 106)
    """
    target = chunk + 2 * depth
    fast = next((n for n in range(target, 2 * depth, -1) if next_fast_len(n, True) == n), None)
    inner = max(1, min(size, chunk if fast is None else fast - 2 * depth))
    tiles = [inner] * (size // inner)
    if size % inner:
        tiles.append(size % inner)
    return tuple(tiles)


#: default working-memory budget of one deconvolution task: whole images up to it
MEMORY_BUDGET = 512 * 2**20


def _deconvsk_dask(
    arr: da.Array, kernels: np.ndarray, depth: Any, workers: int | None, memory_budget: int
) -> da.Array:
    h, w = arr.shape[-2:]
    meta = np.empty((0,) * arr.ndim, dtype=np.float64)
    method = K.plan_method(kernels, (h, w))
    whole = len(arr.chunks[-1]) == 1 and len(arr.chunks[-2]) == 1
    if whole or (memory_budget and K.image_nbytes((h, w), method) <= memory_budget):
        # one task per image (orders and video frames in parallel): no overlap computed twice
        if not whole:
            lead = dict.fromkeys(range(arr.ndim - 2), 1)
            arr = arr.rechunk({**lead, arr.ndim - 2: -1, arr.ndim - 1: -1})
        if workers is None:
            # FFT threads per task: up to twice the CPUs over the tasks of this stage, so that
            # the last of a few big images (one per order) does not run on one core alone
            workers = -max(1, -(-2 * cpu_count() // arr.npartitions))
        return _whole_images(arr, kernels, workers)
    workers = 1 if workers is None else workers
    if depth is None:
        depth = tile_depth(kernels.shape[-2:], len(kernels))
    dy, dx = min(depth[0], h - 1), min(depth[1], w - 1)
    per_px = K.image_nbytes((1, 1), method)
    cy, cx = max(arr.chunks[-2]), max(arr.chunks[-1])
    if memory_budget and per_px * (cy + 2 * dy) * (cx + 2 * dx) > memory_budget:
        # tiles as large as the budget allows, their FFT lengths fast
        side = math.isqrt(memory_budget // per_px)
        ty, tx = max(16, side - 2 * dy), max(16, side - 2 * dx)
        arr = arr.rechunk(
            {arr.ndim - 2: fast_tiles(h, dy, ty), arr.ndim - 1: fast_tiles(w, dx, tx)}
        )
    depths = {arr.ndim - 2: dy, arr.ndim - 1: dx}
    depths.update(dict.fromkeys(range(arr.ndim - 2), 0))
    return arr.map_overlap(
        _tile_block,
        depth=depths,
        boundary="none",
        kernels=kernels,
        workers=workers,
        dtype=np.float64,
        meta=meta,
    )


def deconvsk(
    image: Any,
    psf: Any,
    *,
    lam: float = 1.5,
    iterations: int = 20,
    depth: int | tuple[int, int] | None = None,
    workers: int | None = None,
    memory_budget: int = MEMORY_BUDGET,
) -> Any:
    """Shrinking-kernel deconvolution (pysofi ``deconvsk``, Yi et al. 2019).

    The PSF ``U`` normalised to its maximum is split into the kernels ``U**alpha_i`` with
    ``alpha_i = lam**(i+1) / (lam - 1)``, i = 0..iterations-1: as ``sum_i 1 / alpha_i = 1 -
    lam**-iterations`` tends to 1, their convolution approximates ``U`` (for a Gaussian PSF of
    variance ``s**2`` the kernels' variances ``s**2 / alpha_i`` add up to ``s**2 (1 -
    lam**-iterations)``). The image, mirror extended to (2H, 2W), gets one Richardson-Lucy step
    with each normalised kernel in turn, then is cropped back to (H, W); values <= 0 become
    eps.

    Parameters
    ----------
    image : numpy.ndarray or dask.array.Array
        One image (y, x) or a stack (n, y, x), e.g. a SOFI video. A dask stack with whole images
        per chunk runs one task per chunk. A dask array tiled in y or x is deconvolved whole,
        one task per image, when one image's working memory fits ``memory_budget``; above it,
        in tiles with ``map_overlap`` (equal to the untiled result with the default ``depth``).
    psf : array_like
        2-D PSF (negative values are clipped to 0). It may be larger than the image.
    lam : float
        Exponent base, > 1 (empirically in (1, 2)).
    iterations : int
        Number of shrinking kernels / Richardson-Lucy steps, >= 1.
    depth : int or (int, int), optional
        Tile overlap of the tiled path. The default, :func:`tile_depth`
        (``2 * iterations * (psf size // 2)``), gives the untiled result to rounding. A smaller
        overlap is approximate near the seams: the error decays fast with the overlap for a
        peaked PSF and slowly for a flat one. Measured (max abs(tiled - untiled) / max, 20
        iterations, lam 1.5, 32-pixel tiles): Gaussian sigma 1.5 on 9x9, depth 9: 3e-9,
        depth 18: 1e-14; Gaussian sigma 3 on 7x7, depth 14: 2e-7; 5x5 box, depth 10: 5e-2,
        depth 20: 9e-4.
    workers : int, optional
        ``scipy.fft`` workers per task (default: all cores for one in-memory image; for dask
        input deconvolved whole, twice the CPUs shared by the images, at least 1, so that a
        few big images keep every core busy; 1 for tiles and on ``distributed`` workers).
    memory_budget : int
        Bytes of working memory one task may use (default 512 MiB): a 2048 x 2048 image with
        a symmetric PSF needs ~224 MiB (7 float64 buffers of its size), with an asymmetric
        one ~900 MiB (28: the FFT works on the (2H, 2W) mirror extension). Images above it are
        tiled, tiles as large as the budget allows, their FFT lengths fast
        (``scipy.fft.next_fast_len``); 0: keep the input's tiles.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        float64, shape of ``image``; numpy in -> numpy out, dask in -> lazy dask out.

    Raises
    ------
    ValueError
        ``lam`` <= 1, ``iterations`` < 1, ``psf`` not 2-D or without a positive value,
        ``image`` not 2-D or 3-D, ``depth`` negative or not one or two ints.

    Examples
    --------
    >>> y, x = np.mgrid[-3:4, -3:4]
    >>> psf = np.exp(-(x**2 + y**2) / 2.0)
    >>> img = np.ones((16, 12))
    >>> out = deconvsk(img, psf, lam=1.5, iterations=5)
    >>> out.shape, bool(np.allclose(out, 1.0))
    ((16, 12), True)
    """
    lam = _check_lam(lam)
    iterations = check_positive_int(iterations, "iterations")
    psf = _check_psf(psf)
    depth = _check_depth(depth)
    memory_budget = check_int(memory_budget, "memory_budget", minimum=0)
    if not is_dask_array(image):
        image = np.asarray(image)
    _check_image(image)
    kernels = K.shrinking_kernels(psf, lam, iterations)
    if is_dask_array(image):
        return _deconvsk_dask(image, kernels, depth, workers, memory_budget)
    if image.ndim == 2:
        # FFT threads: the CPUs this process may use (scipy's -1 counts the machine's), one
        # inside a distributed worker task (the worker's threads are the parallelism)
        threads = task_threads() if workers is None else workers
        plan = K.make_plan(kernels, image.shape, workers=threads)
        return K.deconvsk_stack(image[None], plan, threads)[0]
    nb = _default_block_frames(image.shape[0])
    arr = da.from_array(image, chunks=(nb, -1, -1))
    out = _deconvsk_dask(arr, kernels, depth, 1 if workers is None else workers, memory_budget)
    return threaded_compute(out, scheduler=None)[0]  # the DCT plan's products: one BLAS thread
