"""Build the pipeline's single lazy Dask graph, recording which stage made each graph layer."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import dask.array as da
import numpy as np

from sofi_dask.pipeline._outputs import ImageSpec
from sofi_dask.pipeline._plan import Plan

logger = logging.getLogger(__name__)

_DESCRIPTIONS = {
    "average": "average image of the movie (input grid)",
    "moments": "order-{k} central moment image",
    "cumulants": "order-{k} cumulant image",
    "noise_filter_1": "order-{k} SOFI video after noise filter 1 (along windows)",
    "deconvolution": "order-{k} image after shrinking-kernel deconvolution",
    "noise_filter_2": "order-{k} SOFI video after noise filter 2 (along windows)",
    "ldrc": "order-{k} image after local dynamic range compression",
}


def _layers(arr: Any) -> set[str]:
    graph = arr.__dask_graph__()
    layers = getattr(graph, "layers", None)
    if layers is not None:
        return set(layers)
    return {k[0] if isinstance(k, tuple) else str(k) for k in graph}


@dataclass
class StageGraph:
    """Lazy outputs of a run and the bookkeeping needed to time and describe them."""

    arrays: dict[str, da.Array] = field(default_factory=dict)
    specs: dict[str, ImageSpec] = field(default_factory=dict)
    stage_of_layer: dict[str, str] = field(default_factory=dict)
    finals: dict[int, str] = field(default_factory=dict)
    blocks: list[tuple[int, int]] | None = None
    signal: np.ndarray | None = None

    def claim(self, stage: str, *arrays: Any) -> None:
        """Attribute every not-yet-claimed graph layer of ``arrays`` to ``stage``."""
        for arr in arrays:
            if isinstance(arr, da.Array):
                for name in _layers(arr):
                    self.stage_of_layer.setdefault(name, stage)

    def add(self, arr: da.Array, spec: ImageSpec, keep: bool, stage: str) -> None:
        self.claim(stage, arr)
        if keep:
            self.arrays[spec.name] = arr
            self.specs[spec.name] = spec


def _as_dask(arr: Any) -> da.Array:
    if isinstance(arr, da.Array):
        return arr
    return da.from_array(np.asarray(arr), chunks=-1)


def build_graph(movie: Any, plan: Plan) -> StageGraph:
    """Build every kept output of ``plan`` on ``movie`` as lazy dask arrays (nothing computed
    except the per-frame total signal needed to cut bleaching blocks).

    Parameters
    ----------
    movie : sofi_dask.io.Movie
        The opened input movie.
    plan : Plan
        What to compute.

    Returns
    -------
    StageGraph
    """
    from sofi_dask.image import _masks as masks
    from sofi_dask.stats import _moments as moments

    g = StageGraph()
    data = movie.data
    g.claim("read", data)
    if plan.frames is not None:
        start, end = plan.frames
        data = data[start:end]
        g.claim("read", data)
    pixel = movie.pixel_size
    unit = "micrometer" if pixel else None
    base = float(pixel) if pixel else 1.0
    factor = plan.finterp_factor
    grid = base / factor

    def spec(stage: str, order: int | None, ndim: int, step: int = 1) -> ImageSpec:
        name = stage if order is None else f"{stage}_order{order}"
        desc = _DESCRIPTIONS[stage].format(k=order)
        if stage == "average":
            scale: tuple[float, ...] = (base, base)
        else:
            scale = (grid, grid)
        axes: tuple[str, ...] = ("y", "x")
        if ndim == 3:
            axes = ("t", "y", "x")
            scale = (float(step), *scale)
        attrs = {"interpolation_factor": 1 if stage == "average" else factor}
        return ImageSpec(name, stage, order, axes, scale, unit, desc, attrs)

    # average image on the input grid: LDRC mask and a kept output
    average = moments.average_image(data)
    g.add(average, spec("average", None, 2), plan.keeps("average"), "average")

    # bleaching: blocks from the per-frame total signal (ingestion statistics when present)
    if plan.bleach:
        from sofi_dask.stats import _bleaching as bleaching

        source = movie if plan.frames is None else data
        g.signal = np.asarray(moments.total_signal(source), dtype=np.float64)
        g.blocks = [
            (int(a), int(b))
            for a, b in bleaching.bleaching_blocks(
                g.signal,
                fbc=plan.fbc,
                kernel_size=plan.bleach_kernel,
                min_frames=plan.bleach_min_frames,
            )
        ]
        logger.info("bleaching correction: %d blocks", len(g.blocks))
        short = [(a, b) for a, b in g.blocks if b - a < plan.max_order]
        if short and plan.bleach_method == "blocks" and not plan.video:
            a, b = short[0]
            raise ValueError(
                f"bleaching.min_block_frames: the block of frames [{a}, {b}) has {b - a} "
                f"frames, fewer than order {plan.max_order} needs ({len(g.blocks)} blocks from "
                f"fbc={plan.fbc}); use a larger bleaching.min_block_frames or bleaching.fbc, "
                "lower orders, or bleaching.enabled = false"
            )

    work = data
    block_stats = plan.bleach and plan.bleach_method == "blocks" and not plan.video
    if plan.bleach and not block_stats:
        # "correct" (or a SOFI video, whose windows each use their own mean): the lazily
        # corrected movie, pysofi's correct_bleaching
        work = bleaching.correct_bleaching(work, g.blocks)
        g.claim("bleaching", work)
    if factor > 1:
        from sofi_dask.image._finterp import interpolate_movie

        work = interpolate_movie(work, factor)
        g.claim("finterp", work)

    # moments / cumulants, whole movie or SOFI video
    stat = plan.statistic
    ndim, step = 2, 1
    if plan.video:
        from sofi_dask.stats._video import sofi_video

        step = plan.step or plan.window
        per_order = sofi_video(work, plan.max_order, window=plan.window, step=step, statistic=stat)
        ndim = 3
    elif block_stats:
        block_fn = bleaching.block_moments if stat == "moments" else bleaching.block_cumulants
        per_order = bleaching.block_average(block_fn(work, plan.max_order, g.blocks))
    else:
        from sofi_dask.stats._cumulants import cumulants

        fn = moments.central_moments if stat == "moments" else cumulants
        per_order = fn(work, plan.max_order)
    current: dict[int, da.Array] = {}
    for k in plan.orders:
        arr = _as_dask(per_order[k])
        g.add(arr, spec(stat, k, ndim, step), plan.keeps("statistic"), "statistic")
        current[k] = arr
        g.finals[k] = f"{stat}_order{k}"

    def stage(name: str, fn: Any) -> None:
        for k in plan.orders:
            arr = _as_dask(fn(current[k]))
            g.add(arr, spec(name, k, ndim, step), plan.keeps(name), name)
            current[k] = arr
            g.finals[k] = f"{name}_order{k}"

    def magnitude(a: Any) -> Any:
        # SOFI images are magnitudes; deconvolution would floor negative cumulants at eps
        return abs(a) if plan.absolute else a

    from sofi_dask.image._filtering import noise_filter1d

    if plan.video and plan.filter1:
        k1 = masks.gauss1d_mask(*plan.filter1)
        stage("noise_filter_1", lambda a: noise_filter1d(a, k1, axis=0))
    if plan.deconv:
        from sofi_dask.image._deconv import deconvsk

        psf = plan.psf()
        stage(
            "deconvolution",
            lambda a: deconvsk(
                magnitude(a), psf, lam=plan.deconv_lambda, iterations=plan.deconv_iterations
            ),
        )
    if plan.video and plan.filter2:
        k2 = masks.gauss1d_mask(*plan.filter2)
        stage("noise_filter_2", lambda a: noise_filter1d(a, k2, axis=0))
    if plan.ldrc:
        from sofi_dask.image._ldrc import ldrc

        # the average image lives on the input grid: ldrc resamples it (cubic, as pysofi,
        # lazily) onto the Fourier-interpolated grid when the factor is > 1
        ldrc_order = factor
        if plan.ldrc_mask == "average":
            mask = average
        else:  # "order<k>": the statistic image of order k, on the reconstruction grid
            mask = _as_dask(per_order[int(plan.ldrc_mask[5:])])
            mask = magnitude(mask.mean(axis=0) if mask.ndim == 3 else mask)
            ldrc_order = 1
        g.claim("ldrc", mask)
        stage(
            "ldrc",
            lambda a: ldrc(magnitude(a), mask, order=ldrc_order, window_size=plan.ldrc_window),
        )
    return g
