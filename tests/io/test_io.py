"""Ingestion and movie IO: real TIFFs written by tifffile, real Zarr stores on disk."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dask
import numpy as np
import pytest
import tifffile
import zarr
from dask.array.utils import assert_eq

from sofi_dask.errors import IncompleteStoreError, InputError, SofiDaskError
from sofi_dask.io import (
    FrameStats,
    Movie,
    MovieWriter,
    create_movie,
    ingest,
    movie_info,
    open_movie,
)
from sofi_dask.io import _store as _store

RNG = np.random.default_rng(12345)


def _movie(shape=(23, 20, 24), dtype=np.uint16, offset=0):
    if np.dtype(dtype).kind == "f":
        return (RNG.normal(size=shape) * 50 + offset).astype(dtype)
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


def _numpy_stats(a: np.ndarray) -> dict[str, np.ndarray]:
    a64 = a.astype(np.float64)
    return {
        "total": a64.sum(axis=(1, 2)),
        "minimum": a64.min(axis=(1, 2)),
        "maximum": a64.max(axis=(1, 2)),
        "mean": a64.mean(axis=(1, 2)),
    }


def _check_stats(stats: FrameStats, a: np.ndarray) -> None:
    ref = _numpy_stats(a)
    for name in _store.STAT_NAMES:
        got = getattr(stats, name)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, ref[name], rtol=1e-12, err_msg=name)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- flavours
def _flavour(tmp_path: Path, kind: str):
    """Write one TIFF flavour; return (source, expected movie, channel, pixel size)."""
    p = tmp_path / f"{kind}.tif"
    if kind == "classic":
        a = _movie()
        tifffile.imwrite(p, a)
        return p, a, None, None
    if kind == "bigtiff":
        a = _movie(dtype=np.int16)
        tifffile.imwrite(p, a, bigtiff=True)
        return p, a, None, None
    if kind == "bigendian":
        a = _movie(dtype=np.uint16)
        tifffile.imwrite(p, a, byteorder=">")
        return p, a, None, None
    if kind == "float32":
        a = _movie(dtype=np.float32, offset=-3)
        tifffile.imwrite(p, a)
        return p, a, None, None
    if kind == "compressed":
        a = _movie(dtype=np.uint16)
        tifffile.imwrite(p, a, compression="zlib")
        return p, a, None, None
    if kind == "tiled":
        a = _movie(shape=(9, 40, 48), dtype=np.uint8)
        tifffile.imwrite(p, a, tile=(16, 16))
        return p, a, None, None
    if kind == "pages":  # one page at a time: separate IFDs, not one contiguous block
        a = _movie(shape=(7, 20, 24), dtype=np.uint16)
        with tifffile.TiffWriter(p) as tw:
            for frame in a:
                tw.write(frame, contiguous=False)
        return p, a, None, None
    if kind == "pages_generic":  # classic multi-page TIFF without tifffile metadata
        a = _movie(shape=(7, 20, 24), dtype=np.uint16)
        with tifffile.TiffWriter(p) as tw:
            for frame in a:
                tw.write(frame, contiguous=False, metadata=None, compression="zlib")
        return p, a, None, None
    if kind == "imagej":
        a = _movie(shape=(5, 3, 20, 24), dtype=np.uint16)  # T Z Y X
        tifffile.imwrite(
            p,
            a,
            imagej=True,
            resolution=(1 / 0.16, 1 / 0.16),
            metadata={"axes": "TZYX", "unit": "um"},
        )
        return p, a.reshape(15, 20, 24), None, 0.16
    if kind == "imagej_channels":
        a = _movie(shape=(6, 2, 20, 24), dtype=np.uint16)  # T C Y X
        tifffile.imwrite(p, a, imagej=True, metadata={"axes": "TCYX"})
        return p, a[:, 1], 1, None
    if kind == "ome":
        a = _movie(dtype=np.uint16)
        tifffile.imwrite(
            p,
            a,
            ome=True,
            metadata={"axes": "TYX", "PhysicalSizeX": 0.107, "PhysicalSizeY": 0.107},
        )
        return p, a, None, 0.107
    if kind == "ome_channels":
        a = _movie(shape=(8, 3, 20, 24), dtype=np.uint16)
        tifffile.imwrite(p, a, ome=True, metadata={"axes": "TCYX"})
        return p, a[:, 2], 2, None
    if kind == "rgb_planar":
        a = _movie(shape=(6, 3, 20, 24), dtype=np.uint8)
        tifffile.imwrite(p, a, photometric="rgb", planarconfig="separate")
        return p, a[:, 0], 0, None
    if kind == "rgb_contig":
        a = _movie(shape=(6, 20, 24, 3), dtype=np.uint8)
        tifffile.imwrite(p, a, photometric="rgb")
        return p, a[..., 1], 1, None
    if kind == "resolution_cm":
        a = _movie(dtype=np.uint16)
        tifffile.imwrite(p, a, resolution=(1e4 / 0.2, 1e4 / 0.2), resolutionunit="CENTIMETER")
        return p, a, None, 0.2
    if kind == "sequence":  # Block1..Block10, natural order, uneven frame counts
        d = tmp_path / "blocks"
        d.mkdir()
        parts = [_movie(shape=(n, 20, 24)) for n in (3, 5, 1, 4, 2, 6, 3, 2, 5, 4)]
        for i, part in enumerate(parts, start=1):
            tifffile.imwrite(
                d / f"Block{i}.tif",
                part,
                photometric="minisblack",
                compression="zlib" if i % 3 else None,
            )
        return d, np.concatenate(parts), None, None
    raise AssertionError(kind)


FLAVOURS = [
    "classic",
    "bigtiff",
    "bigendian",
    "float32",
    "compressed",
    "tiled",
    "pages",
    "pages_generic",
    "imagej",
    "imagej_channels",
    "ome",
    "ome_channels",
    "rgb_planar",
    "rgb_contig",
    "resolution_cm",
    "sequence",
]


@pytest.mark.parametrize("kind", FLAVOURS)
def test_roundtrip_each_flavour(tmp_path, kind):
    src, expected, channel, pixel_size = _flavour(tmp_path, kind)
    before = {p: (_sha(p), p.stat().st_mtime_ns) for p in tmp_path.rglob("*.tif")}

    direct = open_movie(src, channel=channel)
    assert direct.frame_stats is None
    assert direct.dtype == expected.dtype
    assert_eq(direct.data, expected)

    dest = ingest(src, tmp_path / "out.zarr", channel=channel)
    movie = open_movie(dest)
    assert isinstance(movie, Movie)
    assert movie.shape == expected.shape and movie.dtype == expected.dtype
    assert_eq(movie.data, expected)
    _check_stats(movie.frame_stats, expected)
    if pixel_size is None:
        assert movie.pixel_size is None and direct.pixel_size is None
    else:
        assert movie.pixel_size == pytest.approx(pixel_size)
        assert direct.pixel_size == pytest.approx(pixel_size)
    # the source is never modified
    after = {p: (_sha(p), p.stat().st_mtime_ns) for p in tmp_path.rglob("*.tif")}
    assert after == before


@pytest.mark.parametrize(
    ("resolution", "unit", "pixel_size"),
    [
        (72, "INCH", None),  # the default of PIL, MATLAB, Photoshop: not 352.8 µm
        (96, "INCH", None),  # Windows' default
        (72.0, None, None),  # tifffile's default unit (inch)
        (72, "NONE", None),
        (72, "CENTIMETER", 1e4 / 72),  # a real unit is kept, whatever the number
        (25400 / 0.16, "INCH", 0.16),  # a real resolution in inches is kept
    ],
)
def test_placeholder_resolution_is_no_pixel_size(tmp_path, resolution, unit, pixel_size):
    """72 or 96 dots per inch is what writers put in every file, not a microscope's pixel:
    no pixel size, so none goes into the store's OME-NGFF scale or a run's units."""
    a = _movie(shape=(4, 20, 24))
    p = tmp_path / "r.tif"
    tifffile.imwrite(
        p, a, photometric="minisblack", resolution=(resolution, resolution), resolutionunit=unit
    )
    with tifffile.TiffFile(p) as tif:  # the tags as written
        assert tif.pages.first.tags["XResolution"].value[0] == pytest.approx(resolution)
        written = tif.pages.first.tags["ResolutionUnit"].value
        assert written == {None: 2, "INCH": 2, "NONE": 1, "CENTIMETER": 3}[unit]
    movie = open_movie(p)
    store = open_movie(ingest(p, tmp_path / "m.zarr"))
    scale = store.attrs["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"]
    if pixel_size is None:
        assert movie.pixel_size is None and store.pixel_size is None
        assert scale[0]["scale"][1:] == [1.0, 1.0]
    else:
        assert movie.pixel_size == pytest.approx(pixel_size)
        assert store.pixel_size == pytest.approx(pixel_size)
        assert scale[0]["scale"][1:] == pytest.approx([pixel_size, pixel_size])


def test_pil_written_72_dpi_stack_has_no_pixel_size(tmp_path):
    """A multi-page TIFF as PIL writes it with its 72 dpi (inch) resolution."""
    from PIL import Image

    a = _movie(shape=(3, 20, 24), dtype=np.uint8)
    p = tmp_path / "pil.tif"
    frames = [Image.fromarray(f) for f in a]
    frames[0].save(p, save_all=True, append_images=frames[1:], dpi=(72, 72))
    with tifffile.TiffFile(p) as tif:
        tags = tif.pages.first.tags
        assert tags["XResolution"].value == (72, 1) and tags["ResolutionUnit"].value == 2
    movie = open_movie(p)
    np.testing.assert_array_equal(movie.data.compute(), a)
    assert movie.pixel_size is None


def test_sequence_natural_order_glob_and_list(tmp_path):
    src, expected, _, _ = _flavour(tmp_path, "sequence")
    by_glob = open_movie(str(src / "Block*.tif"))
    assert_eq(by_glob.data, expected)
    files = [src / f"Block{i}.tif" for i in range(1, 11)]
    assert_eq(open_movie(files).data, expected)
    # an explicit list keeps its order
    rev = open_movie(files[::-1]).data.compute()
    n_last = tifffile.TiffFile(files[-1]).series[0].shape[0]
    np.testing.assert_array_equal(rev[:n_last], expected[-n_last:])


def test_store_layout_and_metadata(tmp_path, ngff_validate):
    src, expected, _, _ = _flavour(tmp_path, "ome")
    dest = ingest(src, tmp_path / "m.zarr", chunks=(5, -1, -1), compressor="zstd", clevel=1)
    group = zarr.open_group(str(dest), mode="r")
    arr = group["movie"]
    assert arr.shape == expected.shape and arr.dtype == expected.dtype
    assert arr.chunks == (5, 20, 24)
    assert arr.metadata.dimension_names == ("t", "y", "x")
    assert arr.compressors[0].to_dict()["configuration"]["cname"] == "zstd"
    assert sorted(group["frame_stats"].array_keys()) == sorted(_store.STAT_NAMES)
    assert _store.INGEST not in group  # completion records removed once complete
    attrs = group.attrs.asdict()
    ngff_validate(dest)
    ms = attrs["ome"]["multiscales"][0]
    assert attrs["ome"]["version"] == "0.5"
    assert [a["name"] for a in ms["axes"]] == ["t", "y", "x"]
    assert [a["type"] for a in ms["axes"]] == ["time", "space", "space"]
    assert ms["axes"][1]["unit"] == "micrometer"
    assert ms["datasets"][0]["path"] == "movie"
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == pytest.approx(
        [1, 0.107, 0.107]
    )
    info = attrs["sofi_dask"]
    assert info["complete"] is True
    assert info["source"][0]["path"] == str(src.resolve())
    assert info["source"][0]["size"] == src.stat().st_size
    assert info["source"][0]["mtime_ns"] == src.stat().st_mtime_ns
    assert info["parameters"] == {
        "chunks": [5, 20, 24],
        "compressor": "zstd",
        "clevel": 1,
        "channel": None,
    }
    assert "version" in info
    json.dumps(attrs)  # plain JSON


def test_spatial_tiles_and_uneven_chunks(tmp_path):
    """Bands of chunk rows (tiles in y and x) give the same movie and per-frame stats."""
    a = _movie(shape=(37, 50, 70), dtype=np.uint16)
    p = tmp_path / "a.tif"
    tifffile.imwrite(p, a)
    dest = ingest(p, tmp_path / "a.zarr", chunks=(8, 16, 32), workers=3)
    movie = open_movie(dest)
    assert movie.data.chunks[1] == (16, 16, 16, 2)
    assert_eq(movie.data, a)
    _check_stats(movie.frame_stats, a)
    # same with a compressed (page-decoded) source
    pc = tmp_path / "c.tif"
    tifffile.imwrite(pc, a, compression="zlib")
    movie = open_movie(ingest(pc, tmp_path / "c.zarr", chunks=(8, 16, 32)))
    assert_eq(movie.data, a)
    _check_stats(movie.frame_stats, a)
    # windows straight from the TIFF
    direct = open_movie(p, chunks=(10, 20, 30))
    assert_eq(direct.data[3:30, 7:44, 5:66], a[3:30, 7:44, 5:66])


def test_stats_equal_numpy_with_zero_and_negative_frames(tmp_path):
    a = _movie(shape=(12, 16, 16), dtype=np.float32, offset=-40)
    a[3] = 0  # an all-zero frame: its chunk region is not stored, stats still recorded
    a[5] = -7.5
    p = tmp_path / "f.tif"
    tifffile.imwrite(p, a)
    movie = open_movie(ingest(p, tmp_path / "f.zarr", chunks=(4, 8, 8)))
    assert_eq(movie.data, a)
    _check_stats(movie.frame_stats, a)
    assert movie.frame_stats.total[3] == 0.0


def test_default_chunks():
    # small frames: whole frames, >= 256 deep, ~32 MB
    assert _store.default_chunks((20000, 256, 256), np.uint16) == (256, 256, 256)
    assert _store.default_chunks((50, 256, 256), np.uint16) == (50, 256, 256)
    assert _store.default_chunks((10**5, 128, 128), np.uint16) == (1024, 128, 128)
    # big frames: 128 deep, row-strip tiles, ~32 MB; per-chunk state small next to the chunk
    for shape, dtype in [
        ((10**5, 2048, 2048), np.uint16),
        ((10**5, 512, 512), np.uint16),
        ((10**4, 1200, 1920), np.float32),
        ((10**4, 64, 100000), np.uint16),
    ]:
        c = _store.default_chunks(shape, dtype)
        chunk_bytes = np.prod(c) * np.dtype(dtype).itemsize
        assert c[0] == _store.BIG_FRAME_DEPTH == 128 and c[1] < shape[1], (shape, c)
        assert 8 << 20 <= chunk_bytes <= 64 << 20, (shape, c)
        assert 6 * c[1] * c[2] * 8 <= chunk_bytes / 4  # orders-6 float64 state per tile
    assert _store.default_chunks((10**5, 2048, 2048), np.uint16) == (128, 64, 2048)
    assert _store.default_chunks((10**4, 64, 100000), np.uint16)[1:] == (16, 8192)
    assert _store.default_chunks((100, 2048, 2048), np.uint16) == (100, 80, 2048)


def test_open_tiff_is_lazy_and_batched(tmp_path):
    a = _movie(shape=(400, 16, 16), dtype=np.uint16)
    p = tmp_path / "long.tif"
    tifffile.imwrite(p, a, compression="zlib")  # pages, not contiguous
    movie = open_movie(p, chunks=100)
    assert movie.data.numblocks == (4, 1, 1)
    assert len(dict(movie.data.__dask_graph__())) == 4  # one task per batch, not per page
    pc = tmp_path / "long_raw.tif"
    tifffile.imwrite(pc, a)
    data = open_movie(pc).data
    assert data.numblocks == (1, 1, 1)
    assert_eq(data, a)


def test_distributed_workers_read_tiff_and_store(tmp_path, dask_client):
    """Graphs over a TIFF and over a store pickle and run in worker processes."""
    a = _movie(shape=(60, 32, 32), dtype=np.uint16)
    p = tmp_path / "d.tif"
    tifffile.imwrite(p, a, compression="zlib")
    movie = open_movie(p, chunks=16)
    total = dask_client.compute(movie.data.sum(axis=(1, 2), dtype=np.int64)).result()
    np.testing.assert_array_equal(total, a.sum(axis=(1, 2), dtype=np.int64))
    raw = tmp_path / "r.tif"
    tifffile.imwrite(raw, a)
    mean = dask_client.compute(open_movie(raw, chunks=(16, 8, 32)).data.mean(axis=0)).result()
    np.testing.assert_allclose(mean, a.mean(axis=0))
    store = ingest(raw, tmp_path / "d.zarr", chunks=(16, -1, -1))
    mx = dask_client.compute(open_movie(store).data.max(axis=0)).result()
    np.testing.assert_array_equal(mx, a.max(axis=0))


def test_progress_callback(tmp_path):
    a = _movie(shape=(30, 8, 8))
    p = tmp_path / "p.tif"
    tifffile.imwrite(p, a)
    calls = []
    ingest(p, tmp_path / "p.zarr", chunks=(7, 4, 8), progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 30) and calls[-1] == (30, 30)
    assert all(b[0] >= a_[0] for a_, b in zip(calls, calls[1:], strict=False))


def test_movie_info(tmp_path):
    src, expected, _, _ = _flavour(tmp_path, "classic")
    dest = ingest(src, tmp_path / "i.zarr")
    info = movie_info(dest)
    assert info["complete"] is True and info["format"] == "zarr"
    assert info["shape"] == list(expected.shape) and info["dtype"] == "uint16"
    assert info["nbytes"] == expected.nbytes
    assert info["compression_ratio"] == pytest.approx(expected.nbytes / info["stored_bytes"])
    ref = _numpy_stats(expected)
    assert info["frame_stats"]["total"]["max"] == pytest.approx(ref["total"].max())
    assert info["frame_stats"]["minimum"]["min"] == pytest.approx(ref["minimum"].min())
    assert info["frame_stats"]["last_first_total_ratio"] == pytest.approx(
        ref["total"][-1] / ref["total"][0]
    )
    tinfo = movie_info(src)
    assert tinfo["format"] == "tiff" and tinfo["shape"] == list(expected.shape)
    assert tinfo["frame_stats"] is None


def test_frame_stats_dict_roundtrip():
    s = FrameStats(*(np.arange(4.0) + k for k in range(4)))
    back = FrameStats.from_dict(json.loads(json.dumps(s.to_dict())))
    np.testing.assert_array_equal(back.maximum, s.maximum)
    assert back.n_frames == 4
    with pytest.raises(ValueError, match="equal length"):
        FrameStats(np.zeros(3), np.zeros(3), np.zeros(2), np.zeros(3))


# --------------------------------------------------------------------------- bad input
def _assert_nothing_written(dest: Path) -> None:
    assert not dest.exists()


def test_missing_file(tmp_path):
    dest = tmp_path / "o.zarr"
    with pytest.raises(FileNotFoundError, match=r"nope\.tif: no such file"):
        ingest(tmp_path / "nope.tif", dest)
    with pytest.raises(FileNotFoundError, match="no such file"):
        open_movie(tmp_path / "nope.tif")
    with pytest.raises(FileNotFoundError, match="pattern matches no files"):
        ingest(str(tmp_path / "Block*.tif"), dest)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="folder contains no TIFF"):
        ingest(tmp_path / "empty", dest)
    _assert_nothing_written(dest)


def test_not_a_tiff(tmp_path):
    p = tmp_path / "notes.tif"
    p.write_text("this is not an image\n" * 10)
    dest = tmp_path / "o.zarr"
    with pytest.raises(ValueError, match=r"notes\.tif: not a TIFF"):
        ingest(p, dest)
    _assert_nothing_written(dest)


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_truncated_tiff(tmp_path, compression):
    a = _movie(shape=(10, 32, 32))
    full = tmp_path / "full.tif"
    tifffile.imwrite(full, a, compression=compression)
    data = full.read_bytes()
    for cut in (len(data) // 2, len(data) - 40):
        p = tmp_path / f"cut{cut}.tif"
        p.write_bytes(data[:cut])
        dest = tmp_path / f"cut{cut}.zarr"
        with pytest.raises(ValueError, match=rf"cut{cut}\.tif: .*truncated"):
            ingest(p, dest)
        with pytest.raises(ValueError, match="truncated"):
            open_movie(p)
        _assert_nothing_written(dest)


def test_single_2d_image(tmp_path):
    p = tmp_path / "one.tif"
    tifffile.imwrite(p, _movie(shape=(1, 16, 16))[0])
    with pytest.raises(ValueError, match=r"one\.tif: a single 2-D image of shape \(16, 16\)"):
        ingest(p, tmp_path / "o.zarr")
    _assert_nothing_written(tmp_path / "o.zarr")


def test_multichannel_needs_channel(tmp_path):
    src, _, channel, _ = _flavour(tmp_path, "ome_channels")
    with pytest.raises(ValueError, match=r"3 channels .*pass channel=0\.\.2"):
        ingest(src, tmp_path / "o.zarr")
    with pytest.raises(ValueError, match=r"channel must be in 0\.\.2.*got 5"):
        open_movie(src, channel=5)
    rgb, _, _, _ = _flavour(tmp_path, "rgb_contig")
    with pytest.raises(ValueError, match="3 RGB samples"):
        open_movie(rgb)
    _assert_nothing_written(tmp_path / "o.zarr")


def test_zero_frames(tmp_path):
    p = tmp_path / "zero.tif"
    with pytest.warns(UserWarning):
        tifffile.imwrite(p, np.zeros((0, 16, 16), np.uint16))
    with pytest.raises(ValueError, match=r"zero\.tif: contains zero frames"):
        ingest(p, tmp_path / "o.zarr")
    _assert_nothing_written(tmp_path / "o.zarr")


def test_sequence_mismatch(tmp_path):
    d = tmp_path / "seq"
    d.mkdir()
    tifffile.imwrite(d / "a1.tif", _movie(shape=(4, 16, 16)), photometric="minisblack")
    tifffile.imwrite(d / "a2.tif", _movie(shape=(4, 16, 20)), photometric="minisblack")
    with pytest.raises(ValueError, match=r"a2\.tif: frames \(16, 20\) .* do not match"):
        ingest(d, tmp_path / "o.zarr")


def test_destination_exists(tmp_path):
    src, expected, _, _ = _flavour(tmp_path, "classic")
    dest = ingest(src, tmp_path / "o.zarr")
    stamp = (dest / "zarr.json").stat().st_mtime_ns
    assert ingest(src, dest) == dest  # run again: complete from this source, kept as it is
    with pytest.raises(FileExistsError, match=r"o\.zarr: destination already holds a complete"):
        ingest(src, dest, chunks=4)  # other parameters
    assert (dest / "zarr.json").stat().st_mtime_ns == stamp
    # overwrite=True replaces it (with other chunks)
    ingest(src, dest, overwrite=True, chunks=4)
    assert open_movie(dest).data.chunks[0][0] == 4
    # a folder that is not a store is never deleted, even with overwrite=True
    other = tmp_path / "results"
    other.mkdir()
    (other / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="destination exists"):
        ingest(src, other)
    with pytest.raises(FileExistsError, match="not a Zarr store"):
        ingest(src, other, overwrite=True)
    assert (other / "keep.txt").read_text() == "precious"
    # never the source itself
    with pytest.raises(ValueError, match="is \\(or contains\\) the source"):
        ingest(src, src, overwrite=True)
    assert_eq(open_movie(src).data, expected)


def test_bad_parameters(tmp_path):
    src, _, _, _ = _flavour(tmp_path, "classic")
    with pytest.raises(InputError, match="parameter 'compressor': expected one of"):
        ingest(src, tmp_path / "o.zarr", compressor="gzip")
    with pytest.raises(InputError, match="parameter 'clevel': expected"):
        ingest(src, tmp_path / "o.zarr", clevel=12)
    with pytest.raises(InputError, match="parameter 'chunks': expected"):
        ingest(src, tmp_path / "o.zarr", chunks=(0, 4, 4))
    _assert_nothing_written(tmp_path / "o.zarr")


# --------------------------------------------------------------------------- resume
_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from sofi_dask.io import ingest

    def slow(done, total):
        print(done, flush=True)
        time.sleep(0.03)

    ingest(sys.argv[1], sys.argv[2], chunks=(4, 32, 32), workers=1, progress=slow)
    print("FINISHED", flush=True)
    """
)


