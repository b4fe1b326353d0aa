"""One file per frame (folders / globs of single-frame TIFFs) and multi-file OME-TIFF
datasets, on real files written by tifffile."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import zarr

from sofi_dask.errors import InputError
from sofi_dask.io import ingest, open_movie


def _frames(n, ny=24, nx=20, dtype=np.uint16, seed=0):
    return np.random.default_rng(seed).integers(0, 4000, (n, ny, nx)).astype(dtype)


def _write_frames(folder, a, name="img_{i}.tif", **kwargs):
    folder.mkdir(exist_ok=True)
    for i, f in enumerate(a):
        tifffile.imwrite(folder / name.format(i=i), f, **kwargs)


@pytest.mark.parametrize("compression", [None, "zlib", "lzw"])
def test_folder_of_single_frames_is_one_movie_in_natural_order(tmp_path, compression):
    a = _frames(23)
    _write_frames(tmp_path / "frames", a, compression=compression)  # img_2 before img_10
    movie = open_movie(tmp_path / "frames")
    assert movie.shape == (23, 24, 20)
    np.testing.assert_array_equal(movie.data.compute(), a)
    dest = ingest(tmp_path / "frames", tmp_path / "m.zarr", chunks=(5, 16, 20))
    stored = open_movie(dest)
    np.testing.assert_array_equal(zarr.open_array(dest / "movie", mode="r")[:], a)
    np.testing.assert_array_equal(
        stored.frame_stats.total, a.sum(axis=(1, 2), dtype=np.int64).astype(float)
    )
    # a glob of the same files, zero-padded names sort the same
    np.testing.assert_array_equal(open_movie(str(tmp_path / "frames" / "img_*.tif")).data, a)


def test_big_endian_and_described_frames(tmp_path):
    """Files of one sequence may differ in header size (descriptions, timestamps)."""
    a = _frames(6)
    d = tmp_path / "f"
    d.mkdir()
    for i, f in enumerate(a):
        tifffile.imwrite(d / f"f{i:03d}.tif", f, byteorder=">", description="t=" + "x" * i)
    np.testing.assert_array_equal(open_movie(d).data.compute(), a)


@pytest.mark.parametrize(
    ("odd", "match"),
    [
        (_frames(1, ny=24, nx=21)[0], r"f004\.tif: 1 page\(s\) of shape \(24, 21\) uint16"),
        (_frames(1, dtype=np.float32)[0], r"f004\.tif: 1 page\(s\) of shape \(24, 20\) float32"),
        (_frames(2), r"f004\.tif: 2 page\(s\)"),
    ],
)
def test_odd_file_in_a_frame_sequence_is_named(tmp_path, odd, match):
    a = _frames(8)
    _write_frames(tmp_path / "f", a, name="f{i:03d}.tif")
    tifffile.imwrite(tmp_path / "f" / "f004.tif", odd, photometric="minisblack")
    with pytest.raises(InputError, match=match) as info:
        ingest(tmp_path / "f", tmp_path / "m.zarr")
    assert "like the first file" in str(info.value) and "f000.tif" in str(info.value)
    assert not (tmp_path / "m.zarr").exists()  # nothing half-written left behind
    with pytest.raises(InputError, match=match):
        open_movie(tmp_path / "f").data.compute()


def test_not_a_tiff_in_a_frame_sequence(tmp_path):
    _write_frames(tmp_path / "f", _frames(3), name="f{i}.tif")
    (tmp_path / "f" / "f1.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(InputError, match=r"f1\.tif: not a readable TIFF"):
        open_movie(tmp_path / "f").data.compute()


_OME = """<?xml version="1.0" encoding="UTF-8"?>
<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" UUID="urn:uuid:{root}">
<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint16" SizeX="{nx}"
 SizeY="{ny}" SizeC="1" SizeZ="1" SizeT="{nt}" BigEndian="false">
