"""The quality section from one pass, and its figures."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest

from sofi_dask.quality import frc, movie_quality, quality_report, split_moment_stacks
from sofi_dask.simulate import SimulationConfig, simulate_movie
from sofi_dask.stats import cumulant_stack
from sofi_dask.viz import plot_convergence, plot_drift_trace, plot_frc_curves

CFG = SimulationConfig(
    n_frames=1200, frame_shape=(64, 64), n_filaments=4, emitters_per_filament=50, seed=7
)


@pytest.fixture(scope="module")
def movie():
    return simulate_movie(CFG).data


def test_movie_quality_matches_the_pieces(movie):
    lazy = da.from_array(movie, chunks=(100, 32, 64))
    report = movie_quality(lazy, 3, block_frames=100, pixel_size=CFG.pixel_size)
    split = split_moment_stacks(movie, 3, block_frames=100)
    a, b = cumulant_stack(split.half_a), cumulant_stack(split.half_b)
    direct = frc(np.abs(a[2]), np.abs(b[2]), pixel_size=CFG.pixel_size)
    assert report.frc["cumulants_order2"].resolution == pytest.approx(direct.resolution)
    assert set(report.frc) == {"average", "cumulants_order2", "cumulants_order3"}
    assert set(report.error_maps) == {"cumulants_order2", "cumulants_order3"}
    assert report.convergence.frames.tolist() == [100, 200, 400, 800, 1200]
    section = report.to_dict()
    assert json.loads(json.dumps(section)) == section  # JSON-ready
    order2 = section["images"]["cumulants_order2"]
    assert order2["frc_resolution"] == pytest.approx(
        CFG.pixel_size * order2["frc_resolution_pixels"]
    )
    # the order-2 image resolves finer than the average by FRC and by decorrelation
    avg = section["images"]["average"]
    assert order2["frc_resolution"] < avg["frc_resolution"]
    assert order2["decorrelation_resolution"] < avg["decorrelation_resolution"]


def test_finer_grid_scales_the_pixel_size():
    rng = np.random.default_rng(0)
    avg = rng.random((32, 32))
    fine = rng.random((64, 64))
    report = quality_report(
        avg, {"x": fine}, halves={"x": (fine, fine + 0.1 * rng.random((64, 64)))}, pixel_size=0.1
    )
    assert report.frc["x"].pixel_size == pytest.approx(0.05)
    assert report.decorrelation["x"].pixel_size == pytest.approx(0.05)
    assert report.error_maps["x"].error_map.shape == (64, 64)
    # the Fourier-interpolation grid, (H - 1) m + 1 pixels (the pipeline's), is m times finer too
    from sofi_dask.image import fourier_interp

    interp = fourier_interp(avg, 2)
    assert interp.shape == (63, 63)
    report = quality_report(
        avg,
        {"x": interp},
        halves={"x": (interp, interp + 0.1 * rng.random((63, 63)))},
        pixel_size=0.1,
    )
    assert report.frc["x"].pixel_size == pytest.approx(0.05)
    assert report.decorrelation["x"].pixel_size == pytest.approx(0.05)
    assert "x" not in report.error_maps  # an error map needs an m H grid


def test_figures_take_plain_arrays(movie):
    report = movie_quality(movie, 2, block_frames=100)
    curves = {n: (r.frequencies, r.curve) for n, r in report.frc.items()}
    fig = plot_frc_curves(curves, resolutions={n: r.resolution for n, r in report.frc.items()})
    assert len(fig.axes[0].lines) == 3  # two curves and the threshold
    conv = report.convergence
    fig = plot_convergence(conv.frames, {f"order {k}": v for k, v in conv.relative_change.items()})
    assert len(fig.axes[0].lines) == 3  # orders 1, 2 and the 1/sqrt reference
    fig = plot_drift_trace(
        np.zeros((5, 2)), segment_centres=[1, 3], segment_positions=np.zeros((2, 2))
    )
    assert len(fig.axes) == 1
    with pytest.raises(ValueError, match="trace"):
        plot_drift_trace(np.zeros(5))