def test_resume_after_sigkill(tmp_path):
    a = _movie(shape=(400, 64, 64), dtype=np.uint16)
    src = tmp_path / "big.tif"
    tifffile.imwrite(src, a)
    digest = _sha(src)
    dest = tmp_path / "big.zarr"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(src), str(dest)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # wait for some (not all) tasks to have written their completion records
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if int(line.strip() or 0) >= 60 or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # an unfinished store is refused by readers and reported as such
    with pytest.raises(ValueError, match=r"big\.zarr: incomplete store"):
        open_movie(dest)
    info = movie_info(dest)
    assert info["complete"] is False and 0 < info["progress"] < 1
    group = zarr.open_group(str(dest), mode="r")
    n_done = int(_store.done_records(group).sum())
    assert 0 < n_done < 200

    # other parameters cannot silently mix into it
    with pytest.raises(FileExistsError, match="other parameters"):
        ingest(src, dest, chunks=(8, 32, 32))

    calls = []
    ingest(src, dest, chunks=(4, 32, 32), progress=lambda d, t: calls.append(d))
    assert calls[0] == n_done * 4 // 2  # resumed where the records say (2 bands)
    movie = open_movie(dest)
    assert_eq(movie.data, a)
    _check_stats(movie.frame_stats, a)
    assert _sha(src) == digest


