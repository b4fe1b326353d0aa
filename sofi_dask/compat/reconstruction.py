"""pysofi's ``reconstruction`` module on sofi_dask's lazy engine.

Same names, parameters, defaults and return types as pysofi v0.1.1-alpha (dicts keyed by order,
numpy arrays, lists); movies are named by ``(filepath, filename)``, a TIFF file or a Zarr store,
and read lazily in frame batches (:func:`sofi_dask.io.open_movie`): every call is one streaming
pass over the frames (all orders at once), computed at the point where pysofi returns arrays.

Differences from pysofi (its defects, listed in each docstring): float64 results everywhere
(pysofi's ``calc_moments`` truncates to int64), a float64 total signal (pysofi's wraps for
uint16), no temporary files and no appending to existing TIFFs, frame windows validated with a
clear error, no progress printing.

The bleaching-block functions (``calc_block_moments``, ``cut_frames``, ``correct_bleaching``,
``moments_all_blocks``, ``block_ave_moments``, ``block_ave_cumulants``) are defined in the
private ``_bleach_blocks.py`` and importable from here.

Examples
--------
>>> from sofi_dask.compat import reconstruction  # doctest: +SKIP
>>> m_set = reconstruction.calc_moments("data", "movie.tif", 6)  # doctest: +SKIP
>>> k_set = reconstruction.calc_cumulants_from_moments(m_set)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sofi_dask._validation import as_movie_array, check_frames, check_positive_int
from sofi_dask.compat._bleach_blocks import (
    bleach_corrected,  # noqa: F401 (used by sofi_dask.compat.pysofi)
    block_ave_cumulants,
    block_ave_moments,
    calc_block_moments,
    correct_bleaching,
    cut_frames,
    moments_all_blocks,
)
from sofi_dask.compat._common import (
    as_frames,
    as_images,
    compute_all,
    open_source,
    shift_moments,
    to_numpy,
    window_stacks,
)
from sofi_dask.errors import InputError
from sofi_dask.image import _finterp as _finterp
from sofi_dask.io._open import Movie

# native stage modules (by module path: the package re-exports functions of the
# same names, e.g. sofi_dask.ldrc and sofi_dask.cumulants)
from sofi_dask.stats import _correlations as _corr
from sofi_dask.stats import _cumulants as _cum
from sofi_dask.stats import _moments as _moments

__all__ = [
    "average_image",
    "average_image_with_finterp",
    "block_ave_cumulants",
    "block_ave_moments",
    "calc_block_moments",
    "calc_cumulants_from_moments",
    "calc_cumulants_from_moments_with_lag",
    "calc_moment_im",
    "calc_moments",
    "calc_moments_with_lag",
    "calc_total_signal",
    "calc_xc_im",
    "correct_bleaching",
    "cumulants_all_blocks",
    "cut_frames",
    "min_image",
    "moment_im_with_finterp",
    "moments_all_blocks",
    "sorted_k_partitions",
]


# --------------------------------------------------------------------------- shared glue
def movie_stack(
    movie: Movie, max_order: int, frames: tuple[int, int] | None = None, interp_num: int = 1
) -> Any:
    """Lazy moment stack ``(max_order + 1, y, x)`` of a movie (of its interpolated frames).

    ``sofi_dask.moment_stack`` (layer 0 the mean, layer p the p-th central moment),
    on ``sofi_dask.interpolate_movie`` when ``interp_num > 1``; one pass either way. Any
    window of >= 1 frames works for every order, as in pysofi (:func:`window_stacks`).
    """
    max_order = check_positive_int(max_order, "highest_order")
    arr, _ = as_movie_array(movie)
    window = check_frames(frames, arr.shape[0])
    if interp_num == 1:
        return window_stacks(movie, max_order, [window])[0]
    interp = _finterp.interpolate_movie(arr[window[0] : window[1]], interp_num)
    return window_stacks(interp, max_order, [(0, window[1] - window[0])])[0]


def stack_moments(stack: np.ndarray, orders: Any, mean_im: Any = None) -> dict[int, np.ndarray]:
    """``{order: image}`` from a computed moment stack: central moments, or about ``mean_im``."""
    orders = [int(o) for o in orders]
    if mean_im is not None:
        return shift_moments(stack, orders, mean_im)
    return {o: stack[o] for o in orders}


# --------------------------------------------------------------------------- functions
def sorted_k_partitions(seq: Any, k: int) -> list[list[tuple]]:
    """All partitions of ``seq`` into ``k`` parts, every part of size >= 2, sorted as pysofi.

    Native: :func:`sofi_dask.sorted_k_partitions`.

    Examples
    --------
    >>> sorted_k_partitions([0, 1, 2, 3], 2)
    [[(0, 1), (2, 3)], [(0, 2), (1, 3)], [(0, 3), (1, 2)]]
    """
    return _corr.sorted_k_partitions(seq, k)


def average_image(filepath: Any, filename: Any, frames: Any = []) -> np.ndarray:  # noqa: B006
    """Average image of ``filepath/filename`` over all frames or ``frames=[start, end]``.

    Native: :func:`sofi_dask.average_image` on :func:`sofi_dask.io.open_movie`.

    Parameters
    ----------
    filepath, filename : str
        Folder and name of the TIFF file or Zarr store.
    frames : list of int, optional
        ``[start, end]`` (frames start..end-1); ``[]`` for all.

    Returns
    -------
    numpy.ndarray
        float64 (y, x).

    Raises
    ------
    ValueError
        ``frames`` empty or past the end (pysofi raises IndexError).

    Examples
    --------
    >>> average_image("data", "movie.tif", [0, 100])  # doctest: +SKIP
    """
    movie = open_source(filepath, filename)
    return to_numpy(_moments.average_image(movie, frames=as_frames(frames)))


def average_image_with_finterp(filepath: Any, filename: Any, interp_num: int) -> np.ndarray:
    """Fourier-interpolated average image, ((y-1) f + 1, (x-1) f + 1).

    Native: :func:`sofi_dask.image._finterp.average_image_with_finterp`. pysofi returns the absolute
    value of the interpolation; here the real part (identical for non-negative movies).

    Examples
    --------
    >>> average_image_with_finterp("data", "movie.tif", 2)  # doctest: +SKIP
    """
    movie = open_source(filepath, filename)
    return to_numpy(_finterp.average_image_with_finterp(movie, interp_num))


def calc_moment_im(
    filepath: Any,
    filename: Any,
    order: int,
    frames: Any = [],  # noqa: B006
    mean_im: Any = None,
) -> np.ndarray:
    """One moment-reconstructed image ``mean_t (x - mean_im)^order`` (float64).

    Native: :func:`sofi_dask.moment_stack` (one pass; the mean and the moment come
    from the same pass). With ``mean_im`` the moment is taken about that image (as pysofi),
    by a binomial shift of the central moments. Any window of >= 1 frames works for every
    order, as pysofi (the native API refuses windows shorter than the order; here a
    ``RuntimeWarning``).

    Parameters
    ----------
    filepath, filename : str
        The TIFF file or Zarr store.
    order : int
        Moment order >= 1.
    frames : list of int, optional
        ``[start, end]``; ``[]`` for all frames.
    mean_im : ndarray, optional
        Origin of the moment (default: the average over the same frames).

    Returns
    -------
    numpy.ndarray
        float64 (y, x).

    Examples
    --------
    >>> calc_moment_im("data", "movie.tif", 4)  # doctest: +SKIP
    """
    order = check_positive_int(order, "order")
    stack = to_numpy(movie_stack(open_source(filepath, filename), order, as_frames(frames)))
    return stack_moments(stack, [order], mean_im)[order]


def moment_im_with_finterp(
    filepath: Any,
    filename: Any,
    order: int,
    interp_num: int,
    frames: Any = [],  # noqa: B006
    mean_im: Any = None,
) -> np.ndarray:
    """Moment image of the Fourier-interpolated frames (float64).

    Native: :func:`sofi_dask.interpolate_movie` + :func:`sofi_dask.moment_stack`
    (frames interpolated inside the reduction, never written). Differences from pysofi: the
    result is float64 (pysofi truncates to int64, defect 1) and the interpolation keeps the
    real part (pysofi the absolute value). ``mean_im``, if given, must be on the interpolated
    grid.

    Examples
    --------
    >>> moment_im_with_finterp("data", "movie.tif", 4, 2)  # doctest: +SKIP
    """
    order = check_positive_int(order, "order")
    check_positive_int(interp_num, "interp_num", integral_float=True)
    movie = open_source(filepath, filename)
    stack = to_numpy(movie_stack(movie, order, as_frames(frames), interp_num))
    return stack_moments(stack, [order], mean_im)[order]


def calc_moments(
    filepath: Any,
    filename: Any,
    highest_order: int,
    frames: Any = None,
    m_set: dict | None = None,
    mean_im: Any = None,
) -> dict[int, np.ndarray]:
    """Moment images of orders 1..``highest_order`` in one pass (float64).

    Native: :func:`sofi_dask.moment_stack`, all orders from one read of the movie.

    Parameters
    ----------
    filepath, filename : str
        The TIFF file or Zarr store.
    highest_order : int
        Highest order >= 1.
    frames : list of int, optional
        ``[start, end]``; ``None`` / ``[]`` for all frames.
    m_set : dict, optional
        Previously computed ``{order: image}``: its entries are kept (and the dict is updated
        in place and returned, as pysofi), only missing orders are added.
    mean_im : ndarray, optional
        Origin of the moments (default: the average over the same frames).

    Returns
    -------
    dict[int, numpy.ndarray]
        Order -> float64 image; order 1 is 0 for central moments.

    Notes
    -----
    pysofi truncates every image to int64 (defect 1: order 1 and small high-order values
    become 0) and reads the file once per order; here float64 from one pass. Without
    missing orders nothing is read.

    Examples
    --------
    >>> m_set = calc_moments("data", "movie.tif", 6)  # doctest: +SKIP
    >>> sorted(m_set)  # doctest: +SKIP
    [1, 2, 3, 4, 5, 6]
    """
    highest_order = check_positive_int(highest_order, "highest_order")
    if m_set is None:
        m_set = {}
    missing = [o for o in range(1, highest_order + 1) if o not in m_set]
    if not missing:
        return m_set
    movie = open_source(filepath, filename)
    stack = to_numpy(movie_stack(movie, highest_order, as_frames(frames)))
    m_set.update(stack_moments(stack, missing, mean_im))
    return m_set


def calc_cumulants_from_moments(moment_set: dict) -> dict[int, Any]:
    """Cumulant images from moment images by pysofi's recursion (pure, no file access).

    Native: :func:`sofi_dask.cumulants_from_moments`. ``moment_set`` must hold the
    orders 1..N; ``k_1 = m_1`` (0 for central moments, as pysofi). Images may be any
    array-like pysofi takes (nested lists, tuples, scalars, arrays of any int/float dtype);
    the result is float64, as pysofi's.

    Raises
    ------
    ValueError
        ``moment_set`` empty or its keys not 1..N (pysofi: a bare Exception / KeyError).

    Examples
    --------
    >>> k = calc_cumulants_from_moments({1: [[0, 0]], 2: [[2, 6]], 3: [[1, 6]], 4: [[15, 42]]})
    >>> {order: image.tolist() for order, image in k.items()}
    {1: [[0.0, 0.0]], 2: [[2.0, 6.0]], 3: [[1.0, 6.0]], 4: [[3.0, -66.0]]}
    """
    if not moment_set:
        raise InputError("moment_set: is empty (expected {order: image} for orders 1..N)")
    return compute_all(_cum.cumulants_from_moments(as_images(dict(moment_set), "moment_set")))


def calc_total_signal(filepath: Any, filename: Any) -> np.ndarray:
    """Total signal (sum of the pixels) of every frame, float64.

    Native: :func:`sofi_dask.total_signal` (a Zarr store made by ``sofi-dask ingest``
    answers from its recorded frame statistics without reading the movie). pysofi sums uint16
    rows in uint16, so any column sum above 65535 wraps (defect 2); here the sum is float64.

    Examples
    --------
    >>> calc_total_signal("data", "movie.tif").shape  # doctest: +SKIP
    (5000,)
    """
    return to_numpy(_moments.total_signal(open_source(filepath, filename)))


def min_image(filepath: Any, filename: Any, frames: Any = []) -> np.ndarray:  # noqa: B006
    """Per-pixel minimum over all frames or ``frames=[start, end]``, in the movie's dtype.

    Native: :func:`sofi_dask.minimum_image`. pysofi always includes frame 0 in the
    minimum, even for a window that starts later; here only the window counts.

    Examples
    --------
    >>> min_image("data", "movie.tif")  # doctest: +SKIP
    """
    movie = open_source(filepath, filename)
    return to_numpy(_moments.minimum_image(movie, frames=as_frames(frames)))


def cumulants_all_blocks(m_set_all_blocks: dict) -> dict[Any, dict[int, Any]]:
    """Cumulants of every block from :func:`moments_all_blocks` (pure).

    Native: :func:`sofi_dask.cumulants_from_moments` per block.

    Examples
    --------
    >>> k = cumulants_all_blocks({0: {1: [0, 0], 2: [2, 6]}})
    >>> {order: image.tolist() for order, image in k[0].items()}
    {1: [0.0, 0.0], 2: [2.0, 6.0]}
    """
    if not m_set_all_blocks:
        raise InputError("m_set_all_blocks: is empty (expected {block: {order: image}})")
    return {b: calc_cumulants_from_moments(m) for b, m in m_set_all_blocks.items()}


def calc_xc_im(
    filepath: Any,
    filename: Any,
    ri_range: int,
    frames: Any = [],  # noqa: B006
) -> dict[tuple[int, int], np.ndarray]:
    """Second-order cross-cumulant images of pixel pairs, ``{(i, j): image}``.

    Native: :func:`sofi_dask.cross_cumulant_image` (one pass, all offsets).
    Images are (H - 2 r, W - 2 r) as pysofi.

    Examples
    --------
    >>> xc = calc_xc_im("data", "movie.tif", 1)  # doctest: +SKIP
    """
    movie = open_source(filepath, filename)
    return compute_all(_corr.cross_cumulant_image(movie, ri_range, frames=as_frames(frames)))


def calc_moments_with_lag(
    filepath: Any,
    filename: Any,
    tauSeries: Any,  # noqa: N803 (pysofi's name)
    frames: Any = [],  # noqa: B006
) -> dict[int, dict[tuple[int, ...], np.ndarray]]:
    """Time-lag moment images ``{order: {index subset: image}}`` (pysofi's layout).

    Native: :func:`sofi_dask.moments_with_lag`, one pass over the movie (pysofi
    reads every frame once per subset and lag).

    Examples
    --------
    >>> m = calc_moments_with_lag("data", "movie.tif", [0, 1, 2, 3])  # doctest: +SKIP
    """
    movie = open_source(filepath, filename)
    tau = [int(t) for t in tauSeries]
    return compute_all(_corr.moments_with_lag(movie, tau, frames=as_frames(frames)))


def calc_cumulants_from_moments_with_lag(
    m_set: dict,
    tauSeries: Any,  # noqa: N803 (pysofi's name)
) -> dict[int, Any]:
    """Time-lag cumulant images from :func:`calc_moments_with_lag` (pure).

    Native: :func:`sofi_dask.cumulants_with_lag`.

    Examples
    --------
    >>> m = {2: {(0, 1): 2.0}, 3: {(0, 1, 2): 1.0}}
    >>> {order: float(v) for order, v in calc_cumulants_from_moments_with_lag(m, [0, 1, 2]).items()}
    {2: 2.0, 3: 1.0}
    """
    return compute_all(_corr.cumulants_with_lag(as_images(m_set, "m_set"), list(tauSeries)))
