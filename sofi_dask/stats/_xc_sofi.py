"""Cross-cumulant SOFI with virtual pixels (Dertinger et al., PNAS 106, 22287, 2009/2010).

For ``n`` distinct pixels ``r_1..r_n`` and emitters ``k`` with PSF ``U``, brightness ``eps_k``
and blinking cumulant ``w_n,k``, the joint cumulant of the pixel traces is
``XC_n(r_1..r_n) = sum_k eps_k^n w_n,k prod_j U(r_j - r_k)``. For a Gaussian PSF
``U(r) = exp(-|r|^2 / (2 sigma^2))``,
``prod_j U(r_j - r_k) = U^n(rbar - r_k) * D``, ``D = exp(-sum_j |r_j - rbar|^2 / (2 sigma^2))``,
with ``rbar`` the centroid of the pixels: dividing by the *distance factor* ``D`` gives the
auto-cumulant image ``sum_k eps_k^n w_n,k U^n(rbar - r_k)`` at the virtual pixel ``rbar``. The
centroids of ``n`` integer pixels lie on a grid ``n`` times finer (fine index = the sum of the
pixel coordinates), so order ``n`` gives an image ``(n (H - 1) + 1, n (W - 1) + 1)``. Noise that
is independent between pixels adds nothing to a cross-cumulant of distinct pixels, so these
images carry no shot-noise bias.

Combinations (:func:`xc_combinations`): for each of the ``n^2`` sub-pixel phases, the sets of
``n`` distinct pixels from the neighbourhood ``[-R, R + 1]^2`` around the base pixel whose
coordinates sum to the phase, with the smallest total squared distance to their centroid (ties
kept: the best combinations of Leutenegger's sofipackage ``mcSofiGrids``, without pixel
repetitions). Every fine pixel is the mean of its distance-corrected combinations that lie
inside the frame (the flat-field correction for their different numbers); fine pixels without
one are 0 and ``False`` in ``defined``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import dask
import dask.array as da
import numpy as np

from sofi_dask._cpus import threaded_compute
from sofi_dask._validation import check_int, check_real, fail
from sofi_dask.errors import InputError
from sofi_dask.stats._fold_graph import _check_split_every
from sofi_dask.stats._moments import as_movie_array, check_frames
from sofi_dask.stats._xc_sofi_graph import xc_stack

__all__ = ["XCCumulants", "xc_combinations", "xc_cumulants", "xc_video"]

# order-2 pairs about the base pixel, straight (sum of squared distances 2) and diagonal (4):
# their image sums differ by exactly exp(1 / sigma^2) (same virtual pixels), which gives sigma
_SIGMA_PAIRS = np.array(
    [[[0, -1], [0, 1]], [[-1, 0], [1, 0]], [[-1, -1], [1, 1]], [[-1, 1], [1, -1]]]
)


_MAX_TILE = 512


@lru_cache(maxsize=32)
def _combinations(order: int, radius: int) -> tuple[tuple[tuple[int, int], tuple, float], ...]:
    cands = [(y, x) for y in range(-radius, radius + 2) for x in range(-radius, radius + 2)]
    out = []
    for a, b in itertools.product(range(order), repeat=2):
        found = []
        for combo in itertools.combinations(cands, order):
            if sum(p[0] for p in combo) == a and sum(p[1] for p in combo) == b:
                d2 = sum((p[0] - a / order) ** 2 + (p[1] - b / order) ** 2 for p in combo)
                found.append((round(d2, 9), combo))
        best = min((d for d, _ in found), default=None)
        out.extend(((a, b), combo, d2) for d2, combo in found if d2 == best)
    return tuple(out)


def xc_combinations(order: int, neighbourhood: int = 1) -> list[dict[str, Any]]:
    """The pixel combinations of :func:`xc_cumulants` for one order.

    Parameters
    ----------
    order : int
        Cumulant order, 2..4.
    neighbourhood : int
        ``R``: pixels are taken from offsets ``[-R, R + 1]`` along each axis from the base
        pixel (``R = 1``: a 4 x 4 neighbourhood).

    Returns
    -------
    list of dict
        One per combination: ``phase`` (sub-pixel position ``(a, b)``, the virtual pixel is
        ``base + (a, b) / order``), ``offsets`` (the ``order`` pixel offsets from the base) and
        ``distance2`` (the sum of squared pixel distances to the virtual pixel).

    Examples
    --------
    >>> [(c["phase"], c["offsets"]) for c in xc_combinations(2)][:2]
    [((0, 0), ((-1, 0), (1, 0))), ((0, 0), ((0, -1), (0, 1)))]
    >>> len(xc_combinations(2)), len(xc_combinations(3)), len(xc_combinations(4))
    (6, 18, 30)
    """
    order = check_int(order, "order", minimum=2, maximum=4)
    radius = check_int(neighbourhood, "neighbourhood", minimum=0, maximum=3)
    return [
        {"phase": phase, "offsets": combo, "distance2": d2}
        for phase, combo, d2 in _combinations(order, radius)
    ]


@dataclasses.dataclass
class XCCumulants:
    """Result of :func:`xc_cumulants` (lazy arrays for dask input; compute them together).

    Attributes
    ----------
    images : dict[int, Array]
        Order -> distance-corrected cross-cumulant image on the fine grid
        ``(n (H - 1) + 1, n (W - 1) + 1)``, float64.
    defined : dict[int, Array]
        Order -> bool, fine pixels with at least one combination inside the frame.
    psf_sigma : float or Array
        The PSF sigma (pixels) used for the distance factors: as given, or estimated.
    sigma_estimated : bool
        Whether ``psf_sigma`` was estimated from the data.
    combinations : dict[int, list[dict]]
        Order -> the combinations used (:func:`xc_combinations`).
    """

    images: dict[int, Any]
    defined: dict[int, Any]
    psf_sigma: Any
    sigma_estimated: bool
    combinations: dict[int, list[dict[str, Any]]]


def _check_orders(order: Any) -> tuple[int, ...]:
    orders = [order] if not isinstance(order, Sequence | np.ndarray) else list(order)
    if not orders:
        raise fail("order", "an order 2..4 or a sequence of them", order)
    return tuple(sorted({check_int(o, "order", minimum=2, maximum=4) for o in orders}))


def _valid_axis(index: np.ndarray, offs: np.ndarray, size: int) -> np.ndarray:
    return (index + offs.min() >= 0) & (index + offs.max() < size)


def _phase_counts(
    rows: np.ndarray, cols: np.ndarray, order: int, combos: list[dict[str, Any]], shape: tuple
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per fine pixel of a block, the number of combinations inside the frame, and the
    validity (rows, cols) of each combination on the block's base pixels."""
    count = np.zeros((order * rows.size, order * cols.size))
    valids = []
    for c in combos:
        off = np.asarray(c["offsets"])
        valid = (
            _valid_axis(rows, off[:, 0], shape[0])[:, None]
            & _valid_axis(cols, off[:, 1], shape[1])[None, :]
        )
        a, b = c["phase"]
        count[a::order, b::order] += valid
        valids.append(valid)
    return count, valids