def test_incomplete_store_not_resumed_for_other_source(tmp_path):
    a = _movie(shape=(20, 16, 16))
    src = tmp_path / "a.tif"
    tifffile.imwrite(src, a)
    dest = tmp_path / "a.zarr"
    # build an unfinished store the way ingest starts one
    group = _store.create_store(
        dest,
        a.shape,
        a.dtype,
        (5, 16, 16),
        _store.make_codecs("lz4", 5, a.dtype),
        {"sofi_dask": {"complete": False, "source": [], "parameters": {}}},
    )
    assert group is not None
    with pytest.raises(ValueError, match="incomplete store"):
        open_movie(dest)
    with pytest.raises(FileExistsError, match="another source"):
        ingest(src, dest)
    ingest(src, dest, overwrite=True)
    assert_eq(open_movie(dest).data, a)


def test_scheduler_independent(tmp_path):
    """The lazy TIFF array gives the same result with the threaded and sync schedulers."""
    a = _movie(shape=(40, 16, 16))
    p = tmp_path / "s.tif"
    tifffile.imwrite(p, a, compression="zlib")
    data = open_movie(p, chunks=7).data
    with dask.config.set(scheduler="threads"):
        t = data.sum(axis=0, dtype=np.int64).compute()
    with dask.config.set(scheduler="sync"):
        s = data.sum(axis=0, dtype=np.int64).compute()
    np.testing.assert_array_equal(t, s)
    np.testing.assert_array_equal(t, a.sum(axis=0, dtype=np.int64))
    assert os.path.exists(p)


