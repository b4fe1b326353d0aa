"""One file of a one-file-per-frame sequence, read with one ``open`` and one read.

A camera's or Micro-Manager's image sequence is 10^4-10^5 small files; parsing each with
``tifffile.TiffFile`` costs more than reading its pixels. :func:`read_frame_file` reads the
whole file with one ``os.preadv`` whose middle buffer is the output frame itself, at the
place where the first file of the sequence holds its pixels, then checks the file from the
bytes already read: a classic TIFF or BigTIFF header in this machine's byte order, one IFD
(no next page), the frame's width and height, one sample of the first file's bits and sample
format, no compression, no bit-reversed fill order, no tiles, strips contiguous and exactly
one frame long. A file that passes holds exactly what ``tifffile`` would decode (its pixels
are copied from elsewhere in the buffer when they start at another offset, e.g. after a
longer description); any other file returns False, and the caller reads it through
``tifffile`` (compressed files, other byte orders, several samples) or names it in an error.
"""

from __future__ import annotations

import os
import struct
import sys
from dataclasses import replace

import numpy as np

from sofi_dask.errors import InputError
from sofi_dask.io._lru import LruCache
from sofi_dask.io._tiff_contiguous import read_contiguous
from sofi_dask.io._tiff_layout import TiffLayout

SAMPLE_BYTES = 4096
"""Bytes read at each of the five places a content fingerprint samples."""


