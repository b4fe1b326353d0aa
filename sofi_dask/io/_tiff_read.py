"""Batched reads of frames from one TIFF file described by a :class:`TiffLayout`.

Two read paths:

* **contiguous** (uncompressed series stored in one block, the usual camera / ImageJ /
  tifffile output): frames are read with ``os.preadv`` straight into the output buffer, one
  system call per batch of frames (or per frame when only a band of rows is wanted). No
  memory map is kept alive, so the resident memory stays bounded by the batch.
* **pages** (compressed, tiled or scattered pages): ``TiffFile.asarray(key=[...])`` decodes a
  range of pages at once. Open ``TiffFile`` objects are kept in a small per-process cache,
  because parsing the IFD chain of a 10^5-page file again for every task would dominate.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import tifffile

from sofi_dask.io._tiff_layout import TiffLayout


# --------------------------------------------------------------------------- reading
def read_layout(
    lay: TiffLayout,
    start: int,
    stop: int,
    rows: tuple[int, int],
    cols: tuple[int, int],
    out: np.ndarray,
) -> np.ndarray:
    """Read frames ``start..stop-1`` of one file, rows/cols windows, into ``out``."""
    if lay.contiguous:
        _read_contiguous(lay, start, stop, rows, cols, out)
    else:
        _read_pages(lay, start, stop, rows, cols, out)
    return out


def _pread_into(fd: int, buf: np.ndarray, offset: int) -> None:
    view = memoryview(buf.reshape(-1).view(np.uint8))
    done = 0
    total = view.nbytes
    while done < total:
        n = os.preadv(fd, [view[done:]], offset + done)
        if n <= 0:
            raise ValueError(f"unexpected end of file at byte {offset + done}")
        done += n


def _read_contiguous(lay, start, stop, rows, cols, out) -> None:
    fdtype = np.dtype(lay.file_dtype)
    plane_shape = lay.plane_shape
    ny, nx = lay.frame_shape
    samples = plane_shape[2] if len(plane_shape) == 3 else 1
    row_bytes = nx * samples * fdtype.itemsize
    plane_bytes = ny * row_bytes
    y0, y1 = rows
    x0, x1 = cols
    planes = lay.planes(start, stop)
    n = stop - start
    simple = samples == 1 and x0 == 0 and x1 == nx and fdtype == out.dtype
    fd = os.open(lay.path, os.O_RDONLY)
    try:
        if simple and n > 0 and (y0, y1) == (0, ny) and planes[-1] - planes[0] == n - 1:
            # one block: frames are consecutive planes
            _pread_into(fd, out, lay.offset + int(planes[0]) * plane_bytes)
            return
        band = np.empty((y1 - y0, nx, samples) if samples > 1 else (y1 - y0, nx), dtype=fdtype)
        for k, p in enumerate(planes):
            _pread_into(fd, band, lay.offset + int(p) * plane_bytes + y0 * row_bytes)
            block = band[..., x0:x1] if samples == 1 else band[:, x0:x1, lay.channel or 0]
            out[k] = block
    finally:
        os.close(fd)


class _TiffCache:
    """Per-process cache of open ``TiffFile`` objects (page-mode reads), one lock per file."""

    def __init__(self, maxsize: int = 32) -> None:
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, int], tuple[tifffile.TiffFile, threading.Lock]] = (
            OrderedDict()
        )

    @contextmanager
    def open(self, path: str, mtime_ns: int) -> Iterator[tifffile.TiffFile]:
        key = (path, mtime_ns)
        with self._lock:
            item = self._items.get(key)
            if item is None:
                tif = tifffile.TiffFile(path)
                item = (tif, threading.Lock())
                self._items[key] = item
                while len(self._items) > self.maxsize:
                    _, (old, old_lock) = self._items.popitem(last=False)
                    with old_lock:
                        old.close()
            self._items.move_to_end(key)
        tif, lock = item
        with lock:
            if tif.filehandle.closed:
                tif.filehandle.open()
            yield tif


_CACHE = _TiffCache()


def _read_pages(lay, start, stop, rows, cols, out) -> None:
    y0, y1 = rows
    x0, x1 = cols
    planes = lay.planes(start, stop)
    ppp = lay.planes_per_page
    pages = planes // ppp
    sub = planes % ppp
    ny, nx = lay.frame_shape
    # decode at most ~64 MB of pages at a time
    page_bytes = max(1, ppp * int(np.prod(lay.plane_shape)) * np.dtype(lay.dtype).itemsize)
    step = max(1, (64 << 20) // page_bytes)
    with _CACHE.open(lay.path, lay.mtime_ns) as tif:
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
