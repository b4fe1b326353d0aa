"""Batched reads of frames from one TIFF file described by a :class:`TiffLayout`.

Two read paths:

* **contiguous** (uncompressed series stored in one block, the usual camera / ImageJ /
  tifffile output): frames are read with ``os.preadv`` straight into the output buffer, one
  system call per batch of frames (or per frame when only a band of rows is wanted). No
  memory map is kept alive, so the resident memory stays bounded by the batch.
* **pages** (compressed or scattered pages): only the strips that hold the wanted rows are
  read and decoded (``_tiff_decode.py``), pages on threads; tiled or planar pages fall back
  to ``TiffFile.asarray(key=[...])`` of whole pages. Open ``TiffFile`` objects are kept in
  a small per-process cache, because parsing the IFD chain of a 10^5-page file again for
  every task would dominate.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np
import tifffile

from sofi_dask._cpus import task_threads
from sofi_dask.errors import InputError
from sofi_dask.io._lru import LruCache
from sofi_dask.io._tiff_contiguous import read_contiguous
from sofi_dask.io._tiff_decode import decode_page_rows, decode_pages, page_strips
from sofi_dask.io._tiff_frames import read_frame_file
from sofi_dask.io._tiff_layout import TiffLayout


# --------------------------------------------------------------------------- reading
def read_layout(
    lay: TiffLayout,
    start: int,
    stop: int,
    rows: tuple[int, int],
    cols: tuple[int, int],
    out: np.ndarray,
    samples: list[bytes] | None = None,
) -> np.ndarray:
    """Read frames ``start..stop-1`` of one file, rows/cols windows, into ``out``;
    ``samples``: see :func:`~sofi_dask.io._tiff_frames.read_frame_file`."""
    if lay.like is not None:
        _read_single_frame(lay, rows, cols, out, samples)
    elif lay.contiguous:
        read_contiguous(lay, start, stop, rows, cols, out)
    else:
        _read_pages(lay, start, stop, rows, cols, out)
    return out


def _read_single_frame(lay: TiffLayout, rows, cols, out, samples=None) -> None:
    """One file of a one-file-per-frame sequence, checked as it is read: one 2-D image of
    the first file's shape and dtype (a clear error naming both files otherwise). Plain
    uncompressed files take :func:`~sofi_dask.io._tiff_frames.read_frame_file` (one open, one
    read); the others are parsed by tifffile."""
    if read_frame_file(lay, rows, cols, out, samples):  # one open, one read: the usual case
        return
    ny, nx = lay.frame_shape
    want = f"one {ny} x {nx} {np.dtype(lay.dtype)} frame like the first file {lay.like}"
    try:
        tif = tifffile.TiffFile(lay.path)
    except (tifffile.TiffFileError, OSError, ValueError, EOFError) as exc:
        raise InputError(f"{lay.path}: not a readable TIFF ({exc}); expected {want}") from exc
    with tif:
        page = tif.pages.first
        n_pages = len(tif.pages)
        shape = tuple(int(v) for v in page.shape)
        dtype = np.dtype(page.dtype) if page.dtype is not None else None
        samples = shape[2:] if len(shape) == 3 and page.samplesperpixel > 1 else ()
        if (
            n_pages != 1
            or shape[:2] != (ny, nx)
            or len(shape) != 2 + len(samples)
            or dtype is None
            or dtype.newbyteorder("=") != np.dtype(lay.dtype)
            or (samples != lay.plane_shape[2:])
        ):
            raise InputError(
                f"{lay.path}: {n_pages} page(s) of shape {shape} {dtype}; expected {want}"
            )
        offset = page.dataoffsets[0] if page.is_contiguous and page.dataoffsets else None
        if offset is not None and np.dtype(tif.byteorder + dtype.char) == lay.file_dtype:
            # uncompressed in one block, like the first file: straight into ``out``
            read_contiguous(replace(lay, offset=int(offset), like=None), 0, 1, rows, cols, out)
            return
        strips = page_strips(page)
        sample = lay.channel if samples else None
        if strips is None:
            plane = page.asarray()
            plane = plane[..., lay.channel or 0] if samples else plane
            out[0] = plane[rows[0] : rows[1], cols[0] : cols[1]]
            return
        fd = os.open(lay.path, os.O_RDONLY)
        try:
            decode_page_rows(strips, fd, rows, cols, sample, out[0])
        finally:
            os.close(fd)


def _close(item: tuple[tifffile.TiffFile, threading.Lock]) -> None:
    tif, lock = item
    with lock:
        tif.close()


_CACHE: LruCache[tuple[tifffile.TiffFile, threading.Lock]] = LruCache(32, on_evict=_close)
"""Per process: open ``TiffFile`` objects of page-mode reads, one lock per file."""


@contextmanager
def _open_tiff(path: str, mtime_ns: int) -> Iterator[tifffile.TiffFile]:
    """The cached ``TiffFile`` of ``path`` (opened again when it was closed), its lock held."""
    tif, lock = _CACHE.get_or_add(
        (path, mtime_ns), lambda: (tifffile.TiffFile(path), threading.Lock())
    )
    with lock:
        if tif.filehandle.closed:
            tif.filehandle.open()
        yield tif


def _page_objects(tif: tifffile.TiffFile, lay: TiffLayout, pages: np.ndarray) -> list[Any]:
    if lay.series_index < 0:
        return [tif.pages[int(k)] for k in pages]
    series_pages = tif.series[lay.series_index].pages
    return [series_pages[int(k)] for k in pages]


def _read_pages(lay, start, stop, rows, cols, out, threads: int = 0) -> None:
    """Decode pages: strip by strip (only the strips holding ``rows``, pages on threads)
    when the pages allow it, else whole pages with tifffile's ``asarray``."""
    planes = lay.planes(start, stop)
    if len(planes) == 0:
        return
    ppp = lay.planes_per_page
    pages = planes // ppp
    jobs = None
    if ppp == 1:
        with _open_tiff(lay.path, lay.mtime_ns) as tif:
            try:
                described = [page_strips(p) for p in _page_objects(tif, lay, pages)]
            except (IndexError, KeyError, TypeError):
                described = [None]
        if all(d is not None for d in described):
            jobs = [(d, out[k]) for k, d in enumerate(described)]
    if jobs is None:
        _read_whole_pages(lay, planes, rows, cols, out)
        return
    threads = threads or task_threads(4)  # 1 on a distributed worker
    sample = lay.channel if len(lay.plane_shape) == 3 else None
    decode_pages(jobs, rows, cols, sample, threads)


def _read_whole_pages(lay, planes, rows, cols, out) -> None:
    y0, y1 = rows
    x0, x1 = cols
    ppp = lay.planes_per_page
    pages = planes // ppp
    sub = planes % ppp
    # decode at most ~64 MB of pages at a time
    page_bytes = max(1, ppp * int(np.prod(lay.plane_shape)) * np.dtype(lay.dtype).itemsize)
    step = max(1, (64 << 20) // page_bytes)
    with _open_tiff(lay.path, lay.mtime_ns) as tif:
        for s in range(0, len(pages), step):
            key = pages[s : s + step]
            uniq, inverse = np.unique(key, return_inverse=True)
            series = None if lay.series_index < 0 else lay.series_index
            data = tif.asarray(key=[int(k) for k in uniq], series=series, maxworkers=1)
            data = data.reshape(len(uniq), ppp, *lay.plane_shape)
            for k in range(len(key)):
                plane = data[inverse[k], sub[s + k]]
                if plane.ndim == 3:
                    plane = plane[..., lay.channel or 0]
                out[s + k] = plane[y0:y1, x0:x1]
