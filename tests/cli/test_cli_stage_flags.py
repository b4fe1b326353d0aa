"""`sofi-dask run --drift on|off --quality on|off`: the flags set the config keys of the run."""

from __future__ import annotations

import json

from sofi_dask.cli._main import main
from sofi_dask.simulate import write_simulated_tiff


def test_drift_and_quality_flags(tmp_path, capsys):
    movie = tmp_path / "movie.tif"
    write_simulated_tiff(movie, n_frames=400, frame_shape=(32, 32), drift=(1.0, 0.5), seed=4)
    common = ["run", str(movie), "--no-figures", "--no-progress", "--cache-dir", str(tmp_path)]
    assert main([*common, "-o", str(tmp_path / "a"), "--drift", "on", "--quality", "off"]) == 0
    record = json.loads((tmp_path / "a" / "run.json").read_text())
    assert record["parameters"]["drift"]["enabled"] is True
    assert record["parameters"]["quality"]["enabled"] is False
    assert "drift" in record and "quality" not in record
    assert main([*common, "-o", str(tmp_path / "b"), "--quality", "on"]) == 0
    record = json.loads((tmp_path / "b" / "run.json").read_text())
    assert record["parameters"]["drift"]["enabled"] is False
    assert "quality" in record and "drift" not in record
    capsys.readouterr()