def _defined_block(
    rows: np.ndarray, cols: np.ndarray, *, order: int, combos: list, shape: tuple, **_: Any
) -> np.ndarray:
    return _phase_counts(rows, cols, order, combos, shape)[0] > 0


def _fine_block(
    stack: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    sigma: Any,
    *,
    order: int,
    first: int,
    combos: list[dict[str, Any]],
    shape: tuple[int, int],
) -> np.ndarray:
    """Fine-grid block (order * rows, order * cols) of one order from the raw stack block:
    the mean of the distance-corrected combinations inside the frame."""
    sigma = float(np.asarray(sigma))
    count, valids = _phase_counts(rows, cols, order, combos, shape)
    out = np.zeros_like(count)
    for k, (c, valid) in enumerate(zip(combos, valids, strict=True)):
        a, b = c["phase"]
        factor = np.exp(c["distance2"] / (2.0 * sigma * sigma))
        out[a::order, b::order] += np.where(valid, stack[first + k] * factor, 0.0)
    return np.divide(out, count, out=np.zeros_like(out), where=count > 0)


def _sigma_from_sums(s_straight: Any, s_diagonal: Any) -> float:
    s1, s2 = float(s_straight), float(s_diagonal)
    if not (s1 > 0 and s2 > 0 and s1 > s2 and np.isfinite(s1 / s2)):
        raise InputError(
            "parameter 'psf_sigma': expected a PSF sigma, got None and the data do not "
            f"determine one (order-2 cross-cumulant sums at pixel distances 1 and sqrt(2): "
            f"{s1:.4g}, {s2:.4g}; the first must be larger and both positive); pass psf_sigma"
        )
    return float(np.sqrt(1.0 / np.log(s1 / s2)))


