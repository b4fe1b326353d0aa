"""Colormaps, display ranges, figures and image/video writers (matplotlib without pyplot)."""

from __future__ import annotations

from sofi_dask._lazy import lazy_exports

# public name -> its module, imported on first use (sofi_dask._lazy)
_EXPORTS: dict[str, tuple[str, ...]] = {
    "_figures": (
        "before_after",
        "image_montage",
        "order_montage",
        "save_figure",
    ),
    "_quality_figures": (
        "plot_convergence",
        "plot_drift_trace",
        "plot_frc_curves",
    ),
    "_signal_figure": ("plot_total_signal",),
    "_video_figure": ("plot_video_frames",),
    "_visualization": (
        "apply_colormap",
        "save_png",
        "save_tiff",
        "save_video",
    ),
}

__all__ = sorted(name for names in _EXPORTS.values() for name in names)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
