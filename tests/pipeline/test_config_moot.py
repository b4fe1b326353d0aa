"""Settings given that have no effect (a stage off, another setting overriding them): found from
what was set explicitly (file, dict, overrides), never from defaults; run_pipeline warns."""

from __future__ import annotations

import logging

import pytest

from sofi_dask.pipeline import run_pipeline
from sofi_dask.pipeline._config import PipelineConfig, apply_overrides, load_config
from sofi_dask.pipeline._config_checks import moot_settings
from sofi_dask.simulate import write_simulated_tiff


def test_defaults_and_used_settings_are_not_moot():
    assert moot_settings(PipelineConfig()) == []
    used = {"deconvolution": {"lam": 2.0}, "video": {"enabled": True, "step": 5}}
    assert moot_settings(PipelineConfig.from_dict(used)) == []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"finterp": {"factor": 3}}, [("finterp.factor", 3, "finterp.enabled = false")]),
        (
            {"noise_filter_2": {"sigma": 1.0}},
            [("noise_filter_2.sigma", 1.0, "noise_filter_2.enabled = false")],
        ),
        (  # the stage off wins over the method: one reason per key
            {"bleaching": {"enabled": False, "method": "exp", "iir_cutoff": 0.1}},
            [
                ("bleaching.method", "exp", "bleaching.enabled = false"),
                ("bleaching.iir_cutoff", 0.1, "bleaching.enabled = false"),
            ],
        ),
        (
            {"bleaching": {"method": "iir", "fbc": 0.1}},
            [
                (
                    "bleaching.fbc",
                    0.1,
                    "bleaching.method = 'iir' (the blocks are for 'blocks' and 'correct')",
                )
            ],
        ),
        ({"deconvolution": {"enabled": False}}, []),  # the switch itself is never moot
    ],
)
def test_moot_rules(data, expected):
    assert moot_settings(PipelineConfig.from_dict(data)) == expected


def test_overrides_keep_what_was_set(tmp_path):
    file = tmp_path / "run.toml"
    file.write_text("[ldrc]\nenabled = false\nwindow_size = 9\n")
    config = load_config(file)
    assert moot_settings(config) == [("ldrc.window_size", (9, 9), "ldrc.enabled = false")]
    # overrides add their keys to the file's; the defaults stay unset, the values unchanged
    config = apply_overrides(config, ["deconvolution.enabled=false", "deconvolution.lam=2"])
    assert [m[0] for m in moot_settings(config)] == ["deconvolution.lam", "ldrc.window_size"]
    again = apply_overrides(config, {"ldrc.enabled": True, "deconvolution": {"enabled": True}})
    assert moot_settings(again) == []
    assert again == PipelineConfig.from_dict(again.to_dict())
    assert again.deconvolution.lam == 1.5  # a section key takes the whole table
    assert again.ldrc.window_size == (9, 9)


def test_run_pipeline_warns_for_a_dict(tmp_path, caplog):
    movie = tmp_path / "movie.tif"
    write_simulated_tiff(movie, n_frames=60, frame_shape=(32, 32), seed=5)
    config = {
        "deconvolution": {"iterations": 2},
        "ldrc": {"enabled": False, "window_size": 9},
        "quality": {"enabled": False},
        "outputs": {"figures": False},
        "compute": {"progress": False},
    }
    with caplog.at_level(logging.WARNING, logger="sofi_dask.pipeline._config_checks"):
        run_pipeline(movie, tmp_path / "out", config, cache_dir=tmp_path)
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert messages == ["ldrc.window_size = [9, 9] has no effect: ldrc.enabled = false"]
