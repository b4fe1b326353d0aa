"""The chunk file writer against zarr's own write of the same arrays, on disk."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from sofi_dask.io import ingest, open_movie
from sofi_dask.io._chunk_write import ChunkFileWriter
from sofi_dask.io._store import MOVIE, make_codecs
from sofi_dask.io._verify import verify_store

SHAPE = (40, 30, 20)  # edge chunks on the first two axes
CHUNKS = (16, 16, 20)


def _pair(tmp_path: Path, compressor: str, dtype: str, fill=0):
    kw = dict(
        shape=SHAPE,
        chunks=CHUNKS,
        dtype=dtype,
        compressors=make_codecs(compressor, 5, np.dtype(dtype)),
        fill_value=fill,
    )
    ref = zarr.create_array(str(tmp_path / "ref"), **kw).with_config({"write_empty_chunks": True})
    ours = zarr.create_array(str(tmp_path / "ours"), **kw)
    return ref, ours


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in (root / "c").rglob("*") if p.is_file()
    }


@pytest.mark.parametrize("compressor", ["lz4", "zstd", "zlib", "none"])
@pytest.mark.parametrize("dtype", ["uint16", "uint8", "float32", "int32"])
def test_same_bytes_as_zarr(tmp_path, compressor, dtype):
    rng = np.random.default_rng(5)
    data = rng.poisson(100, SHAPE).astype(dtype)
    ref, ours = _pair(tmp_path, compressor, dtype)
    ref[...] = data
    writer = ChunkFileWriter.for_array(ours)
    assert writer is not None
    # as the ingest does: from worker threads, a block of whole chunks each (edges included)
    blocks = [
        (slice(0, 16), slice(0, 30)),
        (slice(16, 32), slice(0, 16)),
        (slice(16, 32), slice(16, 30)),
        (slice(32, 40), slice(0, 30)),
    ]

    def write(t, y):
        writer[t, y, :] = data[t, y, :]

    threads = [threading.Thread(target=write, args=b) for b in blocks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    want = _files(tmp_path / "ref")
    assert len(want) == 3 * 2 and _files(tmp_path / "ours") == want
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "ours"))[...], data)
    assert not list((tmp_path / "ours").rglob("*.partial"))


def test_part_of_a_chunk_goes_through_zarr(tmp_path):
    """A selection that covers part of a chunk merges with what the chunk holds."""
    ref, ours = _pair(tmp_path, "lz4", "uint16", fill=7)
    writer = ChunkFileWriter.for_array(ours)
    a = np.arange(np.prod(SHAPE), dtype=np.uint16).reshape(SHAPE)
    for arr in (ref, writer):
        arr[0:40, 0:30, :] = a
        arr[3:9, 5:20, 2:11] = a[:6, :15, :9] + 1  # inside chunks, across a chunk border
    assert _files(tmp_path / "ours") == _files(tmp_path / "ref")
    want = a.copy()
    want[3:9, 5:20, 2:11] = a[:6, :15, :9] + 1
    np.testing.assert_array_equal(ours[...], want)


def test_edge_chunk_padded_with_the_fill_value(tmp_path):
    ref, ours = _pair(tmp_path, "none", "uint16", fill=7)
    data = np.ones(SHAPE, np.uint16)
    ref[...] = data
    ChunkFileWriter.for_array(ours)[:, :, :] = data
    raw = (tmp_path / "ours" / "c" / "2" / "1" / "0").read_bytes()[:-4]
    chunk = np.frombuffer(raw, "<u2").reshape(CHUNKS)
    assert (chunk[:8, :14] == 1).all() and (chunk[8:] == 7).all() and (chunk[:, 14:] == 7).all()
    assert _files(tmp_path / "ours") == _files(tmp_path / "ref")


def test_other_layouts_are_left_to_zarr(tmp_path):
    sharded = zarr.create_array(
        str(tmp_path / "s"), shape=(8, 8), chunks=(2, 2), shards=(4, 4), dtype="uint16"
    )
    assert ChunkFileWriter.for_array(sharded) is None
    no_crc = zarr.create_array(str(tmp_path / "n"), shape=(8, 8), chunks=(2, 2), dtype="uint16")
    assert ChunkFileWriter.for_array(no_crc) is None


def test_failed_write_leaves_no_temporary_file(tmp_path):
    _ref, ours = _pair(tmp_path, "lz4", "uint16")
    writer = ChunkFileWriter.for_array(ours)
    target = writer.path((0, 0, 0))
    (target / "in the way").mkdir(parents=True)  # a folder where the chunk file goes
    with pytest.raises(OSError):
        writer[0:16, 0:16, :] = np.zeros((16, 16, 20), np.uint16)
    assert [p.name for p in target.parent.iterdir()] == ["0"]


def test_ingest_writes_through_it_and_damage_is_still_found(tmp_path):
    rng = np.random.default_rng(2)
    movie = rng.integers(0, 3000, (50, 40, 24)).astype(np.uint16)
    tif = tmp_path / "m.tif"
    tifffile.imwrite(tif, movie)
    dest = ingest(tif, tmp_path / "m.zarr", chunks=(16, 16, 24))
    group = zarr.open_group(str(dest), mode="r")
    assert ChunkFileWriter.for_array(group[MOVIE]) is not None  # the layout it writes
    np.testing.assert_array_equal(open_movie(dest).data.compute(), movie)
    assert verify_store(dest).ok and group[MOVIE].nchunks == 4 * 3
    f = dest / "movie" / "c" / "3" / "2" / "0"  # an edge chunk, padded by the writer
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    f.write_bytes(bytes(raw))
    report = verify_store(dest)
    assert [d.key for d in report.damaged] == ["c/3/2/0"]


def test_int_and_scalar_selections_as_the_ingest_writes_its_records(tmp_path):
    from sofi_dask.io._store import checksum_codecs

    kw = dict(shape=(5, 3), chunks=(1, 1), dtype="uint8", fill_value=0)
    ref = zarr.create_array(str(tmp_path / "ref"), compressors=checksum_codecs(), **kw)
    ours = zarr.create_array(str(tmp_path / "ours"), compressors=checksum_codecs(), **kw)
    writer = ChunkFileWriter.for_array(ours)
    for arr in (ref.with_config({"write_empty_chunks": True}), writer):
        arr[2, 0:2] = 1
        arr[4, 1:3] = np.array([3, 4])
        arr[0:1] = 9  # fewer keys than axes
    assert _files(tmp_path / "ours") == _files(tmp_path / "ref")
    np.testing.assert_array_equal(ours[...], ref[...])
