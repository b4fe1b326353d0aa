"""sofi_dask: out-of-core, distributed SOFI analysis on Dask and Zarr.

The flat public API, re-exported from one subpackage per concern:

- :mod:`sofi_dask.io`: :func:`ingest`, :func:`open_movie`, :class:`Movie`, :func:`movie_info`,
  :func:`create_movie`
- :mod:`sofi_dask.stats` (one pass, every order): :func:`moment_stack`, :func:`central_moments`,
  :func:`cumulants`, :func:`average_image`, :func:`total_signal`, :func:`sofi_video`, bleaching
  blocks (:func:`bleaching_blocks`, :func:`block_cumulants`, :func:`correct_bleaching`),
  correlations (:func:`cross_cumulant_image`, :func:`moments_with_lag`), cross-cumulant SOFI
  with virtual pixels (:func:`xc_cumulants`)
- :mod:`sofi_dask.quality`: :func:`frc`, :func:`decorrelation_resolution`, :func:`error_map`,
  :func:`convergence`, :func:`split_moment_stacks` (halves and prefixes from one pass); drift
  (:func:`estimate_drift`, :func:`correct_drift`) lives in :mod:`sofi_dask.stats`
- :mod:`sofi_dask.image`: :func:`fourier_interp`, :func:`interpolate_movie`, :func:`deconvsk`,
  :func:`ldrc`, :func:`noise_filter1d`, :func:`gauss2d_mask`
- :mod:`sofi_dask.pipeline`: :func:`run_pipeline`, :class:`PipelineConfig`
- :mod:`sofi_dask.simulate`: :func:`simulate_movie`, :func:`write_simulated_tiff`,
  :func:`write_simulated_zarr`
- :mod:`sofi_dask.cluster`: :func:`make_client`, :func:`dashboard_link`
- :mod:`sofi_dask.viz`: :func:`save_tiff`, :func:`save_png`, :func:`save_video`, figures
- :mod:`sofi_dask.compat`: pysofi's API
- :mod:`sofi_dask.errors`: the exception hierarchy

Examples
--------
>>> import numpy as np
>>> import sofi_dask as sd
>>> movie = np.random.default_rng(0).poisson(5.0, size=(50, 4, 4))
>>> sd.cumulants(movie, 2)[2].shape
(4, 4)
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from sofi_dask._lazy import lazy_exports

try:
    __version__ = version("sofi_dask")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

# Public names and the subpackage that exports each. They are imported on first use (PEP 562), so
# that ``import sofi_dask`` and the CLI start fast without loading distributed, numba or matplotlib.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "io": (
        "FrameStats",
        "Movie",
        "MovieWriter",
        "create_movie",
        "ingest",
        "movie_info",
        "open_movie",
    ),
    "stats": (
        "average_image",
        "bleaching_blocks",
        "block_average",
        "block_cumulants",
        "block_moments",
        "central_moments",
        "DriftResult",
        "correct_bleaching",
        "correct_drift",
        "cross_cumulant_image",
        "cumulant_stack",
        "cumulants",
        "cumulants_from_moments",
        "cumulants_with_lag",
        "cut_frames",
        "estimate_drift",
        "med_smooth",
        "merge_moment_stacks",
        "merge_short_blocks",
        "minimum_image",
        "moment_stack",
        "moment_stacks",
        "moments_with_lag",
        "sofi_video",
        "sorted_k_partitions",
        "total_signal",
        "video_windows",
        "XCCumulants",
        "xc_video",
        "BleachingFit",
        "exp_bleaching_correction",
        "fit_bleaching",
        "iir_bleaching_correction",
        "BSofi",
        "bsofi",
        "linearise",
        "xc_combinations",
        "xc_cumulants",
    ),
    "image": (
        "corelucy",
        "deconvsk",
        "filter1d_same",
        "fourier_interp",
        "fourier_interp_array",
        "fourier_interp_movie_to_tiff",
        "fourier_interp_movie_to_zarr",
        "gauss1d_mask",
        "gauss2d_mask",
        "interpolate_movie",
        "ldrc",
        "moments_with_finterp",
        "noise_filter1d",
        "otf2psf",
        "psf2otf",
        "resample_mask",
        "richardson_lucy",
        "zero_pad",
    ),
    "quality": (
        "ConvergenceResult",
        "DecorrelationResult",
        "ErrorMapResult",
        "FRCResult",
        "QualityReport",
        "SplitStacks",
        "convergence",
        "convergence_from_stacks",
        "decorrelation_resolution",
        "error_map",
        "frc",
        "frc_threshold",
        "movie_quality",
        "quality_report",
        "split_moment_stacks",
    ),
    "pipeline": (
        "ConfigError",
        "PipelineConfig",
        "PipelineResult",
        "apply_overrides",
        "default_config_toml",
        "load_config",
        "run_pipeline",
    ),
    "viz": (
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
    ),
    "simulate": (
        "SimulationConfig",
        "read_ground_truth",
        "simulate_movie",
        "write_simulated_tiff",
        "write_simulated_zarr",
    ),
    "cluster": (
        "dashboard_link",
        "make_client",
    ),
}
_SUBPACKAGE_OF = {name: pkg for pkg, names in _EXPORTS.items() for name in names}

__all__ = ["__version__", *sorted(_SUBPACKAGE_OF)]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