# --------------------------------------------------------------------------- overwrite safety
def test_overwrite_deletes_only_our_movie_stores(tmp_path):
    src, expected, _, _ = _flavour(tmp_path, "classic")
    # a Zarr store written by someone else is never deleted, even with overwrite=True
    foreign = tmp_path / "theirs.zarr"
    g = zarr.open_group(str(foreign), mode="w", zarr_format=3)
    g.create_array("movie", shape=(3, 4, 4), dtype="uint8")[...] = 7
    with pytest.raises(FileExistsError, match="not written by sofi_dask"):
        ingest(src, foreign)
    with pytest.raises(FileExistsError, match="not written by sofi_dask.*even with overwrite"):
        ingest(src, foreign, overwrite=True)
    assert (np.asarray(zarr.open_group(str(foreign), mode="r")["movie"][...]) == 7).all()
    # a symbolic link to a store is not followed into a deletion
    ours = ingest(src, tmp_path / "ours.zarr")
    link = tmp_path / "link.zarr"
    link.symlink_to(ours, target_is_directory=True)
    with pytest.raises(FileExistsError, match="symbolic link"):
        ingest(src, link, overwrite=True)
    assert_eq(open_movie(ours).data, expected)
    # an empty folder may be used
    empty = tmp_path / "empty.zarr"
    empty.mkdir()
    assert_eq(open_movie(ingest(src, empty, overwrite=True)).data, expected)