def sample_places(size: int) -> list[int]:
    """Where a content fingerprint samples a file of ``size`` bytes: the start, a quarter,
    half and three quarters in, and the last :data:`SAMPLE_BYTES`."""
    return [size * frac // 4 for frac in (0, 1, 2, 3)] + [max(0, size - SAMPLE_BYTES)]


_TAGS = {256, 257, 258, 259, 266, 273, 277, 279, 322, 323, 339}  # the tags that decide the layout
_INT_TYPES = {1: "B", 3: "H", 4: "I", 16: "Q"}  # BYTE, SHORT, LONG, LONG8
_SAMPLE_KIND = {1: "u", 2: "i", 3: "f"}  # SampleFormat: uint, int, IEEE float


class _Regions:
    """Bytes at absolute file positions: from the buffers one ``preadv`` filled, else read
    (4 KiB at least) from ``fd`` on demand."""

    def __init__(self, parts: list[tuple[int, memoryview]], size: int, fd: int) -> None:
        self.parts = parts
        self.size = size
        self.fd = fd

    def _held(self, pos: int, n: int) -> bytes | None:
        for start, buf in self.parts:  # usually one buffer holds it all
            if start <= pos and pos + n <= start + len(buf):
                return bytes(buf[pos - start : pos - start + n])
        chunks = []
        for start, buf in self.parts:
            lo, hi = max(pos, start), min(pos + n, start + len(buf))
            if lo < hi:
                chunks.append(buf[lo - start : hi - start])
        data = b"".join(chunks)
        return data if len(data) == n else None

    def get(self, pos: int, n: int) -> bytes | None:
        if pos < 0 or n < 0 or pos + n > self.size:
            return None
        data = self._held(pos, n)
        if data is None:
            more = os.pread(self.fd, max(n, 4096), pos)
            if len(more) < n:
                return None
            self.parts.append((pos, memoryview(more)))
            data = more[:n]
        return data


def _entries(reg: _Regions) -> dict[int, tuple[int, ...]] | None:
    """The layout tags of the file's only IFD, or None when the file is not a plain
    single-page TIFF in this machine's byte order."""
    head = reg.get(0, 16)
    if head is None or head[:2] != (b"II" if sys.byteorder == "little" else b"MM"):
        return None
    e = "<" if head[:2] == b"II" else ">"
    version = struct.unpack(e + "H", head[2:4])[0]
    if version == 42:
        ifd, count_fmt, entry, value_size, off_fmt = (
            struct.unpack(e + "I", head[4:8])[0],
            "H",
            12,
            4,
            "I",
        )
    elif version == 43:
        ifd, count_fmt, entry, value_size, off_fmt = (
            struct.unpack(e + "Q", head[8:16])[0],
            "Q",
            20,
            8,
            "Q",
        )
    else:
        return None
    count_size = struct.calcsize(count_fmt)
    raw = reg.get(ifd, count_size)
    if raw is None:
        return None
    n = struct.unpack(e + count_fmt, raw)[0]
    table = reg.get(ifd + count_size, n * entry + value_size)
    if table is None:
        return None
    if struct.unpack(e + off_fmt, table[n * entry :])[0] != 0:
        return None  # a second page
    tags: dict[int, tuple[int, ...]] = {}
    fields = struct.unpack(e + ("HH" + off_fmt + f"{value_size}s") * n, table[: n * entry])
    for k in range(0, 4 * n, 4):  # (tag, type, count, value or offset) per entry
        tag, typ, count, value = fields[k : k + 4]
        if tag not in _TAGS:
            continue
        if typ not in _INT_TYPES:
            return None
        fmt = f"{e}{count}{_INT_TYPES[typ]}"
        size = struct.calcsize(fmt)
        if size <= value_size:
            data = value[:size]
        else:
            data = reg.get(struct.unpack(e + off_fmt, value)[0], size)
            if data is None:
                return None
        tags[tag] = struct.unpack(fmt, data)
    return tags


def _data_offset(tags: dict[int, tuple[int, ...]], lay: TiffLayout, nbytes: int) -> int | None:
    """Where the frame's pixels start, when the IFD describes exactly one uncompressed frame
    of ``lay``'s shape and dtype in contiguous strips; else None."""
    ny, nx = lay.frame_shape
    dtype = np.dtype(lay.dtype)
    one = (1,)
    if (
        tags.get(256) != (nx,)
        or tags.get(257) != (ny,)
        or tags.get(277, one) != one
        or tags.get(259, one) != one
        or tags.get(266, one) != one
        or 322 in tags
        or 323 in tags
        or tags.get(258, one) != (dtype.itemsize * 8,)
        or _SAMPLE_KIND.get(tags.get(339, one)[0]) != dtype.kind
        or len(lay.plane_shape) != 2
    ):
        return None
    offsets, counts = tags.get(273), tags.get(279)
    if not offsets or counts is None or len(offsets) != len(counts) or sum(counts) != nbytes:
        return None
    for k in range(len(offsets) - 1):
        if offsets[k] + counts[k] != offsets[k + 1]:
            return None
    return int(offsets[0])


_CHECKED: LruCache[int] = LruCache(8192)
"""Per process: ``(path, size, mtime_ns)`` of a file already checked -> where its pixels
start, so that the row bands of one big frame (one task each) parse the file's IFD once."""


def read_frame_file(
    lay: TiffLayout,
    rows: tuple[int, int],
    cols: tuple[int, int],
    out: np.ndarray,
    samples: list[bytes] | None = None,
) -> bool:
    """Read the frame of ``lay`` (a file of a frame sequence) into ``out`` (shape (1, y, x) of
    the rows/cols windows) with one open and one read; False when the file is not a plain
    uncompressed single-frame TIFF like the first (``out`` then holds garbage).

    A whole frame: one ``preadv`` of the whole file, the output frame as its middle buffer.
    A band of rows (big frames, one task per band): the file's IFD is parsed once per process
    (:data:`_CHECKED`), and each band reads just its rows. ``samples``: a whole frame
    read in one read appends the fingerprint's samples (:func:`sample_places`) of the bytes
    read, so that the file's content fingerprint needs no other read.

    Examples
    --------
    >>> import tempfile, tifffile
    >>> from sofi_dask.io._tiff import open_tiff_source
    >>> folder = tempfile.mkdtemp()
    >>> for i in range(3):
    ...     tifffile.imwrite(f"{folder}/f{i}.tif", np.full((4, 5), i, np.uint16))
    >>> lay = open_tiff_source(folder).layouts[2]
    >>> out = np.empty((1, 4, 5), np.uint16)
    >>> read_frame_file(lay, (0, 4), (0, 5), out), int(out.sum())
    (True, 40)
    >>> band = np.empty((1, 2, 3), np.uint16)
    >>> read_frame_file(lay, (1, 3), (1, 4), band), int(band.sum())
    (True, 12)
    """
    ny, nx = lay.frame_shape
    if np.dtype(lay.file_dtype) != np.dtype(lay.dtype):
        return False  # another byte order: tifffile's path swaps it
    if (rows, cols) != ((0, ny), (0, nx)) or not out[0].flags.c_contiguous:
        return _read_band(lay, rows, cols, out)
    try:
        fd = os.open(lay.path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return _read_whole(fd, lay, out[0], samples)
    finally:
        os.close(fd)


def _read_whole(
    fd: int, lay: TiffLayout, frame: np.ndarray, samples: list[bytes] | None = None
) -> bool:
    """One ``preadv`` of the file: [bytes before the first file's pixel offset, the frame,
    the rest]; then the checks on the bytes read."""
    nbytes = frame.nbytes
    off, size = lay.frame_offset, lay.size
    if off is None or size < off + nbytes:
        reg = _Regions([], size, fd)
        pixels = None
    else:
        # one byte more than the listed size: a file longer than when listed reads it
        head, tail = bytearray(off), bytearray(size - off - nbytes + 1)
        pixels = memoryview(frame.reshape(-1).view(np.uint8))
        got = os.preadv(fd, [head, pixels, tail], 0)
        if got != size:  # shorter or longer than when listed
            return False
        rest = memoryview(tail)[:-1]
        parts = [(0, memoryview(head)), (off, pixels), (off + nbytes, rest)]
        reg = _Regions(parts, size, fd)
    tags = _entries(reg)
    start = None if tags is None else _data_offset(tags, lay, nbytes)
    if start is None or start + nbytes > size:
        return False
    # the fingerprint's samples, as os.pread gives them, before ``frame`` is rewritten
    sampled = (
        [reg.get(at, min(SAMPLE_BYTES, size - at)) for at in sample_places(size)]
        if samples is not None
        else []
    )
    if start != off or pixels is None:  # the pixels are elsewhere (e.g. a longer description)
        data = reg.get(start, nbytes)
        if data is None:
            return False
        frame[...] = np.frombuffer(data, frame.dtype).reshape(frame.shape)
    if samples is not None and all(b is not None for b in sampled):
        samples.extend(sampled)  # type: ignore[arg-type]
    return True


def _read_band(lay: TiffLayout, rows, cols, out: np.ndarray) -> bool:
    """Rows ``rows`` (columns ``cols``) of the file's frame: the IFD checked once per process,
    then the rows read by the contiguous reader."""
    key = (lay.path, lay.size, lay.mtime_ns)
    start = _CHECKED.get(key)
    if start is None:
        nbytes = int(np.prod(lay.frame_shape)) * np.dtype(lay.dtype).itemsize
        try:
            fd = os.open(lay.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            if os.fstat(fd).st_size != lay.size:
                return False
            tags = _entries(_Regions([], lay.size, fd))
        finally:
            os.close(fd)
        start = None if tags is None else _data_offset(tags, lay, nbytes)
        if start is None or start + nbytes > lay.size:
            return False
        _CHECKED.put(key, start)
    try:
        read_contiguous(replace(lay, offset=start, like=None), 0, 1, rows, cols, out)
    except (InputError, OSError):  # shorter since it was listed, or gone: tifffile names it
        return False
    return True
