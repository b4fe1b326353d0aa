"""Output folders of a pipeline run: atomic creation, Zarr (OME-NGFF), TIFF, PNG, run record.

A run writes everything into a hidden temporary folder beside the requested output
(``.<name>.sofi-dask-partial-<pid>``) and renames it into place only when every file is written,
so a folder named like the output is always complete. An existing output is refused unless
``overwrite=True``; an output that is, contains or lies inside an input is always refused.

Layout of an output folder::

    results.zarr/<name>/0     one OME-NGFF 0.5 image per kept stage and order (float64)
    tiff/<name>.tif           float32 ImageJ TIFF (pixel size, unit, display range)
    tiff/<name>_rgb.tif       colour-mapped RGB ImageJ TIFF
    png/<name>.png            colour-mapped preview (first frame of a video)
    figures/*.png             matplotlib figures
    run.json                  parameters, package versions, input identity, timings
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sofi_dask.errors import InputError
from sofi_dask.io._atomic import AtomicOutputDir, check_output_dir, fsync_tree
from sofi_dask.io._ome import ngff_attrs, omero_window
from sofi_dask.pipeline._record import (
    RUN_RECORD_NAME,
    input_identity,
    package_versions,
    write_run_record,
)

__all__ = [
    "RUN_RECORD_NAME",
    "RUN_RECORD_PENDING",
    "ImageSpec",
    "check_output_path",
    "create_image_array",
    "input_identity",
    "package_versions",
    "record_display",
    "run_output_dir",
    "stored_display",
    "write_image_files",
    "write_run_record",
]

logger = logging.getLogger(__name__)

RUN_RECORD_PENDING = ".run.json.partial"  # renamed to run.json once the folder is in place
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class ImageSpec:
    """Description of one result image (or image stack) written by a run.

    Parameters
    ----------
    name : str
        File-system friendly name, e.g. ``"ldrc_order4"``; used for the Zarr group and files.
    stage : str
        Pipeline stage that produced it (``"moments"``, ``"deconv"``, ``"ldrc"``...).
    order : int or None
        Statistic order, or None for order-free images (average image).
    axes : tuple of str
        ``("y", "x")`` for an image, ``("t", "y", "x")`` for a SOFI video.
    scale : tuple of float
        Spacing along each axis (micrometres for y/x when the pixel size is known, else pixels
        of the input grid; SOFI video windows for t).
    unit : str or None
        Spatial unit (``"micrometer"``) or None when unknown.
    description : str
        One line saying what the image is.
    """

    name: str
    stage: str
    order: int | None
    axes: tuple[str, ...]
    scale: tuple[float, ...]
    unit: str | None = None
    description: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise InputError(
                f"parameter 'ImageSpec.name': expected letters, digits, '_-.', got {self.name!r}"
            )
        if self.axes not in (("y", "x"), ("t", "y", "x")):
            raise InputError(
                "parameter 'ImageSpec.axes': expected ('y', 'x') or ('t', 'y', 'x'), got "
                f"{self.axes}"
            )
        if len(self.scale) != len(self.axes):
            raise InputError(
                f"parameter 'ImageSpec.scale': expected {len(self.axes)} values, got "
                f"{len(self.scale)}"
            )


def _is_run_output(path: Path) -> bool:
    """A folder written by a run (its run record, or the pending one of an interrupted run)."""
    return any((path / n).is_file() for n in (RUN_RECORD_NAME, RUN_RECORD_PENDING))


def _publish_run_record(final: Path) -> None:
    """The run record last: a folder with run.json is complete, a partial one never has it."""
    if (final / RUN_RECORD_PENDING).is_file():
        os.replace(final / RUN_RECORD_PENDING, final / RUN_RECORD_NAME)
        # the file was flushed with the folder by the commit: only the rename is new (flushing
        # the whole tree again was 106 more fsyncs for a tiny run)
        fsync_tree(final, recursive=False)


def check_output_path(
    output: str | os.PathLike[str],
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
    overwrite: bool = False,
) -> Path:
    """Validate a run's output folder before any work starts (:func:`check_output_dir`).

    Parameters
    ----------
    output : path
        Requested output folder.
    inputs : iterable of paths
        Every input file or store of the run (never written over or into).
    overwrite : bool
        Allow replacing an existing output folder written by sofi-dask (one holding
        ``run.json``) or an empty folder.

    Returns
    -------
    pathlib.Path
        The absolute output path.

    Raises
    ------
    OutputExistsError
        The output exists and ``overwrite`` is false.
    InputError
        The output is, contains or lies inside an input; or it exists, is not empty and does
        not look like a sofi-dask output (so ``overwrite`` would destroy unrelated data).

    Examples
    --------
    >>> check_output_path("/tmp/never-there-out", inputs=["/tmp/movie.tif"])  # doctest: +SKIP
    PosixPath('/tmp/never-there-out')
    """
    return check_output_dir(
        output, overwrite=overwrite, protected=inputs, replaceable=_is_run_output
    )


def run_output_dir(
    output: str | os.PathLike[str],
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
    overwrite: bool = False,
    wait: bool = False,
) -> AtomicOutputDir:
    """The atomic output folder of a run (:class:`~sofi_dask.io._atomic.AtomicOutputDir`).

    Written under a hidden temporary name, renamed into place when complete, then its
    ``.run.json.partial`` renamed to ``run.json``; ``overwrite`` replaces only a folder
    written by a run (or an empty one). It holds the output's write lock meanwhile.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "out"
    >>> with run_output_dir(out) as tmp:
    ...     _ = (tmp / RUN_RECORD_PENDING).write_text("{}")
    >>> sorted(p.name for p in out.iterdir())
    ['run.json']
    """
    return AtomicOutputDir(
        output,
        protected=inputs,
        overwrite=overwrite,
        replaceable=_is_run_output,
        on_commit=_publish_run_record,
        wait=wait,
    )


def _zarr_chunks(shape: Sequence[int]) -> tuple[int, ...]:
    tile = tuple(min(int(n), 1024) for n in shape[-2:])
    return (1, *tile) if len(shape) == 3 else tile


def create_image_array(root: Any, spec: ImageSpec, shape: Sequence[int], dtype: Any) -> Any:
    """Create the OME-NGFF image group ``root/<spec.name>`` and its array ``0``.

    Parameters
    ----------
    root : zarr.Group
        The results group (Zarr v3).
    spec : ImageSpec
        What the image is.
    shape, dtype
        Array shape (matching ``spec.axes``) and dtype.

    Returns
    -------
    zarr.Array
        The empty array; fill it with ``dask.array.store`` (chunks are whole frames, tiles of at
        most 1024 x 1024 pixels).
    """
    if len(shape) != len(spec.axes):
        raise InputError(
            f"parameter 'shape': expected {len(spec.axes)} dimensions for {spec.name}, got "
            f"{tuple(shape)}"
        )
    attrs = ngff_attrs(spec.name, spec.axes, spec.scale, unit=spec.unit)
    attrs["sofi_dask"] = {
        "stage": spec.stage,
        "order": spec.order,
        "description": spec.description,
        **spec.attrs,
    }
    group = root.create_group(spec.name, attributes=attrs)
    return group.create_array(
        "0",
        shape=tuple(int(n) for n in shape),
        dtype=dtype,
        chunks=_zarr_chunks(shape),
        dimension_names=list(spec.axes),
    )


#: longest side of the PNG previews and figure panels (the TIFFs and Zarr keep every pixel)
PREVIEW_SIDE = 1024
#: results up to this size (float64) are read from the store once and written from memory
IN_MEMORY_BYTES = 256 * 2**20


def _limits(low_high: tuple[float, float]) -> dict[str, float] | None:
    low, high = low_high
    return {"vmin": low, "vmax": high} if high > low else None


def record_display(
    group: Any, name: str, data_range: tuple[float, float], display: Any = None
) -> None:
    """Record how an image is shown in its ``results.zarr`` group's attributes.

    ``ome.omero``: the OME-NGFF display window (napari-ome-zarr sets its contrast limits from
    it), the ``display``'s range or else the data's; ``sofi_dask.display``: the ``display``
    itself (colormap name, range, signed, asinh width, note), which :func:`stored_display`
    reads back for the figures.

    Parameters
    ----------
    group : zarr.Group
        The image's group (writable).
    name : str
        The image's name (the channel label).
    data_range : (float, float)
        Smallest and largest finite value.
    display : sofi_dask.viz._signed.Display, optional
        The colour-mapped files' display.

    Examples
    --------
    >>> import zarr
    >>> from sofi_dask.viz._signed import signed_display
    >>> g = zarr.create_group(zarr.storage.MemoryStore())
    >>> record_display(g, "m3", (-2.0, 4.0), signed_display(np.array([-2.0, 4.0]), "pink"))
    >>> g.attrs["ome"]["omero"]["channels"][0]["window"]
    {'start': -4.0, 'end': 4.0, 'min': -2.0, 'max': 4.0}
    >>> stored_display(g).signed, stored_display(g).cmap.name
    (True, 'berlin')
    """
    low, high = (display.low, display.high) if display is not None else data_range
    attrs = group.attrs.asdict()
    ome = {**attrs.get("ome", {}), "omero": omero_window(name, low, high, *data_range)}
    ours = dict(attrs.get("sofi_dask", {}))
    if display is not None:
        ours["display"] = {
            "cmap": display.cmap.name,
            "low": float(display.low),
            "high": float(display.high),
            "signed": bool(display.signed),
            "linear_width": None if display.linear_width is None else float(display.linear_width),
            "range_note": display.range_note,
        }
    group.update_attributes({"ome": ome, "sofi_dask": ours})


def stored_display(group: Any) -> Any:
    """The display :func:`record_display` recorded in ``group``'s attributes, or None."""
    from sofi_dask.viz._display import get_colormap
    from sofi_dask.viz._signed import Display

    shown = group.attrs.get("sofi_dask", {}).get("display")
    if not shown:
        return None
    fields = {k: shown[k] for k in ("low", "high", "signed", "linear_width", "range_note")}
    return Display(get_colormap(shown["cmap"]), **fields)


