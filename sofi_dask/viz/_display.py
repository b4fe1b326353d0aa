"""Colormaps and display ranges: scalar images -> 8-bit RGB, without pyplot or OpenCV."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.colors import Colormap

from sofi_dask.errors import InputError
from sofi_dask.viz._colormap_kernels import lut_rgb

ArrayLike = Any  # numpy or dask array (or anything np.asarray accepts)

#: Values sampled for percentile limits of a large dask stack (a regular stride over it).
_PERCENTILE_SAMPLE = 1 << 24


def get_colormap(cmap: str | Colormap = "pink") -> Colormap:
    """Return a matplotlib colormap by name (or pass a ``Colormap`` through).

    Parameters
    ----------
    cmap : str or matplotlib.colors.Colormap
        A name known to ``matplotlib.colormaps`` (``'pink'`` is pysofi's default, also
        ``'gray'``, ``'magma'``, ``'hot'``, ... and their ``'_r'`` reversed forms).

    Returns
    -------
    matplotlib.colors.Colormap

    Raises
    ------
    ValueError
        Unknown name.

    Examples
    --------
    >>> get_colormap("pink").name
    'pink'
    """
    if isinstance(cmap, Colormap):
        return cmap
    if not isinstance(cmap, str):
        raise InputError(f"parameter 'cmap': expected a colormap name or Colormap, got {cmap!r}")
    try:
        return matplotlib.colormaps[cmap]
    except KeyError:
        raise InputError(
            "parameter 'cmap': expected a colormap name of matplotlib (see "
            f"sofi_dask.viz._display.list_colormaps(), e.g. 'pink', 'gray', 'magma'), got {cmap!r}"
        ) from None


def list_colormaps() -> list[str]:
    """Names accepted by :func:`get_colormap` (matplotlib's registry), sorted.

    Examples
    --------
    >>> "pink" in list_colormaps()
    True
    """
    return sorted(matplotlib.colormaps)


def colormap_lut(cmap: str | Colormap = "pink") -> np.ndarray:
    """The colormap's lookup table as uint8 RGB, shape (N, 3), as matplotlib quantises it.

    Examples
    --------
    >>> colormap_lut("gray")[[0, -1]].tolist()
    [[0, 0, 0], [255, 255, 255]]
    """
    cm = get_colormap(cmap)
    return np.ascontiguousarray(cm(np.arange(cm.N), bytes=True)[:, :3])


def _check_percentiles(percentiles: Sequence[float] | None) -> tuple[float, float] | None:
    if percentiles is None:
        return None
    try:
        low, high = (float(p) for p in percentiles)
    except (TypeError, ValueError):
        raise InputError(
            "parameter 'percentiles': expected (low, high) with 0 <= low < high <= 100, got "
            f"{percentiles!r}"
        ) from None
    if not 0.0 <= low < high <= 100.0:
        raise InputError(
            "parameter 'percentiles': expected (low, high) with 0 <= low < high <= 100, got "
            f"{percentiles!r}"
        )
    return low, high


def _is_dask(image: Any) -> bool:
    return type(image).__module__.startswith("dask.")


def _finite_sample(image: ArrayLike) -> np.ndarray:
    """Finite values of ``image`` (a regular-stride sample of very large dask arrays)."""
    if _is_dask(image) and image.size > _PERCENTILE_SAMPLE:
        stride = int(np.ceil(image.size / _PERCENTILE_SAMPLE))
        values = np.asarray(image.reshape(-1)[::stride])
    else:
        values = np.asarray(image).reshape(-1)
    return values[np.isfinite(values)]


def display_limits(
    image: ArrayLike,
    vmin: float | None = None,
    vmax: float | None = None,
    percentiles: Sequence[float] | None = None,
) -> tuple[float, float]:
    """The data values shown as the lowest and highest colour.

    Explicit ``vmin``/``vmax`` win; otherwise the ``percentiles`` (low, high) of the finite
    values; otherwise their minimum and maximum (pysofi's min-max normalisation). NaN and
    infinite values are ignored. Dask arrays are reduced lazily (min/max exactly; percentiles
    from a regular sample of at most 2**24 values).

    Parameters
    ----------
    image : array_like
        Any shape (a 2-D image or a stack shown with one common range).
    vmin, vmax : float, optional
        Fixed limits.
    percentiles : (float, float), optional
        Percentile limits in 0..100, e.g. ``(0.5, 99.5)`` to saturate outliers.

    Returns
    -------
    (float, float)
        ``(low, high)`` with ``low <= high``; ``(0.0, 0.0)`` when nothing is finite.

    Raises
    ------
    ValueError
        Non-finite or inverted explicit limits, bad percentiles.

    Examples
    --------
    >>> display_limits(np.array([[0.0, 1.0], [2.0, np.nan]]))
    (0.0, 2.0)
    >>> display_limits(np.arange(101.0), percentiles=(10, 90))
    (10.0, 90.0)
    """
    pct = _check_percentiles(percentiles)
    for name, value in (("vmin", vmin), ("vmax", vmax)):
        if value is not None and not np.isfinite(float(value)):
            raise InputError(f"parameter '{name}': expected a finite number, got {value!r}")
    if vmin is not None and vmax is not None and float(vmax) <= float(vmin):
        raise InputError(f"parameter 'vmax': expected a value > vmin={vmin!r}, got {vmax!r}")
    low = None if vmin is None else float(vmin)
    high = None if vmax is None else float(vmax)
    if low is None or high is None:
        if pct is not None:
            values = _finite_sample(image)
            if values.size:
                p_low, p_high = np.percentile(values, pct)
            else:
                p_low = p_high = 0.0
        elif _is_dask(image):
            import dask
            import dask.array as da

            finite = da.where(da.isfinite(image), image, np.nan)
            p_low, p_high = dask.compute(da.nanmin(finite), da.nanmax(finite))
        else:
            values = _finite_sample(image)
            p_low, p_high = (values.min(), values.max()) if values.size else (0.0, 0.0)
        p_low = 0.0 if not np.isfinite(p_low) else float(p_low)
        p_high = 0.0 if not np.isfinite(p_high) else float(p_high)
        low = p_low if low is None else low
        high = p_high if high is None else high
    return (low, max(low, high))


def check_contrast(contrast: Any) -> float:
    """``contrast`` if it is a finite number > 0, else :class:`InputError` naming it."""
    if not (isinstance(contrast, int | float) and np.isfinite(contrast) and contrast > 0):
        raise InputError(f"parameter 'contrast': expected a number > 0, got {contrast!r}")
    return float(contrast)


def mappable(image: ArrayLike) -> np.ndarray:
    """``image`` as an array the colour kernels take (integers and floats as they are, booleans
    and other kinds as float64)."""
    data = np.asarray(image)
    if data.dtype == np.bool_ or data.dtype.kind not in "fiu":
        data = data.astype(np.float64)
    return data


def to_display_range(
    image: ArrayLike,
    vmin: float | None = None,
    vmax: float | None = None,
    percentiles: Sequence[float] | None = None,
    *,
    contrast: float = 1.0,
    limits: tuple[float, float] | None = None,
) -> np.ndarray:
    """Map an image to [0, 1] for display (pysofi's ``set_range`` and min-max normalisation).

    Values at or below the low limit become 0, at or above the high limit 1, NaN becomes 0.
    A constant image maps to 0 (pysofi divides 0 by 0 there).

    Parameters
    ----------
    image : array_like
        Scalar image or stack (computed if it is a dask array).
    vmin, vmax, percentiles
        See :func:`display_limits`.
    contrast : float
        Display gain > 0: the high limit moves to ``low + (high - low) / contrast``
        (2 saturates the upper half). pysofi's ``display_contrast`` multiplies the colours
        instead, which is the same for a grey colormap.
    limits : (float, float), optional
        Precomputed ``display_limits`` (then vmin/vmax/percentiles are ignored).

    Returns
    -------
    numpy.ndarray
        float64, same shape, values in [0, 1].

    Examples
    --------
    >>> to_display_range(np.array([1.0, 2.0, 3.0])).tolist()
    [0.0, 0.5, 1.0]
    >>> to_display_range(np.array([1.0, 2.0, 3.0]), vmax=2.0).tolist()
    [0.0, 1.0, 1.0]
    """
    check_contrast(contrast)
    low, high = limits if limits is not None else display_limits(image, vmin, vmax, percentiles)
    high = low + (high - low) / float(contrast)
    data = np.asarray(image, dtype=np.float64)
    if high > low:
        out = (data - low) / (high - low)
    else:
        out = np.where(data > low, 1.0, 0.0)
    out = np.clip(out, 0.0, 1.0)
    out[np.isnan(data)] = 0.0
    return out


def colormap_indices(normalized: np.ndarray, n_colors: int) -> np.ndarray:
    """LUT indices of values in [0, 1], the way matplotlib's ``Colormap.__call__`` picks them."""
    scaled = np.asarray(normalized, dtype=np.float64) * n_colors
    return np.clip(scaled.astype(np.intp), 0, n_colors - 1)


def apply_colormap(
    image: ArrayLike,
    cmap: str | Colormap = "pink",
    vmin: float | None = None,
    vmax: float | None = None,
    percentiles: Sequence[float] | None = None,
    *,
    contrast: float = 1.0,
    limits: tuple[float, float] | None = None,
) -> np.ndarray:
    """Colour-map a scalar image (or stack) to 8-bit RGB.

    Parameters
    ----------
    image : array_like
        Shape (y, x) or (n, y, x); a stack shares one display range.
    cmap : str or Colormap
        Default ``'pink'`` (pysofi's default colormap).
    vmin, vmax, percentiles, contrast, limits
        See :func:`to_display_range`.

    Returns
    -------
    numpy.ndarray
        uint8, shape ``image.shape + (3,)``; each pixel equals
        ``get_colormap(cmap)(to_display_range(...), bytes=True)[..., :3]``.

    Examples
    --------
    >>> rgb = apply_colormap(np.array([[0.0, 1.0]]), "gray")
    >>> rgb.shape, rgb.dtype.name, rgb[0, 1].tolist()
    ((1, 2, 3), 'uint8', [255, 255, 255])
    """
    cm = get_colormap(cmap)
    check_contrast(contrast)
    low, high = limits if limits is not None else display_limits(image, vmin, vmax, percentiles)
    high = low + (high - low) / float(contrast)
    data = mappable(image)
    # one fused pass, the same float64 operations as to_display_range + colormap_indices
    return lut_rgb(data, low, high, colormap_lut(cm))


def iter_frames(stack: ArrayLike) -> Iterator[np.ndarray]:
    """Yield the frames of a (n, y, x) stack as numpy arrays, one dask block at a time."""
    if _is_dask(stack):
        start = 0
        for size in stack.chunks[0]:
            block = np.asarray(stack[start : start + size])
            start += size
            yield from block
    else:
        yield from np.asarray(stack)


def downsample(image: ArrayLike, max_side: int) -> np.ndarray:
    """Block means of an (y, x) image so that neither side exceeds ``max_side`` (a screen shows
    no more): an integer factor, the ragged last rows/columns averaged over what they have.

    Examples
    --------
    >>> downsample(np.arange(16.0).reshape(4, 4), 2)
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    a = np.asarray(image, dtype=np.float64)
    f = -(-max(a.shape[:2]) // max(1, int(max_side)))
    if f <= 1:
        return a
    h, w = a.shape[:2]
    ph, pw = -h % f, -w % f
    if ph or pw:  # pad with NaN, averaged out below
        a = np.pad(a, ((0, ph), (0, pw)), constant_values=np.nan)
    blocks = a.reshape(a.shape[0] // f, f, a.shape[1] // f, f)
    if ph or pw:
        return np.nanmean(blocks, axis=(1, 3))
    return blocks.mean(axis=(1, 3))
