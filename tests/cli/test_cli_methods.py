"""``sofi-dask run`` with the methods beyond pysofi: cross-cumulants, bSOFI, IIR bleaching."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

from sofi_dask.cli._main import main
from sofi_dask.simulate import write_simulated_tiff


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "movie.tif"
    write_simulated_tiff(
        path, n_frames=200, frame_shape=(16, 18), seed=3, pixel_size=0.1, bleach_lifetime=300.0
    )
    return path


def test_run_xc_cumulants_bsofi_iir(tmp_path, movie):
    out = tmp_path / "out"
    args = ["run", str(movie), "-o", str(out), "--statistic", "xc_cumulants", "--bsofi", "on"]
    args += ["--bleaching-method", "iir", "--iir-cutoff", "0.05", "--deconvolution", "off"]
    args += ["--ldrc-window", "7", "--linearise", "on", "--no-progress", "--no-figures"]
    assert main(args) == 0
    root = zarr.open_group(out / "results.zarr", mode="r")
    rec = json.loads((out / "run.json").read_text())
    assert rec["parameters"]["bleaching"]["method"] == "iir"
    for k in (2, 3, 4):
        arr = root[f"xc_cumulants_order{k}/0"]
        assert arr.shape == (15 * k + 1, 17 * k + 1)
        assert np.isfinite(arr[...]).all() and (arr[...] >= 0).all()  # linearised
        ms = root[f"ldrc_order{k}"].attrs["ome"]["multiscales"][0]
        scale = ms["datasets"][0]["coordinateTransformations"][0]["scale"]
        np.testing.assert_allclose(scale, [0.1 / k, 0.1 / k])
    for name in ("bsofi_ratio", "bsofi_brightness", "bsofi_balanced"):
        values = root[f"{name}/0"][...]
        assert values.shape == (16, 18) and np.isfinite(values).all()
    ratio = root["bsofi_ratio/0"][...]
    assert ((ratio >= 0) & (ratio < 1)).all()
