"""Figures of the quality measures: FRC curves, drift trace, convergence.

viz knows nothing of :mod:`sofi_dask.quality`: the functions take plain arrays (the fields of
``FRCResult``, ``DriftResult``, ``ConvergenceResult``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullLocator, StrMethodFormatter

from sofi_dask.errors import InputError
from sofi_dask.viz._figure import new_figure

# One axes with short labels: fixed margins draw the figure once, where the constrained layout
# measures every tick label on two extra passes (60 % of a save; both figures go with each run).
_MARGINS = {"left": 0.13, "right": 0.97, "bottom": 0.13, "top": 0.91}


__all__ = ["plot_convergence", "plot_drift_trace", "plot_frc_curves"]


def _plain_log_ticks(axis: Any, data: np.ndarray) -> None:
    """Log-axis ticks as plain numbers (0.02, 5000), no minor ticks: 1-2-5 over up to two
    decades, decades beyond. Each tick is a set of artists made on the first draw (the 40 minor
    ticks of matplotlib's default were 40 % of drawing the convergence figure)."""
    positive = data[np.isfinite(data) & (data > 0)]
    span = positive.max() / positive.min() if positive.size else 1.0
    subs = (1.0, 2.0, 5.0) if span <= 100 else (1.0,)
    axis.set_major_locator(LogLocator(subs=subs))
    axis.set_major_formatter(StrMethodFormatter("{x:g}"))
    axis.set_minor_locator(NullLocator())


def plot_frc_curves(
    curves: Mapping[str, tuple[Any, Any]],
    *,
    threshold: tuple[Any, Any] | float | None = 1.0 / 7.0,
    resolutions: Mapping[str, float | None] | None = None,
    unit: str = "pixel",
    figsize: tuple[float, float] = (6.0, 4.0),
) -> Figure:
    """FRC curves of several images on one axes, with the threshold.

    Parameters
    ----------
    curves : mapping of str to (frequencies, curve)
        Name -> spatial frequencies (cycles per ``unit``) and FRC values.
    threshold : float or (frequencies, values), optional
        A fixed threshold (default 1/7), a threshold curve, or None.
    resolutions : mapping of str to float or None, optional
        Name -> resolution (in ``unit``), shown in the legend.
    unit : str
        Unit of length (``"pixel"``, ``"µm"``).
    figsize : (float, float)
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> q = np.linspace(0.01, 0.5, 50)
    >>> fig = plot_frc_curves({"average": (q, np.exp(-8 * q))}, resolutions={"average": 4.1})
    >>> fig.axes[0].get_legend().get_texts()[0].get_text()
    'average: 4.1 pixel'
    """
    fig = new_figure(figsize=figsize)
    fig.subplots_adjust(**_MARGINS)
    ax = fig.add_subplot()
    for name, (freqs, curve) in curves.items():
        res = (resolutions or {}).get(name)
        label = f"{name}: {res:.3g} {unit}" if res is not None else f"{name}: not crossed"
        ax.plot(np.asarray(freqs), np.asarray(curve), label=label)
    if isinstance(threshold, tuple):
        ax.plot(np.asarray(threshold[0]), np.asarray(threshold[1]), "k--", label="threshold")
    elif threshold is not None:
        ax.axhline(float(threshold), color="k", linestyle="--", label=f"threshold {threshold:.3g}")
    ax.set_xlabel(f"spatial frequency (1/{unit})")
    ax.set_ylabel("FRC")
    ax.set_ylim(-0.2, 1.05)
    # a fixed title position: the automatic one measures the axis' tick labels on every draw
    ax.set_title("Fourier ring correlation of two interleaved halves", y=1.0)
    ax.legend(fontsize="small", loc="upper right")
    return fig


def plot_drift_trace(
    trace: Any,
    *,
    pixel_size: float | None = None,
    segment_centres: Any | None = None,
    segment_positions: Any | None = None,
    figsize: tuple[float, float] = (7.0, 3.5),
) -> Figure:
    """The drift trace ``(dy, dx)`` per frame in pixels (and micrometres on a second axis).

    Examples
    --------
    >>> fig = plot_drift_trace(np.zeros((10, 2)), pixel_size=0.1)
    >>> fig.axes[0].get_ylabel(), [a.get_ylabel() for a in fig.axes[0].child_axes]
    ('drift (pixel)', ['drift (µm)'])
    """
    trace = np.asarray(trace, dtype=np.float64)
    if trace.ndim != 2 or trace.shape[1] != 2:
        raise InputError(f"parameter 'trace': expected shape (n_frames, 2), got {trace.shape}")
    fig = new_figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    frames = np.arange(trace.shape[0])
    for axis, name in enumerate(("dy", "dx")):
        (line,) = ax.plot(frames, trace[:, axis], label=name)
        if segment_centres is not None and segment_positions is not None:
            ax.plot(
                np.asarray(segment_centres),
                np.asarray(segment_positions)[:, axis],
                "o",
                color=line.get_color(),
                markersize=3,
            )
    ax.set_xlabel("frame")
    ax.set_ylabel("drift (pixel)")
    ax.set_title("Sample drift")
    ax.legend()
    if pixel_size:
        scale = float(pixel_size)
        second = ax.secondary_yaxis("right", functions=(lambda p: p * scale, lambda u: u / scale))
        second.set_ylabel("drift (µm)")
    return fig


def plot_convergence(
    frames: Any,
    changes: Mapping[str, Any],
    *,
    figsize: tuple[float, float] = (6.0, 4.0),
) -> Figure:
    """Relative change of each image per doubling of the frames (log-log).

    Parameters
    ----------
    frames : array_like
        Frames used at each point (the first point has no change).
    changes : mapping of str to array_like
        Name -> relative change at ``frames[1:]``.

    Examples
    --------
    >>> fig = plot_convergence([10, 20, 40], {"order 2": [0.5, 0.3]})
    >>> fig.axes[0].get_xscale()
    'log'
    """
    frames = np.asarray(frames, dtype=np.float64)
    fig = new_figure(figsize=figsize)
    fig.subplots_adjust(**_MARGINS)
    ax = fig.add_subplot()
    for name, values in changes.items():
        ax.plot(frames[1:], np.asarray(values, dtype=np.float64), "o-", label=name)
    if frames.size > 2:  # a trend needs two changes; one point would draw an empty legend line
        ref = frames[1:]
        ax.plot(ref, 0.5 * np.sqrt(ref[0] / ref), "k:", label="∝ 1/√frames")
    elif frames.size == 2:
        ax.text(  # bottom right: the legend is bottom left, the points above
            0.98,
            0.04,
            f"one step only ({int(frames[0])} -> {int(frames[1])} frames): no trend yet",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize="small",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    values = [v for v in (np.asarray(c, dtype=np.float64) for c in changes.values()) if v.size]
    for axis, data in ((ax.xaxis, frames), (ax.yaxis, np.concatenate(values or [frames]))):
        _plain_log_ticks(axis, data)
    ax.set_xlabel("frames used")
    ax.set_ylabel("relative change per doubling")
    ax.set_title("Convergence with the number of frames", y=1.0)
    ax.legend(fontsize="small", loc="lower left")
    return fig
