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

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

from sofi_dask.pipeline._config_models import PipelineConfig

logger = logging.getLogger(__name__)

_TRACE_POINTS = 1000  # the drift trace in run.json, at most this many frames
HALVES_FILE = "quality_halves.npz"
_HALF_SEP = "__half_"


@dataclasses.dataclass
class QualityGraph:
    """Lazy half images (``name -> (a, b)``); prefix frame counts and, per order, the lazy norms
    ``(||I(n_i) - I(n_{i-1})||, ||I(n_i)||)`` per doubling (scalars: nothing big comes back)."""

    halves: dict[str, tuple[Any, Any]]
    frames: list[int]
    changes: dict[int, list[tuple[Any, Any]]]
    report: Any = None
    average: Any = None  # frame-weighted mean of the windows' mean images (one pass)


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


def split_statistic(
    work: Any, config: PipelineConfig, blocks: Sequence[tuple[int, int]] | None
) -> tuple[dict[int, Any], QualityGraph]:
    """The statistic per order (as the pipeline's) and its two halves, from one set of states.

    ``blocks``: bleaching blocks (statistic per block, then their unweighted mean, as
    ``block_average``), or None for the whole movie.
    """
    from sofi_dask.quality._split import merge_tree
    from sofi_dask.stats._cumulants import cumulant_stack
    from sofi_dask.stats._moments import moment_stacks

    max_order = config.max_order
    stat = config.statistic.kind
    n = int(work.shape[0])
    edges = np.cumsum((0, *work.chunks[0])) if isinstance(work, da.Array) else range(n + 1)
    per_block = _windows(
        list(blocks) if blocks else [(0, n)], config.quality.block_frames, max_order, edges
    )
    flat = [w for subs in per_block for w in subs]
    stacks = moment_stacks(work, max_order, flat, check_length=False)
    counts = [b - a for a, b in flat]

    def layers(stack: Any) -> Any:
        return cumulant_stack(stack) if stat == "cumulants" else stack

    full, half_a, half_b, sizes = [], [], [], []
    i = 0
    for subs in per_block:
        idx = list(range(i, i + len(subs)))
        i += len(subs)
        full.append(layers(merge_tree([stacks[j] for j in idx], [counts[j] for j in idx])[0]))
        sizes.append(sum(counts[j] for j in idx))
        for half, parity in ((half_a, 0), (half_b, 1)):
            part = [j for j in idx if j % 2 == parity]
            if part and sum(counts[j] for j in part) >= max_order:
                merged = merge_tree([stacks[j] for j in part], [counts[j] for j in part])[0]
                half.append(layers(merged))

    def mean(items: list[Any]) -> Any:
        return items[0] if len(items) == 1 else sum(items[1:], items[0]) / len(items)

    full_stat = mean(full)
    per_order = {k: full_stat[k] for k in range(1, max_order + 1)}
    halves: dict[str, tuple[Any, Any]] = {}
    if half_a and half_b:
        a, b = mean(half_a), mean(half_b)
        mag = abs if config.statistic.absolute else (lambda x: x)
        halves["average"] = (a[0], b[0])
        for k in config.statistic.orders:
            if k >= 2:
                halves[f"{stat}_order{k}"] = (mag(a[k]), mag(b[k]))
    frames: list[int] = []
    changes: dict[int, list[tuple[Any, Any]]] = {}
    images: list[Any] = []
    if len(per_block) == 1 and len(flat) >= 2:  # whole movie: prefixes of sub-windows
        size = 1
        while size < len(flat):
            stack, count = merge_tree(stacks[:size], counts[:size])
            frames.append(count)
            images.append(layers(stack))
            size *= 2
    elif len(per_block) >= 2:  # bleaching blocks: the block average over the first 1, 2, 4...
        size = 1
        while size < len(per_block):
            frames.append(sum(sizes[:size]))
            images.append(mean(full[:size]))
            size *= 2
    if images:
        frames.append(sum(sizes))
        images.append(full_stat)
        orders = sorted({1, *config.statistic.orders})
        for k in orders:
            changes[k] = [
                (da.linalg.norm(cur[k] - prev[k]), da.linalg.norm(cur[k]))
                for prev, cur in zip(images[:-1], images[1:], strict=True)
            ]
    average = sum(c * st[0] for c, st in zip(sizes, full, strict=True)) / sum(sizes)
    return per_order, QualityGraph(halves, frames, changes, average=average)


def lazy_arrays(q: QualityGraph) -> list[Any]:
    """The lazy arrays to compute with the outputs, in a fixed order."""
    out = [x for pair in q.halves.values() for x in pair]
    out += [x for k in sorted(q.changes) for pair in q.changes[k] for x in pair]
    return out


