"""TIFF movies as (t, y, x) frame sources: flavours, file sequences and batched reads.

A :class:`TiffSource` describes one movie stored in one TIFF file or an ordered sequence of
TIFF files (classic multi-page, BigTIFF, ImageJ hyperstack, OME-TIFF, tifffile "shaped"). It
holds only plain, picklable data (paths, offsets, shapes), so a task that reads frames opens
the file itself: graphs built on it run under ``distributed`` worker processes.

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

import glob
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

logger = logging.getLogger(__name__)

_CHANNEL_AXES = "CS"
_TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2")

PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------- source paths
def natural_key(text: str) -> list[Any]:
    """Sort key that orders ``Block2`` before ``Block10`` (numbers compared as integers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def resolve_paths(source: PathLike | Sequence[PathLike]) -> list[Path]:
    """Turn a TIFF path, a folder, a glob pattern or a list of paths into an ordered file list.

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
            files = [p for p in path.iterdir() if p.suffix.lower() in _TIFF_SUFFIXES]
            if not files:
                raise FileNotFoundError(f"{path}: folder contains no TIFF files (*.tif, *.tiff)")
            return sorted(files, key=lambda p: natural_key(p.name))
        if glob.has_magic(text) and not path.exists():
            files = [Path(p) for p in glob.glob(os.path.expanduser(text))]
            files = [p for p in files if p.is_file()]
            if not files:
                raise FileNotFoundError(f"{text}: pattern matches no files")
            return sorted(files, key=lambda p: natural_key(str(p)))
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
        return [path]
    paths = [Path(os.fspath(p)).expanduser() for p in source]
    if not paths:
        raise ValueError("source: expected a TIFF path, folder, pattern or non-empty list, got []")
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such file")
    return paths


# --------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class TiffLayout:
    """Where the frames of one TIFF file are and how to read them (plain, picklable data).

    The series is seen as ``planes`` (everything before the Y axis) of ``plane_shape``
    (``(Y, X)`` or ``(Y, X, S)``); frames are the planes left after fixing the channel.
    """

    path: str
    size: int
    mtime_ns: int
    series_shape: tuple[int, ...]
    series_axes: str
    dtype: str  # native-order numpy dtype of the pixels
    file_dtype: str  # dtype as stored (byte order of the file)
    offset: int | None  # byte offset of a contiguous uncompressed series, else None
    planes_per_page: int
    channel_axis: int | None  # index into series_shape, None if no channel axis > 1
    channel: int | None
    series_index: int = 0

    @property
    def y_axis(self) -> int:
        return self.series_axes.index("Y")

    @property
    def plane_axes_shape(self) -> tuple[int, ...]:
        return self.series_shape[: self.y_axis]

    @property
    def plane_shape(self) -> tuple[int, ...]:
        return self.series_shape[self.y_axis :]

    @property
    def frame_shape(self) -> tuple[int, int]:
        ya = self.y_axis
        return int(self.series_shape[ya]), int(self.series_shape[ya + 1])

    @property
    def n_frames(self) -> int:
        shape = list(self.plane_axes_shape)
        if self.channel_axis is not None and self.channel_axis < self.y_axis:
            shape.pop(self.channel_axis)
        return int(np.prod(shape, dtype=np.int64))

    @property
    def contiguous(self) -> bool:
        return self.offset is not None

    def planes(self, start: int, stop: int) -> np.ndarray:
        """Plane indices holding frames ``start..stop-1``."""
        frames = np.arange(start, stop, dtype=np.int64)
        ca = self.channel_axis
        if ca is None or ca >= self.y_axis:
            return frames
        full = self.plane_axes_shape
        reduced = full[:ca] + full[ca + 1 :]
        index = list(np.unravel_index(frames, reduced)) if reduced else []
        index.insert(ca, np.full(frames.shape, self.channel, dtype=np.int64))
        return np.ravel_multi_index(index, full).astype(np.int64)


def _pixel_size_um(tif: tifffile.TiffFile) -> float | None:
    """Pixel size in micrometres from OME, ImageJ or TIFF resolution tags, if recorded."""
    try:
        if tif.is_ome and tif.ome_metadata:
            match = re.search(r'PhysicalSizeX="([0-9.eE+-]+)"', tif.ome_metadata)
            unit = re.search(r'PhysicalSizeXUnit="([^"]+)"', tif.ome_metadata)
            if match:
                value = float(match.group(1))
                factor = {"nm": 1e-3, "mm": 1e3, "m": 1e6, "cm": 1e4}.get(
                    unit.group(1) if unit else "µm", 1.0
                )
                return value * factor
        page = tif.pages.first
        tag = page.tags.get("XResolution")
        if tag is None:
            return None
        num, den = tag.value
        if num == 0 or den == 0:
            return None
        per_unit = num / den  # pixels per unit
        if tif.is_imagej:
            unit = (tif.imagej_metadata or {}).get("unit", "")
            factor = {
                "micron": 1.0,
                "um": 1.0,
                "µm": 1.0,
                "\\u00B5m": 1.0,
                "nm": 1e-3,
                "mm": 1e3,
            }.get(str(unit))
            return None if factor is None else factor / per_unit
        res_unit = (
            int(page.tags.get("ResolutionUnit").value) if "ResolutionUnit" in page.tags else 2
        )
        if per_unit == 1.0 or res_unit == 1:
            return None
        return (25400.0 if res_unit == 2 else 10000.0) / per_unit
    except Exception:  # metadata is optional: never fail a read because of it
        logger.debug("could not read pixel size from %s", tif.filehandle.path, exc_info=True)
        return None


def _uniform_2d(all_series: Sequence[Any]) -> bool:
    first = all_series[0]
    return all(
        len(s.pages) == 1
        and s.shape == first.shape
        and s.dtype == first.dtype
        and s.axes == first.axes
        for s in all_series
    )


class _ErrorCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _capture_tifffile_errors() -> Iterator[_ErrorCapture]:
    capture = _ErrorCapture()
    tlog = logging.getLogger("tifffile")
    tlog.addHandler(capture)
    try:
        yield capture
    finally:
        tlog.removeHandler(capture)


def inspect_tiff(path: PathLike, channel: int | None = None) -> tuple[TiffLayout, dict[str, Any]]:
    """Open one TIFF, check it holds a movie and describe where its frames are.

    Returns
    -------
    layout : TiffLayout
    meta : dict
        ``pixel_size`` (µm or None), ``flavour`` and ``axes`` of the file.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Not a TIFF, truncated or corrupt, a single 2-D image, zero frames, several channels
        without ``channel=``, or a layout this reader does not handle.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    stat = path.stat()
    with _capture_tifffile_errors() as errors:
        try:
            tif = tifffile.TiffFile(path)
        except tifffile.TiffFileError as exc:
            raise ValueError(f"{path}: not a TIFF file ({exc})") from exc
        except (OSError, ValueError, EOFError) as exc:
            raise ValueError(f"{path}: cannot be read as TIFF ({exc})") from exc
        with tif:
            try:
                series = tif.series[0]
                shape = tuple(int(s) for s in series.shape)
                axes = str(series.axes)
                n_pages = len(series.pages)
                last = series.pages[-1] if n_pages else None
                keyframe = series.keyframe
                series_index = 0
                if len(shape) == 2 and len(tif.series) > 1 and _uniform_2d(tif.series):
                    # one single-page series per frame (e.g. written page by page): the
                    # file's pages are the frames
                    series_index = -1
                    n_pages = len(tif.pages)
                    shape = (n_pages, *shape)
                    axes = "I" + axes
                    last = tif.pages[-1]
            except Exception as exc:
                raise ValueError(f"{path}: corrupt or truncated TIFF ({exc})") from exc
            if errors.messages:
                raise ValueError(
                    f"{path}: corrupt or truncated TIFF ({'; '.join(errors.messages[:3])})"
                )
            flavour = str(series.kind)
            dtype = np.dtype(series.dtype)
            offset = series.dataoffset if series_index == 0 else None
            byteorder = tif.byteorder
            pixel_size = _pixel_size_um(tif)
            page_shape = tuple(int(s) for s in keyframe.shape)
            end = None
            if last is not None and getattr(last, "dataoffsets", None):
                end = max(o + c for o, c in zip(last.dataoffsets, last.databytecounts, strict=True))
    if 0 in shape:
        raise ValueError(f"{path}: contains zero frames (series shape {shape}, axes {axes!r})")
    if "Y" not in axes or "X" not in axes or axes.index("X") != axes.index("Y") + 1:
        raise ValueError(f"{path}: unsupported axes {axes!r} (need ...YX); shape {shape}")
    ya = axes.index("Y")
    trailing = axes[ya + 2 :]
    if trailing not in ("", "S"):
        raise ValueError(f"{path}: unsupported axes {axes!r}; shape {shape}")
    if dtype.kind not in "uif" or dtype.itemsize > 8:
        raise ValueError(f"{path}: unsupported pixel type {dtype}")
    channel_axes = [i for i, a in enumerate(axes) if a in _CHANNEL_AXES and shape[i] > 1]
    if len(channel_axes) > 1:
        raise ValueError(f"{path}: several channel axes {axes!r} with shape {shape}; not supported")
    channel_axis = channel_axes[0] if channel_axes else None
    if channel_axis is not None:
        n_ch = shape[channel_axis]
        if channel is None:
            kind = "RGB samples" if axes[channel_axis] == "S" else "channels"
            raise ValueError(
                f"{path}: {n_ch} {kind} (axes {axes!r}, shape {shape}); "
                f"pass channel=0..{n_ch - 1} to pick one"
            )
        if not 0 <= int(channel) < n_ch:
            raise ValueError(
                f"{path}: channel must be in 0..{n_ch - 1} (axes {axes!r}), got {channel}"
            )
        channel = int(channel)
    elif channel not in (None, 0):
        raise ValueError(f"{path}: has a single channel (axes {axes!r}); channel={channel} given")
    else:
        channel = None
    frame_axes = [a for i, a in enumerate(axes[:ya]) if i != channel_axis]
    if not frame_axes:
        raise ValueError(
            f"{path}: a single 2-D image of shape {shape[ya : ya + 2]}; "
            "a movie (t, y, x) with several frames is needed"
        )
    # pages: the series is (planes..., page planes, plane shape); planes_per_page > 1 for
    # planar RGB stored as one page (S, Y, X)
    n_plane_dims = len(shape) - ya
    page_plane_dims = len(page_shape) - n_plane_dims
    planes_per_page = (
        int(np.prod(page_shape[:page_plane_dims], dtype=np.int64)) if page_plane_dims > 0 else 1
    )
    n_planes = int(np.prod(shape[:ya], dtype=np.int64))
    if offset is not None:
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if offset + nbytes > stat.st_size:
            raise ValueError(
                f"{path}: truncated TIFF: image data needs bytes {offset}..{offset + nbytes}, "
                f"file has {stat.st_size} bytes"
            )
    else:
        if n_pages * planes_per_page != n_planes:
            raise ValueError(
                f"{path}: unsupported page layout ({n_pages} pages for {n_planes} planes, "
                f"axes {axes!r})"
            )
        if end is not None and end > stat.st_size:
            raise ValueError(
                f"{path}: truncated TIFF: last page data ends at byte {end}, "
                f"file has {stat.st_size} bytes"
            )
    layout = TiffLayout(
        path=str(path.resolve()),
        size=int(stat.st_size),
        mtime_ns=int(stat.st_mtime_ns),
        series_shape=shape,
        series_axes=axes,
        dtype=dtype.newbyteorder("=").str,
        file_dtype=dtype.newbyteorder(byteorder).str,
        offset=None if offset is None else int(offset),
        planes_per_page=planes_per_page,
        channel_axis=channel_axis,
        channel=channel,
        series_index=series_index,
    )
    return layout, {"pixel_size": pixel_size, "flavour": flavour, "axes": axes}


@dataclass(frozen=True)
class TiffSource:
    """A movie (t, y, x) made of one or more TIFF files, concatenated along t."""

    layouts: tuple[TiffLayout, ...]
    pixel_size: float | None = None

    @property
    def n_frames(self) -> int:
        return sum(lay.n_frames for lay in self.layouts)

    @property
    def frame_shape(self) -> tuple[int, int]:
        return self.layouts[0].frame_shape

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.n_frames, *self.frame_shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.layouts[0].dtype)

    @property
    def contiguous(self) -> bool:
        return all(lay.contiguous for lay in self.layouts)

    @property
    def frame_offsets(self) -> np.ndarray:
        """First frame of each file (cumulative), length ``len(layouts) + 1``."""
        return np.concatenate([[0], np.cumsum([lay.n_frames for lay in self.layouts])])

    def identity(self) -> list[dict[str, Any]]:
        """Path, size and mtime of every file (provenance and resume check)."""
        return [
            {"path": lay.path, "size": lay.size, "mtime_ns": lay.mtime_ns} for lay in self.layouts
        ]

    def view(self, start: int, stop: int, rows: tuple[int, int] | None = None) -> np.ndarray:
        """Frames ``start..stop-1`` as a read-only memory map when they are one block.

        Uncompressed, contiguous, native byte order, one file, whole frames of one channel:
        a ``numpy.memmap`` (``mode='r'``) of just these bytes, no copy; the mapping goes when
        the array is released. Otherwise the same as :meth:`read` (a copy).
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
        return self.read(start, stop, rows=rows)

    def read(
        self,
        start: int,
        stop: int,
        rows: tuple[int, int] | None = None,
        cols: tuple[int, int] | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Frames ``start..stop-1`` (rows / cols windows optional) as a native-order array."""
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
            read_layout(lay, lo, hi, (y0, y1), (x0, x1), out[pos - start : pos - start + hi - lo])
            pos += hi - lo
            i += 1
        return out


def open_tiff_source(
    source: PathLike | Sequence[PathLike], channel: int | None = None
) -> TiffSource:
    """Inspect a TIFF file or sequence and check all files agree on frame shape and dtype."""
    paths = resolve_paths(source)
    layouts = []
    pixel_size = None
    for i, p in enumerate(paths):
        lay, meta = inspect_tiff(p, channel=channel)
        if i == 0:
            pixel_size = meta["pixel_size"]
        elif lay.frame_shape != layouts[0].frame_shape or lay.dtype != layouts[0].dtype:
            raise ValueError(
                f"{p}: frames {lay.frame_shape} {np.dtype(lay.dtype)} do not match the first file "
                f"{paths[0]} ({layouts[0].frame_shape} {np.dtype(layouts[0].dtype)})"
            )
        layouts.append(lay)
    return TiffSource(tuple(layouts), pixel_size)


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
