"""sofi_dask: out-of-core, distributed SOFI analysis on Dask and Zarr.

The public API, re-exported from one module per stage:

- IO: :func:`ingest`, :func:`open_movie`, :class:`Movie`, :func:`movie_info`
- simulation: :func:`simulate_movie`, :func:`write_simulated_tiff`, :func:`write_simulated_zarr`
- statistics (one pass, every order): :func:`moment_stack`, :func:`central_moments`,
  :func:`cumulants`, :func:`average_image`, :func:`total_signal`, :func:`sofi_video`
- bleaching: :func:`bleaching_blocks`, :func:`block_cumulants`, :func:`correct_bleaching`
- correlations: :func:`cross_cumulant_image`, :func:`moments_with_lag`, :func:`cumulants_with_lag`
- image stages: :func:`fourier_interp`, :func:`interpolate_movie`, :func:`deconvsk`,
  :func:`ldrc`, :func:`noise_filter1d`, :func:`gauss2d_mask`
- orchestration: :func:`run_pipeline`, :class:`PipelineConfig`, :func:`make_client`
- display: :func:`save_tiff`, :func:`save_png`, :func:`save_video`, figures
- pysofi's API: :mod:`sofi_dask.compat`
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("sofi_dask")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

# Public names and the module that defines each. They are imported on first use (PEP 562), so
# that ``import sofi_dask`` and the CLI start fast without loading distributed, numba or matplotlib.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "bleaching": (
        "bleaching_blocks",
        "merge_short_blocks",
        "block_average",
        "block_cumulants",
        "block_moments",
        "correct_bleaching",
        "cut_frames",
        "med_smooth",
    ),
    "cluster": ("dashboard_link", "make_client"),
    "config": (
        "ConfigError",
        "PipelineConfig",
        "apply_overrides",
        "default_config_toml",
        "load_config",
    ),
    "correlations": (
        "cross_cumulant_image",
        "cumulants_with_lag",
        "moments_with_lag",
        "sorted_k_partitions",
    ),
    "cumulants": ("cumulant_stack", "cumulants", "cumulants_from_moments"),
    "deconv": ("corelucy", "deconvsk", "otf2psf", "psf2otf", "richardson_lucy", "zero_pad"),
    "figures": (
        "before_after",
        "image_montage",
        "order_montage",
        "plot_total_signal",
        "plot_video_frames",
        "save_figure",
    ),
    "filtering": ("filter1d_same", "noise_filter1d"),
    "finterp": (
        "fourier_interp",
        "fourier_interp_array",
        "fourier_interp_movie_to_tiff",
        "fourier_interp_movie_to_zarr",
        "interpolate_movie",
        "moments_with_finterp",
    ),
    "io": (
        "FrameStats",
        "Movie",
        "MovieWriter",
        "create_movie",
        "ingest",
        "movie_info",
        "open_movie",
    ),
    "ldrc": ("ldrc", "resample_mask"),
    "masks": ("gauss1d_mask", "gauss2d_mask"),
    "moments": (
        "average_image",
        "central_moments",
        "merge_moment_stacks",
        "minimum_image",
        "moment_stack",
        "moment_stacks",
        "total_signal",
    ),
    "pipeline": ("PipelineResult", "run_pipeline"),
    "simulate": (
        "SimulationConfig",
        "read_ground_truth",
        "simulate_movie",
        "write_simulated_tiff",
        "write_simulated_zarr",
    ),
    "video": ("sofi_video", "video_windows"),
    "visualization": ("apply_colormap", "save_png", "save_tiff", "save_video"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

# ``cumulants`` and ``ldrc`` name both a function and the stage module that defines it. Importing
# a submodule binds it as a package attribute, so bind the functions now, after their modules:
# ``sofi_dask.ldrc`` is then always the function (``from sofi_dask.ldrc import resample_mask``
# and ``importlib.import_module("sofi_dask.ldrc")`` still reach the module).
from sofi_dask.cumulants import cumulants  # noqa: E402, F401
from sofi_dask.ldrc import ldrc  # noqa: E402, F401

__all__ = ["__version__", *sorted(_MODULE_OF)]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'sofi_dask' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"sofi_dask.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
