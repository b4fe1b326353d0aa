"""TIFF movies as (t, y, x) frame sources: flavours, file sequences and batched reads.

A :class:`TiffSource` describes one movie stored in one TIFF file or an ordered sequence of
TIFF files (classic multi-page, BigTIFF, ImageJ hyperstack, OME-TIFF, tifffile "shaped"). It
holds only plain, picklable data (paths, offsets, shapes), so a task that reads frames opens
the file itself: graphs built on it run under ``distributed`` worker processes.

This module resolves the source (a file, folder, glob pattern or list of files) and opens it;
one file's layout and its checks are in ``_tiff_layout.py`` (:func:`inspect_tiff`), the
batched reads in ``_tiff_read.py`` (:func:`read_layout`).
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize

from sofi_dask.errors import InputError
from sofi_dask.io import _store
from sofi_dask.io._tiff_frames import SAMPLE_BYTES, sample_places
from sofi_dask.io._tiff_layout import PathLike, TiffLayout, inspect_tiff
from sofi_dask.io._tiff_read import read_layout

__all__ = [
    "tiff_to_dask",
    "PathLike",
    "TiffLayout",
    "TiffSource",
    "content_digest",
    "inspect_tiff",
    "natural_key",
    "open_tiff_source",
    "read_layout",
    "resolve_paths",
]

_TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2")


# --------------------------------------------------------------------------- source paths
DIGEST_PREFIX = "blake2b:"


def content_digest(lay: TiffLayout, samples: Sequence[bytes] | None = None) -> str:
    """Fingerprint of a TIFF's content: its parsed structure (series shape, axes, dtype, data
    offset, planes per page) and 4 KiB read at five places (the start, with the header and,
    usually, the first IFD and its tags; a quarter, half and three quarters in, mostly pixel
    data; the end). About 20 KiB read per file, whatever its size. ``samples``: those five
    reads, when they were taken from bytes already read (the ingest of a frame sequence).

    Examples
    --------
    >>> import tempfile, tifffile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
    >>> tifffile.imwrite(path, np.zeros((5, 8, 8), np.uint16))
    >>> content_digest(inspect_tiff(path)[0]).startswith("blake2b:")
    True
    """
    if not samples:
        fd = os.open(lay.path, os.O_RDONLY)  # one open, five reads (10^5 files of a sequence)
        try:
            samples = [os.pread(fd, SAMPLE_BYTES, at) for at in sample_places(lay.size)]
        finally:
            os.close(fd)
    structure = (lay.series_shape, lay.series_axes, lay.file_dtype, lay.offset)
    text = repr((*structure, lay.planes_per_page, lay.series_index)).encode()
    h = hashlib.blake2b(text, digest_size=16)
    for sample in samples:  # as one input, without joining them
        h.update(sample)
    return f"{DIGEST_PREFIX}{h.hexdigest()}"


def natural_key(text: str) -> list[Any]:
    """Sort key that orders ``Block2`` before ``Block10`` (numbers compared as integers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def resolve_paths(source: PathLike | Sequence[PathLike]) -> list[str]:
    """Turn a TIFF path, a folder, a glob pattern or a list of paths into an ordered list of
    file paths (strings: no ``Path`` object per file of a 10^5-file folder).

    Folders and glob patterns are sorted in natural order (``Block2`` before ``Block10``);
    an explicit list keeps the order it was given in.

    Raises
    ------
    FileNotFoundError
        A path does not exist, or a folder / pattern matches no TIFF file.
    """
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        path = Path(text).expanduser()
        if path.is_dir():
            names = os.listdir(path)
            names = [n for n in names if os.path.splitext(n)[1].lower() in _TIFF_SUFFIXES]
            if not names:
                raise FileNotFoundError(
                    f"{path}: folder contains no TIFF files (*.tif, *.tiff) and is not a Zarr "
                    "store (no zarr.json)"
                )
            folder = str(path)
            return [os.path.join(folder, n) for n in sorted(names, key=natural_key)]
        if glob.has_magic(text) and not path.exists():
            files = [Path(p) for p in glob.glob(os.path.expanduser(text))]
            files = [p for p in files if p.is_file()]
            if not files:
                raise FileNotFoundError(f"{text}: pattern matches no files")
            return sorted((str(p) for p in files), key=natural_key)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
        if not path.is_file():
            raise InputError(
                f"{path}: not a regular file (a device, pipe or socket); expected a TIFF file "
                "or a Zarr store"
            )
        return [str(path)]
    paths = [Path(os.fspath(p)).expanduser() for p in source]
    if not paths:
        raise InputError(
            "parameter 'source': expected a TIFF path, folder, pattern or non-empty list, got []"
        )
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such file")
    return [str(p) for p in paths]


# --------------------------------------------------------------------------- source
@dataclass(frozen=True)
class TiffSource:
    """A movie (t, y, x) made of one or more TIFF files, concatenated along t."""

    layouts: tuple[TiffLayout, ...]
    pixel_size: float | None = None
    frame_files: bool = False  # one file per frame, each checked when read

    @cached_property
    def n_frames(self) -> int:
        return int(self.frame_offsets[-1])

    @property
    def frame_shape(self) -> tuple[int, int]:
        return self.layouts[0].frame_shape

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.n_frames, *self.frame_shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.layouts[0].dtype)

    @cached_property
    def contiguous(self) -> bool:
        return all(lay.contiguous for lay in self.layouts)

    @cached_property
    def decode_rows(self) -> int:
        """Rows that are decoded together (a strip; the frame for single-strip or tiled
        pages); 0 when every file is contiguous and uncompressed (any band reads alone)."""
        return max(lay.decode_rows for lay in self.layouts)

    @cached_property
    def frame_offsets(self) -> np.ndarray:
        """First frame of each file (cumulative), length ``len(layouts) + 1``."""
        return np.concatenate([[0], np.cumsum([lay.n_frames for lay in self.layouts])])

    def identity(self, content: bool = True) -> list[dict[str, Any]]:
        """Path, size, mtime and content fingerprint of every file (provenance, resume and
        cache checks): a file replaced by another of the same size and mtime is told apart
        by :func:`content_digest`. The other files of a multi-file (OME) series are listed
        after the file whose metadata describes them. ``content=False``: ``"content"`` is
        None (the ingest of a frame sequence takes it from the bytes it reads)."""
        files = []
        for lay in self.layouts:
            files.append(lay)
            for part in lay.parts:
                st = os.stat(part)
                files.append(replace(lay, path=part, size=st.st_size, mtime_ns=st.st_mtime_ns))
        return [
            {
                "path": p.path,
                "size": p.size,
                "mtime_ns": p.mtime_ns,
                "content": content_digest(p) if content else None,
            }
            for p in files
        ]

    def view(
        self,
        start: int,
        stop: int,
        rows: tuple[int, int] | None = None,
        out: np.ndarray | None = None,
        digests: list[str] | None = None,
    ) -> np.ndarray:
        """Frames ``start..stop-1`` as a read-only memory map when they are one block.

        Uncompressed, contiguous, native byte order, one file, whole frames of one channel:
        a ``numpy.memmap`` (``mode='r'``) of just these bytes, no copy; the mapping goes when
        the array is released. Otherwise the same as :meth:`read` (a copy, into ``out`` when
        given; ``digests`` as there).
        """
        bounds = self.frame_offsets
        i = int(np.searchsorted(bounds, start, side="right") - 1)
        lay = self.layouts[i]
        lo, hi = start - int(bounds[i]), stop - int(bounds[i])
        ny, nx = self.frame_shape
        if (
            lay.contiguous
            and hi <= lay.n_frames
            and rows in (None, (0, ny))
            and np.dtype(lay.file_dtype) == self.dtype
            and lay.plane_shape == (ny, nx)
            and stop > start
            and digests is None
        ):
            planes = lay.planes(lo, hi)
            if planes[-1] - planes[0] == hi - lo - 1:
                plane_bytes = ny * nx * self.dtype.itemsize
                return np.memmap(
                    lay.path,
                    dtype=self.dtype,
                    mode="r",
                    offset=lay.offset + int(planes[0]) * plane_bytes,
                    shape=(hi - lo, ny, nx),
                )
        return self.read(start, stop, rows=rows, out=out, digests=digests)

    def read(
        self,
        start: int,
        stop: int,
        rows: tuple[int, int] | None = None,
        cols: tuple[int, int] | None = None,
        out: np.ndarray | None = None,
        digests: list[str] | None = None,
    ) -> np.ndarray:
        """Frames ``start..stop-1`` (rows / cols windows optional) as a native-order array.

        ``digests``: appends the :func:`content_digest` of every file read, in order (from
        the bytes read when a frame file is read whole in one read, else read for it)."""
        y0, y1 = rows if rows is not None else (0, self.frame_shape[0])
        x0, x1 = cols if cols is not None else (0, self.frame_shape[1])
        if out is None:
            out = np.empty((stop - start, y1 - y0, x1 - x0), dtype=self.dtype)
        bounds = self.frame_offsets
        first = int(np.searchsorted(bounds, start, side="right") - 1)
        pos = start
        i = first
        while pos < stop:
            lay = self.layouts[i]
            lo = pos - int(bounds[i])
            hi = min(stop, int(bounds[i + 1])) - int(bounds[i])
            samples: list[bytes] | None = [] if digests is not None else None
            block = out[pos - start : pos - start + hi - lo]
            read_layout(lay, lo, hi, (y0, y1), (x0, x1), block, samples)
            if digests is not None:
                digests.append(content_digest(lay, samples))
            pos += hi - lo
            i += 1
        return out


