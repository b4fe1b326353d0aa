"""OME-NGFF 0.5 metadata, the one builder: movie stores, simulated stores, a run's images.

Every image group sofi_dask writes (an ingested or simulated movie store, each image of a run's
``results.zarr``) is a single-scale OME-NGFF 0.5 image: Zarr v3 group attributes

``{"ome": {"version": "0.5", "multiscales": [{"name", "axes", "datasets"}]}}``

with axes ``t`` (time) and ``y``/``x`` (space, with a unit when the pixel size is known) and
one dataset whose ``scale`` transformation gives the spacing along each axis. Readers of Zarr
v3 stores (ome-zarr-py, napari-ome-zarr, ome-zarr-models, yaozarrs) read only the ``ome``
block, so no copy of ``multiscales`` is written at the top level (NGFF 0.4's place, in Zarr
v2's ``.zattrs``).

A run's images also carry the transitional ``omero`` block (:func:`omero_window`): the display
window the run's PNG and RGB TIFF use, so napari (napari-ome-zarr) and Fiji open them with the
same contrast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sofi_dask._validation import fail

__all__ = ["NGFF_VERSION", "ngff_attrs", "omero_window"]

NGFF_VERSION = "0.5"


def ngff_attrs(
    name: str,
    axes: Sequence[str],
    scale: Sequence[float],
    *,
    unit: str | None = None,
    path: str = "0",
) -> dict[str, Any]:
    """OME-NGFF 0.5 group attributes of a single-scale image.

    Parameters
    ----------
    name : str
        Name of the image.
    axes : sequence of str
        Axis names in array order: ``"t"`` is time, every other axis space.
    scale : sequence of float
        Spacing along each axis (in ``unit`` for the space axes).
    unit : str, optional
        Unit of the space axes (``"micrometer"``); None when unknown.
    path : str
        The image's array, relative to the group.

    Returns
    -------
    dict
        ``{"ome": {"version": "0.5", "multiscales": [...]}}``, JSON-serialisable.

    Examples
    --------
    >>> attrs = ngff_attrs("m2", ("y", "x"), (0.05, 0.05), unit="micrometer")
    >>> attrs["ome"]["multiscales"][0]["axes"][0]
    {'name': 'y', 'type': 'space', 'unit': 'micrometer'}
    >>> attrs["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"]
    [{'type': 'scale', 'scale': [0.05, 0.05]}]
    """
    if len(scale) != len(axes):
        raise fail("scale", f"{len(axes)} values (one per axis)", list(scale))
    entries: list[dict[str, str]] = []
    for ax in axes:
        entry = {"name": str(ax), "type": "time" if ax == "t" else "space"}
        if ax != "t" and unit:
            entry["unit"] = unit
        entries.append(entry)
    transform = {"type": "scale", "scale": [float(s) for s in scale]}
    multiscale = {
        "name": str(name),
        "axes": entries,
        "datasets": [{"path": path, "coordinateTransformations": [transform]}],
    }
    return {"ome": {"version": NGFF_VERSION, "multiscales": [multiscale]}}


def omero_window(
    label: str, start: float, end: float, data_min: float, data_max: float
) -> dict[str, Any]:
    """The ``omero`` block (inside ``ome``) of a one-channel image: its display window.

    Parameters
    ----------
    label : str
        Channel label (the image's name).
    start, end : float
        Values shown as the lowest and the highest grey level.
    data_min, data_max : float
        Smallest and largest value of the image.

    Returns
    -------
    dict
        ``{"channels": [{"label", "color", "active", "window"}], "rdefs": {...}}``.

    Examples
    --------
    >>> omero_window("m2", 0.0, 8.5, -0.1, 10.0)["channels"][0]["window"]
    {'start': 0.0, 'end': 8.5, 'min': -0.1, 'max': 10.0}
    """
    values = {"start": start, "end": end, "data_min": data_min, "data_max": data_max}
    for key, value in values.items():
        if not math.isfinite(float(value)):
            raise fail(key, "a finite number", value)
    if not float(start) <= float(end):
        raise fail("end", f"a value >= start={start!r}", end)
    window = {"start": float(start), "end": float(end), "min": float(data_min)}
    window["max"] = float(data_max)
    channel = {"label": str(label), "color": "FFFFFF", "active": True, "window": window}
    return {"channels": [channel], "rdefs": {"model": "greyscale"}}
