"""Image and video files: PNG, ImageJ TIFF (float32 or colour-mapped RGB), GIF and MP4.

Every writer goes through :func:`sofi_dask.io._atomic.atomic_output`: it refuses to replace an
existing file without ``overwrite=True``, never writes over a ``protected`` input, and leaves no
partial file behind when it fails.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from matplotlib.colors import Colormap

from sofi_dask.errors import InputError
from sofi_dask.io._atomic import PathLike, atomic_output
from sofi_dask.viz._display import (
    ArrayLike,
    colormap_lut,
    display_limits,
    downsample,
    iter_frames,
)
from sofi_dask.viz._signed import Display, resolve_display

logger = logging.getLogger(__name__)

_IMAGEJ_ORDER = "TZCYX"
#: zlib level of the PNGs: 1 encodes a 1024 x 1024 colour-mapped image in 0.08 s instead of
#: 0.32 s (PIL's default 6), and the file is no larger (1.72 vs 1.76 MB), measured
PNG_LEVEL = 1
_VIDEO_FORMATS = {".tif": "tiff", ".tiff": "tiff", ".gif": "gif", ".mp4": "mp4"}


def _is_rgb(image: Any) -> bool:
    return image.ndim == 3 and image.shape[-1] in (3, 4) and np.dtype(image.dtype) == np.uint8


def save_png(
    image: ArrayLike,
    path: PathLike,
    *,
    cmap: str | Colormap = "pink",
    vmin: float | None = None,
    vmax: float | None = None,
    percentiles: Sequence[float] | None = None,
    contrast: float = 1.0,
    overwrite: bool = False,
    protected: Iterable[PathLike] = (),
    max_side: int | None = None,
    display: Display | None = None,
) -> Path:
    """Save a 2-D image as a colour-mapped 8-bit RGB PNG (pysofi's ``save_png``).

    Parameters
    ----------
    image : array_like
        Scalar image (y, x), colour-mapped here; or an RGB(A) uint8 image (y, x, 3|4) from
        :func:`apply_colormap`, written as it is.
    path : str or PathLike
        Output file (its folder must exist).
    cmap, vmin, vmax, percentiles, contrast
        Display settings, see :func:`sofi_dask.apply_colormap`.
    overwrite : bool
        Replace an existing file.
    protected : iterable of paths
        Inputs that must never be written over.
    max_side : int, optional
        A preview: a scalar image larger than this is shown as block means (:func:`downsample`),
        its display range still taken from the full image.
    display : sofi_dask.viz._signed.Display, optional
        The whole display (colormap, range, stretch; e.g. a signed cumulant's diverging map
        on an asinh stretch, as the figures show it), instead of cmap/vmin/vmax/percentiles.

    Returns
    -------
    pathlib.Path
        The written file. The PNG carries text chunks ``sofi_dask:cmap``/``vmin``/``vmax``
        and ``sofi_dask:stretch`` (plus ``sofi_dask:linear_width`` under asinh).

    Raises
    ------
    FileExistsError, ValueError
        See :func:`sofi_dask.io._atomic.check_output_path`; wrong image shape.

    Examples
    --------
    >>> import tempfile, os
    >>> p = save_png(np.eye(4), os.path.join(tempfile.mkdtemp(), "eye.png"))
    >>> p.suffix
    '.png'
    """
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    if image.ndim == 3 and _is_rgb(image):
        rgb = np.ascontiguousarray(np.asarray(image))
    elif image.ndim == 2:
        shown_as = resolve_display(image, cmap, vmin, vmax, percentiles, display)
        if max_side is not None:
            image = downsample(image, max_side)
        rgb = shown_as.rgb(image, contrast)
        info.add_text("sofi_dask:cmap", shown_as.cmap.name)
        info.add_text("sofi_dask:vmin", repr(shown_as.low))
        info.add_text("sofi_dask:vmax", repr(shown_as.high))
        info.add_text("sofi_dask:stretch", shown_as.stretch)
        if shown_as.linear_width is not None:
            info.add_text("sofi_dask:linear_width", repr(shown_as.linear_width))
    else:
        raise InputError(
            f"parameter 'image': expected a 2-D image or a (y, x, 3) uint8 RGB image, got shape "
            f"{tuple(image.shape)} of {image.dtype}"
        )
    with atomic_output(path, overwrite=overwrite, protected=protected) as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG", pnginfo=info, compress_level=PNG_LEVEL)
    return Path(os.path.abspath(path))


def _check_axes(axes: str | None, ndim: int, rgb: bool) -> str:
    spatial_ndim = ndim - 1 if rgb else ndim
    if axes is None:
        axes = {2: "YX", 3: "TYX", 4: "TCYX", 5: "TZCYX"}.get(spatial_ndim, "")
        if not axes:
            raise InputError(f"parameter 'image': expected 2 to 5 dimensions, got {spatial_ndim}")
    given = axes.upper()
    core = given[:-1] if rgb and given.endswith("S") else given
    if (
        len(core) != spatial_ndim
        or len(set(core)) != len(core)
        or not core.endswith("YX")
        or any(c not in _IMAGEJ_ORDER for c in core)
        or [_IMAGEJ_ORDER.index(c) for c in core] != sorted(_IMAGEJ_ORDER.index(c) for c in core)
    ):
        raise InputError(
            f"parameter 'axes': expected {spatial_ndim} distinct letters in ImageJ order TZCYX "
            "ending in YX, "
            f"got {axes!r}"
        )
    return core + ("S" if rgb else "")


def save_tiff(
    image_or_stack: ArrayLike,
    path: PathLike,
    *,
    pixel_size: float | None = None,
    unit: str = "um",
    axes: str | None = None,
    cmap: str | Colormap | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    percentiles: Sequence[float] | None = None,
    contrast: float = 1.0,
    frame_interval: float | None = None,
    overwrite: bool = False,
    protected: Iterable[PathLike] = (),
    display: Display | None = None,
) -> Path:
    """Save an image or stack as an ImageJ hyperstack TIFF that Fiji and napari open.

    Without ``cmap`` the data are written as float32 (the values, for analysis), with the
    display range in the ImageJ ``min``/``max`` entries. With ``cmap`` they are colour-mapped to
    8-bit RGB (one common display range for the whole stack). Dask stacks are written one
    block of frames at a time.

    Parameters
    ----------
    image_or_stack : array_like
        (y, x), (t, y, x), ... up to TZCYX.
    path : str or PathLike
        Output file.
    pixel_size : float, optional
        Pixel size in ``unit`` (written as X/Y resolution and ImageJ ``unit``).
    unit : str
        Unit of ``pixel_size``, default ``'um'`` (micrometres).
    axes : str, optional
        ImageJ axes of the scalar data, default ``'YX'``, ``'TYX'``, ``'TCYX'``, ``'TZCYX'`` by
        dimension (use ``'CYX'`` for a stack of SOFI orders, ``'TYX'`` for a SOFI video).
    cmap : str or Colormap, optional
        Write colour-mapped RGB instead of float32.
    vmin, vmax, percentiles, contrast
        Display range (see :func:`sofi_dask.viz._visualization.display_limits`).
    frame_interval : float, optional
        Seconds between frames (ImageJ ``finterval``).
    overwrite, protected
        See :func:`save_png`.
    display : sofi_dask.viz._signed.Display, optional
        Colour-mapped RGB with this display (see :func:`save_png`), instead of
        cmap/vmin/vmax/percentiles.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, os
    >>> p = save_tiff(np.ones((2, 8, 8)), os.path.join(tempfile.mkdtemp(), "s.tif"),
    ...               pixel_size=0.05)
    >>> tifffile.imread(p).dtype.name
    'float32'
    """
    rgb = cmap is not None or display is not None
    shape = tuple(image_or_stack.shape)
    core_axes = _check_axes(axes, len(shape), rgb=False)
    if rgb:
        shown_as = resolve_display(image_or_stack, cmap, vmin, vmax, percentiles, display)
    limits = display_limits(image_or_stack, vmin, vmax, percentiles) if not rgb else None
    metadata: dict[str, Any] = {"axes": core_axes + ("S" if rgb else "")}
    if limits is not None:
        metadata["min"], metadata["max"] = limits
    if frame_interval is not None:
        if not frame_interval > 0:
            raise InputError(
                f"parameter 'frame_interval': expected seconds > 0, got {frame_interval!r}"
            )
        metadata["finterval"] = float(frame_interval)
    kwargs: dict[str, Any] = {"imagej": True, "metadata": metadata}
    if pixel_size is not None:
        if not (isinstance(pixel_size, int | float) and pixel_size > 0):
            raise InputError(f"parameter 'pixel_size': expected a number > 0, got {pixel_size!r}")
        kwargs["resolution"] = (1.0 / pixel_size, 1.0 / pixel_size)
        metadata["unit"] = unit
    if rgb:
        out_shape = shape + (3,)
        dtype = np.uint8
        kwargs["photometric"] = "rgb"
        if shown_as.signed:  # what the colours mean (ImageJ's Info field)
            metadata["Info"] = f"sofi_dask display: {shown_as.cmap.name}, {shown_as.label()}"
        frames = (shown_as.rgb(frame, contrast) for frame in _iter_planes(image_or_stack))
    else:
        out_shape, dtype = shape, np.float32
        kwargs["photometric"] = "minisblack"
        frames = (np.asarray(f, dtype=np.float32) for f in _iter_planes(image_or_stack))
    with atomic_output(path, overwrite=overwrite, protected=protected) as tmp:
        tifffile.imwrite(tmp, data=frames, shape=out_shape, dtype=dtype, **kwargs)
    return Path(os.path.abspath(path))


def _iter_planes(data: ArrayLike):
    """Yield 2-D planes in C order from data of any dimension >= 2."""
    if data.ndim == 2:
        yield np.asarray(data)
        return
    flat = data.reshape((-1,) + tuple(data.shape[-2:]))
    yield from iter_frames(flat)


def _indexed_frames(stack: ArrayLike, shown_as: Display, contrast: float):
    """Each frame's LUT indices (uint8, ``cmap.N <= 256``) in one numba pass per frame."""
    for frame in iter_frames(stack):
        yield shown_as.indices(np.asarray(frame), contrast)


def save_video(
    stack: ArrayLike,
    path: PathLike,
    *,
    cmap: str | Colormap = "pink",
    fps: float = 10.0,
    vmin: float | None = None,
    vmax: float | None = None,
    percentiles: Sequence[float] | None = None,
    contrast: float = 1.0,
    pixel_size: float | None = None,
    ffmpeg: str | None = None,
    overwrite: bool = False,
    protected: Iterable[PathLike] = (),
    display: Display | None = None,
) -> Path:
    """Export a SOFI video (n, y, x) as colour-mapped frames (pysofi's ``save_avi``).

    The format follows the suffix: ``.tif``/``.tiff`` a multi-page ImageJ RGB TIFF (frame
    interval ``1/fps``); ``.gif`` an animated GIF (Pillow; exact colours, since the palette is
    the colormap's lookup table; the frames are held in memory, 1 byte per pixel, while the
    file is encoded); ``.mp4`` H.264 through an ``ffmpeg`` executable (frames streamed), which must
    be installed (it is optional: a clear error says when it is missing). All frames share one
    display range.

    Parameters
    ----------
    stack : array_like
        (n, y, x) scalar frames (a dask stack is read one block at a time).
    path : str or PathLike
        Output file, suffix ``.tif``, ``.tiff``, ``.gif`` or ``.mp4``.
    cmap, vmin, vmax, percentiles, contrast
        Display settings.
    fps : float
        Frames per second (> 0).
    pixel_size : float, optional
        Micrometres per pixel (TIFF only).
    ffmpeg : str, optional
        ffmpeg executable for ``.mp4`` (default: found on ``PATH``).
    overwrite, protected
        See :func:`save_png`.
    display : sofi_dask.viz._signed.Display, optional
        One display for all frames (see :func:`save_png`), instead of
        cmap/vmin/vmax/percentiles.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        Unknown suffix, not a 3-D stack, bad fps.
    RuntimeError
        ``.mp4`` without ffmpeg, or ffmpeg failed.

    Examples
    --------
    >>> import tempfile, os
    >>> p = save_video(np.random.rand(3, 8, 8), os.path.join(tempfile.mkdtemp(), "v.gif"))
    >>> p.suffix
    '.gif'
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _VIDEO_FORMATS:
        raise InputError(
            "parameter 'path': expected a .tif, .tiff, .gif or .mp4 file for a video, got "
            f"{str(path)!r}"
        )
    if stack.ndim != 3:
        raise InputError(
            f"parameter 'stack': expected (n, y, x) frames, got shape {tuple(stack.shape)}"
        )
    if not (isinstance(fps, int | float) and np.isfinite(fps) and fps > 0):
        raise InputError(f"parameter 'fps': expected a number > 0, got {fps!r}")
    kind = _VIDEO_FORMATS[suffix]
    if kind == "tiff":
        return save_tiff(
            stack,
            path,
            cmap=cmap,
            vmin=vmin,
            vmax=vmax,
            percentiles=percentiles,
            contrast=contrast,
            pixel_size=pixel_size,
            axes="TYX",
            frame_interval=1.0 / fps,
            overwrite=overwrite,
            protected=protected,
            display=display,
        )
    shown_as = resolve_display(stack, cmap, vmin, vmax, percentiles, display)
    if kind == "gif":
        _write_gif(stack, path, shown_as, contrast, fps, overwrite, protected)
    else:
        _write_mp4(stack, path, shown_as, contrast, fps, ffmpeg, overwrite, protected)
    return Path(os.path.abspath(path))


def _write_gif(stack, path, shown_as, contrast, fps, overwrite, protected) -> None:
    from dataclasses import replace

    from PIL import Image

    if shown_as.cmap.N > 256:
        shown_as = replace(shown_as, cmap=shown_as.cmap.resampled(256))
    palette = colormap_lut(shown_as.cmap).reshape(-1).tolist()
    frames = []
    for indices in _indexed_frames(stack, shown_as, contrast):
        frame = Image.fromarray(indices)  # mode "L"; putpalette turns it into "P" as it is
        frame.putpalette(palette)
        frames.append(frame)
    with atomic_output(path, overwrite=overwrite, protected=protected) as tmp:
        frames[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=frames[1:],
            duration=max(int(round(1000.0 / fps)), 10),
            loop=0,
            optimize=False,
        )


def find_ffmpeg(ffmpeg: str | None = None) -> str | None:
    """The ffmpeg executable MP4 export runs: ``ffmpeg`` if given, else ``PATH``'s (or None).

    Examples
    --------
    >>> find_ffmpeg("/opt/ffmpeg/bin/ffmpeg")
    '/opt/ffmpeg/bin/ffmpeg'
    """
    return ffmpeg or shutil.which("ffmpeg")


def _write_mp4(stack, path, shown_as, contrast, fps, ffmpeg, overwrite, protected) -> None:
    exe = find_ffmpeg(ffmpeg)
    if exe is None:
        raise RuntimeError(
            f"{str(path)!r}: MP4 export needs the ffmpeg program, which was not found on PATH; "
            "install ffmpeg or save the video as .gif or .tif"
        )
    n, height, width = stack.shape
    with atomic_output(path, overwrite=overwrite, protected=protected) as tmp:
        cmd = [
            exe,
            "-loglevel",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{width}x{height}",
            "-r",
            f"{float(fps)}",
            "-i",
            "-",
            "-vf",
            "pad=ceil(iw/2)*2:ceil(ih/2)*2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-f",
            "mp4",
            str(tmp),
        ]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None
        try:
            for frame in iter_frames(stack):
                rgb = shown_as.rgb(np.asarray(frame), contrast)
                proc.stdin.write(rgb.tobytes())
        except BrokenPipeError:
            pass
        finally:
            proc.stdin.close()
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed writing {str(path)!r}: {stderr.strip()[-500:]}")
    logger.debug("wrote %d frames to %s", n, path)
