"""One TIFF file of a movie: its flavour, where its frames are and the checks on opening.

:func:`inspect_tiff` opens a file once (classic multi-page, BigTIFF, ImageJ hyperstack,
OME-TIFF, tifffile "shaped", or frames appended as several series), rejects what is not a
movie (not a TIFF, truncated or corrupt, a single 2-D image, several channels without
``channel=``, several image series that are not one movie in page order) and returns a
:class:`TiffLayout`: plain, picklable data (path, offsets, shapes) from which
``_tiff_read.py`` reads frames.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from sofi_dask.errors import InputError
from sofi_dask.io._tiff_decode import strip_rows

# the TIFF reader's logger, named as before the split into _tiff / _tiff_layout / _tiff_read
logger = logging.getLogger("sofi_dask._tiff")

_CHANNEL_AXES = "CS"

PathLike = str | os.PathLike[str]


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
    decode_rows: int = 0  # rows decoded together (a strip, or the page); 0 = contiguous
    like: str | None = None  # not inspected yet: a single frame like this file's, checked on read
    frame_offset: int | None = None  # with ``like``: where that file's pixels start
    parts: tuple[str, ...] = ()  # other files of a multi-file (OME) series

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


_PLACEHOLDER_DPI = (72.0, 96.0)  # written by default (PIL, MATLAB, Photoshop, Windows)


def _pixel_size_um(tif: tifffile.TiffFile) -> float | None:
    """Pixel size in micrometres from OME, ImageJ or TIFF resolution tags, if recorded.

    OME ``PhysicalSizeX`` (with its unit) first, then ImageJ's resolution in its ``unit``,
    then the TIFF ``XResolution`` in centimetres or inches. Placeholders are no pixel size
    (None): a resolution of 1, no ``ResolutionUnit`` of its own ("none"), and 72 or 96
    pixels per inch (or with no unit), the defaults many writers put in every file (PIL,
    MATLAB, Photoshop, Windows), which would make a 352.8 µm pixel of a microscope's. A
    real resolution in centimetres (e.g. 50000 px/cm, 0.2 µm) or inches is kept.
    """
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
        if res_unit == 2 and round(per_unit, 6) in _PLACEHOLDER_DPI:
            return None
        return (25400.0 if res_unit == 2 else 10000.0) / per_unit
    except Exception:  # metadata is optional: never fail a read because of it
        logger.debug("could not read pixel size from %s", tif.filehandle.path, exc_info=True)
        return None


def _pages_are_frames(tif: tifffile.TiffFile, all_series: Sequence[Any]) -> bool:
    """True when a file of several series is one movie in page order: a plain TIFF (not OME,
    not ImageJ) whose series all hold 2-D pages of one frame shape and dtype, one frame per
    page, no channel axis, in file order (frames appended with tifffile's ``append=True``,
    or written page by page)."""
    if tif.is_ome or tif.is_imagej:
        return False
    key = all_series[0].keyframe
    first = 0
    for s in all_series:
        k = s.keyframe
        frame = tuple(int(v) for v in s.shape[-2:])
        if (
            len(k.shape) != 2
            or tuple(k.shape) != tuple(key.shape)
            or frame != tuple(k.shape)
            or k.dtype != key.dtype
            or int(np.prod(s.shape[:-2], dtype=np.int64)) != len(s.pages)
            or any(
                a in _CHANNEL_AXES and n > 1 for a, n in zip(s.axes[:-2], s.shape[:-2], strict=True)
            )
            or s.pages[0].index != first
        ):
            return False
        first += len(s.pages)
    return first == len(tif.pages)


def _several_series(path: Path, tif: tifffile.TiffFile, all_series: Sequence[Any]) -> InputError:
    """The error for a file of several series that are not one movie in page order."""
    listed = ", ".join(
        f"{tuple(int(v) for v in s.shape)} {s.dtype} {s.axes!r}" for s in all_series[:6]
    )
    more = f", ... {len(all_series) - 6} more" if len(all_series) > 6 else ""
    kind = " (OME-TIFF with several Images)" if tif.is_ome else ""
    return InputError(
        f"{path}: {len(all_series)} image series{kind} ({listed}{more}); sofi_dask reads one "
        "movie per file: export one series per file"
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


def _declared_axes(path: Path, axes: str, declared: str, shape: tuple[int, ...]) -> str:
    """``declared`` (e.g. ``"TYX"``) in place of the file's ``axes`` (e.g. ImageJ's ``"CYX"``
    for a stack whose metadata calls time channels): same length, same axes from Y on."""
    declared = str(declared).upper()
    ya = axes.index("Y") if "Y" in axes else len(axes)
    if (
        len(declared) != len(axes)
        or declared[ya:] != axes[ya:]
        or len(set(declared)) != len(declared)
    ):
        raise InputError(
            f"parameter 'axes': expected {len(axes)} distinct letters ending in "
            f"{axes[ya:]!r} for {path} (shape {shape}, stored axes {axes!r}), got {declared!r}"
        )
    return declared


def inspect_tiff(
    path: PathLike,
    channel: int | None = None,
    *,
    single_frame: bool = False,
    axes: str | None = None,
) -> tuple[TiffLayout, dict[str, Any]]:
    """Open one TIFF, check it holds a movie and describe where its frames are.

    ``single_frame=True`` takes a single 2-D image as a movie of one frame (a file of a
    one-file-per-frame sequence).

    A file of several image series is read whole or refused, never cut down to its first
    series: a plain TIFF whose series are 2-D frames of one shape and dtype (stacks or
    frames appended with tifffile's ``append=True``) is one movie in page order; an OME-TIFF
    of several Images, or series of other frame shapes, dtypes or with channels, is refused.
    Reduced-resolution series (thumbnails) are not data and are left out.

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
        without ``channel=``, several series that are not one movie, or a layout this reader
        does not handle.
    """
    path = Path(path)
    if not path.is_file():
        if path.exists():
            raise InputError(
                f"{path}: not a regular file (a device, pipe or socket); expected a TIFF file "
                "or a Zarr store"
            )
        raise FileNotFoundError(f"{path}: no such file")
    stat = path.stat()
    axes_override = axes
    with _capture_tifffile_errors() as errors:
        try:
            tif = tifffile.TiffFile(path)
        except tifffile.TiffFileError as exc:
            raise InputError(f"{path}: not a TIFF file ({exc})") from exc
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(f"{path}: cannot be read as TIFF ({exc})") from exc
        with tif:
            try:
                # reduced-resolution series (thumbnails, previews: Zeiss LSM) are no data
                data = [s for s in tif.series if not s.keyframe.is_reduced] or tif.series
                series = data[0]
                shape = tuple(int(s) for s in series.shape)
                axes = str(series.axes)
                n_pages = len(series.pages)
                last = series.pages[-1] if n_pages else None
                keyframe = series.keyframe
                series_index = next(i for i, s in enumerate(tif.series) if s is series)
                several = len(data) > 1
                if several and _pages_are_frames(tif, data):
                    # frames appended as series (page by page, or stacks appended with
                    # tifffile's append=True): the file's pages are the frames
                    series_index = -1
                    n_pages = len(tif.pages)
                    shape = (n_pages, *shape[-2:])
                    axes = "I" + axes[-2:]
                    last = tif.pages[-1]
                    rows = {strip_rows(s.keyframe) for s in data}
                    keyframe = keyframe if len(rows) == 1 else None
            except Exception as exc:
                raise InputError(f"{path}: corrupt or truncated TIFF ({exc})") from exc
            if errors.messages:
                raise InputError(
                    f"{path}: corrupt or truncated TIFF ({'; '.join(errors.messages[:3])})"
                )
            if several and series_index >= 0:  # never read only the first series
                raise _several_series(path, tif, data)
            flavour = str(series.kind)
            dtype = np.dtype(series.dtype)
            offset = series.dataoffset if series_index >= 0 else None
            byteorder = tif.byteorder
            pixel_size = _pixel_size_um(tif)
            page_shape = tuple(int(s) for s in series.keyframe.shape)
            rps = strip_rows(keyframe) if keyframe is not None else None  # None: whole pages
            end = None
            if last is not None and getattr(last, "dataoffsets", None):
                end = max(o + c for o, c in zip(last.dataoffsets, last.databytecounts, strict=True))
            files = _series_files(path, series) if series_index >= 0 else ()
            end_path, end_size = path, stat.st_size
            if files and last is not None:  # the last page may lie in another file
                end_path = Path(last.parent.filehandle.path)
                end_size = end_path.stat().st_size
    if axes_override is not None:
        axes = _declared_axes(path, axes, axes_override, shape)
    if 0 in shape:
        raise InputError(f"{path}: contains zero frames (series shape {shape}, axes {axes!r})")
    if "Y" not in axes or "X" not in axes or axes.index("X") != axes.index("Y") + 1:
        raise InputError(f"{path}: unsupported axes {axes!r} (need ...YX); shape {shape}")
    ya = axes.index("Y")
    trailing = axes[ya + 2 :]
    if trailing not in ("", "S"):
        raise InputError(f"{path}: unsupported axes {axes!r}; shape {shape}")
    if dtype.kind not in "uif" or dtype.itemsize > 8:
        raise InputError(f"{path}: unsupported pixel type {dtype}")
    channel_axes = [i for i, a in enumerate(axes) if a in _CHANNEL_AXES and shape[i] > 1]
    if len(channel_axes) > 1:
        raise InputError(f"{path}: several channel axes {axes!r} with shape {shape}; not supported")
    channel_axis = channel_axes[0] if channel_axes else None
    if channel_axis is not None:
        n_ch = shape[channel_axis]
        if channel is None:
            kind = "RGB samples" if axes[channel_axis] == "S" else "channels"
            raise InputError(
                f"{path}: {n_ch} {kind} (axes {axes!r}, shape {shape}); "
                f"pass channel=0..{n_ch - 1} to pick one"
                + (
                    f", or axes={'T' + axes[channel_axis + 1 :]!r} (--axes) if they are frames"
                    if axes[channel_axis] != "S" and channel_axis == 0
                    else ""
                )
            )
        if not 0 <= int(channel) < n_ch:
            raise InputError(
                f"{path}: channel must be in 0..{n_ch - 1} (axes {axes!r}), got {channel}"
            )
        channel = int(channel)
    elif channel not in (None, 0):
        raise InputError(f"{path}: has a single channel (axes {axes!r}); channel={channel} given")
    else:
        channel = None
    frame_axes = [a for i, a in enumerate(axes[:ya]) if i != channel_axis]
    if not frame_axes and single_frame:  # one frame of a sequence of single-frame files
        shape, axes, ya = (1, *shape), "I" + axes, ya + 1
        channel_axis = None if channel_axis is None else channel_axis + 1
    elif not frame_axes:
        raise InputError(
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
            raise InputError(
                f"{path}: truncated TIFF: image data needs bytes {offset}..{offset + nbytes}, "
                f"file has {stat.st_size} bytes"
            )
    else:
        if n_pages * planes_per_page != n_planes:
            raise InputError(
                f"{path}: unsupported page layout ({n_pages} pages for {n_planes} planes, "
                f"axes {axes!r})"
            )
        if end is not None and end > end_size:
            raise InputError(
                f"{end_path}: truncated TIFF: last page data ends at byte {end}, "
                f"file has {end_size} bytes"
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
        parts=files,
        decode_rows=0
        if offset is not None
        else (int(rps) if rps and planes_per_page == 1 else shape[ya]),
    )
    return layout, {"pixel_size": pixel_size, "flavour": flavour, "axes": axes, "files": files}


def _series_files(path: Path, series: Any) -> tuple[str, ...]:
    """Other files holding pages of a multi-file series (OME-TIFF datasets split into
    ``..._1.ome.tif``, ``..._2.ome.tif``, Micro-Manager stacks); refuses missing files,
    which tifffile would read as zeros."""
    if series.kind != "ome" and not getattr(series, "is_multifile", False):
        return ()
    pages = list(series.pages)
    if any(p is None for p in pages):
        raise InputError(
            f"{path}: its OME metadata describes {len(pages)} planes in several files, "
            f"{sum(p is None for p in pages)} of which are missing (a file of the dataset "
            "is missing or unreadable)"
        )
    if not getattr(series, "is_multifile", False):
        return ()
    own = str(path.resolve())
    names = {str(Path(p.parent.filehandle.path).resolve()) for p in pages}
    return tuple(sorted(names - {own}))