<Channel ID="Channel:0:0" SamplesPerPixel="1"/>
{tiffdata}</Pixels></Image></OME>"""
_BINARY_ONLY = """<?xml version="1.0" encoding="UTF-8"?>
<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" UUID="urn:uuid:{uuid}">
<BinaryOnly MetadataFile="{master}" UUID="urn:uuid:{root}"/></OME>"""


def _write_ome_dataset(folder, a, counts, compression=None):
    """An OME-TIFF dataset split over files like Micro-Manager's ``_1``, ``_2``, ...: the
    first file's OME-XML describes every plane (TiffData -> file UUID), the others are
    BinaryOnly."""
    folder.mkdir()
    names = [f"acq_MMStack_Pos0{'' if k == 0 else f'_{k}'}.ome.tif" for k in range(len(counts))]
    uuids = [f"0000000{k}-0000-0000-0000-000000000000" for k in range(len(counts))]
    first = np.concatenate([[0], np.cumsum(counts)])
    tiffdata = "".join(
        f'<TiffData FirstT="{first[k]}" IFD="0" PlaneCount="{counts[k]}">'
        f'<UUID FileName="{names[k]}">urn:uuid:{uuids[k]}</UUID></TiffData>\n'
        for k in range(len(counts))
    )
    nt, ny, nx = a.shape
    for k, name in enumerate(names):
        xml = (
            _OME.format(root=uuids[0], nx=nx, ny=ny, nt=nt, tiffdata=tiffdata)
            if k == 0
            else _BINARY_ONLY.format(uuid=uuids[k], master=names[0], root=uuids[0])
        )
        with tifffile.TiffWriter(folder / name) as w:
            for i in range(first[k], first[k + 1]):
                w.write(
                    a[i],
                    description=xml if i == first[k] else None,
                    metadata=None,
                    photometric="minisblack",
                    compression=compression,
                )
    return [folder / n for n in names]


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_multi_file_ome_is_one_series(tmp_path, compression):
    a = _frames(17)
    files = _write_ome_dataset(tmp_path / "acq", a, [7, 6, 4], compression)
    for source in (files[0], tmp_path / "acq", files, [files[1], files[0], files[2]]):
        movie = open_movie(source)
        assert movie.shape == (17, 24, 20), source
        np.testing.assert_array_equal(movie.data.compute(), a)
    dest = ingest(tmp_path / "acq", tmp_path / "m.zarr", chunks=(5, 8, 20))
    np.testing.assert_array_equal(zarr.open_array(dest / "movie", mode="r")[:], a)
    # every file of the dataset is part of the recorded provenance
    recorded = {s["path"] for s in open_movie(dest).attrs["sofi_dask"]["source"]}
    assert recorded == {str(f.resolve()) for f in files}


def test_multi_file_ome_with_a_missing_file_is_refused(tmp_path):
    files = _write_ome_dataset(tmp_path / "acq", _frames(9), [5, 4])
    files[1].unlink()
    with pytest.raises(ValueError, match=r"acq_MMStack_Pos0\.ome\.tif: .*missing"):
        open_movie(files[0])


# --------------------------------------------------------------------------- several series
def _append(path, parts, **kwargs):
    for k, part in enumerate(parts):
        tifffile.imwrite(path, part, append=k > 0, photometric="minisblack", **kwargs)


@pytest.mark.parametrize(
    ("splits", "kwargs"),
    [
        ([3], {}),  # two contiguous stacks
        ([1, 4], {"compression": "zlib"}),  # a single frame, then stacks
        ([5], {"tile": (16, 16)}),  # tiled pages: whole pages through tifffile
    ],
)
def test_stacks_appended_to_one_tiff_are_one_movie(tmp_path, splits, kwargs):
    """Frames appended with tifffile's append=True (one series per write) are all read, in
    page order, by open_movie and by ingest; the first series alone used to be the movie."""
    a = _frames(9)
    parts = np.split(a, splits)
    _append(tmp_path / "a.tif", parts, **kwargs)
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        assert [s.shape[0] if s.ndim == 3 else 1 for s in tif.series] == [len(p) for p in parts]
    expected = np.concatenate(parts)
    movie = open_movie(tmp_path / "a.tif")
    assert movie.shape == (9, 24, 20)
    np.testing.assert_array_equal(movie.data.compute(), expected)
    dest = ingest(tmp_path / "a.tif", tmp_path / "m.zarr", chunks=(4, 8, 20))
    np.testing.assert_array_equal(zarr.open_array(dest / "movie", mode="r")[:], expected)
    np.testing.assert_array_equal(
        open_movie(dest).frame_stats.total, expected.sum(axis=(1, 2), dtype=np.int64)
    )


def test_stacks_with_different_strips_appended_are_one_movie(tmp_path):
    """Series whose pages are decoded in different row groups (uncompressed strips of 2
    rows, then zlib strips of 3) read in bands of rows give the same pixels."""
    a = _frames(7)
    tifffile.imwrite(tmp_path / "a.tif", a[:3], photometric="minisblack", rowsperstrip=2)
    tifffile.imwrite(
        tmp_path / "a.tif", a[3:], append=True, photometric="minisblack",
        compression="zlib", rowsperstrip=3,
    )  # fmt: skip
    np.testing.assert_array_equal(open_movie(tmp_path / "a.tif").data.compute(), a)
    dest = ingest(tmp_path / "a.tif", tmp_path / "m.zarr", chunks=(2, 5, 20))
    np.testing.assert_array_equal(zarr.open_array(dest / "movie", mode="r")[:], a)


@pytest.mark.parametrize("thumbnail_first", [False, True])
@pytest.mark.parametrize("compression", [None, "zlib"])
def test_reduced_resolution_thumbnail_series_is_left_out(tmp_path, thumbnail_first, compression):
    """A thumbnail (a reduced-resolution page, NewSubfileType 1, as Zeiss LSM files carry)
    is its own series but no data: the movie is the full-resolution series, before or after
    it in the file."""
    a = _frames(6)
    thumb = a[0, ::4, ::4].copy()
    with tifffile.TiffWriter(tmp_path / "a.tif") as w:
        if thumbnail_first:
            w.write(thumb, subfiletype=1, photometric="minisblack")
        w.write(a, photometric="minisblack", compression=compression)
        if not thumbnail_first:
            w.write(thumb, subfiletype=1, photometric="minisblack")
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        assert len(tif.series) == 2
    np.testing.assert_array_equal(open_movie(tmp_path / "a.tif").data.compute(), a)
    dest = ingest(tmp_path / "a.tif", tmp_path / "m.zarr", chunks=(4, 8, 20))
    np.testing.assert_array_equal(zarr.open_array(dest / "movie", mode="r")[:], a)


def _ome_two_images(folder, a):
    path = folder / "a.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as w:
        w.write(a[:3], metadata={"axes": "TYX"})
        w.write(a[3:], metadata={"axes": "TYX"})
    return path


def _two_frame_shapes(folder, a):
    _append(folder / "a.tif", [a[:3], a[3:, :12]])
    return folder / "a.tif"


def _two_channel_stacks(folder, a):
    path = folder / "a.tif"
    for k, part in enumerate((a[:4], a[4:])):  # pages interleave channels: not frames
        tifffile.imwrite(path, part.reshape(2, 2, 24, 20), append=k > 0, metadata={"axes": "TCYX"})
    return path


@pytest.mark.parametrize(
    ("write", "listed"),
    [
        (_ome_two_images, r"2 image series \(OME-TIFF with several Images\) "
         r"\(\(3, 24, 20\) uint16 'TYX', \(3, 24, 20\) uint16 'TYX'\)"),
        (_two_frame_shapes, r"2 image series \(\(3, 24, 20\) uint16 'QYX', "
         r"\(3, 12, 20\) uint16 'QYX'\)"),
        (_two_channel_stacks, r"2 image series \(\(2, 2, 24, 20\) uint16 'TCYX', "),
    ],
)  # fmt: skip
def test_several_series_that_are_not_one_movie_are_refused(tmp_path, write, listed):
    """An OME-TIFF of two Images, or series of other frame shapes or with channels, is
    refused with the series listed; the first series alone used to be the movie."""
    a = _frames(6) if write is not _two_channel_stacks else _frames(8)
    path = write(tmp_path, a)
    before = path.read_bytes()
    with pytest.raises(InputError, match=r"a(\.ome)?\.tif: " + listed) as info:
        open_movie(path)
    assert "one movie per file: export one series per file" in str(info.value)
    with pytest.raises(InputError, match=listed):
        ingest(path, tmp_path / "m.zarr")
    assert not (tmp_path / "m.zarr").exists()
    assert path.read_bytes() == before


# --------------------------------------------------------------------------- one open, one read
def _source_layouts(folder):
    from sofi_dask.io._tiff import open_tiff_source

    return open_tiff_source(folder).layouts


@pytest.mark.parametrize(
    ("dtype", "kwargs"),
    [
        (np.uint16, {}),
        (np.int16, {"bigtiff": True}),
        (np.float32, {"rowsperstrip": 5}),  # several contiguous strips
        (np.uint8, {"description": "frame"}),
    ],
)
def test_plain_frame_files_are_read_in_one_read(tmp_path, dtype, kwargs):
    """Uncompressed files in this machine's byte order take the one-read path (whole frames
    and bands of rows), with the same pixels tifffile decodes."""
    from sofi_dask.io._tiff_frames import read_frame_file

    a = _frames(5, dtype=dtype)
    _write_frames(tmp_path / "f", a, name="f{i}.tif", photometric="minisblack", **kwargs)
    for k, lay in enumerate(_source_layouts(tmp_path / "f")[1:], start=1):
        out = np.zeros((1, 24, 20), dtype)
        assert read_frame_file(lay, (0, 24), (0, 20), out)
        np.testing.assert_array_equal(out[0], a[k])
        band = np.zeros((1, 7, 9), dtype)
        assert read_frame_file(lay, (3, 10), (2, 11), band)
        np.testing.assert_array_equal(band[0], a[k, 3:10, 2:11])


def test_frame_files_with_pixels_elsewhere_or_other_layouts(tmp_path):
    """A longer description moves the pixels (still one read); a compressed or big-endian
    file among plain ones goes through tifffile; all give the right movie."""
    from sofi_dask.io._tiff_frames import read_frame_file

    a = _frames(6)
    d = tmp_path / "f"
    d.mkdir()
    for i, f in enumerate(a):
        tifffile.imwrite(d / f"f{i}.tif", f, description="t=" + "x" * (300 * i))
    tifffile.imwrite(d / "f4.tif", a[4], compression="zlib")
    tifffile.imwrite(d / "f5.tif", a[5], byteorder=">")
    lays = _source_layouts(d)
    out = np.zeros((1, 24, 20), np.uint16)
    assert read_frame_file(lays[3], (0, 24), (0, 20), out)  # pixels 900 bytes further on
    np.testing.assert_array_equal(out[0], a[3])
    assert not read_frame_file(lays[4], (0, 24), (0, 20), out)  # compressed
    assert not read_frame_file(lays[5], (0, 24), (0, 20), out)  # big-endian
    np.testing.assert_array_equal(open_movie(d).data.compute(), a)
    dest = ingest(d, tmp_path / "m.zarr", chunks=(4, 8, 20))  # bands of rows
    np.testing.assert_array_equal(zarr.open_array(dest / "movie", mode="r")[:], a)


def test_truncated_or_grown_frame_file_is_named(tmp_path):
    a = _frames(4)
    _write_frames(tmp_path / "f", a, name="f{i}.tif")
    path = tmp_path / "f" / "f2.tif"
    full = path.read_bytes()
    movie = open_movie(tmp_path / "f")  # listed with the full size
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(InputError, match=r"f2\.tif"):
        movie.data.compute()
    path.write_bytes(full + b"\0" * 64)  # longer than listed: checked by tifffile, same pixels
    np.testing.assert_array_equal(movie.data.compute(), a)


# --------------------------------------------------------------------------- fingerprints
def _stored_source(dest):
    return zarr.open_group(str(dest), mode="r").attrs["sofi_dask"]["source"]


def _full_identity(folder):
    import json

    from sofi_dask.io._tiff import open_tiff_source

    return json.loads(json.dumps(open_tiff_source(folder).identity()))


@pytest.mark.parametrize("chunks", [None, (4, 8, 20)])
def test_frame_sequence_fingerprints_come_from_the_ingest_reads(tmp_path, chunks):
    """The store records the same identity as fingerprinting every file beforehand: files
    read whole in one read, bands of rows, a compressed and a big-endian file."""
    a = _frames(9)
    d = tmp_path / "f"
    d.mkdir()
    for i, f in enumerate(a):
        tifffile.imwrite(d / f"f{i}.tif", f, description="t=" + "x" * (50 * i))
    tifffile.imwrite(d / "f6.tif", a[6], compression="zlib")
    tifffile.imwrite(d / "f7.tif", a[7], byteorder=">")
    dest = ingest(d, tmp_path / "m.zarr", chunks=chunks)
    stored = _stored_source(dest)
    assert all(e["content"].startswith("blake2b:") for e in stored)
    assert stored == _full_identity(d)
    assert "_ingest" not in zarr.open_group(str(dest), mode="r")
    np.testing.assert_array_equal(open_movie(dest).data.compute(), a)


class _Stop(Exception):
    pass


def _interrupted_ingest(folder, dest, after):
    calls = []

    def progress(done, total):
        calls.append(done)
        if len(calls) > after:
            raise _Stop

    with pytest.raises(_Stop):
        ingest(folder, dest, chunks=(4, 24, 20), workers=1, progress=progress)
    return dest


def test_resumed_frame_sequence_checks_written_files(tmp_path):
    """An unfinished ingest of a frame sequence records the fingerprints of the files it
    wrote; a resume refuses a written file replaced by another of the same size and mtime,
    and otherwise completes with the full identity."""
    import os

    a = _frames(12)
    d = tmp_path / "f"
    _write_frames(d, a, name="f{i:02d}.tif")
    dest = _interrupted_ingest(d, tmp_path / "m.zarr", after=2)  # time chunk 0 written
    assert _stored_source(dest)[1]["content"] is None
    path = d / "f01.tif"
    st = path.stat()
    tifffile.imwrite(path, a[1][::-1].copy())  # same size, other pixels
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(FileExistsError, match=r"f01\.tif changed since"):
        ingest(d, dest, chunks=(4, 24, 20))
    tifffile.imwrite(path, a[1])  # back as it was (same bytes)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    ingest(d, dest, chunks=(4, 24, 20))
    assert _stored_source(dest) == _full_identity(d)
    np.testing.assert_array_equal(open_movie(dest).data.compute(), a)
