"""run_pipeline refuses what it cannot honour about its input before any work: an output that
is the ingested store of a folder of TIFFs, TIFF options (axes, channel) given for a store."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from sofi_dask.cli._main import main
from sofi_dask.errors import ConfigError, InputError
from sofi_dask.io import ingest
from sofi_dask.pipeline import PipelineConfig, apply_overrides, run_pipeline
from sofi_dask.simulate import simulate_movie

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
def frames(tmp_path_factory):
    movie = simulate_movie(n_frames=40, frame_shape=(12, 14), seed=2)
    return np.asarray(movie.data, dtype=np.uint16)


@pytest.fixture
def sequence(tmp_path, frames):
    folder = tmp_path / "seq"
    folder.mkdir()
    for i, frame in enumerate(frames):
        tifffile.imwrite(folder / f"frame_{i:04d}.tif", frame)
    return folder


def test_output_at_the_ingested_store_of_a_folder_is_refused_before_ingesting(tmp_path, sequence):
    store = tmp_path / "seq.zarr"  # where the folder's frames would be ingested
    with pytest.raises(InputError, match="parameter .output.*seq.zarr"):
        run_pipeline(sequence, store, _cfg())
    assert not store.exists()  # refused before the ingestion wrote it
    assert run_pipeline(sequence, tmp_path / "out", _cfg()).record["input"]["ingestion"] == (
        "ingested"
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory, frames):
    folder = tmp_path_factory.mktemp("inputs")
    tifffile.imwrite(folder / "two.tif", np.stack([frames, frames + 1], axis=1), imagej=True)
    out = folder / "two.zarr"
    ingest(folder / "two.tif", out, channel=1)
    return out


@pytest.mark.parametrize(
    ("key", "value", "flag"),
    [("input.axes", "QQQ", ["--axes", "QQQ"]), ("input.axes", "CYX", ["--axes", "CYX"]),
     ("input.channel", 0, ["--set", "input.channel=0"])],
)  # fmt: skip
def test_tiff_options_for_a_store_are_refused(tmp_path, store, capsys, key, value, flag):
    with pytest.raises(ConfigError, match=f"{key}: expected null") as err:
        run_pipeline(store, tmp_path / "out", _cfg(**{key: value}))
    assert err.value.key == key and not (tmp_path / "out").exists()
    assert main(["run", str(store), "-o", str(tmp_path / "cli"), *flag, "--no-progress"]) == 2
    assert key in capsys.readouterr().err and not (tmp_path / "cli").exists()


def test_tiff_options_that_say_what_the_store_is_are_accepted(tmp_path, store, frames):
    cfg = _cfg(**{"input.axes": "tyx", "input.channel": 1})  # the channel it was ingested from
    result = run_pipeline(store, tmp_path / "out", cfg)
    np.testing.assert_allclose(result.load("average"), frames.mean(axis=0) + 1, rtol=1e-12)
