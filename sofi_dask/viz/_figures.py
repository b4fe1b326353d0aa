"""Matplotlib figures of a SOFI run, returned as :class:`matplotlib.figure.Figure` objects.

No pyplot and no global state: every figure is a fresh
:class:`~sofi_dask.viz._figure.SofiFigure` (a ``Figure`` on the Agg canvas that displays itself
as PNG in a Jupyter kernel), so the functions are safe in threads, notebooks and batch jobs.
The CLI saves them with :func:`save_figure`.

- :func:`plot_total_signal`: the total signal per frame, its median-smoothed version and the
  bleaching blocks (shaded, boundaries marked);
- :func:`order_montage`: the SOFI images of every order side by side;
- :func:`image_montage`: any named images side by side (e.g. every stage of the chain);
- :func:`before_after`: one stage's input and output;
- :func:`plot_video_frames` (``_video_figure``): selected frames of a SOFI video.

Examples
--------
>>> import numpy as np
>>> fig = order_montage({2: np.random.rand(16, 16), 4: np.random.rand(16, 16)})
>>> [ax.get_title() for ax in fig.axes if ax.images]
['order 2', 'order 4']
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from sofi_dask.errors import InputError
from sofi_dask.io._atomic import PathLike, atomic_output
from sofi_dask.viz._figure import new_figure
from sofi_dask.viz._signed import SIGNED_CMAP, Display, check_display, signed_display
from sofi_dask.viz._writers import PNG_LEVEL, downsample

__all__ = [
    "before_after",
    "image_montage",
    "order_montage",
    "save_figure",
]


def _as_image(name: str, image: Any) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 2:
        raise InputError(f"parameter '{name}': expected a 2-D image, got shape {array.shape}")
    return array


def _panel_image(fig: Figure, array: np.ndarray, panel_size: float) -> tuple[np.ndarray, str]:
    """``array`` as block means of at most twice the panel's pixels a side, and how to draw
    it: a screen shows no more, and nearest-neighbour drawing of a 2048-px image into a ~300-px
    panel showed one pixel in ~50 (single-pixel SOFI peaks dropped, the dark gaps between them
    kept), so an image larger than the panel is drawn through matplotlib's antialiasing
    filter; a smaller one keeps its crisp pixels (nearest)."""
    side = panel_size * fig.dpi
    shown = downsample(array, max(1, int(2 * side)))
    return shown, "antialiased" if max(shown.shape) > side else "nearest"


# Panels on a fixed grid (inches): the constrained layout measured every colour bar's tick labels
# on two extra draws, 60 % of a montage's save and ~0.1 s a figure however small the images.
_COLORBAR_IN = 0.7  # right of a panel: its colour bar's tick labels (up to "−300000")
_LABEL_IN = 0.2  # and a signed panel's colour-bar label (its stretch and range)
_TITLE_IN = 0.3  # above a panel: its title


def _fixed_grid(fig: Figure, nrows: int, ncols: int, *, gap: float, title: bool) -> None:
    """Place ``nrows x ncols`` subplots with ``gap`` inches right of each panel and room for the
    panel titles (and a figure title) above."""
    width, height = fig.get_size_inches()
    top = _TITLE_IN + (0.3 if title else 0.0)
    panel_w = (width - 0.1 - ncols * gap) / ncols
    panel_h = (height - top - 0.1 - (nrows - 1) * _TITLE_IN) / nrows
    fig.subplots_adjust(
        left=0.1 / width,
        right=1 - gap / width,
        bottom=0.1 / height,
        top=1 - top / height,
        wspace=gap / panel_w,
        hspace=_TITLE_IN / panel_h,
    )


def image_montage(
    images: Mapping[str, Any],
    *,
    title: str | None = None,
    cmap: str | Colormap = "pink",
    percentiles: Sequence[float] | None = None,
    ncols: int | None = None,
    colorbar: bool = True,
    panel_size: float = 3.0,
    signed: bool | None = None,
    signed_cmap: str | Colormap = SIGNED_CMAP,
    stretch: str = "asinh",
    displays: Mapping[str, Display] | None = None,
) -> Figure:
    """Show named 2-D images side by side, each with its own display range.

    A panel whose values have both signs (cumulants of order >= 3) is drawn with the diverging
    ``signed_cmap``, centred on 0 (symmetric range), by default on an arcsinh stretch, titled
    ``<name> (signed, asinh)``, its colour bar labelled with the stretch and the range
    (``sofi_dask.viz._signed``).

    Parameters
    ----------
    images : mapping of str to array_like
        Panel title -> image (shapes may differ, e.g. before/after Fourier interpolation).
    title : str, optional
        Figure title.
    cmap : str or Colormap
        Colormap, default pysofi's ``'pink'``.
    percentiles : (float, float), optional
        Per-panel display range as percentiles (default: min-max).
    ncols : int, optional
        Panels per row (default: all in one row, at most 4).
    colorbar : bool
        Add a colour bar to every panel.
    panel_size : float
        Inches per panel.
    signed : bool, optional
        None (default): each panel signed when its most negative value reaches 1 % of its
        largest (``sofi_dask.viz._signed.signed_display``); True/False: every panel signed/plain.
    signed_cmap : str or Colormap
        Diverging colormap of signed panels (default ``'berlin'``: dark at 0).
    stretch : {'asinh', 'linear'}
        Stretch of signed panels: ``asinh(x / w)``, ``w`` the median ``|x|`` (default), or
        linear.
    displays : mapping of str to Display, optional
        Panel title -> display made elsewhere (e.g. from the full-size image, whose panel is a
        preview: the same colours as that image's PNG); the other panels' are computed.

    Returns
    -------
    matplotlib.figure.Figure
        One image axes per entry, titled by its key (plus `` (signed, asinh)``), in the
        mapping's order.

    Examples
    --------
    >>> fig = image_montage({"a": np.eye(8), "b": np.ones((4, 4))}, colorbar=False)
    >>> len(fig.axes)
    2
    """
    if not images:
        raise InputError("parameter 'images': expected at least one image, got none")
    arrays = {str(k): _as_image(f"images[{k!r}]", v) for k, v in images.items()}
    n = len(arrays)
    if ncols is None:
        ncols = min(n, 4)
    if not (isinstance(ncols, int) and ncols >= 1):
        raise InputError(f"parameter 'ncols': expected an int >= 1, got {ncols!r}")
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    given = {str(k): check_display(d, f"displays[{k!r}]") for k, d in (displays or {}).items()}
    if set(given) - set(arrays):
        raise InputError(
            f"parameter 'displays': expected panel titles among {sorted(arrays)}, got "
            f"{sorted(given)}"
        )
    shown_as_all = [
        given.get(k)
        or signed_display(
            a, cmap, percentiles, signed=signed, signed_cmap=signed_cmap, stretch=stretch
        )
        for k, a in arrays.items()
    ]
    # a signed panel's colour bar carries a label (stretch and range): room for it
    label = _LABEL_IN if colorbar and any(d.signed for d in shown_as_all) else 0.0
    fig = new_figure(figsize=((panel_size + label) * ncols + 0.6, panel_size * nrows + 0.5))
    gap = _COLORBAR_IN + label if colorbar else 0.15
    _fixed_grid(fig, nrows, ncols, gap=gap, title=bool(title))
    for i, ((name, array), shown_as) in enumerate(zip(arrays.items(), shown_as_all, strict=True)):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        shown, how = _panel_image(fig, array, panel_size)
        artist = ax.imshow(shown, cmap=shown_as.cmap, norm=shown_as.norm(), interpolation=how)
        ax.set_title(shown_as.title(name))
        ax.set_xticks([])
        ax.set_yticks([])
        if colorbar:
            bar = fig.colorbar(
                artist, ax=ax, shrink=0.8, fraction=0.07, pad=0.03, use_gridspec=False
            )
            if shown_as.signed:
                bar.set_label(shown_as.label(), fontsize="x-small")
                ticks, labels = shown_as.ticks()
                if ticks:
                    bar.set_ticks(ticks, labels=labels)
                bar.ax.tick_params(labelsize="small")
    if title:
        fig.suptitle(title)
    return fig


def order_montage(
    images: Mapping[int, Any],
    *,
    title: str | None = None,
    cmap: str | Colormap = "pink",
    percentiles: Sequence[float] | None = None,
    ncols: int | None = None,
    colorbar: bool = True,
    signed: bool | None = None,
    stretch: str = "asinh",
    displays: Mapping[int, Display] | None = None,
) -> Figure:
    """Montage of the SOFI images of every order (ascending), each titled ``order k``.

    Parameters
    ----------
    images : mapping of int to array_like
        Order -> 2-D image (``central_moments``/``cumulants`` output, or a later stage).
    title, cmap, percentiles, ncols, colorbar, signed, stretch
        See :func:`image_montage` (signed orders get a diverging map centred on 0).
    displays : mapping of int to Display, optional
        Order -> display made elsewhere (see :func:`image_montage`).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = order_montage({3: np.eye(4), 2: np.eye(4)}, colorbar=False)
    >>> [ax.get_title() for ax in fig.axes]
    ['order 2', 'order 3']
    """
    if not images:
        raise InputError("parameter 'images': expected at least one order, got none")
    for order in images:
        if isinstance(order, bool) or not isinstance(order, int | np.integer):
            raise InputError(f"parameter 'images': expected int orders as keys, got {order!r}")
    named = {f"order {int(k)}": images[k] for k in sorted(images)}
    return image_montage(
        named,
        title=title,
        cmap=cmap,
        percentiles=percentiles,
        ncols=ncols,
        colorbar=colorbar,
        signed=signed,
        stretch=stretch,
        displays={f"order {int(k)}": d for k, d in (displays or {}).items()},
    )


def before_after(
    before: Any,
    after: Any,
    titles: tuple[str, str] = ("before", "after"),
    *,
    title: str | None = None,
    cmap: str | Colormap = "pink",
    percentiles: Sequence[float] | None = None,
    colorbar: bool = True,
    signed: bool | None = None,
    stretch: str = "asinh",
    displays: tuple[Display | None, Display | None] | None = None,
) -> Figure:
    """One stage's input and output side by side (e.g. before/after deconvolution).

    Parameters
    ----------
    before, after : array_like
        2-D images (their shapes may differ).
    titles : (str, str)
        Panel titles.
    title : str, optional
        Figure title (e.g. the stage name).
    cmap, percentiles, colorbar, signed, stretch
        See :func:`image_montage`.
    displays : (Display or None, Display or None), optional
        Displays made elsewhere for ``before`` and ``after`` (see :func:`image_montage`).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = before_after(np.eye(8), np.eye(8) * 2, ("raw", "deconvolved"), colorbar=False)
    >>> [ax.get_title() for ax in fig.axes]
    ['raw', 'deconvolved']
    """
    if len(titles) != 2 or titles[0] == titles[1]:
        raise InputError(f"parameter 'titles': expected two different titles, got {titles!r}")
    return image_montage(
        {titles[0]: before, titles[1]: after},
        title=title,
        cmap=cmap,
        percentiles=percentiles,
        ncols=2,
        colorbar=colorbar,
        signed=signed,
        stretch=stretch,
        displays={t: d for t, d in zip(titles, displays or (None, None), strict=True) if d},
    )


def save_figure(
    fig: Figure,
    path: PathLike,
    *,
    dpi: float = 100,
    overwrite: bool = False,
    protected: Iterable[PathLike] = (),
) -> Path:
    """Save a figure atomically (format from the suffix: ``.png``, ``.pdf``, ``.svg``, ...).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (from this module or any pyplot-free code).
    path : str or PathLike
        Output file; its folder must exist.
    dpi : float
        Resolution of raster formats.
    overwrite : bool
        Replace an existing file.
    protected : iterable of paths
        Inputs that must never be written over.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileExistsError
        The file exists and ``overwrite`` is false.
    ValueError
        Path is an input or a folder; format unknown to matplotlib.

    Examples
    --------
    >>> import tempfile, os
    >>> fig = order_montage({2: np.eye(4)})
    >>> save_figure(fig, os.path.join(tempfile.mkdtemp(), "orders.png")).name
    'orders.png'
    """
    if not isinstance(fig, Figure):
        raise InputError(f"parameter 'fig': expected a matplotlib Figure, got {type(fig).__name__}")
    fmt = Path(path).suffix.lower().lstrip(".") or "png"
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise InputError(
            f"path: unknown figure format {fmt!r} in {str(path)!r}; use one of {sorted(supported)}"
        )
    with atomic_output(path, overwrite=overwrite, protected=protected) as tmp:
        # zlib level 1: 4x faster than PIL's default 6, files about as small for figures
        extra = {"pil_kwargs": {"compress_level": PNG_LEVEL}} if fmt == "png" else {}
        fig.savefig(tmp, format=fmt, dpi=dpi, **extra)
    return Path(os.path.abspath(path))
