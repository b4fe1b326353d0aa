"""Colormaps, display ranges, figures and image/video writers (matplotlib without pyplot)."""

from __future__ import annotations

from sofi_dask.viz._figures import (
    before_after,
    image_montage,
    order_montage,
    plot_video_frames,
    save_figure,
)
from sofi_dask.viz._quality_figures import plot_convergence, plot_drift_trace, plot_frc_curves
from sofi_dask.viz._signal_figure import plot_total_signal
from sofi_dask.viz._visualization import (
    apply_colormap,
    save_png,
    save_tiff,
    save_video,
)

__all__ = [
    "apply_colormap",
    "before_after",
    "image_montage",
    "order_montage",
    "plot_convergence",
    "plot_drift_trace",
    "plot_frc_curves",
    "plot_total_signal",
    "plot_video_frames",
    "save_figure",
    "save_png",
    "save_tiff",
    "save_video",
]