def test_store_killed_right_after_creation_is_ours(tmp_path):
    """The attributes are written with the group: a store killed before its first chunk is
    recognisably an unfinished sofi_dask store (refused by readers, replaceable)."""
    src, expected, _, _ = _flavour(tmp_path, "classic")
    dest = tmp_path / "k.zarr"
    _store.new_store(
        dest,
        expected.shape,
        expected.dtype,
        (5, 20, 24),
        None,
        {"chunks": [5]},
        [{"path": "x"}],
        None,
    )
    zarr_json = json.loads((dest / "zarr.json").read_text())
    assert zarr_json["attributes"]["sofi_dask"]["complete"] is False
    assert _store.is_movie_store(dest)
    with pytest.raises(ValueError, match="incomplete store"):
        open_movie(dest)
    assert_eq(open_movie(ingest(src, dest, overwrite=True)).data, expected)
    # killed after the group, before its arrays (no task can have run): a rerun starts over
    attrs = json.loads((dest / "zarr.json").read_text())["attributes"]
    attrs["sofi_dask"]["complete"] = False
    half = tmp_path / "half.zarr"
    zarr.open_group(str(half), mode="w-", zarr_format=3, attributes=attrs)
    assert_eq(open_movie(ingest(src, half)).data, expected)


# --------------------------------------------------------------------------- batch writer
def test_create_movie_writes_batches_with_stats_and_metadata(tmp_path):
    a = _movie(shape=(45, 20, 36), dtype=np.uint16)
    dest = tmp_path / "w.zarr"
    src_info = [{"made_by": "test"}]
    with create_movie(
        dest, a.shape, a.dtype, chunks=(8, 16, 16), pixel_size=0.25, source=src_info, workers=3
    ) as w:
        assert isinstance(w, MovieWriter) and w.chunks == (8, 16, 16)
        # out of order and in batches of several time chunks; the last one is short
        w.write(16, a[16:40])
        w.write(40, a[40:])
        with pytest.raises(ValueError, match="incomplete store"):
            open_movie(dest)  # not complete before close
        w.write(0, a[:16])
    movie = open_movie(dest)
    assert_eq(movie.data, a)
    _check_stats(movie.frame_stats, a)
    assert movie.pixel_size == pytest.approx(0.25)
    attrs = zarr.open_group(str(dest), mode="r").attrs.asdict()
    assert attrs["sofi_dask"]["source"] == src_info and attrs["sofi_dask"]["complete"] is True
    assert attrs["ome"]["multiscales"][0]["name"] == "w.zarr"
    assert movie_info(dest)["complete"] is True
    with pytest.raises(SofiDaskError, match="the movie writer is closed") as err:
        w.write(0, a[:16])
    assert isinstance(err.value, RuntimeError)
    assert_eq(open_movie(dest).data, a)  # untouched


