"""Build the pipeline's single lazy Dask graph, recording which stage made each graph layer."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

from sofi_dask.errors import ConfigError
from sofi_dask.pipeline._config_models import PipelineConfig, PsfConfig
from sofi_dask.pipeline._methods_graph import (
    FIT_METHODS,
    bleaching_method,
    block_average_tree,
    bsofi_maps,
    xc_spec,
    xc_statistic,
)
from sofi_dask.pipeline._outputs import ImageSpec

logger = logging.getLogger(__name__)

_DESCRIPTIONS = {
    "average": "average image of the movie (input grid)",
    "moments": "order-{k} central moment image",
    "cumulants": "order-{k} cumulant image",
    "xc_cumulants": "order-{k} cross-cumulant image (virtual pixels, grid {k} times finer)",
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
    drift: Any = None  # DriftResult when drift.enabled
    quality: Any = None  # pipeline._quality.QualityGraph when quality.enabled
    quality_skipped: str | None = None  # why quality.enabled measures nothing in this run
    bleaching_fit: Any = None  # stats.BleachingFit when bleaching.method is exp/biexp

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


def load_psf(psf: PsfConfig) -> np.ndarray:
    """The deconvolution PSF: a Gaussian (MATLAB ``fspecial``) or the image in ``psf.path``.

    Examples
    --------
    >>> load_psf(PsfConfig(size=5, sigma_px=1.0)).shape
    (5, 5)
    """
    if psf.kind == "gaussian" and psf.path is not None:  # a path is never ignored silently
        raise ConfigError(
            "deconvolution.psf.kind", f"expected 'file' since path = {psf.path!r}, got 'gaussian'"
        )
    if psf.kind != "file" or psf.path is None:
        from sofi_dask.image._masks import gauss2d_mask

        return gauss2d_mask((psf.size, psf.size), psf.sigma_px)
    path = Path(psf.path)
    if not path.is_file():
        raise FileNotFoundError(f"deconvolution.psf.path: {path} does not exist")
    try:
        if path.suffix.lower() == ".npy":
            image = np.load(path, allow_pickle=False)
        else:
            import tifffile

            image = tifffile.imread(path)
    except (ValueError, OSError) as exc:  # tifffile's TiffFileError is a ValueError
        raise ConfigError(
            "deconvolution.psf.path",
            f"expected a PSF image (.npy or TIFF), got {str(path)!r}, which cannot be read ({exc})",
        ) from None
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or not np.all(np.isfinite(image)) or image.max() <= 0:
        raise ConfigError(
            "deconvolution.psf.path",
            f"expected a finite 2-D image with a positive maximum, got shape {image.shape} "
            f"from {path}",
        )
    return image


def _covers(windows: Any, n: int) -> bool:
    """True when the frame windows partition ``0..n-1`` (bleaching blocks do)."""
    ends = [0] + [b for _, b in windows]
    return all(a == e for (a, _), e in zip(windows, ends, strict=False)) and ends[-1] == n


def build_graph(movie: Any, config: PipelineConfig) -> StageGraph:
    """Build every kept output of ``config`` on ``movie`` as lazy dask arrays (nothing computed
    except the per-frame total signal needed to cut bleaching blocks).

    Parameters
    ----------
    movie : sofi_dask.io.Movie
        The opened input movie.
    config : PipelineConfig
        What to compute.

    Returns
    -------
    StageGraph
    """
    from sofi_dask.image import _masks as masks
    from sofi_dask.stats import _moments as moments
    from sofi_dask.stats._bsofi import linearise

    bleach = config.bleaching
    d = config.deconvolution
    nf1, nf2 = config.noise_filter_1, config.noise_filter_2
    frames = config.statistic.frames
    g = StageGraph()
    data = movie.data
    g.claim("read", data)
    if frames is not None:
        start, end = frames
        n = int(data.shape[0])
        if not 0 <= start < end <= n:  # never clamped: run.json records what was computed
            raise ConfigError(
                "statistic.frames",
                f"expected [start, end) within the {n} frames of {movie.path} "
                f"(0 <= start < end <= {n}), got [{start}, {end})",
            )
        data = data[start:end]
        g.claim("read", data)
    if config.video.enabled and config.video.window > data.shape[0]:
        within = " in statistic.frames" if frames is not None else ""
        raise ConfigError(
            "video.window",
            f"expected at most the {data.shape[0]} frames of {movie.path}{within}, "
            f"got {config.video.window}",
        )
    pixel = movie.pixel_size
    unit = "micrometer" if pixel else None
    base = float(pixel) if pixel else 1.0
    factor = config.finterp_factor
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

    # bleaching: blocks from the per-frame total signal (ingestion statistics when present)
    if bleach.enabled:
        from sofi_dask.stats import _bleaching as bleaching

        source = movie if frames is None else data
        g.signal = np.asarray(moments.total_signal(source), dtype=np.float64)
    if bleach.enabled and bleach.method not in FIT_METHODS:
        g.blocks = [
            (int(a), int(b))
            for a, b in bleaching.bleaching_blocks(
                g.signal,
                fbc=bleach.fbc,
                kernel_size=bleach.smooth_kernel,
                min_frames=bleach.min_block_frames,
            )
        ]
        logger.info("bleaching correction: %d blocks", len(g.blocks))
        short = [(a, b) for a, b in g.blocks if b - a < config.max_order]
        if short and not config.video.enabled and bleach.method == "blocks":
            a, b = short[0]
            raise ConfigError(
                "bleaching.min_block_frames",
                f"the block of frames [{a}, {b}) has {b - a} frames, fewer than order "
                f"{config.max_order} needs ({len(g.blocks)} blocks from fbc={bleach.fbc}); use a "
                "larger bleaching.min_block_frames or bleaching.fbc, lower orders, or "
                "bleaching.enabled = false",
            )

    work = data
    if config.drift.enabled:  # estimated now (one pass), corrected lazily per frame chunk
        from sofi_dask.pipeline._quality import drift_stage

        work, g.drift = drift_stage(work, config)
        g.claim("drift", work)
    avg_input = work  # the movie the average image is of: drift-corrected when asked
    block_stats = config.block_statistics
    # the average image on the input grid (LDRC mask, a kept output): its own reduction,
    # unless the bleaching correction's or the statistic's one pass gives it (below)
    average = None
    if bleach.enabled and bleach.method in FIT_METHODS:
        work, g.bleaching_fit = bleaching_method(work, config, g.signal)
        g.claim("bleaching", work)
    elif bleach.enabled and not block_stats:
        # "correct" (or a SOFI video, whose windows each use their own mean): the lazily
        # corrected movie, pysofi's correct_bleaching; the average image from its statistics
        if work is avg_input:
            work, average = bleaching.corrected_and_average(work, g.blocks)
        else:
            work = bleaching.correct_bleaching(work, g.blocks)
        g.claim("bleaching", work)
    # the moment stacks of the statistic: with --finterp, the interpolation fused into the
    # reduction (no interpolated chunk; `stat_input` is then the movie before interpolation)
    refs = getattr(movie, "chunk_refs", None) if work is data else None  # chunks read in
    if refs is not None and frames is not None:  # the moment tasks (io._chunk_refs)
        refs = refs[frames[0] : frames[1]]
    stat_input, stacks_of = work, partial(moments.moment_stacks, work, refs=refs)
    if factor > 1:
        from sofi_dask.image._finterp import interpolate_movie
        from sofi_dask.image._finterp_moments import finterp_moment_stacks

        stacks_of = partial(
            finterp_moment_stacks, work, factor=factor, dtype=config.finterp.precision
        )
        work = interpolate_movie(work, factor, dtype=config.finterp.precision)  # video, xc
        g.claim("finterp", work)

    # the input grid's samples of a mean image of the statistic's stacks: with --finterp the
    # interpolation keeps the input samples, so the average image is the stacks' mean there
    on_input = (slice(None, None, factor),) * 2

    # moments / cumulants, whole movie or SOFI video
    stat = config.statistic.kind
    ndim, step, xc = 2, 1, None
    is_xc = stat == "xc_cumulants"
    if is_xc:
        per_order, xc = xc_statistic(work, config, g.blocks if block_stats else None)
        if config.video.enabled:
            ndim, step = 3, config.video_step
    elif config.video.enabled:
        from sofi_dask.stats._video import sofi_video

        step = config.video_step
        per_order = sofi_video(
            work, config.max_order, window=config.video.window, step=step, statistic=stat
        )
        ndim = 3
    elif config.quality.enabled and work.shape[0] >= 2 * config.quality.block_frames:
        # the same statistic from sub-window states, with two interleaved halves for FRC
        from sofi_dask.pipeline._quality import split_statistic

        per_order, g.quality = split_statistic(
            stat_input, config, g.blocks if block_stats else None, stacks_of=stacks_of
        )
        if stat_input is avg_input and (not block_stats or _covers(g.blocks, data.shape[0])):
            average = g.quality.average[on_input]  # from the same states (one pass)
    else:
        # one pass: the moment stacks (per bleaching block or of the whole movie) hold each
        # window's mean image, so the average image comes from the same reduction
        from sofi_dask.stats._cumulants import cumulant_stack

        windows = g.blocks if block_stats else [(0, work.shape[0])]
        stacks = stacks_of(config.max_order, windows)
        with_average = stat_input is avg_input and _covers(windows, data.shape[0])
        if len(stacks) > 1:  # the block average (and the average image) from one sum tree
            per_order, total = block_average_tree(stacks, windows, stat != "moments")
            if with_average:
                average = total[on_input] / data.shape[0]
        else:
            if with_average:
                average = (windows[0][1] - windows[0][0]) * stacks[0][0][on_input] / data.shape[0]
            stack = cumulant_stack(stacks[0]) if stat != "moments" else stacks[0]
            per_order = {p: stack[p] for p in range(1, config.max_order + 1)}
    if config.quality.enabled and g.quality is None:
        from sofi_dask.pipeline._quality import skip_reason

        g.quality_skipped = skip_reason(config, work.shape[0])
    current: dict[int, da.Array] = {}
    for k in config.statistic.orders:
        arr = _as_dask(per_order[k])
        if config.statistic.linearise:
            arr = linearise(arr, k)
        sp = spec(stat, k, ndim, step)
        g.add(arr, xc_spec(sp, k) if is_xc else sp, config.keeps("statistic"), "statistic")
        current[k] = arr
        g.finals[k] = f"{stat}_order{k}"
    if g.quality is not None and config.statistic.linearise:
        g.quality.through(stat, lambda a, _h, k: linearise(a, k), record=True)
    if average is None:
        average = moments.average_image(avg_input)
    g.add(average, spec("average", None, 2), config.keeps("average"), "average")
    if config.statistic.bsofi:
        for arr, sp in bsofi_maps(per_order, xc, config, grid, unit):
            g.add(arr, sp, config.keeps("statistic"), "bsofi")

    def stage(name: str, fn: Any, half: Any = None) -> None:
        for k in config.statistic.orders:
            arr = _as_dask(fn(current[k], k))
            sp = spec(name, k, ndim, step)
            g.add(arr, xc_spec(sp, k) if is_xc else sp, config.keeps(name), name)
            current[k] = arr
            g.finals[k] = f"{name}_order{k}"
        if half is not None and g.quality is not None:  # the two halves of quality's FRC
            g.quality.through(name, half)

    def magnitude(a: Any) -> Any:
        # SOFI images are magnitudes; deconvolution would floor negative cumulants at eps
        return abs(a) if config.statistic.absolute else a

    from sofi_dask.image._filtering import noise_filter1d

    if config.video.enabled and config.noise_filter_1.enabled:
        k1 = masks.gauss1d_mask(nf1.kernel_size, nf1.sigma)
        stage("noise_filter_1", lambda a, _k: noise_filter1d(a, k1, axis=0))
    if d.enabled:
        from sofi_dask.image._deconv import deconvsk
        from sofi_dask.image._masks import order_psf

        side = max(int(s) for s in next(iter(current.values())).shape[-2:])
        limit = max(2 * side + 1, 129)  # a larger PSF only pads the image (and the FFTs)
        if d.psf.kind == "gaussian" and d.psf.path is None and d.psf.size > limit:
            raise ConfigError(  # before allocating it
                "deconvolution.psf.size",
                f"expected an odd size <= {limit} (for a deconvolved image of larger side "
                f"{side}), got {d.psf.size}",
            )
        psf = load_psf(d.psf)
        # the order-k image's PSF is PSF^k; one PSF for cross-cumulants (each order on its own
        # grid) and for linearised images (|image|^(1/k) has the PSF's width again)
        scale = d.psf.per_order and not is_xc and not config.statistic.linearise
        psfs = {k: order_psf(psf, k) if scale else psf for k in config.statistic.orders}

        def deconvolve(a: Any, k: int) -> Any:
            return deconvsk(
                magnitude(a),
                psfs[k],
                lam=d.lam,
                iterations=d.iterations,
                memory_budget=d.memory_budget_mb * 2**20,
            )

        stage("deconvolution", deconvolve, lambda a, _h, k: deconvolve(a, k))
    if config.video.enabled and config.noise_filter_2.enabled:
        k2 = masks.gauss1d_mask(nf2.kernel_size, nf2.sigma)
        stage("noise_filter_2", lambda a, _k: noise_filter1d(a, k2, axis=0))
    if config.ldrc.enabled:
        from sofi_dask.image._ldrc import floor_mask, ldrc

        image = tuple(int(s) for s in next(iter(current.values())).shape[-2:])
        win = tuple(int(w) for w in config.ldrc.window_size)
        if win[0] > image[0] or win[1] > image[1]:
            raise ConfigError(
                "ldrc.window_size",
                f"expected at most the image's size {image} (rows, cols), got {win}; pass "
                "--ldrc-window N or --ldrc off",
            )

        # the average image lives on the input grid: ldrc resamples it (cubic, as pysofi,
        # lazily) onto the Fourier-interpolated grid when the factor is > 1
        ldrc_order = factor
        if config.ldrc.mask == "average":
            mask = average
        else:  # "order<k>": the statistic image of order k, on the reconstruction grid
            k_mask = int(config.ldrc.mask[5:])
            mask = _as_dask(per_order[k_mask])
            mask = magnitude(mask.mean(axis=0) if mask.ndim == 3 else mask)
            if is_xc:  # at the frame's pixels, resampled onto each order's grid
                mask = mask[::k_mask, ::k_mask]
            ldrc_order = 1
        floor = config.ldrc.mask_floor  # the mask's background floor removed
        mask = floor_mask(mask, floor)
        g.claim("ldrc", mask)

        def grid_factor(a: Any) -> int:  # cross-cumulants: each order on its own finer grid
            return ldrc_order if not is_xc else (a.shape[-1] - 1) // (mask.shape[-1] - 1)

        def ldrc_half(a: Any, h: int, _k: int) -> Any:  # each half with its own mask
            layers = g.quality.layers[h]
            m = layers[0] if config.ldrc.mask == "average" else magnitude(layers[k_mask])
            m = floor_mask(m, floor)
            return ldrc(magnitude(a), m, order=1, window_size=config.ldrc.window_size)

        stage(
            "ldrc",
            lambda a, _k: ldrc(
                magnitude(a), mask, order=grid_factor(a), window_size=config.ldrc.window_size
            ),
            ldrc_half,
        )
    return g
