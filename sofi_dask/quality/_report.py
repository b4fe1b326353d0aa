"""The quality section of a run: FRC, decorrelation, error maps and convergence, one pass.

:func:`quality_report` works on finished images (whatever made them); :func:`movie_quality`
makes them from a movie with one pass (whole movie, two interleaved halves and prefixes from
the same per-block moment states, :func:`sofi_dask.split_moment_stacks`).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np

from sofi_dask._cpus import one_blas_thread, task_threads
from sofi_dask._validation import check_int, fail
from sofi_dask.quality._common import Scratch, check_pixel_size
from sofi_dask.quality._convergence import ConvergenceResult, convergence_from_stacks
from sofi_dask.quality._decorrelation import DecorrelationResult, measure_decorrelation
from sofi_dask.quality._error_map import ErrorMapResult, Reference, measure_error_map
from sofi_dask.quality._frc import FRCResult, measure_frc
from sofi_dask.quality._split import split_moment_stacks
from sofi_dask.stats._cumulants import cumulant_stack

__all__ = ["QualityReport", "movie_quality", "quality_report"]


@dataclasses.dataclass(frozen=True)
class QualityReport:
    """Quality measures per image.

    Attributes
    ----------
    frc : dict[str, FRCResult]
        Image name -> FRC of its two halves (only images with halves).
    decorrelation : dict[str, DecorrelationResult]
        Image name -> decorrelation resolution of the whole-movie image.
    error_maps : dict[str, ErrorMapResult]
        Image name -> error map against the average image (not for the average itself).
    convergence : ConvergenceResult or None
        Relative change per doubling of the frames.
    pixel_size : float or None
        Pixel size of the input grid.
    """

    frc: dict[str, FRCResult]
    decorrelation: dict[str, DecorrelationResult]
    error_maps: dict[str, ErrorMapResult]
    convergence: ConvergenceResult | None
    pixel_size: float | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON section (resolutions in pixels and in the pixel size's unit; no arrays).

        Examples
        --------
        >>> img = np.random.default_rng(0).random((32, 32))
        >>> sorted(quality_report(img, {"x": img}).to_dict()["images"]["x"])
        ['decorrelation_resolution', 'decorrelation_resolution_pixels', 'rse', 'rsf_sigma', 'rsp']
        """
        names = list(dict.fromkeys([*self.frc, *self.decorrelation, *self.error_maps]))
        images: dict[str, dict[str, Any]] = {}
        for name in names:
            entry: dict[str, Any] = {}
            if name in self.frc:
                r = self.frc[name]
                entry["frc_resolution_pixels"] = r.resolution_pixels
                entry["frc_resolution"] = r.resolution
                entry["frc_threshold"] = r.threshold
            if name in self.decorrelation:
                d = self.decorrelation[name]
                entry["decorrelation_resolution_pixels"] = d.resolution_pixels
                entry["decorrelation_resolution"] = d.resolution
            if name in self.error_maps:
                e = self.error_maps[name]
                entry.update(rse=e.rse, rsp=e.rsp, rsf_sigma=e.sigma)
            images[name] = entry
        return {
            "pixel_size": self.pixel_size,
            "images": images,
            "convergence": None if self.convergence is None else self.convergence.to_dict(),
        }


def quality_report(
    average: Any,
    images: Mapping[str, Any],
    *,
    halves: Mapping[str, tuple[Any, Any]] | None = None,
    pixel_size: float | None = None,
    threshold: str = "1/7",
    decorrelation: bool = True,
    error_maps: bool = True,
    convergence: ConvergenceResult | None = None,
) -> QualityReport:
    """Quality measures of finished images: FRC of halves, decorrelation, error maps.

    Parameters
    ----------
    average : array, shape (y, x)
        The average image (reference of the error maps; on the input grid).
    images : mapping of str to array
        Name -> whole-movie image (e.g. ``"cumulants_order2"``); each may be on a grid finer than
        ``average`` (H pixels a side) by an integer factor ``m``: ``m H`` pixels, or ``(H - 1) m
        + 1`` (Fourier interpolation keeps the input samples), either way of pixel size
        ``pixel_size / m``. Error maps are made for images on the average's grid or on an
        ``m H`` grid (the others get none). Include ``"average"`` to measure it too.
    halves : mapping of str to (array, array), optional
        Name -> the image from half A and from half B (for FRC).
    pixel_size : float, optional
        Pixel size of ``average``'s grid (images on finer grids are scaled by their factor).
    threshold : {"1/7", "half-bit"}
        FRC threshold.
    decorrelation, error_maps : bool
        Compute them (default).
    convergence : ConvergenceResult, optional
        Carried into the report.

    Returns
    -------
    QualityReport

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> avg = rng.random((32, 32))
    >>> report = quality_report(avg, {"average": avg}, halves={"average": (avg, avg)})
    >>> report.frc["average"].resolution is None  # identical halves: never below 1/7
    True
    """
    pixel = check_pixel_size(pixel_size)
    ref = np.asarray(average, dtype=np.float64)

    def scale_of(shape: tuple[int, ...]) -> float | None:
        return None if pixel is None else pixel / _grid_factor(ref.shape, shape)

    frcs: dict[str, FRCResult] = {}
    decs: dict[str, DecorrelationResult] = {}
    errs: dict[str, ErrorMapResult] = {}
    jobs: list[tuple[dict[str, Any], str, Any]] = []
    for name, (a, b) in (halves or {}).items():
        a = np.asarray(a, dtype=np.float64)
        jobs.append((frcs, name, partial(measure_frc, a, b, scale_of(a.shape), threshold)))
    reference = None  # prepared once (centred, transformed) for every error map
    for name, image in images.items():
        img = np.asarray(image, dtype=np.float64)
        if decorrelation and min(img.shape) >= 16:
            jobs.append((decs, name, partial(measure_decorrelation, img, scale_of(img.shape))))
        on_multiple = all(s % r == 0 for s, r in zip(img.shape, ref.shape, strict=False))
        if error_maps and name != "average" and on_multiple:
            reference = reference or Reference(ref)
            jobs.append((errs, name, partial(measure_error_map, reference, img)))
    # FFTs and filters release the GIL: the images are measured in parallel threads, each with
    # one BLAS thread (the error maps' matrix products; more would oversubscribe the CPUs) and
    # its own work buffers, reused from image to image (see quality._common.Scratch)
    local = threading.local()

    def measure(fn: Any) -> Any:
        if not hasattr(local, "scratch"):
            local.scratch = Scratch()
        return fn(scratch=local.scratch)

    with one_blas_thread(), ThreadPoolExecutor(max_workers=task_threads(len(jobs))) as pool:
        futures = [(out, name, pool.submit(measure, fn)) for out, name, fn in jobs]
        for out, name, future in futures:
            out[name] = future.result()
    return QualityReport(frcs, decs, errs, convergence, pixel)


