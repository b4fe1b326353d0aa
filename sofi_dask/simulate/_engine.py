"""Rendering engine of the simulator: frame batches on a thread pool, two batches in flight."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from sofi_dask._cpus import cpu_count
from sofi_dask._validation import check_positive_int
from sofi_dask.simulate._config import SimulationConfig
from sofi_dask.simulate._emitters import GroundTruth, ground_truth, psf_profiles, stream_keys
from sofi_dask.simulate._kernels import background_table, blink_states, render_frames

__all__ = ["Renderer", "iter_simulated_batches", "resolve_batch_frames"]

_DEFAULT_BATCH_BYTES = 32 * 2**20


def _default_threads() -> int:
    return cpu_count()  # affinity and cgroup quota


def resolve_batch_frames(config: SimulationConfig, batch_frames: int | None) -> int:
    """Frames per batch: ``batch_frames`` if given, else about 32 MB of uint16 frames."""
    if batch_frames is None:
        frame_bytes = 2 * config.frame_shape[0] * config.frame_shape[1]
        return int(min(config.n_frames, max(1, _DEFAULT_BATCH_BYTES // frame_bytes)))
    return check_positive_int(batch_frames, "batch_frames")


class Renderer:
    """Precomputed emitter profiles and noise tables; renders any frame range."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.truth = ground_truth(config)
        self.keys = stream_keys(config.seed)
        self.x0, self.gx = psf_profiles(self.truth.x, config.psf_sigma)
        self.y0, self.gy = psf_profiles(self.truth.y, config.psf_sigma)
        self.bg_cdf, self.bg_guide = background_table(config.background)
        self.drift = config.drift_trajectory() if any(config.drift) else None
        self.state = np.zeros(config.n_emitters, dtype=np.uint8)
        self.on_frames = np.zeros(config.n_emitters, dtype=np.int64)
        self.next_frame = 0

    def emitting(self, start: int, stop: int) -> np.ndarray:
        """Emitting flags (bool, (stop - start, n_emitters)); must be called in frame order."""
        if start != self.next_frame:
            raise RuntimeError("frame batches must be rendered in order")  # pragma: no cover
        cfg = self.config
        on_ratio = cfg.emitter_on_ratios()
        p_off = np.full(cfg.n_emitters, cfg.p_off)
        p_on = p_off * on_ratio / (1.0 - on_ratio)
        states = blink_states(self.keys["blink"], start, stop, self.state, on_ratio, p_on, p_off)
        if stop > start:
            self.state = states[-1].copy()
        self.next_frame = stop
        frames = np.arange(start, stop, dtype=np.int64)[:, None]
        emitting = (states != 0) & (frames < self.truth.bleach_frame[None, :])
        self.on_frames += emitting.sum(axis=0)
        return emitting

    def render(self, out: np.ndarray, start: int, amplitude: np.ndarray) -> None:
        if self.drift is None:
            self._render(out, start, amplitude, self.x0, self.y0, self.gx, self.gy)
            return
        # drift: each frame has its own emitter positions (same random streams per frame)
        sigma = self.config.psf_sigma
        for i in range(out.shape[0]):
            dy, dx = self.drift[start + i]
            x0, gx = psf_profiles(self.truth.x + dx, sigma)
            y0, gy = psf_profiles(self.truth.y + dy, sigma)
            self._render(out[i : i + 1], start + i, amplitude[i : i + 1], x0, y0, gx, gy)

    def _render(
        self,
        out: np.ndarray,
        start: int,
        amplitude: np.ndarray,
        x0: np.ndarray,
        y0: np.ndarray,
        gx: np.ndarray,
        gy: np.ndarray,
    ) -> None:
        cfg = self.config
        render_frames(
            out,
            start,
            amplitude,
            x0,
            y0,
            gx,
            gy,
            self.bg_cdf,
            self.bg_guide,
            cfg.background,
            self.keys["pixels"],
            cfg.gain,
            cfg.baseline,
            cfg.read_noise,
            cfg.poisson_noise,
        )


def _render_batch(
    renderer: Renderer, pool: ThreadPoolExecutor, n_threads: int, start: int, stop: int
) -> tuple[np.ndarray, list[Future[None]]]:
    """Start rendering frames ``start..stop-1`` on the pool: the array and its part futures."""
    height, width = renderer.config.frame_shape
    amplitude = renderer.emitting(start, stop) * renderer.truth.photons[None, :]
    out = np.empty((stop - start, height, width), dtype=np.uint16)
    n = stop - start
    bounds = np.linspace(0, n, min(n_threads, n) + 1).astype(int)
    parts = [
        pool.submit(renderer.render, out[a:b], start + a, amplitude[a:b])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        if b > a
    ]
    return out, parts


def iter_simulated_batches(
    config: SimulationConfig,
    *,
    batch_frames: int | None = None,
    threads: int | None = None,
    on_done: Callable[[GroundTruth], None] | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_frame, frames)`` batches of the movie, in order.

    The next batch renders on worker threads while the caller consumes the current one, so at
    most two batches are in memory. When the iteration completes, ``on_done`` receives the
    ground truth with the per-emitter count of emitting frames.

    Parameters
    ----------
    config : SimulationConfig
        What to simulate.
    batch_frames : int, optional
        Frames per batch (default: about 32 MB of frames). The bytes do not depend on it.
    threads : int, optional
        Rendering threads (default: the CPUs this process may use).
    on_done : callable, optional
        Called with the final :class:`GroundTruth`.

    Yields
    ------
    tuple of (int, numpy.ndarray)
        First frame index and a uint16 array ``(n, height, width)``.

    Examples
    --------
    >>> cfg = SimulationConfig(n_frames=10, frame_shape=(16, 16), n_filaments=1)
    >>> [start for start, _ in iter_simulated_batches(cfg, batch_frames=4)]
    [0, 4, 8]
    """
    batch = resolve_batch_frames(config, batch_frames)
    n_threads = _default_threads() if threads is None else check_positive_int(threads, "threads")
    renderer = Renderer(config)
    starts = list(range(0, config.n_frames, batch))
    with ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="sofi-simulate") as pool:
        pending = None
        for i, start in enumerate(starts):
            if pending is None:
                pending = _render_batch(
                    renderer, pool, n_threads, start, min(start + batch, config.n_frames)
                )
            frames, parts = pending
            for part in parts:
                part.result()
            pending = None
            if i + 1 < len(starts):
                nxt = starts[i + 1]
                pending = _render_batch(
                    renderer, pool, n_threads, nxt, min(nxt + batch, config.n_frames)
                )
            yield start, frames
    if on_done is not None:
        on_done(renderer.truth.with_on_frames(renderer.on_frames))