def xc_cumulants(
    data: Any,
    order: int | Sequence[int] = (2, 3, 4),
    *,
    psf_sigma: float | None = None,
    neighbourhood: int = 1,
    frames: tuple[int, int] | None = None,
    split_every: int | None = None,
) -> XCCumulants:
    """Cross-cumulant SOFI images with virtual pixels, every order in one pass over the movie.

    Joint cumulants of ``n`` distinct pixels (moment estimators about the per-pixel mean, as
    :func:`sofi_dask.cumulants`), each divided by its distance factor
    ``exp(-sum_j |r_j - rbar|^2 / (2 psf_sigma^2))`` and placed at the centroid ``rbar`` of its
    pixels (Dertinger et al., PNAS 2010): an image ``order`` times finer than the frame, free
    of the shot-noise bias of auto-cumulants. See the module notes for the combinations.

    Parameters
    ----------
    data : array, shape (t, y, x)
        dask or numpy array (or ``Movie``) of any integer or float dtype. Spatial chunks are
        the tiles (a halo of ``neighbourhood + 1`` pixels is added).
    order : int or sequence of int
        Orders 2..4, all computed from one read of the movie.
    psf_sigma : float, optional
        Gaussian PSF sigma in pixels. Default: estimated from the data as
        ``1 / sqrt(ln(S_1 / S_2))`` with ``S_1``, ``S_2`` the image sums of the order-2
        cross-cumulants of pixel pairs at distance 1 and ``sqrt(2)`` about the same virtual
        pixels (their ratio is exactly ``exp(1 / sigma^2)`` for a Gaussian PSF).
    neighbourhood : int
        ``R`` in 0..3: pixels from offsets ``[-R, R + 1]`` around the base pixel (default 1).
    frames : (int, int), optional
        Frames ``start..end-1``; default all.
    split_every : int, optional
        Fan-in of the merge tree along ``t`` (default 8).

    Returns
    -------
    XCCumulants
        ``images[n]`` and ``defined[n]`` of shape ``(n (H - 1) + 1, n (W - 1) + 1)``,
        ``psf_sigma`` (given or estimated), ``combinations``. Lazy for dask input.

    Raises
    ------
    InputError
        A bad ``order``, ``psf_sigma``, ``neighbourhood`` or ``frames``; frames smaller than
        3 x 3; fewer frames than the highest order; (at compute time) a PSF sigma that cannot
        be estimated from the data.

    Notes
    -----
    Memory: a tile's state holds one product-sum image per shape (70 for orders 2..4) over the
    tile and its halo, ``70 x (T + 2 h)^2 x 8`` bytes; spatial chunks larger than
    ``512`` pixels are split into tiles of 512 (150 MB states). With ``psf_sigma=None`` the raw
    per-combination images ``(58, H, W)`` float64 wait for the sigma, which needs all of them
    (1.9 GB for 2048 x 2048 frames); pass ``psf_sigma`` to stream the fine images tile by tile.

    Examples
    --------
    >>> t = np.random.default_rng(0).poisson(2.0, 400).astype(float)
    >>> yy, xx = np.mgrid[0:7, 0:7]
    >>> movie = t[:, None, None] * np.exp(-((yy - 3) ** 2 + (xx - 3) ** 2) / (2 * 1.2**2))
    >>> xc = xc_cumulants(movie, 2)
    >>> xc.images[2].shape, round(float(xc.psf_sigma), 6)
    ((13, 13), 1.2)
    """
    arr, lazy = as_movie_array(data)
    start, end = check_frames(frames, arr.shape[0])
    orders = _check_orders(order)
    radius = check_int(neighbourhood, "neighbourhood", minimum=0, maximum=3)
    if psf_sigma is not None:
        psf_sigma = check_real(psf_sigma, "psf_sigma", minimum=0.0, inclusive=False)
    every = _check_split_every(split_every)
    _, height, width = arr.shape
    if height < 3 or width < 3:
        raise fail("data", "frames of at least 3 x 3 pixels", arr.shape)
    if end - start < max(orders):
        raise fail("frames", f"at least {max(orders)} frames for order {max(orders)}", end - start)
    x = arr if lazy else da.from_array(arr, chunks=(max(1, min(arr.shape[0], 256)), -1, -1))
    if (start, end) != (0, x.shape[0]):
        x = x[start:end]
    for axis in (1, 2):  # bounded tile states (see Notes)
        if max(x.chunks[axis]) > _MAX_TILE:
            x = x.rechunk({axis: _MAX_TILE})
    combos = {n: xc_combinations(n, radius) for n in orders}
    offsets = [np.asarray([c["offsets"] for c in combos[n]], dtype=np.int64) for n in orders]
    estimate = psf_sigma is None
    if estimate:
        offsets.append(_SIGMA_PAIRS.astype(np.int64))
    stack = xc_stack(x, offsets, max(radius + 1, 1), every)
    if estimate:
        k0 = sum(len(combos[n]) for n in orders)
        inner = stack[k0 : k0 + 4, 1 : height - 1, 1 : width - 1].sum(axis=(1, 2))
        sigma: Any = da.from_delayed(
            dask.delayed(_sigma_from_sums)(inner[0] + inner[1], inner[2] + inner[3]),
            shape=(),
            dtype=np.float64,
        )
    else:
        sigma = da.from_array(np.asarray(psf_sigma, dtype=np.float64))
    rows = da.arange(height, chunks=(stack.chunks[1],))
    cols = da.arange(width, chunks=(stack.chunks[2],))
    stack = stack.rechunk({0: -1})
    images, defined = {}, {}
    first = 0
    for n in orders:
        common = dict(order=n, first=first, combos=combos[n], shape=(height, width))
        crop = (slice(0, n * (height - 1) + 1), slice(0, n * (width - 1) + 1))
        images[n] = da.blockwise(
            _fine_block,
            "yx",
            stack,
            "cyx",
            rows,
            "y",
            cols,
            "x",
            sigma,
            "",
            dtype=np.float64,
            adjust_chunks={"y": lambda c, n=n: n * c, "x": lambda c, n=n: n * c},
            concatenate=True,
            **common,
        )[crop]
        defined[n] = da.blockwise(
            _defined_block,
            "yx",
            rows,
            "y",
            cols,
            "x",
            dtype=bool,
            adjust_chunks={"y": lambda c, n=n: n * c, "x": lambda c, n=n: n * c},
            **common,
        )[crop]
        first += len(combos[n])
    result = XCCumulants(
        images=images,
        defined=defined,
        psf_sigma=sigma if estimate else float(psf_sigma),
        sigma_estimated=estimate,
        combinations=combos,
    )
    if lazy:
        return result
    (imgs, dfs, sig) = threaded_compute(images, defined, sigma)
    return dataclasses.replace(result, images=imgs, defined=dfs, psf_sigma=float(sig))


