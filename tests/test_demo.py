"""``python -m sofi_dask.demo`` (what ``make demo`` runs): the real demo, end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import tifffile
import zarr


def test_demo_writes_and_describes_its_outputs(tmp_path):
    out = tmp_path / "demo_output"
    proc = subprocess.run(
        [sys.executable, "-m", "sofi_dask.demo", "--output", str(out), "--no-progress"],
        check=True,
        capture_output=True,
        text=True,
        timeout=240,
    )
    text = proc.stdout
    assert f"Outputs under {out}" in text
    for line in (
        "movie.tif",
        "results/run.json",
        "results/results.zarr",
        "results/figures/total_signal.png",
        "results/*/ldrc_order4.*",
    ):
        assert line in text
    movie = tifffile.imread(out / "movie.tif")
    assert movie.shape == (2000, 128, 128) and movie.dtype == np.uint16
    record = json.loads((out / "results" / "run.json").read_text())
    assert record["input"]["ingestion"] == "ingested"
    assert "Zarr (reused by later runs)" in text
    assert len(record["bleaching_blocks"]) > 1
    root = zarr.open_group(out / "results" / "results.zarr", mode="r")
    final = root["ldrc_order4/0"][...]
    assert final.shape == (128, 128) and np.isfinite(final).all() and final.max() > 0
    for fig in record["figures"].values():
        assert (out / "results" / fig[0]).stat().st_size > 1000

    # a second run reuses the movie and its ingested store and replaces results/
    again = subprocess.run(
        [sys.executable, "-m", "sofi_dask.demo", "--output", str(out), "--no-progress"],
        check=True,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert "reusing the simulated movie" in again.stdout
    record2 = json.loads((out / "results" / "run.json").read_text())
    assert record2["input"]["ingestion"] == "reused"
    assert "Zarr (reused from an earlier run)" in again.stdout
    np.testing.assert_array_equal(
        zarr.open_array(out / "results/results.zarr/ldrc_order4/0")[...], final
    )