def quality_section(
    q: QualityGraph,
    computed: Sequence[np.ndarray],
    folder: Path,
    stored: Sequence[str],
    finals: dict[int, str],
    config: PipelineConfig,
    pixel_size: float | None,
    factor: int,
) -> dict[str, Any]:
    """The ``quality`` section of run.json from the computed halves, prefixes and stored images."""
    import zarr

    from sofi_dask.quality._convergence import ConvergenceResult
    from sofi_dask.quality._report import quality_report

    values = iter(computed)
    halves = {name: (np.asarray(next(values)), np.asarray(next(values))) for name in q.halves}
    norms = {
        k: [(float(next(values)), float(next(values))) for _ in q.changes[k]]
        for k in sorted(q.changes)
    }

    def load(name: str) -> np.ndarray:
        arr = np.asarray(zarr.open_array(folder / "results.zarr" / name / "0", mode="r")[...])
        return arr

    if "average" in stored:
        average = load("average")
    elif "average" in halves:
        average = 0.5 * (halves["average"][0] + halves["average"][1])
    else:
        return {"skipped": "no average image"}
    images = {"average": average}
    mag = np.abs if config.statistic.absolute else np.asarray
    for _, name in sorted(finals.items()):
        if name in stored:
            images[name] = mag(load(name))
    conv = None
    if norms:
        change = {k: np.array([d / c if c > 0 else 0.0 for d, c in v]) for k, v in norms.items()}
        conv = ConvergenceResult(np.array(q.frames), change, config.statistic.kind)
    qc = config.quality
    # images on the Fourier-interpolated grid have (H - 1) f + 1 pixels: pixel size / f
    report = quality_report(
        average,
        images,
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
        arrays = {
            f"{name}{_HALF_SEP}{ab}": h[i]
            for name, h in halves.items()
            for i, ab in enumerate("ab")
        }
        np.savez_compressed(folder / HALVES_FILE, **arrays)
        section["halves_file"] = HALVES_FILE
    return section


def recompute_quality(
    folder: Any,
    *,
    threshold: str | None = None,
    decorrelation: bool = True,
    error_maps: bool = True,
) -> dict[str, Any]:
    """The quality section again from a finished run's folder (``run.json``, the stored images
    in ``results.zarr`` and the halves in ``quality_halves.npz``): nothing is read from the
    movie. Convergence is carried over from ``run.json``.

    Parameters
    ----------
    folder : path
        Output folder of ``sofi-dask run``.
    threshold : {"1/7", "half-bit"}, optional
        FRC threshold (default: the run's).
    decorrelation, error_maps : bool
        Compute them.

    Returns
    -------
    dict
        The section (as in run.json), with ``"recomputed": true``.

    Raises
    ------
    FileNotFoundError
        No ``run.json`` in ``folder``.
    sofi_dask.errors.InputError
        The run has neither stored images nor halves to measure.
    """
    import json

    import zarr

    from sofi_dask._validation import fail, shown
    from sofi_dask.quality._convergence import ConvergenceResult
    from sofi_dask.quality._report import quality_report

    folder = Path(folder)
    record_path = folder / "run.json"
    if not record_path.is_file():
        raise FileNotFoundError(f"{record_path} does not exist: not the output folder of a run")
    record = json.loads(record_path.read_text())
    params = record.get("parameters", {})
    old = record.get("quality") or {}
    thresh = threshold or params.get("quality", {}).get("threshold", "1/7")
    absolute = params.get("statistic", {}).get("absolute", True)
    halves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if (folder / HALVES_FILE).is_file():
        with np.load(folder / HALVES_FILE) as npz:
            names = sorted({k.rsplit(_HALF_SEP, 1)[0] for k in npz.files})
            halves = {n: (npz[f"{n}{_HALF_SEP}a"], npz[f"{n}{_HALF_SEP}b"]) for n in names}
    store = folder / "results.zarr"
    images: dict[str, np.ndarray] = {}
    if store.is_dir():
        finals = list((record.get("final_images") or {}).values())
        for name in ["average", *finals]:
            if (store / name / "0").is_dir():
                arr = np.asarray(zarr.open_array(store / name / "0", mode="r")[...])
                images[name] = arr if name == "average" or not absolute else np.abs(arr)
    if "average" in images:
        average = images["average"]
    elif "average" in halves:
        average = 0.5 * (halves["average"][0] + halves["average"][1])
    else:
        raise fail("folder", "a run with stored images or quality halves", shown(str(folder)))
    conv = None
    if old.get("convergence"):
        c = old["convergence"]
        conv = ConvergenceResult(
            np.array(c["frames"]),
            {int(k): np.array(v) for k, v in c["relative_change"].items()},
            c["statistic"],
        )
    factor = (
        int(params.get("finterp", {}).get("factor", 2))
        if params.get("finterp", {}).get("enabled")
        else 1
    )
    report = quality_report(
        average,
        images,
        halves=halves,
        pixel_size=record.get("pixel_size_um"),
        threshold=thresh,
        decorrelation=decorrelation,
        error_maps=error_maps and factor == 1,
        convergence=conv,
    )
    section = report.to_dict()
    section["recomputed"] = True
    return section


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