def write_image_files(
    array: Any,
    spec: ImageSpec,
    folder: Path,
    *,
    colormap: str = "pink",
    percentiles: Sequence[float] | None = None,
    contrast: float = 1.0,
    stretch: str = "asinh",
    tiff: bool = True,
    rgb: bool = True,
    png: bool = True,
    video_format: str | None = "gif",
    protected: Iterable[str | os.PathLike[str]] = (),
    group: Any = None,
) -> dict[str, Path]:
    """Write the Fiji/napari-friendly files of one result image.

    ``tiff/<name>.tif`` (float32 ImageJ TIFF with pixel size and display range),
    ``tiff/<name>_rgb.tif`` (colour-mapped RGB ImageJ TIFF), ``png/<name>.png`` (colour-mapped
    preview, block means down to :data:`PREVIEW_SIDE` pixels a side; the first window of a
    SOFI video) and, for a SOFI video, ``video/<name>.gif`` (``.tif``, ``.mp4``: an animated
    colour-mapped video). Frames are read one block at a
    time, so a long SOFI video is never held in memory.

    Parameters
    ----------
    array : array_like
        ``(y, x)`` or ``(t, y, x)`` values (dask array, e.g. ``da.from_zarr`` of the result).
    spec : ImageSpec
        Name, axes and pixel size.
    folder : pathlib.Path
        Output folder (``tiff/`` and ``png/`` are created in it).
    colormap : str
        Colormap of the RGB TIFF, PNG and video (pysofi's ``"pink"`` by default).
    percentiles : (low, high), optional
        Display range of the colour-mapped outputs as percentiles of the values (a signed
        image: ``±`` the high percentile of ``|x|``, on a diverging colormap centred on 0).
    stretch : {"asinh", "linear"}
        Stretch of a signed image's colours (as the figures: ``sofi_dask.viz._signed``).
    contrast : float
        Display contrast (values above ``min + (max - min) / contrast`` saturate).
    tiff, rgb, png : bool
        Which files to write.
    video_format : {"gif", "tiff", "mp4"} or None
        Format of the video export of a SOFI video (None: no video file; mp4 needs ffmpeg).
    protected : iterable of paths
        Inputs that must never be written over.
    group : zarr.Group, optional
        The image's group in ``results.zarr``: its attributes get the display the files use
        (:func:`record_display`), so napari, Fiji and the run's figures show the same range.

    Returns
    -------
    dict
        Kind (``"tiff"``, ``"rgb_tiff"``, ``"png"``, ``"video"``) -> written path.
    """
    from sofi_dask.viz import _visualization as visualization
    from sofi_dask.viz._signed import signed_display

    video = len(spec.axes) == 3
    pixel = float(spec.scale[-1]) if spec.unit == "micrometer" else None
    axes = "TYX" if video else "YX"
    out: dict[str, Path] = {}
    common = {"pixel_size": pixel, "axes": axes, "protected": protected}
    if int(np.prod(array.shape)) * 8 <= IN_MEMORY_BYTES:  # read once, not once per file
        array = np.asarray(array)
    # each display computed once (a stack would be reduced once per file), the figures' one:
    # a signed image on a diverging map centred on 0 with the ``stretch``
    data_range = visualization.display_limits(array) if tiff or group is not None else None
    full = _limits(data_range) if tiff and data_range is not None else None
    colours = rgb or png or (video and video_format)
    shown_as = signed_display(array, colormap, percentiles, stretch=stretch) if colours else None
    if group is not None and data_range is not None:
        record_display(group, spec.name, data_range, shown_as)
    display = {"display": shown_as, "contrast": contrast}
    if tiff:
        (folder / "tiff").mkdir(exist_ok=True)
        tif = folder / "tiff" / f"{spec.name}.tif"
        out["tiff"] = visualization.save_tiff(array, tif, **(full or {}), **common)
    if rgb:
        (folder / "tiff").mkdir(exist_ok=True)
        out["rgb_tiff"] = visualization.save_tiff(
            array,
            folder / "tiff" / f"{spec.name}_rgb.tif",
            **display,
            **common,
        )
    if png:
        (folder / "png").mkdir(exist_ok=True)
        first = array[0] if video else array
        first_display = (
            signed_display(np.asarray(first), colormap, percentiles, stretch=stretch)
            if video
            else None
        )
        out["png"] = visualization.save_png(
            np.asarray(first),
            folder / "png" / f"{spec.name}.png",
            # a video's PNG: its first window on that window's own display
            **(display if not video else {**display, "display": first_display}),
            protected=protected,
            max_side=PREVIEW_SIDE,
        )
    if video and video_format:
        (folder / "video").mkdir(exist_ok=True)
        suffix = {"gif": ".gif", "tiff": ".tif", "mp4": ".mp4"}[video_format]
        out["video"] = visualization.save_video(
            array,
            folder / "video" / f"{spec.name}{suffix}",
            **display,
            protected=protected,
        )
    return out
