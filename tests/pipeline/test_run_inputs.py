"""run_pipeline refuses what it cannot honour about its input before any work: an output that
is the ingested store of a folder of TIFFs."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from sofi_dask.errors import InputError
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
