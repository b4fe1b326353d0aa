"""Uncompressed TIFF series stored in one block, read with ``os.preadv``: the one reader of
contiguous frames, for multi-page files (:mod:`sofi_dask.io._tiff_read`) and for the row
bands of a frame sequence's files (:mod:`sofi_dask.io._tiff_frames`).

Examples
--------
>>> import tempfile, tifffile
>>> from sofi_dask.io._tiff_layout import inspect_tiff
>>> path = tempfile.mkdtemp() + "/m.tif"
>>> movie = np.arange(60, dtype=np.uint16).reshape(3, 4, 5)
>>> tifffile.imwrite(path, movie, photometric="minisblack")
>>> lay = inspect_tiff(path)[0]
>>> out = np.empty((2, 2, 3), np.uint16)
>>> read_contiguous(lay, 1, 3, (1, 3), (2, 5), out)
>>> out[0].tolist()
[[27, 28, 29], [32, 33, 34]]
"""

from __future__ import annotations

import os

import numpy as np

from sofi_dask.errors import InputError
from sofi_dask.io._fileio import pread_full
from sofi_dask.io._tiff_layout import TiffLayout

__all__ = ["read_contiguous"]


def _pread_into(fd: int, buf: np.ndarray, offset: int) -> None:
    view = memoryview(buf.reshape(-1).view(np.uint8))
    got = pread_full(fd, view, offset)
    if got < len(view):
        raise InputError(f"unexpected end of file at byte {offset + got}")


def read_contiguous(
    lay: TiffLayout,
    start: int,
    stop: int,
    rows: tuple[int, int],
    cols: tuple[int, int],
    out: np.ndarray,
) -> None:
    """Frames ``start..stop-1`` (rows/cols windows) of an uncompressed series stored in one
    block at ``lay.offset`` into ``out``: one ``preadv`` for consecutive whole frames, else
    one per frame, straight into ``out`` when it can (raises :class:`InputError` naming the
    file when it is shorter than its layout says)."""
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
        if simple and out.flags.c_contiguous:  # a band of rows: each frame's rows in place
            for k, p in enumerate(planes):
                _pread_into(fd, out[k], lay.offset + int(p) * plane_bytes + y0 * row_bytes)
            return
        band = np.empty((y1 - y0, nx, samples) if samples > 1 else (y1 - y0, nx), dtype=fdtype)
        for k, p in enumerate(planes):
            _pread_into(fd, band, lay.offset + int(p) * plane_bytes + y0 * row_bytes)
            block = band[..., x0:x1] if samples == 1 else band[:, x0:x1, lay.channel or 0]
            out[k] = block
    except InputError as exc:  # shorter than its layout says: truncated since it was opened
        raise InputError(f"{lay.path}: {exc} (truncated?)") from exc
    finally:
        os.close(fd)
