"""The pipeline's drift stage and quality section (graph pieces, then the section and figures).

Quality in the same pass: the statistic of each bleaching block (or of the whole movie) is the
exact merge of the moment stacks of sub-windows of ``quality.block_frames`` frames; sub-windows
alternate between half A and half B across the movie, so the two half images (FRC) and the
prefixes (convergence: of sub-windows for a whole-movie statistic, of whole bleaching blocks
for a block average) come from the same per-chunk states as the
run's statistic: no extra read, only merges. Decorrelation and error maps run on the stored
final images after the compute.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np

from sofi_dask.pipeline._config_models import PipelineConfig
from sofi_dask.pipeline._quality_blocks import _packed_means, convergence_norms
from sofi_dask.pipeline._quality_files import HALVES_FILE, magnitude, save_halves
from sofi_dask.pipeline._result_images import ResultImages

logger = logging.getLogger(__name__)

_TRACE_POINTS = 1000  # the drift trace in run.json, at most this many frames


@dataclasses.dataclass
class QualityGraph:
    """Lazy half images (``name -> (a, b)``, magnitudes as measured), the prefix frame counts and
    the lazy convergence norms: ``changes = (d, c)``, arrays ``(n_prefixes - 1, len(orders))`` of
    ``||I(n_i) - I(n_{i-1})||`` and ``||I(n_i)||`` (small: nothing big comes back)."""

    halves: dict[str, tuple[Any, Any]]
    frames: list[int]
    changes: tuple[Any, Any] | None = None
    orders: list[int] = dataclasses.field(default_factory=list)
    report: Any = None
    average: Any = None  # frame-weighted mean of the windows' mean images (one pass)
    layers: tuple[Any, Any] | None = None  # the two halves' statistic stacks (order k at [k])
    current: dict[int, tuple[Any, Any]] = dataclasses.field(default_factory=dict)
    absolute: bool = True
    all_outputs: bool = False  # quality.outputs == "all": halves through every image stage

    def _record(self, name: str) -> None:
        mag = abs if self.absolute else (lambda x: x)
        for k, (a, b) in self.current.items():
            self.halves[f"{name}_order{k}"] = (mag(a), mag(b))

    def through(self, name: str, fn: Any, *, record: bool | None = None) -> None:
        """Run the halves' current images of every order through ``fn(image, half, order)``
        (``half`` 0 or 1: the stage of ``name``), and measure the result when ``record``
        (default: ``all_outputs``)."""
        if not self.current:
            return
        recorded = self.all_outputs if record is None else record
        if not recorded and not self.all_outputs:  # no later stage is measured either:
            self.current = {}  # building the halves' chain would only cost graph time
            return
        self.current = {k: (fn(a, 0, k), fn(b, 1, k)) for k, (a, b) in self.current.items()}
        if recorded:
            self._record(name)


def drift_stage(data: Any, config: PipelineConfig) -> tuple[Any, Any]:
    """Estimate the drift (one pass, computed now) and correct the movie lazily."""
    from sofi_dask.stats._drift import correct_drift, estimate_drift

    d = config.drift
    result = estimate_drift(
        data,
        segment_frames=d.segment_frames,
        crop=d.crop,
        max_pair_distance=d.max_pair_distance,
    )
    logger.info("drift: up to %.2f px", float(np.abs(result.trace).max()))
    return correct_drift(data, result), result


def _windows(
    blocks: Sequence[tuple[int, int]], size: int, min_len: int, edges: Sequence[int]
) -> list[list[tuple[int, int]]]:
    """Sub-windows of at least ``size`` frames per block, cut at the first chunk edge
    (``edges``) after ``size`` frames, so that chunks are not sliced (a sliced chunk is
    decompressed once per slice); a short tail joins the previous sub-window. When that leaves
    fewer than two sub-windows (chunks longer than the movie's blocks), windows of exactly
    ``size`` frames.

    Examples
    --------
    >>> _windows([(0, 1000)], 100, 4, range(0, 1001, 256))
    [[(0, 256), (256, 512), (512, 768), (768, 1000)]]
    >>> _windows([(0, 350)], 100, 4, [0, 350])
    [[(0, 100), (100, 200), (200, 300), (300, 350)]]
    """

    def cut(cuts: np.ndarray) -> list[list[tuple[int, int]]]:
        out = []
        for a, b in blocks:
            subs = []
            start = a
            while start < b:
                later = cuts[(cuts >= start + size) & (cuts < b)]
                end = int(later[0]) if later.size else b
                subs.append((start, end))
                start = end
            if len(subs) > 1 and subs[-1][1] - subs[-1][0] < max(min_len, size // 2):
                subs[-2] = (subs[-2][0], b)
                subs.pop()
            out.append(subs)
        return out

    aligned = cut(np.asarray(sorted(set(edges)), dtype=np.int64))
    if sum(len(s) for s in aligned) >= 2:
        return aligned
    return cut(np.arange(0, max(b for _, b in blocks) + 1, dtype=np.int64))


def skip_reason(config: PipelineConfig, n_frames: int) -> str:
    """Why a run with ``quality.enabled`` measures nothing (``run.json``'s ``quality.skipped``),
    logged once: a cross-cumulant statistic, a SOFI video, or too few frames for two halves."""
    if config.statistic.kind == "xc_cumulants":
        why = "statistic.kind = 'xc_cumulants': the quality measures are of moments and cumulants"
    elif config.video.enabled:
        why = "a SOFI video (video.enabled): the quality measures are of a whole-movie image"
    else:
        bf = config.quality.block_frames
        what = "the movie" if config.statistic.frames is None else "statistic.frames"
        why = (
            f"{what} has {n_frames} frames, fewer than 2 x quality.block_frames ({bf}): no "
            "halves for FRC; lower quality.block_frames"
        )
        logger.warning("quality measures skipped: %s", why)
        return why
    logger.info("quality measures skipped: %s", why)
    return why


def split_statistic(
    work: Any,
    config: PipelineConfig,
    blocks: Sequence[tuple[int, int]] | None,
    stacks_of: Any = None,
) -> tuple[dict[int, Any], QualityGraph]:
    """The statistic per order (as the pipeline's) and its two halves, from one set of states.

    ``blocks``: bleaching blocks (statistic per block, then their unweighted mean, as
    ``block_average``), or None for the whole movie. ``stacks_of(max_order, windows,
    check_length=False)`` makes the windows' moment stacks (default
    ``stats.moment_stacks(work, ...)``; the fused Fourier interpolation with ``--finterp``).
    """
    from sofi_dask.stats._cumulants import cumulant_stack
    from sofi_dask.stats._moments import moment_stacks
    from sofi_dask.stats._stack_tree import interleaved_stacks

    max_order = config.max_order
    stat = config.statistic.kind
    n = int(work.shape[0])
    edges = np.cumsum((0, *work.chunks[0])) if isinstance(work, da.Array) else range(n + 1)
    per_block = _windows(
        list(blocks) if blocks else [(0, n)], config.quality.block_frames, max_order, edges
    )
    flat = [w for subs in per_block for w in subs]
    if stacks_of is None:
        stacks = moment_stacks(work, max_order, flat, check_length=False)
    else:
        stacks = stacks_of(max_order, flat, check_length=False)
    counts = [b - a for a, b in flat]

    def layers(stack: Any) -> Any:
        return cumulant_stack(stack) if stat == "cumulants" else stack

    # one tree per block: each sub-window's stack has one consumer (see stats._stack_tree)
    whole_movie = len(per_block) == 1 and len(flat) >= 2
    sizes, trees, has = [], [], []
    i = 0
    for subs in per_block:
        idx = list(range(i, i + len(subs)))
        i += len(subs)
        tree = interleaved_stacks(
            [stacks[j] for j in idx],
            [counts[j] for j in idx],
            first_parity=idx[0] % 2,
            prefixes=whole_movie,
        )
        trees.append(tree)
        sizes.append(tree.counts[0])
        pair = (tree.half_a, tree.half_b)
        has.append(
            tuple(
                s is not None and c >= max_order for s, c in zip(pair, tree.counts[1:], strict=True)
            )
        )

    n_a, n_b = (sum(h[i] for h in has) for i in (0, 1))
    block_prefixes: tuple[tuple[int, Any], ...] = ()
    if len(per_block) == 1:
        full_stat = layers(trees[0].full)
        half_means = tuple(
            layers(s) if h else None
            for s, h in zip((trees[0].half_a, trees[0].half_b), has[0], strict=True)
        )
        average = full_stat[0]
    else:  # one packing task per block and tile, one sum tree
        full_stat, half_means, average, block_prefixes = _packed_means(
            trees, sizes, has, stat == "cumulants"
        )
    per_order = {k: full_stat[k] for k in range(1, max_order + 1)}
    q = QualityGraph(
        {},
        [],
        absolute=config.statistic.absolute,
        all_outputs=config.quality.outputs == "all",
    )
    if n_a and n_b:
        a, b = half_means
        q.layers = (a, b)
        q.halves["average"] = (a[0], b[0])
        q.current = {k: (a[k], b[k]) for k in config.statistic.orders if k >= 2}
        q._record(stat)
    images: list[Any] = []
    if whole_movie:  # prefixes of 1, 2, 4... sub-windows: segments of the one tree
        for count, stack in trees[0].prefixes:
            q.frames.append(count)
            images.append(layers(stack))
    elif len(per_block) >= 2:  # bleaching blocks: the block average over the first 1, 2, 4...
        for size, image in block_prefixes:
            q.frames.append(sum(sizes[:size]))
            images.append(image)
    if images:
        q.frames.append(sum(sizes))
        images.append(full_stat)
        q.orders = sorted({1, *config.statistic.orders})
        # one task per tile for every prefix and order, one sum over the tiles (graph size)
        q.changes = convergence_norms(images, q.orders)
    q.average = average
    return per_order, q


def lazy_arrays(q: QualityGraph) -> list[Any]:
    """The lazy arrays to compute with the outputs, in a fixed order."""
    out = [x for pair in q.halves.values() for x in pair]
    return out + list(q.changes or ())


def quality_section(
    q: QualityGraph,
    computed: Sequence[np.ndarray],
    images: ResultImages,
    stored: Sequence[str],
    finals: dict[int, str],
    config: PipelineConfig,
    pixel_size: float | None,
    factor: int,
) -> dict[str, Any]:
    """The ``quality`` section of run.json from the computed halves, prefixes and stored images
    (``images``: the run's, already read for its files; the halves' file beside them)."""
    from sofi_dask.quality._convergence import ConvergenceResult
    from sofi_dask.quality._report import quality_report

    values = iter(computed)
    halves = {name: (np.asarray(next(values)), np.asarray(next(values))) for name in q.halves}
    norms = {}
    if q.changes is not None:
        d, c = np.asarray(next(values)), np.asarray(next(values))
        norms = {k: list(zip(d[:, i], c[:, i], strict=True)) for i, k in enumerate(q.orders)}

    if "average" in stored:
        average = images.load("average")
    elif "average" in halves:
        average = 0.5 * (halves["average"][0] + halves["average"][1])
    else:
        return {"skipped": "no average image"}
    measured = {"average": average}
    for _, name in sorted(finals.items()):
        if name in stored:
            measured[name] = magnitude(images.load(name), config.statistic.absolute)
    conv = None
    if norms:
        change = {k: np.array([d / c if c > 0 else 0.0 for d, c in v]) for k, v in norms.items()}
        conv = ConvergenceResult(np.array(q.frames), change, config.statistic.kind)
    qc = config.quality
    # images on the Fourier-interpolated grid have (H - 1) f + 1 pixels: pixel size / f
    report = quality_report(
        average,
        measured,
        halves=halves,
        pixel_size=pixel_size,
        threshold=qc.threshold,
        decorrelation=qc.decorrelation,
        error_maps=qc.error_maps and factor == 1,
        convergence=conv,
    )
    q.report = report
    section = report.to_dict()
    section["block_frames"] = qc.block_frames
    section["frc_from"] = "two interleaved halves of blocks of block_frames frames"
    if halves:  # kept so that `sofi-dask quality` can recompute FRC (e.g. another threshold)
        save_halves(images.store.parent / HALVES_FILE, halves)
        section["halves_file"] = HALVES_FILE
    return section


def start_quality_section(
    stack: contextlib.ExitStack,
    timer: Any,
    graph: Any,
    computed: Sequence[np.ndarray],
    images: ResultImages,
    config: PipelineConfig,
    pixel_size: float | None,
) -> concurrent.futures.Future:
    """:func:`quality_section` of a run's ``StageGraph`` on a side thread, timed as the
    ``quality`` phase.

    Its measures are FFTs and numpy (they release the GIL): they run beside the drawing of the
    other figures (matplotlib holds one core). The thread keeps the caller's context
    (the open output folder of :mod:`sofi_dask.io._atomic`); ``stack`` waits for it on exit.
    """
    args = (graph.quality, computed, images, list(graph.specs), graph.finals, config)

    def measure() -> dict[str, Any]:
        with timer("quality"):
            return quality_section(*args, pixel_size, config.finterp_factor)

    side = stack.enter_context(concurrent.futures.ThreadPoolExecutor(max_workers=1))
    return side.submit(contextvars.copy_context().run, measure)


def drift_record(result: Any, pixel_size: float | None) -> dict[str, Any]:
    """The drift entry of run.json: the summary and the trace at most 1000 frames apart."""
    out = result.to_dict(pixel_size)
    n = len(result.trace)
    step = max(1, int(np.ceil(n / _TRACE_POINTS)))
    out["trace_frames"] = list(range(0, n, step))
    out["trace_pixels"] = [[float(v) for v in row] for row in result.trace[::step]]
    return out


def quality_figures(q: QualityGraph | None, drift: Any, pixel_size: float | None) -> dict:
    """FRC curves, convergence and drift-trace figures (viz gets plain arrays)."""
    from sofi_dask import viz as F

    figs: dict[str, Any] = {}
    report = getattr(q, "report", None)
    unit = "µm" if pixel_size else "pixel"
    if report is not None and report.frc:
        first = next(iter(report.frc.values()))
        figs["frc"] = F.plot_frc_curves(
            {n: (r.frequencies, r.curve) for n, r in report.frc.items()},
            threshold=1 / 7 if first.threshold == "1/7" else None,
            resolutions={n: r.resolution for n, r in report.frc.items()},
            unit=unit,
        )
    if report is not None and report.convergence is not None:
        c = report.convergence
        figs["convergence"] = F.plot_convergence(
            c.frames, {f"order {k}": v for k, v in c.relative_change.items()}
        )
    if drift is not None:
        figs["drift"] = F.plot_drift_trace(
            drift.trace,
            pixel_size=pixel_size,
            segment_centres=drift.segment_centres,
            segment_positions=drift.segment_positions,
        )
    return figs
