"""The total-signal figure: per-frame signal, its smoothed curve and the bleaching blocks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sofi_dask.errors import InputError
from sofi_dask.viz._figure import new_figure
from sofi_dask.viz._quality_figures import _MARGINS

__all__ = ["plot_total_signal"]


def _as_1d(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise InputError(
            f"parameter '{name}': expected a non-empty 1-D series, got shape {array.shape}"
        )
    return array


def plot_total_signal(
    signal: Any,
    smoothed: Any | None = None,
    blocks: Sequence[tuple[int, int]] | None = None,
    *,
    bounds: Sequence[float] | None = None,
    title: str = "Total signal and bleaching blocks",
    smoothed_label: str = "median-smoothed",
    figsize: tuple[float, float] = (8.0, 3.5),
) -> Figure:
    """Plot the total signal per frame with the bleaching-correction blocks.

    Parameters
    ----------
    signal : array_like
        Total intensity per frame, shape (n_frames,).
    smoothed : array_like, optional
        The median-smoothed signal (``sofi_dask.med_smooth``), or a fitted curve, same length.
    blocks : sequence of (start, end), optional
        Frame blocks ``[start, end)`` (``sofi_dask.bleaching_blocks``); shaded
        alternately, their boundaries marked by vertical lines.
    bounds : sequence of float, optional
        Signal levels that cut the blocks (``cut_frames``), drawn as dotted horizontal lines.
    title : str
        Axes title.
    smoothed_label : str
        Legend label of ``smoothed``.
    figsize : (float, float)
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: x = frame, y = total intensity; the legend names every artist.

    Raises
    ------
    ValueError
        Shapes that do not match, blocks outside ``[0, n_frames]`` or empty.

    Examples
    --------
    >>> fig = plot_total_signal(np.linspace(10, 5, 100), blocks=[(0, 40), (40, 100)])
    >>> len(fig.axes[0].patches)
    2
    """
    y = _as_1d("signal", signal)
    n = y.size
    frames = np.arange(n)
    fig = new_figure(figsize=figsize)
    fig.subplots_adjust(**_MARGINS)  # fixed: the constrained layout cost two extra draws
    ax = fig.add_subplot()
    ax.plot(frames, y, color="0.35", lw=0.8, label="total signal")
    if smoothed is not None:
        s = _as_1d("smoothed", smoothed)
        if s.size != n:
            raise InputError(f"parameter 'smoothed': expected {n} values like signal, got {s.size}")
        ax.plot(frames, s, color="tab:red", lw=1.5, label=smoothed_label)
    if blocks is not None:
        blocks = [(int(a), int(b)) for a, b in blocks]
        for a, b in blocks:
            if not 0 <= a < b <= n:
                raise InputError(
                    f"parameter 'blocks': expected 0 <= start < end <= {n} (the frame count), got "
                    f"({a}, {b})"
                )
        for i, (a, b) in enumerate(blocks):
            ax.axvspan(
                a,
                b,
                color="tab:blue" if i % 2 == 0 else "tab:orange",
                alpha=0.12,
                lw=0,
                label="bleaching blocks" if i == 0 else None,
            )
        edges = sorted({e for block in blocks for e in block} - {0, n})
        for j, edge in enumerate(edges):
            ax.axvline(
                edge, color="tab:blue", lw=0.8, ls="--", label="block boundary" if j == 0 else None
            )
    if bounds is not None:
        for j, level in enumerate(bounds):
            ax.axhline(
                float(level), color="0.6", lw=0.6, ls=":", label="cut levels" if j == 0 else None
            )
    ax.set_xlim(0, max(n - 1, 1))
    ax.set_xlabel("frame")
    ax.set_ylabel("total intensity")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize="small")
    return fig
