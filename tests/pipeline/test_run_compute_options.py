"""run_pipeline honours or refuses every compute option: a performance report it cannot write,
worker counts of dask's local schedulers, options that only a cluster takes."""

from __future__ import annotations

import pytest

from sofi_dask.errors import ConfigError
from sofi_dask.pipeline import PipelineConfig, apply_overrides, run_pipeline
from sofi_dask.simulate import write_simulated_tiff

FAST = {
    "bleaching.enabled": False,
    "statistic.orders": [2],
    "deconvolution.iterations": 2,
    "deconvolution.psf.size": 9,
    "ldrc.window_size": 7,
    "quality.enabled": False,
    "outputs.figures": False,
    "compute.progress": False,
}


def _cfg(**extra):
    return apply_overrides(PipelineConfig(), {**FAST, **extra})


@pytest.fixture(scope="module")
def movie_tif(tmp_path_factory):
    path = tmp_path_factory.mktemp("compute_options") / "m.tif"
    write_simulated_tiff(path, n_frames=80, frame_shape=(16, 18), seed=7, pixel_size=0.1)
    return path


@pytest.mark.parametrize("scheduler", ["threads", "synchronous", "processes"])
def test_performance_report_with_a_local_scheduler_is_refused_before_any_work(
    tmp_path, movie_tif, scheduler
):
    report = tmp_path / "rep.html"
    cfg = _cfg(**{"compute.scheduler": scheduler, "compute.performance_report": str(report)})
    with pytest.raises(ConfigError, match=scheduler) as err:
        run_pipeline(movie_tif, tmp_path / "out", cfg)
    assert err.value.key == "compute.performance_report"
    assert not (tmp_path / "out").exists() and not report.exists()
    assert not movie_tif.with_name("m.tif.zarr").exists()  # refused before the ingestion


def test_performance_report_is_written_with_a_client(tmp_path, movie_tif, dask_client):
    report = tmp_path / "rep.html"
    cfg = _cfg(**{"compute.performance_report": str(report)})
    run_pipeline(movie_tif, tmp_path / "out", cfg, client=dask_client, ingest=False)
    assert report.is_file() and "<html" in report.read_text(errors="replace").lower()
