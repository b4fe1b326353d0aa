"""Bleaching corrections besides pysofi's blocks: exponential fit and IIR high-pass, streaming.

(a) **Exponential fit** (the sofipackage's ``bleachcor_monoexp``, Grussmayer/Geissbuehler et
al., EPFL): the total signal per frame is fitted by ``S(t) = c + sum_i A_i exp(-t / tau_i)``
(one or two decays, least squares) and every frame is divided by the fitted decay of the
emitting part, ``d(t) = (S(t) - c) / (S(0) - c)``, about the fitted offset per pixel
``o = c / (H W)``: ``x'(t) = o + (x(t) - o) / d(t)``. The total signal is free for an ingested
``Movie`` (its frame statistics) and one reduction otherwise; the division is elementwise and
lazy.

(b) **IIR high-pass** along time (the sofipackage's ``bleachcor_iir``, after Geissbuehler et
al., "Live-cell multiplane three-dimensional super-resolution optical fluctuation imaging",
Nat. Commun. 5:5830, 2014): a Butterworth high-pass (``scipy.signal.butter``, default first
order, cut-off as a fraction of the Nyquist frequency) removes the slow bleaching drift of
every pixel; the filter starts in its steady state for the first frame (no transient). The
filter is recursive, so each spatial tile's frame chunks are filtered in a chain that hands the
per-pixel filter state (``order`` values per pixel) from one chunk to the next: one read of
the movie, exact, tiles in parallel. The output holds the fluctuations only (mean ~ 0): use it
for cumulants of order >= 2.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
from functools import partial
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.highlevelgraph import HighLevelGraph

from sofi_dask._cpus import threaded_compute
from sofi_dask._validation import as_movie_array, check_int, check_real, fail, shown
from sofi_dask.stats._bleaching_fit_kernels import iir_filter

__all__ = ["BleachingFit", "fit_bleaching", "exp_bleaching_correction", "iir_bleaching_correction"]


@dataclasses.dataclass(frozen=True)
class BleachingFit:
    """An exponential fit of the total signal (:func:`fit_bleaching`).

    Attributes
    ----------
    model : str
        ``"mono"`` or ``"bi"``.
    offset : float
        ``c``, the constant part of the signal (camera offset and background).
    amplitudes, lifetimes : tuple of float
        ``A_i`` and ``tau_i`` (frames), longest lifetime first.
    signal, curve : numpy.ndarray
        The fitted signal and the fitted curve ``S(t)``, one value per frame.
    """

    model: str
    offset: float
    amplitudes: tuple[float, ...]
    lifetimes: tuple[float, ...]
    signal: np.ndarray
    curve: np.ndarray

    def decay(self) -> np.ndarray:
        """``d(t) = (S(t) - c) / (S(0) - c)``: the emitting fraction left at each frame."""
        return (self.curve - self.offset) / (self.curve[0] - self.offset)


def _exp_model(t: np.ndarray, c: float, *params: float) -> np.ndarray:
    out = np.full_like(t, c, dtype=np.float64)
    for amp, rate in zip(params[0::2], params[1::2], strict=True):
        out += amp * np.exp(-rate * t)
    return out


def fit_bleaching(total: Any, model: str = "mono") -> BleachingFit:
    """Fit ``S(t) = c + sum_i A_i exp(-t / tau_i)`` to a total signal (least squares).

    Parameters
    ----------
    total : array_like, shape (N,)
        Total signal per frame (:func:`sofi_dask.total_signal`), finite, N >= 8.
    model : {"mono", "bi"}
        One or two exponential decays.

    Returns
    -------
    BleachingFit

    Raises
    ------
    InputError
        A bad ``model`` or signal, or a fit that does not converge to decays (rising signal),
        or one that is no bleaching: a lifetime under one frame, or a decay ``d(t)`` that is
        not finite and positive at every frame (a signal without bleaching: noise, a spike).

    Examples
    --------
    >>> t = np.arange(500.0)
    >>> fit = fit_bleaching(1000.0 + 400.0 * np.exp(-t / 150.0))
    >>> round(fit.lifetimes[0], 6), round(fit.offset, 6)
    (150.0, 1000.0)
    """
    if model not in ("mono", "bi"):
        raise fail("model", "'mono' or 'bi'", model)
    y = np.asarray(total, dtype=np.float64)
    if y.ndim != 1 or y.size < 8 or not np.all(np.isfinite(y)):
        raise fail("total", "a finite 1-D signal of >= 8 frames", shown(f"shape {y.shape}"))
    t = np.arange(y.size, dtype=np.float64)
    # start: offset below the last frames, one rate from a log-linear fit of what is above it
    tail = y[-max(2, y.size // 20) :].mean()
    span = max(y[: max(2, y.size // 20)].mean() - tail, 1e-12 * max(abs(tail), 1.0))
    c0 = tail - 0.1 * span
    above = np.clip(y - c0, 1e-12 * span, None)
    rate0 = max(-np.polyfit(t, np.log(above), 1)[0], 1.0 / (10 * y.size))
    p0 = (
        [c0, span, rate0]
        if model == "mono"
        else [c0, 0.5 * span, 0.3 * rate0, 0.5 * span, 3 * rate0]
    )
    lower = [-np.inf] + [0.0, 0.0] * (len(p0) // 2)
    from scipy import optimize  # heavy (~0.2 s, ~50 MB): only where a fit is made

    try:
        params, _ = optimize.curve_fit(
            _exp_model, t, y, p0=p0, bounds=(lower, np.inf), maxfev=20000
        )
    except (RuntimeError, ValueError) as exc:
        expected = "a signal that decays exponentially"
        raise fail("total", expected, shown(f"a failed fit ({exc})")) from None
    c, rest = float(params[0]), params[1:]
    pairs = sorted(
        ((float(a), float(r)) for a, r in zip(rest[0::2], rest[1::2], strict=True)),
        key=lambda p: p[1],
    )
    scale = float(np.abs(y).max())
    if any(r <= 0 or a <= 1e-6 * scale for a, r in pairs):
        raise fail("total", "a decaying signal", shown("a fit without a decay"))
    curve = _exp_model(t, c, *params[1:])
    fit = BleachingFit(
        model=model,
        offset=c,
        amplitudes=tuple(a for a, _ in pairs),
        lifetimes=tuple(1.0 / r for _, r in pairs),
        signal=y,
        curve=curve,
    )
    # a fit of a first-frame spike or of noise (no bleaching): a decay of < 1 frame falls to
    # 0 (and the correction divides by it) from the next frame on
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        decay = fit.decay()
        bad = ~(np.isfinite(decay) & (decay > 0) & np.isfinite(1.0 / decay))
    shortest = min(fit.lifetimes)
    if shortest < 1.0 or bad.any():
        lifetimes = ", ".join(f"{v:.3g}" for v in fit.lifetimes)
        found = f"a {model}-exponential fit with lifetime(s) {lifetimes} frames"
        if bad.any():
            found += f", its decay 0 or not finite from frame {int(np.argmax(bad))} on"
        expected = "a signal that bleaches (a fitted lifetime of >= 1 frame, a decay > 0)"
        raise fail("total", expected, shown(found))
    return fit


def _divide_block(block: np.ndarray, *, decay: np.ndarray, offset: float, block_info=None):
    t0, t1 = block_info[0]["array-location"][0]
    d = decay[t0:t1, None, None]
    return offset + (block.astype(np.float64) - offset) / d


def exp_bleaching_correction(
    data: Any, *, model: str = "mono", total: Any = None
) -> tuple[Any, BleachingFit]:
    """Movie divided by the fitted exponential bleaching decay (lazy), and the fit.

    ``x'(t) = o + (x(t) - o) / d(t)`` with ``d`` the fitted decay of the emitting part of the
    total signal and ``o`` its fitted offset per pixel (see the module notes).

    Parameters
    ----------
    data : array, shape (t, y, x)
        dask or numpy array, or a ``Movie`` (its frame statistics give the total signal
        without a read).
    model : {"mono", "bi"}
        One or two exponential decays.
    total : array_like, optional
        The total signal per frame, if already computed.

    Returns
    -------
    corrected : Array
        float64 movie; lazy for dask input.
    fit : BleachingFit

    Examples
    --------
    >>> t = np.arange(300.0)
    >>> movie = 10.0 + 5.0 * np.exp(-t / 100.0)[:, None, None] * np.ones((1, 2, 2))
    >>> corrected, fit = exp_bleaching_correction(movie)
    >>> round(fit.lifetimes[0], 6), np.allclose(corrected, 15.0)
    (100.0, True)
    """
    from sofi_dask.stats._moments import total_signal

    arr, lazy = as_movie_array(data)
    if total is None:
        total = total_signal(data)
        total = total.compute() if isinstance(total, da.Array) else total
    fit = fit_bleaching(total, model)
    if fit.signal.shape[0] != arr.shape[0]:
        raise fail("total", f"one value per frame ({arr.shape[0]})", shown(f"{fit.signal.size}"))
    offset = fit.offset / float(arr.shape[1] * arr.shape[2])
    decay = fit.decay()
    x = arr if lazy else da.from_array(arr, chunks=(max(1, min(arr.shape[0], 256)), -1, -1))
    out = x.map_blocks(_divide_block, decay=decay, offset=offset, dtype=np.float64)
    return (out if lazy else threaded_compute(out)[0]), fit


def _iir_step(block: np.ndarray, prev: tuple | None, *, b: np.ndarray, a: np.ndarray) -> tuple:
    n_t, height, width = block.shape
    frames = np.ascontiguousarray(block).reshape(n_t, height * width)
    if prev is None:  # steady state for a constant input equal to the first frame
        from scipy import signal  # heavy (scipy.signal imports scipy.stats): where used

        zi = signal.lfilter_zi(b, a)[:, None] * frames[0].astype(np.float64)[None, :]
    else:
        zi = prev[1].copy()
    out = iir_filter(frames, b, a, zi)
    return out.reshape(n_t, height, width), zi


def iir_bleaching_correction(data: Any, *, cutoff: float = 0.02, order: int = 1) -> Any:
    """High-pass every pixel along time with a Butterworth IIR filter (streaming, exact).

    Parameters
    ----------
    data : array, shape (t, y, x)
        dask or numpy array (or ``Movie``).
    cutoff : float
        Cut-off frequency as a fraction of the Nyquist frequency, in (0, 1) (the sofipackage
        sweeps 0.01..0.1); the filter's time constant is about ``1 / (pi cutoff)`` frames.
    order : int
        Filter order, 1..4 (default 1, as the sofipackage's optimum).

    Returns
    -------
    Array
        float64 fluctuations (mean ~ 0), lazy for dask input.

    Examples
    --------
    >>> t = np.arange(400.0)
    >>> movie = (100.0 * np.exp(-t / 2000.0))[:, None, None] * np.ones((1, 2, 2))
    >>> out = iir_bleaching_correction(movie, cutoff=0.05)
    >>> bool(np.ptp(out[50:]) < 0.05 * np.ptp(movie[50:]))  # the drift is gone
    True
    """
    arr, lazy = as_movie_array(data)
    cutoff = check_real(cutoff, "cutoff", minimum=0.0, maximum=1.0, inclusive=False)
    order = check_int(order, "order", minimum=1, maximum=4)
    from scipy import signal

    b, a = signal.butter(order, cutoff, btype="highpass")
    b, a = np.asarray(b, np.float64), np.asarray(a, np.float64)
    x = arr if lazy else da.from_array(arr, chunks=(max(1, min(arr.shape[0], 256)), -1, -1))
    token = dask.base.tokenize(x.name, cutoff, order)
    step_name, out_name = f"iir-step-{token}", f"iir-bleaching-{token}"
    step = partial(_iir_step, b=b, a=a)
    dsk: dict = {}
    for it, iy, ix in itertools.product(*(range(len(c)) for c in x.chunks)):
        prev = (step_name, it - 1, iy, ix) if it else None
        dsk[(step_name, it, iy, ix)] = (step, (x.name, it, iy, ix), prev)
        dsk[(out_name, it, iy, ix)] = (operator.getitem, (step_name, it, iy, ix), 0)
    graph = HighLevelGraph.from_collections(out_name, dsk, dependencies=[x])
    out = da.Array(graph, out_name, chunks=x.chunks, dtype=np.float64)
    return out if lazy else threaded_compute(out)[0]
