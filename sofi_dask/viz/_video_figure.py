"""Selected frames of a SOFI video as one figure (see :mod:`sofi_dask.viz._figures`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from sofi_dask.errors import InputError
from sofi_dask.viz._figure import new_figure
from sofi_dask.viz._figures import _fixed_grid, _panel_image
from sofi_dask.viz._signed import signed_display

__all__ = ["plot_video_frames"]


def plot_video_frames(
    stack: Any,
    *,
    frames: Sequence[int] | None = None,
    max_frames: int = 8,
    ncols: int = 4,
    cmap: str | Colormap = "pink",
    percentiles: Sequence[float] | None = None,
    common_range: bool = True,
    title: str | None = "SOFI video",
    frame_labels: Sequence[str] | None = None,
    panel_size: float = 2.5,
    signed: bool | None = None,
    stretch: str = "asinh",
) -> Figure:
    """Show selected frames of a SOFI video (n, y, x).

    Parameters
    ----------
    stack : array_like
        The video; with a dask array only the selected frames are computed.
    frames : sequence of int, optional
        Frame indices to show (default: ``max_frames`` evenly spaced, first and last included).
    max_frames : int
        Frames shown when ``frames`` is not given.
    ncols : int
        Panels per row.
    cmap, percentiles
        Display settings.
    common_range : bool
        One display range for all shown frames (brightness comparable over time); otherwise
        one per frame.
    title : str, optional
        Figure title.
    frame_labels : sequence of str, optional
        Panel titles (default ``frame i``; e.g. the window's frame range).
    panel_size : float
        Inches per panel.
    signed : bool, optional
        Diverging colormap centred on 0 (see :func:`image_montage`); None: when the shown
        frames have both signs (decided on their common range, or per frame).
    stretch : {'asinh', 'linear'}
        Stretch of signed frames (see :func:`image_montage`).

    Returns
    -------
    matplotlib.figure.Figure
        One image axes per shown frame.

    Examples
    --------
    >>> fig = plot_video_frames(np.random.rand(20, 8, 8), max_frames=3)
    >>> [ax.get_title() for ax in fig.axes if ax.images]
    ['frame 0', 'frame 10', 'frame 19']
    """
    if stack.ndim != 3 or stack.shape[0] == 0:
        raise InputError(
            f"parameter 'stack': expected (n, y, x) frames, got shape {tuple(stack.shape)}"
        )
    n = stack.shape[0]
    if frames is None:
        if not (isinstance(max_frames, int) and max_frames >= 1):
            raise InputError(f"parameter 'max_frames': expected an int >= 1, got {max_frames!r}")
        frames = sorted({int(round(v)) for v in np.linspace(0, n - 1, min(n, max_frames))})
    frames = [int(f) for f in frames]
    if not frames or any(not -n <= f < n for f in frames):
        raise InputError(f"parameter 'frames': expected indices in [0, {n}), got {frames!r}")
    frames = [f % n for f in frames]
    if frame_labels is not None and len(frame_labels) != len(frames):
        raise InputError(
            f"parameter 'frame_labels': expected {len(frames)} labels (one per frame), got "
            f"{len(frame_labels)}"
        )
    selected = np.asarray(stack[frames])
    common = (
        signed_display(selected, cmap, percentiles, signed=signed, stretch=stretch)
        if common_range
        else None
    )
    if not (isinstance(ncols, int) and ncols >= 1):
        raise InputError(f"parameter 'ncols': expected an int >= 1, got {ncols!r}")
    ncols = min(ncols, len(frames))
    nrows = -(-len(frames) // ncols)
    fig = new_figure(figsize=(panel_size * ncols, panel_size * nrows + 0.5))
    _fixed_grid(fig, nrows, ncols, gap=0.15, title=bool(title))
    for i, (index, frame) in enumerate(zip(frames, selected, strict=True)):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        shown_as = common or signed_display(
            frame, cmap, percentiles, signed=signed, stretch=stretch
        )
        shown, how = _panel_image(fig, frame, panel_size)
        ax.imshow(shown, cmap=shown_as.cmap, norm=shown_as.norm(), interpolation=how)
        label = frame_labels[i] if frame_labels is not None else f"frame {index}"
        ax.set_title(shown_as.title(label))
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return fig
