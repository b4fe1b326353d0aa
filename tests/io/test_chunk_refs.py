"""Chunk references (``Movie.chunk_refs``): read by their consumer into a per-thread scratch
buffer, the same numbers as ``Movie.data``; nothing read into scratch leaves the call."""

from __future__ import annotations

import pickle

import dask
import numpy as np
import pytest
import tifffile

from sofi_dask.errors import DamagedStoreError
from sofi_dask.io import ingest, open_movie
from sofi_dask.io._chunk_refs import ChunkRef, apply_to_block

SHAPE = (23, 13, 17)  # edge chunks on every axis for the chunk shape below
CHUNKS = (10, 8, 12)


def _store(tmp_path, compressor="lz4", dtype="uint16"):
    movie = np.random.default_rng(5).integers(0, 4000, SHAPE).astype(dtype)
    tifffile.imwrite(tmp_path / "m.tif", movie)
    return ingest(tmp_path / "m.tif", tmp_path / "m.zarr", chunks=CHUNKS, compressor=compressor)


def _copy(block):
    return np.array(block, copy=True)


@pytest.mark.parametrize("compressor", ["lz4", "none"])
@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_refs_read_the_same_blocks_as_the_data(tmp_path, compressor, dtype):
    movie = open_movie(_store(tmp_path, compressor, dtype))
    refs = movie.chunk_refs
    assert refs is not None
    assert (refs.shape, refs.chunks, refs.dtype) == (
        movie.data.shape,
        movie.data.chunks,
        movie.data.dtype,
    )
    expected = movie.data.compute()
    for sel in (np.s_[:], np.s_[3:17, 2:11], np.s_[10:20, 8:, :12], np.s_[20:, 5:7, 13:]):
        got = refs[sel].map_blocks(apply_to_block, _copy, dtype=refs.dtype)
        np.testing.assert_array_equal(got.compute(scheduler="threads"), expected[sel])


def test_a_block_in_scratch_never_leaves_the_call(tmp_path):
    movie = open_movie(_store(tmp_path))
    ref, other = (movie.chunk_refs.blocks[i, 0, 0].compute() for i in (1, 0))  # whole chunks
    assert isinstance(ref, ChunkRef)
    first = ref.apply(np.sum, dtype=np.float64)
    np.testing.assert_equal(first, movie.data.blocks[1, 0, 0].compute().sum(dtype=np.float64))
    with pytest.raises(ValueError, match="must not leave the task"):
        ref.apply(lambda block: block)
    for leaks in (
        lambda block: {"view": block[1:]},
        lambda block: (block.sum(), block[0]),  # a tuple, a list, nested
        lambda block: [np.zeros(2), {"rows": [block[:, 1]]}],
    ):
        with pytest.raises(ValueError, match="must not leave the task"):
            ref.apply(leaks)
    total, (mean,) = ref.apply(lambda block: (block.sum(), [block.mean(axis=0)]))  # no view
    np.testing.assert_allclose(mean, movie.data.blocks[1, 0, 0].compute().mean(axis=0))
    # the scratch buffer is reused: a second chunk read on this thread overwrites the first
    seen = []
    ref.apply(lambda block: seen.append(block) or 0)
    before = seen[0].copy()
    other.apply(lambda block: 0)
    assert not np.array_equal(seen[0], before)
    # references pickle as the store path (what distributed sends), not as data
    again = pickle.loads(pickle.dumps(ref))
    assert len(pickle.dumps(ref)) < 2000
    np.testing.assert_equal(again.apply(np.sum, dtype=np.float64), first)


def test_damage_in_a_referenced_chunk_names_the_chunk(tmp_path):
    dest = _store(tmp_path)
    movie = open_movie(dest)
    chunk = dest / "movie" / "c" / "1" / "0" / "1"
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0x5A
    chunk.write_bytes(bytes(raw))
    with pytest.raises(DamagedStoreError, match="c/1/0/1"):
        dask.compute(
            movie.chunk_refs.map_blocks(apply_to_block, _copy, dtype=np.uint16),
            scheduler="sync",
        )
    chunk.unlink()
    with pytest.raises(DamagedStoreError, match="missing"):
        dask.compute(
            movie.chunk_refs.map_blocks(apply_to_block, _copy, dtype=np.uint16),
            scheduler="sync",
        )


def test_tiff_movies_have_no_refs(tmp_path):
    _store(tmp_path)
    assert open_movie(tmp_path / "m.tif").chunk_refs is None
