"""Emitter layout (curved filaments plus isolated emitters) and per-emitter PSF profiles."""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from pathlib import Path

import numpy as np
from scipy import special

from sofi_dask.errors import InputError
from sofi_dask.simulate._config import SimulationConfig

__all__ = ["GroundTruth", "ground_truth", "psf_profiles", "read_ground_truth", "stream_keys"]

_STREAMS = ("layout", "blink", "pixels")
_CURVE_SAMPLES = 512
_TRUTH_COLUMNS = ("id", "x", "y", "filament", "photons", "bleach_frame", "on_frames")


def stream_keys(seed: int) -> dict[str, np.uint64]:
    """Independent 64-bit keys of the random streams derived from ``seed``."""
    state = np.random.SeedSequence(seed).generate_state(len(_STREAMS), dtype=np.uint64)
    return {name: np.uint64(value) for name, value in zip(_STREAMS, state, strict=True)}


@dataclasses.dataclass(frozen=True)
class GroundTruth:
    """Where the emitters are, and what they did.

    Attributes
    ----------
    x, y : numpy.ndarray
        float64 positions in pixels (``x`` column, ``y`` row; pixel centres at integers).
    filament : numpy.ndarray
        int64 index of the filament carrying each emitter, -1 for isolated emitters.
    photons : numpy.ndarray
        float64 photons per on frame.
    bleach_frame : numpy.ndarray
        int64 first frame at which the emitter is bleached (``n_frames`` or more: never).
    on_frames : numpy.ndarray or None
        int64 number of frames in which the emitter emitted light (None until rendered).
    """

    x: np.ndarray
    y: np.ndarray
    filament: np.ndarray
    photons: np.ndarray
    bleach_frame: np.ndarray
    on_frames: np.ndarray | None = None

    @property
    def n_emitters(self) -> int:
        """Number of emitters."""
        return int(self.x.shape[0])

    def with_on_frames(self, on_frames: np.ndarray) -> GroundTruth:
        """Return a copy with the per-emitter count of emitting frames."""
        return dataclasses.replace(self, on_frames=np.asarray(on_frames, dtype=np.int64))

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write one CSV row per emitter: id, x, y, filament, photons, bleach_frame, on_frames."""
        path = Path(path)
        on = self.on_frames if self.on_frames is not None else np.full(self.n_emitters, -1)
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(_TRUTH_COLUMNS)
            for i in range(self.n_emitters):
                writer.writerow(
                    (
                        i,
                        repr(float(self.x[i])),
                        repr(float(self.y[i])),
                        int(self.filament[i]),
                        repr(float(self.photons[i])),
                        int(self.bleach_frame[i]),
                        int(on[i]),
                    )
                )
        return path

    def as_table(self) -> np.ndarray:
        """float64 array (n_emitters, 6): x, y, filament, photons, bleach_frame, on_frames."""
        on = self.on_frames if self.on_frames is not None else np.full(self.n_emitters, -1)
        return np.stack(
            [self.x, self.y, self.filament, self.photons, self.bleach_frame, on], axis=1
        ).astype(np.float64)


def read_ground_truth(path: str | os.PathLike[str]) -> GroundTruth:
    """Read a ground-truth CSV written beside a simulated movie.

    Parameters
    ----------
    path : path-like
        The ``.truth.csv`` file, or the movie path it sits beside.

    Returns
    -------
    GroundTruth

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it lacks the expected columns.

    Examples
    --------
    >>> truth = read_ground_truth("movie.tif")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.name.endswith(".truth.csv"):
        path = path.with_name(path.name + ".truth.csv")
    if not path.is_file():
        raise FileNotFoundError(f"ground truth file {str(path)!r} does not exist")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and set(_TRUTH_COLUMNS) - set(rows[0]):
        raise InputError(
            f"{str(path)!r}: expected columns {list(_TRUTH_COLUMNS)}, got {sorted(rows[0])}"
        )

    def col(name: str, dtype: type) -> np.ndarray:
        return np.array([dtype(float(r[name])) for r in rows], dtype=dtype)

    on = col("on_frames", np.int64)
    return GroundTruth(
        x=col("x", np.float64),
        y=col("y", np.float64),
        filament=col("filament", np.int64),
        photons=col("photons", np.float64),
        bleach_frame=col("bleach_frame", np.int64),
        on_frames=None if (on < 0).any() else on,
    )


