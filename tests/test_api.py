"""The public API is a contract: the flat names, the subpackages, compat and the CLI commands."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import sofi_dask

# Every name of ``sofi_dask.__all__`` in release 0.1: none may disappear (new ones may come).
RELEASE_0_1 = [
    "ConfigError",
    "FrameStats",
    "Movie",
    "MovieWriter",
    "PipelineConfig",
    "PipelineResult",
    "SimulationConfig",
    "apply_colormap",
    "apply_overrides",
    "average_image",
    "before_after",
    "bleaching_blocks",
    "block_average",
    "block_cumulants",
    "block_moments",
    "central_moments",
    "corelucy",
    "correct_bleaching",
    "create_movie",
    "cross_cumulant_image",
    "cumulant_stack",
    "cumulants",
    "cumulants_from_moments",
    "cumulants_with_lag",
    "cut_frames",
    "dashboard_link",
    "deconvsk",
    "default_config_toml",
    "filter1d_same",
    "fourier_interp",
    "fourier_interp_array",
    "fourier_interp_movie_to_tiff",
    "fourier_interp_movie_to_zarr",
    "gauss1d_mask",
    "gauss2d_mask",
    "image_montage",
    "ingest",
    "interpolate_movie",
    "ldrc",
    "load_config",
    "make_client",
    "med_smooth",
    "merge_moment_stacks",
    "merge_short_blocks",
    "minimum_image",
    "moment_stack",
    "moment_stacks",
    "moments_with_finterp",
    "moments_with_lag",
    "movie_info",
    "noise_filter1d",
    "open_movie",
    "order_montage",
    "otf2psf",
    "plot_total_signal",
    "plot_video_frames",
    "psf2otf",
    "read_ground_truth",
    "resample_mask",
    "richardson_lucy",
    "run_pipeline",
    "save_figure",
    "save_png",
    "save_tiff",
    "save_video",
    "simulate_movie",
    "sofi_video",
    "sorted_k_partitions",
    "total_signal",
    "video_windows",
    "write_simulated_tiff",
    "write_simulated_zarr",
    "zero_pad",
]

# Added after 0.1 (issue 18: image quality and drift); frozen from here on as well.
QUALITY_NAMES = [
    "ConvergenceResult",
    "DecorrelationResult",
    "DriftResult",
    "ErrorMapResult",
    "FRCResult",
    "QualityReport",
    "SplitStacks",
    "convergence",
    "convergence_from_stacks",
    "correct_drift",
    "decorrelation_resolution",
    "error_map",
    "estimate_drift",
    "frc",
    "frc_threshold",
    "movie_quality",
    "plot_convergence",
    "plot_drift_trace",
    "plot_frc_curves",
    "quality_report",
    "split_moment_stacks",
]

SUBPACKAGES = [
    "io",
    "stats",
    "image",
    "quality",
    "pipeline",
    "viz",
    "simulate",
    "cluster",
    "compat",
    "cli",
]
COMPAT_MODULES = [
    "deconvsk",
    "filtering",
    "finterp",
    "ldrc",
    "masks",
    "pysofi",
    "reconstruction",
    "visualization",
]
COMMANDS = ["simulate", "ingest", "info", "run", "quality", "config"]


@pytest.mark.parametrize("name", RELEASE_0_1 + QUALITY_NAMES)
def test_flat_name_resolves(name):
    assert name in sofi_dask.__all__
    value = getattr(sofi_dask, name)
    assert value is not None
    # it is the object its subpackage exports
    package = importlib.import_module(f"sofi_dask.{sofi_dask._SUBPACKAGE_OF[name]}")
    assert getattr(package, name) is value


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_subpackage_exports_resolve(package):
    module = importlib.import_module(f"sofi_dask.{package}")
    for name in getattr(module, "__all__", ()):
        assert getattr(module, name) is not None, f"sofi_dask.{package}.{name}"


def test_every_flat_name_has_a_subpackage():
    assert set(sofi_dask.__all__) - {"__version__"} == set(sofi_dask._SUBPACKAGE_OF)


def test_functions_are_not_modules():
    """``sofi_dask.cumulants`` and ``sofi_dask.ldrc`` are the functions, whatever was imported."""
    import sofi_dask.image  # noqa: F401
    import sofi_dask.stats  # noqa: F401  (imports every statistics module)

    assert callable(sofi_dask.cumulants) and callable(sofi_dask.ldrc)
    assert type(sofi_dask.cumulants).__name__ == "function"


def test_compat_modules():
    import sofi_dask.compat as compat

    for name in COMPAT_MODULES:
        assert importlib.import_module(f"sofi_dask.compat.{name}") is getattr(compat, name)
    assert compat.PysofiData is compat.pysofi.PysofiData


def test_cli_commands():
    proc = subprocess.run(
        [sys.executable, "-m", "sofi_dask.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in COMMANDS:
        assert command in proc.stdout, command
