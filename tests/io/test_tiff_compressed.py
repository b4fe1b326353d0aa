"""Compressed TIFFs (LZW, zlib, deflate + predictor; real files written by tifffile with the
``imagecodecs`` codecs): every frame equal to the source after ingest and in lazy reads,
strips decoded once per ingest."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import zarr

from sofi_dask.io import _tiff_decode as _decode
from sofi_dask.io import ingest, open_movie
from sofi_dask.io._ingest import IngestPlan, band_groups, compressed_depth

COMPRESSIONS = [
    ("lzw", {}),
    ("zlib", {}),
    ("adobe_deflate", {"predictor": True}),
]


def _frames(shape, dtype=np.uint16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.poisson(200, shape).astype(dtype)


@pytest.mark.parametrize(("compression", "kwargs"), COMPRESSIONS)
def test_big_compressed_frames_ingest_exactly(tmp_path, compression, kwargs):
    """2048 x 2048 frames (few of them): store and per-frame totals equal the source."""
    a = _frames((3, 2048, 2048))
    src = tmp_path / f"{compression}.tif"
    tifffile.imwrite(src, a, compression=compression, photometric="minisblack", **kwargs)
    with tifffile.TiffFile(src) as tif:  # really compressed, in several strips
        page = tif.pages.first
        assert page.compression != 1 and len(page.dataoffsets) > 1
        assert (page.predictor != 1) == bool(kwargs)
    dest = ingest(src, tmp_path / "m.zarr")
    movie = open_movie(dest)
    np.testing.assert_array_equal(zarr.open_array(dest / "movie", mode="r")[:], a)
    np.testing.assert_array_equal(
        movie.frame_stats.total, a.sum(axis=(1, 2), dtype=np.int64).astype(float)
    )
    np.testing.assert_array_equal(movie.frame_stats.maximum, a.max(axis=(1, 2)))


@pytest.mark.parametrize(("compression", "kwargs"), COMPRESSIONS)
@pytest.mark.parametrize("rowsperstrip", [5, 64, 100])
def test_lazy_reads_of_bands_and_windows(tmp_path, compression, kwargs, rowsperstrip):
    """Bands that start and end inside strips, column windows, big-endian files."""
    a = _frames((7, 100, 40), seed=rowsperstrip)
    src = tmp_path / "s.tif"
    tifffile.imwrite(
        src, a, compression=compression, rowsperstrip=rowsperstrip, byteorder=">", **kwargs
    )
    movie = open_movie(src, chunks=(3, 16, 24))
    np.testing.assert_array_equal(movie.data.compute(), a)
    np.testing.assert_array_equal(movie.data[2:6, 13:71, 5:33].compute(), a[2:6, 13:71, 5:33])


def test_rgb_compressed_channel(tmp_path):
    a = _frames((4, 48, 32, 3))
    src = tmp_path / "rgb.tif"
    tifffile.imwrite(src, a, compression="zlib", photometric="rgb", rowsperstrip=16)
    for c in range(3):
        np.testing.assert_array_equal(open_movie(src, channel=c).data.compute(), a[..., c])


def test_each_strip_decoded_once_per_ingest(tmp_path, monkeypatch):
    """Ingest groups bands on strip boundaries: decoded rows == rows in the movie."""
    a = _frames((8, 256, 64))
    src = tmp_path / "z.tif"
    tifffile.imwrite(src, a, compression="zlib", rowsperstrip=64)
    decoded = []
    real = _decode.decode_page_rows

    def counting(strips, fd, rows, cols, sample, out):
        decoded.append(rows)
        return real(strips, fd, rows, cols, sample, out)

    monkeypatch.setattr(_decode, "decode_page_rows", counting)
    ingest(src, tmp_path / "m.zarr", chunks=(4, 32, 64))
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "m.zarr" / "movie")[:], a)
    # each task reads two 32-row bands = one 64-row strip: 8 frames x 4 strips, no overlap
    assert sorted(decoded) == sorted([(0, 64), (64, 128), (128, 192), (192, 256)] * 8)


def test_band_groups_and_depth():
    plan = IngestPlan((100, 2048, 2048), (256, 32, 2048))
    assert band_groups(plan, 64, 2)[:2] == [(0, 2), (2, 4)]
    assert len(band_groups(plan, 64, 2)) == 32
    # one strip per 2048-row page: groups capped by the memory budget, depth reduced to fit
    assert compressed_depth((256, 32, 2048), 2048, 2) == 32
    plan = IngestPlan((100, 2048, 2048), (32, 32, 2048))
    assert band_groups(plan, 2048, 2) == [(0, 64)]
    # strips of 48 rows, bands of 32: groups end where both end (every 96 rows)
    plan = IngestPlan((10, 200, 10), (10, 32, 10))
    assert band_groups(plan, 48, 2) == [(0, 3), (3, 6), (6, 7)]


def test_single_strip_pages_default_chunks(tmp_path):
    """One strip per page: the default chunks keep a time chunk of whole frames small."""
    a = _frames((40, 1024, 1024))
    src = tmp_path / "one_strip.tif"
    tifffile.imwrite(src, a, compression="zlib", rowsperstrip=1024)
    dest = ingest(src, tmp_path / "m.zarr")
    arr = zarr.open_array(dest / "movie", mode="r")
    assert arr.chunks[0] * 1024 * 1024 * 2 <= 256 << 20
    np.testing.assert_array_equal(arr[:], a)
