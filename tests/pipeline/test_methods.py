"""run_pipeline with the methods beyond pysofi: cross-cumulants with virtual pixels, bSOFI
maps, linearisation, exponential and IIR bleaching corrections, against the stage functions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from sofi_dask.pipeline import PipelineConfig, apply_overrides, run_pipeline
from sofi_dask.simulate import write_simulated_tiff
from sofi_dask.stats import (
    bsofi,
    cumulants,
    exp_bleaching_correction,
    iir_bleaching_correction,
    xc_cumulants,
)

FAST = {
    "deconvolution.enabled": False,
    "ldrc.window_size": 7,
    "quality.enabled": False,
    "outputs.tiff_rgb": False,
    "outputs.png": False,
    "compute.progress": False,
}


@pytest.fixture(scope="module")
def movie_tif(tmp_path_factory):
    path = tmp_path_factory.mktemp("movie") / "m.tif"
    write_simulated_tiff(
        path, n_frames=300, frame_shape=(20, 22), seed=7, bleach_lifetime=150.0, pixel_size=0.1
    )
    return path


def test_xc_cumulants_bsofi_and_iir(tmp_path, movie_tif):
    cfg = apply_overrides(
        PipelineConfig(),
        {
            **FAST,
            "statistic.kind": "xc_cumulants",
            "statistic.bsofi": True,
            "statistic.psf_sigma": 1.6,
            "bleaching.method": "iir",
            "bleaching.iir_cutoff": 0.05,
            "outputs.figures": False,
        },
    )
    result = run_pipeline(movie_tif, tmp_path / "out", cfg)
    data = tifffile.imread(movie_tif)
    filtered = iir_bleaching_correction(data, cutoff=0.05)
    xc = xc_cumulants(filtered, (2, 3, 4), psf_sigma=1.6)
    maps = bsofi(xc)
    rec = json.loads((result.output / "run.json").read_text())
    for k in (2, 3, 4):
        np.testing.assert_allclose(
            result.load(f"xc_cumulants_order{k}"), xc.images[k], rtol=1e-9, atol=1e-12
        )
        image = rec["images"][f"xc_cumulants_order{k}"]
        assert image["shape"] == [k * 19 + 1, k * 21 + 1]
        np.testing.assert_allclose(image["scale"], [0.1 / k, 0.1 / k])
        assert rec["images"][f"ldrc_order{k}"]["shape"] == image["shape"]
    for name in ("ratio", "brightness", "balanced"):
        got = result.load(f"bsofi_{name}")
        np.testing.assert_allclose(got, getattr(maps, name), rtol=1e-9, atol=1e-12)
        assert np.all(np.isfinite(got))
        assert rec["images"][f"bsofi_{name}"]["scale"] == [0.1, 0.1]


def test_exp_bleaching_linearised_with_fit_figure(tmp_path, movie_tif):
    cfg = apply_overrides(
        PipelineConfig(),
        {
            **FAST,
            "bleaching.method": "exp",
            "statistic.linearise": True,
            "statistic.orders": [2, 3],
            "ldrc.enabled": False,
        },
    )
    result = run_pipeline(movie_tif, tmp_path / "out", cfg)
    data = tifffile.imread(movie_tif)
    corrected, fit = exp_bleaching_correction(data)
    k = cumulants(corrected, 3)
    for n in (2, 3):
        np.testing.assert_allclose(
            result.load(f"cumulants_order{n}"), np.abs(k[n]) ** (1 / n), rtol=1e-9
        )
    assert (result.output / "figures" / "total_signal.png").is_file()
    assert 0.5 * 150 < fit.lifetimes[0] < 2 * 150
    recorded = result.record["bleaching_fit"]
    assert recorded["model"] == "mono" and recorded["offset"] == pytest.approx(fit.offset)
    assert recorded["lifetimes_frames"] == pytest.approx(list(fit.lifetimes))


@pytest.mark.parametrize("method", ["exp", "biexp"])
def test_exp_bleaching_of_a_movie_without_bleaching_is_refused(tmp_path, method):
    """No bleaching: the fit finds a sub-frame 'lifetime' (a first-frame spike) whose decay is
    0 from frame 1 on; the run used to divide by it and write all-NaN images."""
    from sofi_dask.errors import ConfigError

    path = tmp_path / "flat.tif"
    write_simulated_tiff(path, n_frames=400, frame_shape=(32, 32), seed=0)  # the CLI default
    cfg = apply_overrides(
        PipelineConfig(), {**FAST, "bleaching.method": method, "ldrc.enabled": False}
    )
    with pytest.raises(ConfigError, match="bleaching.method") as info:
        run_pipeline(path, tmp_path / "out", cfg, ingest=False)
    message = str(info.value)
    assert "lifetime" in message and "no bleaching" in message and "'blocks'" in message
    assert not (tmp_path / "out").exists()


def test_config_refuses_what_the_methods_cannot_do():
    from sofi_dask.errors import ConfigError

    with pytest.raises(ConfigError, match="statistic.orders"):
        apply_overrides(
            PipelineConfig(), {"statistic.kind": "xc_cumulants", "statistic.orders": [1, 2]}
        )
    with pytest.raises(ConfigError, match="statistic.bsofi"):
        apply_overrides(PipelineConfig(), {"statistic.bsofi": True, "statistic.orders": [2, 3]})
    with pytest.raises(ConfigError, match="video.enabled"):
        apply_overrides(PipelineConfig(), {"statistic.bsofi": True, "video.enabled": True})
    with pytest.raises(ConfigError, match="bleaching.method"):
        apply_overrides(PipelineConfig(), {"bleaching.method": "poly"})


def test_xc_video_with_fine_grid_metadata(tmp_path, movie_tif):
    cfg = apply_overrides(
        PipelineConfig(),
        {
            **FAST,
            "statistic.kind": "xc_cumulants",
            "statistic.orders": [2, 3],
            "statistic.psf_sigma": 1.6,
            "bleaching.enabled": False,
            "video.enabled": True,
            "video.window": 100,
            "outputs.figures": False,
        },
    )
    result = run_pipeline(movie_tif, tmp_path / "out", cfg)
    data = tifffile.imread(movie_tif)
    rec = json.loads((result.output / "run.json").read_text())
    for k in (2, 3):
        got = result.load(f"xc_cumulants_order{k}")
        assert got.shape == (3, k * 19 + 1, k * 21 + 1)
        one = xc_cumulants(data[100:200], k, psf_sigma=1.6)
        np.testing.assert_allclose(got[1], one.images[k], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(
            rec["images"][f"ldrc_order{k}"]["scale"], [100, 0.1 / k, 0.1 / k]
        )
