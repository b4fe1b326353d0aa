"""The figures of a pipeline run, drawn from its stored results (``sofi_dask.figures``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sofi_dask.pipeline._config_models import PipelineConfig
from sofi_dask.pipeline._graph import StageGraph
from sofi_dask.pipeline._result_images import ResultImages

logger = logging.getLogger(__name__)

_STAGE_ORDER = (
    "moments",
    "cumulants",
    "noise_filter_1",
    "deconvolution",
    "noise_filter_2",
    "ldrc",
)


def _as_image(arr: np.ndarray) -> np.ndarray:
    """A 2-D view of a result for a figure panel: the image itself, or the mean over a SOFI
    video's windows, as block means of at most ``PREVIEW_SIDE`` pixels a side (a panel shows
    a few hundred; drawing 2048 x 2048 panels costs seconds per figure)."""
    from sofi_dask.pipeline._outputs import PREVIEW_SIDE
    from sofi_dask.viz._writers import downsample

    return downsample(arr.mean(axis=0) if arr.ndim == 3 else arr, PREVIEW_SIDE)


def make_figures(
    images: ResultImages,
    graph: StageGraph,
    config: PipelineConfig,
    movie: Any,
    before_quality: Callable[[], None] | None = None,
) -> tuple[dict[str, Any], dict[str, list[Path]]]:
    """Draw and save (``figures/*.png``, in the folder of the results group ``images.store``)
    every figure a run supports.

    Figures: ``total_signal`` (total signal per frame, smoothed signal and bleaching blocks;
    when the bleaching correction ran or the ingested store holds per-frame statistics),
    ``orders`` (montage of the moment/cumulant images), ``final_orders`` (montage of the last
    stage), ``<stage>_before_after`` for every image stage (highest order), and for a SOFI
    video ``video`` (frames of the final video of the highest order).

    ``before_quality`` is called before the quality figures (FRC, convergence, drift) are
    drawn: the pipeline waits there for its quality section, which runs beside the others.

    Returns
    -------
    (dict, dict)
        Figure name -> ``Figure``; figure name -> [saved PNG path].
    """
    from sofi_dask import viz as F

    out_dir = images.store.parent / "figures"
    load = images.load
    out_dir.mkdir(exist_ok=True)
    figs: dict[str, Any] = {}

    signal = graph.signal
    if (
        signal is None
        and getattr(movie, "frame_stats", None) is not None
        and config.statistic.frames is None
    ):
        signal = np.asarray(movie.frame_stats.total, dtype=np.float64)
    if signal is not None:
        smoothed = None
        title, label = "Total signal and bleaching blocks", "median-smoothed"
        if graph.bleaching_fit is not None:  # exp/biexp: the fitted curve
            smoothed = graph.bleaching_fit.curve
            lifetimes = ", ".join(f"{t:.4g}" for t in graph.bleaching_fit.lifetimes)
            title = f"Total signal and exponential fit (lifetimes {lifetimes} frames)"
            label = f"{graph.bleaching_fit.model}-exponential fit"
        elif config.bleaching.enabled and graph.blocks is not None:
            from sofi_dask.stats._bleaching import med_smooth

            smoothed = med_smooth(signal, config.bleaching.smooth_kernel)
        figs["total_signal"] = F.plot_total_signal(
            signal, smoothed, graph.blocks, title=title, smoothed_label=label
        )

    names = graph.specs
    stat = config.statistic.kind
    cmap = config.outputs.cmap
    pct = config.outputs.percentiles
    display = {"cmap": cmap, "percentiles": pct, "stretch": config.outputs.signed_stretch}
    # a SOFI video is shown as the mean over its windows (the video figure shows frames)
    over = " (mean over video windows)" if config.video.enabled else ""

    def file_display(name: str) -> Any:
        # a panel is a preview of the image: drawn with the display of the image's own PNG
        # (from the full-size image), not one of its own (block means narrow the range); a
        # video's panels show the mean over windows, not what its files show
        return None if config.video.enabled else images.display(name)

    stat_images = {k: f"{stat}_order{k}" for k in config.statistic.orders}
    if all(n in names for n in stat_images.values()):
        figs["orders"] = F.order_montage(
            {k: _as_image(load(n)) for k, n in stat_images.items()},
            title=f"{stat} images by order{over}",
            displays={k: d for k, n in stat_images.items() if (d := file_display(n))},
            **display,
        )
    finals = {k: n for k, n in graph.finals.items() if n in names}
    if finals and finals != stat_images:
        figs["final_orders"] = F.order_montage(
            {k: _as_image(load(n)) for k, n in finals.items()},
            title=f"final images by order{over}",
            displays={k: d for k, n in finals.items() if (d := file_display(n))},
            **display,
        )

    top = config.max_order
    chain = [s for s in _STAGE_ORDER if f"{s}_order{top}" in names]
    for before, after in zip(chain, chain[1:], strict=False):
        figs[f"{after}_before_after"] = F.before_after(
            _as_image(load(f"{before}_order{top}")),
            _as_image(load(f"{after}_order{top}")),
            titles=(before, after),
            title=f"order {top}: {before} -> {after}{over}",
            displays=(file_display(f"{before}_order{top}"), file_display(f"{after}_order{top}")),
            **display,
        )
    if config.video.enabled and top in finals:
        stack = load(finals[top])
        shown = sorted({int(round(v)) for v in np.linspace(0, len(stack) - 1, min(len(stack), 8))})
        step, window = config.video_step, config.video.window
        frames = config.statistic.frames
        start = frames[0] if frames is not None else 0
        labels = [
            f"frames {start + w * step}-{start + w * step + config.video.window - 1}" for w in shown
        ]
        figs["video"] = F.plot_video_frames(
            stack,
            frames=shown,
            frame_labels=labels,
            **display,
            title=f"SOFI video, order {top} ({finals[top]}; window {window}, step {step})",
        )

    from sofi_dask.pipeline._quality import quality_figures

    if before_quality is not None:
        before_quality()
    figs.update(quality_figures(graph.quality, graph.drift, movie.pixel_size))
    files: dict[str, list[Path]] = {}
    for name, fig in figs.items():
        files[f"figure:{name}"] = [F.save_figure(fig, out_dir / f"{name}.png")]
    return figs, files