def open_tiff_source(
    source: PathLike | Sequence[PathLike], channel: int | None = None, axes: str | None = None
) -> TiffSource:
    """Inspect a TIFF file or sequence and check all files agree on frame shape and dtype.

    A sequence whose first file holds a single frame (a camera's or Micro-Manager's one
    file per frame, 10^4-10^5 files) is one movie of one frame per file: only the first file
    is inspected here; every other file is checked (one 2-D image of the first file's shape
    and dtype) as it is read, and an odd file is named in the error. ``axes`` declares the
    axes of every file (e.g. ``"TYX"`` for an ImageJ stack whose metadata says ``"CYX"``).
    """
    paths = resolve_paths(source)
    several = len(paths) > 1
    first, meta = inspect_tiff(paths[0], channel=channel, single_frame=several, axes=axes)
    pixel_size = meta["pixel_size"]
    if several and first.n_frames == 1:
        folders: dict[str, str] = {}  # resolve each folder once, not each of 10^5 files
        like = {f.name: getattr(first, f.name) for f in fields(first)}  # replace(), faster
        like.update(offset=None, like=first.path, frame_offset=first.offset)
        others = []
        for p in paths[1:]:
            folder, name = os.path.split(p)
            if folder not in folders:
                folders[folder] = str(Path(folder).resolve())
            others.append(_like(like, os.path.join(folders[folder], name)))
        return TiffSource((first, *others), pixel_size, frame_files=True)
    layouts = [first]
    for p in paths[1:]:
        if str(Path(p).resolve()) in first.parts:
            continue
        lay, _ = inspect_tiff(p, channel=channel, single_frame=True, axes=axes)
        if lay.frame_shape != first.frame_shape or lay.dtype != first.dtype:
            raise InputError(
                f"{p}: frames {lay.frame_shape} {np.dtype(lay.dtype)} do not match the first file "
                f"{paths[0]} ({first.frame_shape} {np.dtype(first.dtype)})"
            )
        layouts.append(lay)
    # a file whose frames a multi-file series (OME) of another file already holds is not
    # read again (e.g. the second file of a dataset listed before the first)
    covered = {part for lay in layouts for part in lay.parts}
    layouts = [lay for lay in layouts if lay.path not in covered]
    return TiffSource(tuple(layouts), pixel_size)