def _bezier_filament(
    rng: np.random.Generator, config: SimulationConfig, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniformly distributed in arc length along one random cubic Bezier curve."""
    height, width = config.frame_shape
    lo = config.margin
    hi = np.array([width - 1 - lo, height - 1 - lo])
    span = hi - lo
    p0 = lo + rng.random(2) * span
    p3 = lo + rng.random(2) * span
    # make the chord at least half the frame's shorter side so filaments look like filaments
    for _ in range(16):
        if np.hypot(*(p3 - p0)) >= 0.5 * span.min():
            break
        p3 = lo + rng.random(2) * span
    chord = p3 - p0
    length = max(float(np.hypot(*chord)), 1.0)
    normal = np.array([-chord[1], chord[0]]) / length
    offsets = rng.normal(0.0, config.filament_bend * length, size=2)
    p1 = p0 + chord / 3.0 + offsets[0] * normal
    p2 = p0 + 2.0 * chord / 3.0 + offsets[1] * normal
    # the curve stays inside the convex hull of its control points: clip them into the frame
    p1 = np.clip(p1, lo, hi)
    p2 = np.clip(p2, lo, hi)
    s = np.linspace(0.0, 1.0, _CURVE_SAMPLES)[:, None]
    curve = (1 - s) ** 3 * p0 + 3 * (1 - s) ** 2 * s * p1 + 3 * (1 - s) * s**2 * p2 + s**3 * p3
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(curve, axis=0).T))])
    where = rng.random(n) * arc[-1]
    return np.interp(where, arc, curve[:, 0]), np.interp(where, arc, curve[:, 1])


def ground_truth(config: SimulationConfig) -> GroundTruth:
    """Emitter positions, brightness and bleaching frames of ``config`` (no rendering).

    Examples
    --------
    >>> truth = ground_truth(SimulationConfig(n_filaments=1, emitters_per_filament=5,
    ...                                       n_isolated=2))
    >>> truth.n_emitters, int((truth.filament == -1).sum())
    (7, 2)
    """
    rng = np.random.Generator(np.random.PCG64(stream_keys(config.seed)["layout"]))
    xs, ys, fil = [], [], []
    for f in range(config.n_filaments):
        x, y = _bezier_filament(rng, config, config.emitters_per_filament)
        xs.append(x)
        ys.append(y)
        fil.append(np.full(config.emitters_per_filament, f, dtype=np.int64))
    height, width = config.frame_shape
    lo = config.margin
    xs.append(lo + rng.random(config.n_isolated) * (width - 1 - 2 * lo))
    ys.append(lo + rng.random(config.n_isolated) * (height - 1 - 2 * lo))
    fil.append(np.full(config.n_isolated, -1, dtype=np.int64))
    n = config.n_emitters
    lifetimes = rng.exponential(1.0, size=n)
    if config.bleach_lifetime is None:
        bleach = np.full(n, np.iinfo(np.int64).max // 2, dtype=np.int64)
    else:
        # emitting at integer frame t iff t < lifetime: P = exp(-t / bleach_lifetime)
        bleach = np.ceil(lifetimes * config.bleach_lifetime).astype(np.int64)
    return GroundTruth(
        x=np.concatenate(xs).astype(np.float64),
        y=np.concatenate(ys).astype(np.float64),
        filament=np.concatenate(fil),
        photons=np.full(n, config.photons, dtype=np.float64),
        bleach_frame=np.minimum(bleach, np.iinfo(np.int64).max // 2),
    )


def psf_profiles(positions: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-integrated 1-D Gaussian profiles around each position.

    Returns ``(start, profile)``: ``start`` (int64, (n,)) is the first pixel of each patch and
    ``profile`` (float64, (n, 2r+1), ``r = ceil(4 sigma)``) the fraction of the emitter's light
    falling in pixels ``start .. start + 2r`` along that axis.
    """
    radius = int(math.ceil(4.0 * sigma))
    positions = np.asarray(positions, dtype=np.float64)
    start = np.rint(positions).astype(np.int64) - radius
    edges = start[:, None] + np.arange(2 * radius + 2)[None, :] - 0.5
    cdf = special.ndtr((edges - positions[:, None]) / sigma)
    return start, np.diff(cdf, axis=1)