def test_create_movie_refuses_bad_batches_and_stays_incomplete(tmp_path):
    a = _movie(shape=(20, 8, 8), dtype=np.int16)
    dest = tmp_path / "w.zarr"
    w = create_movie(dest, a.shape, a.dtype, chunks=4)
    with pytest.raises(InputError, match="parameter 'start': expected a multiple of 4"):
        w.write(2, a[2:6])
    with pytest.raises(ValueError, match="whole time chunks"):
        w.write(0, a[:6])
    with pytest.raises(ValueError, match="expected dtype int16, got float64"):
        w.write(0, a[:4].astype(np.float64))
    with pytest.raises(ValueError, match=r"expected shape \(n, 8, 8\)"):
        w.write(0, a[:4, :4])
    with pytest.raises(ValueError, match="frames ending by 20"):
        w.write(16, np.concatenate([a[16:], a[:4]]))
    w.write(0, a[:8])
    with pytest.raises(
        IncompleteStoreError, match=r"3 time chunks not written \(first: frames 8\.\.11\)"
    ):
        w.close()
    with pytest.raises(ValueError, match="incomplete store"):
        open_movie(dest)
    assert movie_info(dest)["complete"] is False
    # an exception inside the block leaves it incomplete too
    with (
        pytest.raises(KeyError),
        create_movie(dest, a.shape, a.dtype, chunks=4, overwrite=True) as w2,
    ):
        w2.write(0, a[:20])
        raise KeyError("boom")
    with pytest.raises(ValueError, match="incomplete store"):
        open_movie(dest)
    with pytest.raises(FileExistsError, match="destination exists"):
        create_movie(dest, a.shape, a.dtype)
    with pytest.raises(InputError, match="parameter 'shape': expected"):
        create_movie(tmp_path / "x.zarr", (0, 4, 4), a.dtype)
    with pytest.raises(InputError, match="parameter 'dtype': expected an integer or float"):
        create_movie(tmp_path / "x.zarr", (4, 4, 4), np.complex64)
    with pytest.raises(ValueError, match="pixel_size"):
        create_movie(tmp_path / "x.zarr", (4, 4, 4), np.uint8, pixel_size=-1.0)
    assert not (tmp_path / "x.zarr").exists()