def _grid_factor(ref_shape: tuple[int, ...], shape: tuple[int, ...]) -> float:
    """How much finer a grid of ``shape`` is than one of ``ref_shape`` (first axis): ``m`` for
    ``m H`` or ``(H - 1) m + 1`` pixels (integer ``m``), else the ratio of the sizes.

    Examples
    --------
    >>> _grid_factor((32, 32), (64, 64)), _grid_factor((32, 32), (63, 63))
    (2.0, 2.0)
    """
    h, n = int(ref_shape[0]), int(shape[0])
    if n % h == 0:
        return float(n // h)
    if h > 1 and (n - 1) % (h - 1) == 0:
        return float((n - 1) // (h - 1))
    return n / h


def movie_quality(
    data: Any,
    max_order: int,
    *,
    statistic: str = "cumulants",
    block_frames: int = 100,
    pixel_size: float | None = None,
    threshold: str = "1/7",
    absolute: bool = True,
    **compute_kwargs: Any,
) -> QualityReport:
    """Quality of a movie's average and SOFI images of orders 2..``max_order``, one pass.

    Parameters
    ----------
    data : array, shape (t, y, x)
        dask or numpy array (or ``Movie``).
    max_order : int
        Highest order (>= 2).
    statistic : {"cumulants", "moments"}
        Which SOFI images.
    block_frames : int
        Frames per block of the interleaved halves (well above the blinking correlation time).
    pixel_size : float, optional
        Pixel size (e.g. micrometres).
    threshold : {"1/7", "half-bit"}
        FRC threshold.
    absolute : bool
        Measure ``|image|`` (SOFI images are magnitudes; default).
    **compute_kwargs
        Passed to ``dask.compute`` (e.g. ``scheduler=``).

    Returns
    -------
    QualityReport
        Images named ``"average"`` and ``"<statistic>_order<k>"``.

    Examples
    --------
    >>> from sofi_dask.simulate import simulate_movie
    >>> movie = simulate_movie(n_frames=400, frame_shape=(48, 48), seed=1).data
    >>> report = movie_quality(movie, 2, block_frames=50)
    >>> sorted(report.frc), report.convergence.frames.tolist()
    (['average', 'cumulants_order2'], [50, 100, 200, 400])
    """
    max_order = check_int(max_order, "max_order", minimum=2)
    if statistic not in ("cumulants", "moments"):
        raise fail("statistic", "one of ['cumulants', 'moments']", statistic)
    split = split_moment_stacks(data, max_order, block_frames=block_frames)
    if not isinstance(split.full, np.ndarray):
        split = split.compute(**compute_kwargs)

    def layers(stack: np.ndarray) -> np.ndarray:
        return cumulant_stack(stack) if statistic == "cumulants" else np.asarray(stack)

    full, a, b = layers(split.full), layers(split.half_a), layers(split.half_b)
    mag = np.abs if absolute else np.asarray
    images: dict[str, Any] = {"average": full[0]}
    halves: dict[str, tuple[Any, Any]] = {"average": (a[0], b[0])}
    for k in range(2, max_order + 1):
        name = f"{statistic}_order{k}"
        images[name] = mag(full[k])
        halves[name] = (mag(a[k]), mag(b[k]))
    conv = convergence_from_stacks(split.prefixes, statistic=statistic)
    return quality_report(
        full[0],
        images,
        halves=halves,
        pixel_size=pixel_size,
        threshold=threshold,
        convergence=conv,
    )
