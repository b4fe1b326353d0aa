"""A cached store is reused only for the same TIFF content, not just the same size and mtime."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile

from sofi_dask.io import ingest
from sofi_dask.pipeline._input import resolve_input


def _replace_keeping_size_and_mtime(path, movie):
    st = path.stat()
    tifffile.imwrite(path, movie)
    assert path.stat().st_size == st.st_size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_replaced_tiff_with_same_size_and_mtime_is_ingested_again(tmp_path):
    rng = np.random.default_rng(11)
    old = rng.integers(0, 3000, (30, 16, 16), dtype=np.uint16)
    new = rng.integers(0, 3000, old.shape, dtype=np.uint16)  # another acquisition
    tif = tmp_path / "m.tif"
    tifffile.imwrite(tif, old)
    first = resolve_input(tif)
    assert first.ingestion == "ingested"
    assert resolve_input(tif).ingestion == "reused"  # unchanged: reused
    _replace_keeping_size_and_mtime(tif, new)
    again = resolve_input(tif)
    assert again.ingestion == "ingested"
    np.testing.assert_array_equal(again.movie.data.compute(), new)
    assert again.movie.frame_stats.total[17] == new[17].sum()


def test_repair_and_resume_refuse_replaced_source(tmp_path):
    rng = np.random.default_rng(12)
    old = rng.integers(0, 3000, (30, 16, 16), dtype=np.uint16)
    tif = tmp_path / "m.tif"
    tifffile.imwrite(tif, old)
    dest = ingest(tif, tmp_path / "m.zarr")
    _replace_keeping_size_and_mtime(tif, old[::-1].copy())
    with pytest.raises(ValueError, match="another source") as err:
        ingest(tif, dest, repair=True)
    assert str(dest) in str(err.value)