def check_dest_outside(dest: Path, source: TiffSource) -> None:
    """Refuse a destination that is, or contains, a file of ``source``."""
    dres = dest.resolve()
    folders: dict[str, list[str]] = {}  # one check per folder (10^5 files of a sequence)
    for path in {lay.path for lay in source.layouts}:  # layout paths are resolved
        folders.setdefault(os.path.dirname(path), []).append(path)
    for folder, paths in folders.items():
        inside = Path(folder) == dres or Path(folder).is_relative_to(dres)
        beside = Path(folder) == dres.parent
        same = [p for p in paths if beside and os.path.basename(p) == dres.name]
        if inside or same:
            raise InputError(
                f"dest {dest}: is (or contains) the source file {(same or sorted(paths))[0]}; "
                "choose another destination"
            )


def _read_tiff_block(source: TiffSource, block_info: dict | None = None) -> np.ndarray:
    (t0, t1), (y0, y1), (x0, x1) = block_info[None]["array-location"]
    return source.read(t0, t1, rows=(y0, y1), cols=(x0, x1))


def tiff_to_dask(source: TiffSource, chunks: Any = None) -> da.Array:
    """Lazy (t, y, x) dask array over a TIFF source: one task per batch of frames.

    Each task opens the file itself (no open handle or store in the graph), so the graph
    pickles and runs on ``distributed`` worker processes.
    """
    shape = source.shape
    if chunks is None:
        if source.contiguous:
            chunks = _store.default_chunks(shape, source.dtype)
        else:  # decoding pages: keep whole frames, ~64 MB per batch
            frame = max(1, shape[1] * shape[2] * source.dtype.itemsize)
            chunks = (max(1, min(shape[0], (64 << 20) // frame)), shape[1], shape[2])
    else:
        chunks = _store.parse_chunks(chunks, shape, source.dtype)
    norm = da.core.normalize_chunks(chunks, shape, dtype=source.dtype)
    return da.map_blocks(
        _read_tiff_block,
        source=source,
        chunks=norm,
        dtype=source.dtype,
        meta=np.empty((0, 0, 0), dtype=source.dtype),
        name=f"read-tiff-{tokenize(source, norm)}",
    )


def _like(like: dict[str, Any], path: str) -> TiffLayout:
    """The layout of a file (``path`` resolved) expected to hold one frame like the first
    file (``like``: its layout's fields, ``offset=None``, ``like`` its path; checked on read)."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise FileNotFoundError(f"{path}: cannot be read ({exc})") from exc
    return TiffLayout(**{**like, "path": path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
