"""The chunk file reader against zarr's own read of the same real stores on disk."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import zarr

from sofi_dask.io import ingest, open_movie
from sofi_dask.io._chunk_read import ChunkDecodeError, ChunkFileReader
from sofi_dask.io._integrity import all_chunk_coords

SHAPE = (23, 13, 17)  # edge chunks on every axis for the chunk shape below
CHUNKS = (10, 8, 12)


def _store(tmp_path, compressor: str, dtype: str = "uint16"):
    rng = np.random.default_rng(3)
    movie = rng.integers(0, 4000, SHAPE).astype(dtype)
    tif = tmp_path / "m.tif"
    tifffile.imwrite(tif, movie)
    dest = ingest(tif, tmp_path / "m.zarr", chunks=CHUNKS, compressor=compressor)
    return dest, movie


@pytest.mark.parametrize("compressor", ["lz4", "zstd", "none"])
@pytest.mark.parametrize("dtype", ["uint16", "uint8", "float32"])
def test_every_chunk_equals_zarrs_read(tmp_path, compressor, dtype):
    dest, movie = _store(tmp_path, compressor, dtype)
    arr = zarr.open_array(dest / "movie", mode="r")
    reader = ChunkFileReader.for_array(arr)
    assert reader is not None and reader.blosc == (compressor != "none")
    for coords in all_chunk_coords(arr.cdata_shape):
        got = reader.read(coords)
        assert got.shape == CHUNKS and got.dtype == movie.dtype
        sel = tuple(slice(c * n, (c + 1) * n) for c, n in zip(coords, CHUNKS, strict=True))
        part = movie[sel]
        np.testing.assert_array_equal(got[tuple(slice(0, s) for s in part.shape)], part)
    # the lazy movie reads through it: same numbers, edge chunks cut to the array
    np.testing.assert_array_equal(open_movie(dest).data.compute(), movie)
    np.testing.assert_array_equal(open_movie(dest).data[3:17, 2:11].compute(), movie[3:17, 2:11])


@pytest.mark.parametrize("compressor", ["lz4", "none"])
def test_damage_is_a_decode_error(tmp_path, compressor):
    dest, _movie = _store(tmp_path, compressor)
    arr = zarr.open_array(dest / "movie", mode="r")
    reader = ChunkFileReader.for_array(arr)
    f = reader.path((1, 0, 1))
    good = f.read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x5A
    for bad, why in (
        (bytes(flipped), "checksum"),
        (good[:-9], "bytes" if compressor == "none" else "checksum"),
        (b"", "no checksum"),
    ):
        f.write_bytes(bad)
        with pytest.raises(ChunkDecodeError, match=why):
            reader.read((1, 0, 1))
    f.write_bytes(good)
    reader.read((1, 0, 1))
    f.unlink()
    with pytest.raises(FileNotFoundError):
        reader.read((1, 0, 1))


def test_blosc_frame_of_wrong_size_with_a_valid_checksum_is_refused(tmp_path):
    """A chunk of another shape (its checksum right) never fills an array partially."""
    import google_crc32c
    from numcodecs import blosc

    dest, _movie = _store(tmp_path, "lz4")
    arr = zarr.open_array(dest / "movie", mode="r")
    reader = ChunkFileReader.for_array(arr)
    frame = blosc.compress(np.zeros(100, np.uint16).tobytes(), b"lz4", 5, blosc.SHUFFLE)
    crc = google_crc32c.value(frame).to_bytes(4, "little")
    reader.path((0, 0, 0)).write_bytes(frame + crc)
    with pytest.raises(ChunkDecodeError, match="Blosc frame holds 200 bytes"):
        reader.read((0, 0, 0))


def test_other_layouts_are_left_to_zarr(tmp_path):
    plain = zarr.create_array(tmp_path / "a.zarr", shape=(4, 4), chunks=(2, 2), dtype="u2")
    assert ChunkFileReader.for_array(plain) is None  # no crc32c codec
    v2 = zarr.create_array(
        tmp_path / "b.zarr", shape=(4, 4), chunks=(2, 2), dtype="u2", zarr_format=2
    )
    assert ChunkFileReader.for_array(v2) is None
    mem = zarr.create_array(zarr.storage.MemoryStore(), shape=(4,), chunks=(2,), dtype="u2")
    assert ChunkFileReader.for_array(mem) is None