def xc_video(
    data: Any,
    order: int | Sequence[int] = (2, 3, 4),
    *,
    window: int,
    step: int | None = None,
    psf_sigma: float | None = None,
    neighbourhood: int = 1,
) -> dict[int, Any]:
    """SOFI video of cross-cumulants with virtual pixels: :func:`xc_cumulants` per window.

    Windows as :func:`sofi_dask.video_windows` (``w * step .. w * step + window - 1``); each
    window is one ``frames`` range of :func:`xc_cumulants`, so adjacent windows (the default
    ``step = window``) read every frame once. Without ``psf_sigma`` each window estimates its
    own.

    Returns
    -------
    dict[int, Array]
        Order -> ``(n_windows, n (H - 1) + 1, n (W - 1) + 1)`` float64 stack; lazy for dask
        input.

    Examples
    --------
    >>> movie = np.random.default_rng(1).poisson(5.0, (40, 5, 5)).astype(float)
    >>> xc_video(movie, 2, window=20, psf_sigma=1.0)[2].shape
    (2, 9, 9)
    """
    from sofi_dask.stats._video import video_windows

    arr, lazy = as_movie_array(data)
    windows = video_windows(arr.shape[0], window, step)
    x = arr if lazy else da.from_array(arr, chunks=(max(1, min(arr.shape[0], 256)), -1, -1))
    parts = [
        xc_cumulants(x, order, psf_sigma=psf_sigma, neighbourhood=neighbourhood, frames=w)
        for w in windows
    ]
    video = {n: da.stack([p.images[n] for p in parts]) for n in parts[0].images}
    if lazy:
        return video
    (out,) = threaded_compute(video)
    return out
