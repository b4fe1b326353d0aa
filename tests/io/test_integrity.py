"""Damaged stores never give numbers: real stores on disk, damaged by deleting, truncating,
emptying and flipping bytes of chunk and metadata files; checked, verified and repaired."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from zarr.codecs import BloscCodec

from sofi_dask.cli import main
from sofi_dask.errors import DamagedStoreError, IncompleteStoreError, InputError
from sofi_dask.io import _store, ingest, movie_info, open_movie
from sofi_dask.io._movie_writer import MovieWriter
from sofi_dask.io._verify import verify_store

SHAPE = (50, 16, 24)


@pytest.fixture
def store(tmp_path):
    """(tiff, store, movie): 5 x 2 x 2 chunks of (10, 8, 12) frames x rows x columns."""
    movie = np.random.default_rng(7).integers(0, 4000, SHAPE, dtype=np.uint16)
    tif = tmp_path / "m.tif"
    tifffile.imwrite(tif, movie)
    dest = ingest(tif, tmp_path / "m.zarr", chunks=(10, 8, 12))
    return tif, dest, movie


def _chunk(dest: Path, key: str) -> Path:
    return dest / _store.MOVIE / key


def _flip(path: Path, offset: int = 20, n: int = 16) -> None:
    data = bytearray(path.read_bytes())
    for i in range(offset, min(offset + n, len(data) - 4)):
        data[i] ^= 0xA5
    path.write_bytes(bytes(data))


def _codec_names(array_dir: Path) -> list[str]:
    meta = json.loads((array_dir / "zarr.json").read_text())
    return [c["name"] for c in meta["codecs"]]


def test_every_array_ends_with_crc32c(store):
    _tif, dest, _movie = store
    assert _codec_names(dest / "movie") == ["bytes", "blosc", "crc32c"]
    for name in _store.STAT_NAMES:
        assert _codec_names(dest / "frame_stats" / name)[-1] == "crc32c"
    info = zarr.open_group(dest, mode="r").attrs["sofi_dask"]
    assert info["checksum"] == "crc32c"
    assert info["chunks_written"] == {"grid": [5, 2, 2], "all": True}
    assert movie_info(dest)["checksums"] is True
    assert verify_store(dest).ok


def test_uncompressed_store_has_checksums_too(tmp_path):
    tif = tmp_path / "m.tif"
    tifffile.imwrite(tif, np.ones((6, 8, 8), np.uint16))
    dest = ingest(tif, tmp_path / "m.zarr", compressor="none")
    assert _codec_names(dest / "movie") == ["bytes", "crc32c"]


def test_deleted_chunk_refused_at_open_named(store):
    _tif, dest, _movie = store
    _chunk(dest, "c/3/1/0").unlink()
    with pytest.raises(DamagedStoreError) as err:
        open_movie(dest)
    msg = str(err.value)
    assert "c/3/1/0" in msg and str(_chunk(dest, "c/3/1/0")) in msg and "frames 30..39" in msg
    info = movie_info(dest)
    assert info["complete"] and any("c/3/1/0" in d for d in info["damage"])


@pytest.mark.parametrize("name", _store.STAT_NAMES)
def test_deleted_statistics_chunk_refused_named(tmp_path, capsys, name):
    """A complete store missing a chunk of its per-frame statistics is damaged (zarr reads
    it as NaN: open_movie gave NaN totals, movie_info a complete store with NaN); verify
    reports it and a repair recomputes the statistics."""
    movie = np.random.default_rng(5).integers(0, 4000, (20, 32, 32), dtype=np.uint16)
    tif = tmp_path / "m.tif"
    tifffile.imwrite(tif, movie)
    dest = ingest(tif, tmp_path / "m.zarr")
    chunk = dest / "frame_stats" / name / "c" / "0"
    chunk.unlink()
    with pytest.raises(DamagedStoreError) as err:
        open_movie(dest)
    msg = str(err.value)
    assert f"array 'frame_stats/{name}', chunk c/0 (file {chunk}), frames 0..19" in msg
    assert msg.startswith(f"{dest}: missing chunk file") and f"sofi-dask verify {dest}" in msg
    info = movie_info(dest)
    assert info["complete"] and info["frame_stats"] is None
    assert [d for d in info["damage"] if f"frame_stats/{name}" in d and "c/0" in d]
    assert main(["info", str(dest)]) == 1
    out = tmp_path / "out"
    argv = ["run", str(dest), "-o", str(out), "--no-progress", "--no-figures", "--ldrc", "off"]
    assert main([*argv, "--orders", "2", "--scheduler", "synchronous"]) == 2
    assert f"frame_stats/{name}" in capsys.readouterr().err and not out.exists()
    report = verify_store(dest)
    assert not report.ok and not report.damaged
    assert any(f"frame_stats/{name}', chunk c/0" in p for p in report.problems)
    ingest(tif, dest, repair=True)
    assert chunk.is_file()
    np.testing.assert_array_equal(
        open_movie(dest).frame_stats.total, movie.sum(axis=(1, 2), dtype=np.float64)
    )
    # the whole statistics folder deleted: not damage, recomputed when needed
    import shutil

    shutil.rmtree(dest / "frame_stats")
    assert open_movie(dest).frame_stats is None


def test_statistics_chunks_are_written_even_when_all_nan(tmp_path):
    """A missing statistics chunk is damage, so every chunk is written, also one equal to
    the NaN fill value (which zarr skips by default): checked are the files, not values."""
    group = zarr.open_group(tmp_path / "s.zarr", mode="w")
    values = np.full(7, np.nan)
    _store.write_frame_stats(group, dict.fromkeys(_store.STAT_NAMES, values))
    for name in _store.STAT_NAMES:
        assert (tmp_path / "s.zarr" / "frame_stats" / name / "c" / "0").is_file()
        np.testing.assert_array_equal(group[f"frame_stats/{name}"][:], values)


def test_chunk_deleted_after_open_raises_when_read(store):
    _tif, dest, _movie = store
    movie = open_movie(dest)
    _chunk(dest, "c/1/0/1").unlink()
    with pytest.raises(DamagedStoreError, match=r"c/1/0/1.*missing"):
        movie.data.sum().compute()


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_corrupted_chunk_raises_naming_it(store, damage):
    _tif, dest, movie = store
    f = _chunk(dest, "c/2/0/1")
    if damage == "flip":
        _flip(f)
    elif damage == "truncate":
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    else:
        f.write_bytes(b"")
    m = open_movie(dest)  # cheap open: the files are all there
    # chunks elsewhere still read, and right
    np.testing.assert_array_equal(m.data[:20].compute(), movie[:20])
    with pytest.raises(DamagedStoreError) as err:
        m.data.mean(axis=0).compute()
    msg = str(err.value)
    assert "array 'movie', chunk c/2/0/1" in msg and str(f) in msg and "frames 20..29" in msg
    report = verify_store(dest)
    assert not report.ok
    assert [d.key for d in report.damaged] == ["c/2/0/1"]
    assert report.damaged[0].frames == (20, 30)


def test_corrupted_chunk_through_distributed_workers(store, dask_client):
    _tif, dest, _movie = store
    _flip(_chunk(dest, "c/4/1/1"))
    m = open_movie(dest)
    with pytest.raises(DamagedStoreError, match=r"chunk c/4/1/1 \(file .*m\.zarr/movie/c/4/1/1"):
        dask_client.compute(m.data.sum()).result()


def test_verify_reports_every_damaged_chunk_and_cli_exit(store, capsys):
    _tif, dest, _movie = store
    _chunk(dest, "c/0/0/0").unlink()
    _flip(_chunk(dest, "c/3/1/1"))
    report = verify_store(dest)
    assert [(d.key, d.frames) for d in report.damaged] == [
        ("c/0/0/0", (0, 10)),
        ("c/3/1/1", (30, 40)),
    ]
    assert "missing" in report.damaged[0].reason
    assert "decoded" in report.damaged[1].reason
    for cmd in (["verify", str(dest), "--no-progress"], ["info", str(dest), "--verify"]):
        assert main(cmd) == 1
        out = capsys.readouterr().out
        assert "c/0/0/0 (frames 0..9)" in out and "c/3/1/1 (frames 30..39)" in out


def test_repair_rewrites_only_damaged_chunks(store):
    tif, dest, movie = store
    _chunk(dest, "c/1/1/0").unlink()
    _flip(_chunk(dest, "c/4/0/1"))
    intact = _chunk(dest, "c/2/0/0")
    before = intact.stat()
    assert main(["ingest", str(tif), str(dest), "--repair", "--no-progress"]) == 0
    after = intact.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert verify_store(dest).ok
    np.testing.assert_array_equal(open_movie(dest).data.compute(), movie)


def test_repair_recomputes_unreadable_statistics(store):
    tif, dest, movie = store
    _flip(dest / "frame_stats" / "total" / "c" / "0", offset=8, n=4)
    with pytest.raises(DamagedStoreError, match=r"frame_stats/total"):
        open_movie(dest)
    assert not verify_store(dest).ok
    ingest(tif, dest, chunks=(10, 8, 12), repair=True)
    stats = open_movie(dest).frame_stats
    np.testing.assert_array_equal(stats.total, movie.sum(axis=(1, 2), dtype=np.float64))


def test_repair_refuses_other_source_and_unfinished(store, tmp_path):
    tif, dest, movie = store
    other = tmp_path / "other.tif"
    tifffile.imwrite(other, movie[:, :, ::-1].copy())
    with pytest.raises(InputError, match="another source") as err:
        ingest(other, dest, repair=True)
    assert str(dest) in str(err.value)
    info = zarr.open_group(dest, mode="r+")
    attrs = info.attrs.asdict()
    attrs["sofi_dask"]["complete"] = False
    info.attrs.put(attrs)
    with pytest.raises(IncompleteStoreError):
        ingest(tif, dest, chunks=(10, 8, 12), repair=True)


@pytest.mark.parametrize("which", ["group", "array"])
@pytest.mark.parametrize("damage", ["broken", "deleted"])
def test_broken_or_deleted_metadata_named(store, which, damage):
    _tif, dest, _movie = store
    meta = dest / "zarr.json" if which == "group" else dest / "movie" / "zarr.json"
    if damage == "broken":
        text = meta.read_text()
        meta.write_text(text[:30] + "\x01" + text[31:])
    else:
        meta.unlink()
    for call in (open_movie, movie_info, verify_store):
        with pytest.raises(DamagedStoreError) as err:
            call(dest)
        msg = str(err.value)
        assert str(meta) in msg
        assert ("group metadata" if which == "group" else "'movie' array") in msg
        assert ("missing" if damage == "deleted" else "not valid JSON") in msg


def test_run_on_damaged_store_leaves_no_output(store, tmp_path, capsys):
    _tif, dest, _movie = store
    _flip(_chunk(dest, "c/2/1/0"))
    out = tmp_path / "out"
    argv = ["run", str(dest), "-o", str(out), "--no-progress", "--no-figures"]
    assert main([*argv, "--orders", "2", "--ldrc", "off", "--scheduler", "synchronous"]) == 2
    err = capsys.readouterr().err
    assert "c/2/1/0" in err and str(_chunk(dest, "c/2/1/0")) in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_old_store_without_checksums_checked_by_statistics(tmp_path):
    """A store written before checksums (Blosc only, no chunk record): opening cannot see a
    deleted chunk, but verify compares per-frame statistics and names the chunk."""
    movie = np.random.default_rng(3).integers(0, 4000, (30, 8, 8), dtype=np.uint16)
    dest = tmp_path / "old.zarr"
    params = {"chunks": [10, 8, 8], "compressor": "none", "clevel": 5, "channel": None}
    group = _store.new_store(
        dest, movie.shape, movie.dtype, (10, 8, 8), [BloscCodec(cname="lz4")], params, [], None
    )
    with MovieWriter(group, dest) as w:
        w.write(0, movie)
    attrs = group.attrs.asdict()
    for key in ("chunks_written", "checksum"):
        del attrs["sofi_dask"][key]
    group.attrs.put(attrs)
    assert _codec_names(dest / "movie") == ["bytes", "blosc"]
    _chunk(dest, "c/1/0/0").unlink()  # read as zeros by zarr
    open_movie(dest)  # nothing recorded to compare with: cannot be refused here
    report = verify_store(dest)
    assert not report.checksums and "none (store written before checksums" in report.summary()
    assert [d.key for d in report.damaged] == ["c/1/0/0"]
    assert movie_info(dest)["checksums"] is False


def test_old_store_flipped_byte_found_by_statistics(tmp_path):
    movie = np.random.default_rng(4).integers(0, 4000, (30, 8, 8), dtype=np.uint16)
    dest = tmp_path / "old.zarr"
    params = {"chunks": [10, 8, 8], "compressor": "none", "clevel": 5, "channel": None}
    group = _store.new_store(dest, movie.shape, movie.dtype, (10, 8, 8), [], params, [], None)
    with MovieWriter(group, dest) as w:
        w.write(0, movie)
    f = _chunk(dest, "c/2/0/0")
    data = bytearray(f.read_bytes())
    data[100] ^= 0x10
    f.write_bytes(bytes(data))
    report = verify_store(dest)
    assert [d.key for d in report.damaged] == ["c/2/0/0"]
    assert "statistics differ" in report.damaged[0].reason


def test_info_on_empty_or_foreign_folder_and_dev_null(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises((InputError, FileNotFoundError)) as err:
        movie_info(empty)
    assert str(empty) in str(err.value)
    assert os.path.exists("/dev/null")


def test_verify_on_what_is_not_a_store(tmp_path, store):
    tif, _dest, _movie = store
    empty = tmp_path / "empty"
    empty.mkdir()
    for path in (empty, tif):
        with pytest.raises(InputError, match="not a movie store") as err:
            verify_store(path)
        assert str(path) in str(err.value)
    with pytest.raises(FileNotFoundError, match="no such store"):
        verify_store(tmp_path / "missing.zarr")


def test_a_zarr_v2_store_is_named_as_such_not_as_damage(tmp_path):
    """A Zarr v2 group with a movie array (.zgroup, .zarray: no zarr.json) is another format,
    not a damaged store: the error says so and how to convert it."""
    from sofi_dask.errors import DamagedStoreError, InputError

    group = zarr.open_group(tmp_path / "v2.zarr", mode="w", zarr_format=2)
    group.create_array("movie", data=np.zeros((4, 8, 8), np.uint16))
    with pytest.raises(InputError, match=r"a Zarr v2 store \(\.zgroup.*zarr migrate v3") as err:
        open_movie(tmp_path / "v2.zarr")
    assert not isinstance(err.value, DamagedStoreError)
