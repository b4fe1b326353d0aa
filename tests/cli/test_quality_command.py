"""``sofi-dask quality RESULT_DIR``: the section again from a run's outputs (real CLI process)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import zarr

from sofi_dask.pipeline import PipelineConfig, apply_overrides, run_pipeline
from sofi_dask.quality import frc
from sofi_dask.simulate import SimulationConfig, write_simulated_tiff


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "sofi_dask.cli", *args], capture_output=True, text=True
    )


def test_quality_command_recomputes_from_the_outputs(tmp_path):
    movie = tmp_path / "m.tif"
    write_simulated_tiff(movie, SimulationConfig(n_frames=400, frame_shape=(40, 40), seed=8))
    cfg = apply_overrides(
        PipelineConfig(),
        {
            "bleaching.enabled": False,
            "statistic.orders": [2],
            "deconvolution.enabled": False,
            "ldrc.enabled": False,
            "quality.block_frames": 50,
            "outputs.figures": False,
            "compute.progress": False,
        },
    )
    result = run_pipeline(movie, tmp_path / "out", cfg)
    run_json = (result.output / "run.json").read_text()
    proc = _cli("quality", str(result.output), "--threshold", "half-bit")
    assert proc.returncode == 0, proc.stderr
    assert "cumulants_order2" in proc.stdout and "FRC px" in proc.stdout
    section = json.loads((result.output / "quality.json").read_text())
    assert section["recomputed"] is True
    halves = zarr.open_group(result.output / "quality_halves.zarr", mode="r")["halves_40x40"]
    i = halves.attrs["names"].index("cumulants_order2")
    a, b = halves[i, 0], halves[i, 1]
    expected = frc(a, b, threshold="half-bit", pixel_size=0.1)
    got = section["images"]["cumulants_order2"]
    assert got["frc_threshold"] == "half-bit"
    assert got["frc_resolution"] == pytest.approx(expected.resolution)
    # the same threshold as the run gives the run's numbers; run.json is left as it was
    again = json.loads(_cli("quality", str(result.output), "--json").stdout)
    original = json.loads(run_json)["quality"]["images"]
    for name, entry in again["images"].items():
        for key in ("frc_resolution", "decorrelation_resolution", "rse"):
            if key in entry:
                assert entry[key] == pytest.approx(original[name][key])
    assert (result.output / "run.json").read_text() == run_json


def test_quality_command_refuses_a_folder_without_a_run(tmp_path):
    proc = _cli("quality", str(tmp_path))
    assert proc.returncode == 2
    assert "run.json" in proc.stderr
