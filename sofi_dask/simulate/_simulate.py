"""Blinking-emitter movie simulator for tests, demos and benchmarks.

Emitters sit along curved filaments (cubic Bezier curves) and at isolated random positions.
Each follows a two-state Markov chain (on/off, one step per frame) with a configured on-time
ratio and mean on-duration, and optionally bleaches for good after an exponential lifetime.
Its light spreads over a pixel-integrated Gaussian PSF at a sub-pixel position, on a uniform
background; photon counts are Poisson, then scaled by the gain with a baseline and Gaussian
read noise, rounded to uint16.

Every random number is a hash of (seed, stream, frame, index): the bytes depend only on the
configuration, not on the batch size or the number of threads. Movies are rendered in frame
batches by numba kernels on a thread pool, so multi-GB files take bounded memory.

Examples
--------
>>> from sofi_dask.simulate._simulate import SimulationConfig, simulate_movie
>>> sim = simulate_movie(n_frames=20, frame_shape=(32, 32), seed=3)
>>> sim.data.shape, sim.data.dtype.name
((20, 32, 32), 'uint16')
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from sofi_dask._validation import check_int
from sofi_dask.errors import InputError
from sofi_dask.simulate._config import SimulationConfig, resolve_config
from sofi_dask.simulate._emitters import GroundTruth, ground_truth, read_ground_truth
from sofi_dask.simulate._engine import Renderer, iter_simulated_batches
from sofi_dask.simulate._writers import write_simulated_tiff, write_simulated_zarr

__all__ = [
    "GroundTruth",
    "SimulatedMovie",
    "SimulationConfig",
    "emitter_states",
    "ground_truth",
    "iter_simulated_batches",
    "read_ground_truth",
    "simulate_movie",
    "write_simulated_tiff",
    "write_simulated_zarr",
]

logger = logging.getLogger(__name__)

_IN_MEMORY_LIMIT = 4 * 2**30


@dataclasses.dataclass(frozen=True)
class SimulatedMovie:
    """An in-memory simulated movie.

    Attributes
    ----------
    data : numpy.ndarray
        uint16 movie of shape ``(n_frames, height, width)``.
    truth : GroundTruth
        Emitter positions and per-emitter count of emitting frames.
    config : SimulationConfig
        The parameters that made it.
    """

    data: np.ndarray
    truth: GroundTruth
    config: SimulationConfig


def simulate_movie(config: SimulationConfig | None = None, **overrides: Any) -> SimulatedMovie:
    """Simulate a movie in memory (for small movies; see :func:`write_simulated_tiff`).

    Parameters
    ----------
    config : SimulationConfig, optional
        Parameters (default: ``SimulationConfig()``).
    **overrides
        Parameters replacing those of ``config`` (e.g. ``n_frames=200``).

    Returns
    -------
    SimulatedMovie
        ``data`` (uint16, (n_frames, height, width)), ``truth`` and ``config``.

    Raises
    ------
    ValueError
        If a parameter is invalid, or the movie would exceed 4 GiB in memory.

    Examples
    --------
    >>> sim = simulate_movie(n_frames=50, frame_shape=(24, 24), bleach_lifetime=100.0)
    >>> bool(sim.truth.on_frames.sum() > 0)
    True
    """
    threads = overrides.pop("threads", None)
    cfg = resolve_config(config, overrides)
    if cfg.nbytes > _IN_MEMORY_LIMIT:
        raise InputError(
            f"parameter 'n_frames': the movie would take {cfg.nbytes / 2**30:.1f} GiB in "
            f"memory (limit 4 GiB); use write_simulated_tiff or write_simulated_zarr"
        )
    data = np.empty(cfg.shape, dtype=np.uint16)
    result: list[GroundTruth] = []
    for start, frames in iter_simulated_batches(cfg, threads=threads, on_done=result.append):
        data[start : start + frames.shape[0]] = frames
    return SimulatedMovie(data=data, truth=result[0], config=cfg)


def emitter_states(config: SimulationConfig, frames: tuple[int, int] | None = None) -> np.ndarray:
    """Which emitters emit light in each frame (blinking on and not yet bleached).

    Parameters
    ----------
    config : SimulationConfig
        The simulation.
    frames : tuple of int, optional
        ``(start, end)``: frames ``start..end-1`` (default: all).

    Returns
    -------
    numpy.ndarray
        bool array ``(end - start, n_emitters)``, identical to what the rendered movie used.

    Examples
    --------
    >>> cfg = SimulationConfig(n_frames=1000, n_filaments=0, n_isolated=50, on_ratio=0.3)
    >>> bool(0.2 < emitter_states(cfg).mean() < 0.4)
    True
    """
    start, end = (0, config.n_frames) if frames is None else frames
    start = check_int(start, "frames", minimum=0)
    end = check_int(end, "frames", minimum=0)
    if end < start:
        raise InputError(f"parameter 'frames': expected start <= end, got {frames!r}")
    renderer = Renderer(config)
    if start:
        renderer.emitting(0, start)
    return renderer.emitting(start, end)
