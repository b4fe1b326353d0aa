"""Parameters of the blinking-movie simulator: a frozen dataclass validated by ``parse_*``."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "SimulationConfig",
    "parse_bool",
    "parse_drift",
    "parse_frame_shape",
    "parse_fraction",
    "parse_nonnegative_float",
    "parse_nonnegative_int",
    "parse_optional_positive_float",
    "parse_positive_float",
    "parse_positive_int",
    "parse_seed",
]


def _fail(name: str, expected: str, value: object) -> ValueError:
    return ValueError(f"parameter {name!r}: expected {expected}, got {value!r}")


def parse_positive_int(name: str, value: object) -> int:
    """Return ``value`` as an ``int`` > 0, or raise ``ValueError`` naming ``name``.

    Examples
    --------
    >>> parse_positive_int("n_frames", 10)
    10
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) <= 0:
        raise _fail(name, "an integer > 0", value)
    return int(value)


def parse_nonnegative_int(name: str, value: object) -> int:
    """Return ``value`` as an ``int`` >= 0, or raise ``ValueError`` naming ``name``.

    Examples
    --------
    >>> parse_nonnegative_int("n_isolated", 0)
    0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 0:
        raise _fail(name, "an integer >= 0", value)
    return int(value)


def _as_finite_float(name: str, value: object, expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _fail(name, expected, value)
    out = float(value)
    if not math.isfinite(out):
        raise _fail(name, expected, value)
    return out


def parse_positive_float(name: str, value: object) -> float:
    """Return ``value`` as a finite ``float`` > 0, or raise ``ValueError`` naming ``name``.

    Examples
    --------
    >>> parse_positive_float("psf_sigma", 1.5)
    1.5
    """
    out = _as_finite_float(name, value, "a finite number > 0")
    if out <= 0:
        raise _fail(name, "a finite number > 0", value)
    return out


def parse_nonnegative_float(name: str, value: object) -> float:
    """Return ``value`` as a finite ``float`` >= 0, or raise ``ValueError`` naming ``name``.

    Examples
    --------
    >>> parse_nonnegative_float("background", 0)
    0.0
    """
    out = _as_finite_float(name, value, "a finite number >= 0")
    if out < 0:
        raise _fail(name, "a finite number >= 0", value)
    return out


def parse_optional_positive_float(name: str, value: object) -> float | None:
    """Return ``None`` or a finite ``float`` > 0, or raise ``ValueError`` naming ``name``.

    Examples
    --------
    >>> parse_optional_positive_float("bleach_lifetime", None) is None
    True
    """
    if value is None:
        return None
    return parse_positive_float(name, value)


def parse_fraction(name: str, value: object) -> float:
    """Return ``value`` as a ``float`` strictly between 0 and 1, or raise ``ValueError``.

    Examples
    --------
    >>> parse_fraction("on_ratio", 0.25)
    0.25
    """
    out = _as_finite_float(name, value, "a number strictly between 0 and 1")
    if not 0.0 < out < 1.0:
        raise _fail(name, "a number strictly between 0 and 1", value)
    return out


def parse_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a ``bool``, or raise ``ValueError`` naming ``name``.

    Examples
    --------
    >>> parse_bool("poisson_noise", True)
    True
    """
    if not isinstance(value, bool):
        raise _fail(name, "True or False", value)
    return value


def parse_seed(name: str, value: object) -> int:
    """Return ``value`` as a seed (an ``int`` in [0, 2**63)), or raise ``ValueError``.

    Examples
    --------
    >>> parse_seed("seed", 7)
    7
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or not 0 <= int(value) < 2**63
    ):
        raise _fail(name, "an integer in [0, 2**63)", value)
    return int(value)


def parse_frame_shape(name: str, value: object) -> tuple[int, int]:
    """Return ``value`` as ``(height, width)``, both integers >= 8, or raise ``ValueError``.

    Examples
    --------
    >>> parse_frame_shape("frame_shape", [32, 48])
    (32, 48)
    """
    if isinstance(value, str | bytes) or not hasattr(value, "__len__") or len(value) != 2:
        raise _fail(name, "a pair (height, width) of integers >= 8", value)
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, numbers.Integral) or int(item) < 8:
            raise _fail(name, "a pair (height, width) of integers >= 8", value)
        out.append(int(item))
    return out[0], out[1]


def parse_drift(name: str, value: object) -> tuple[float, float]:
    """Return ``value`` as ``(dy, dx)``, two finite numbers (pixels), or raise ``ValueError``.

    Examples
    --------
    >>> parse_drift("drift", [0, 1.5])
    (0.0, 1.5)
    """
    expected = "a pair (dy, dx) of finite numbers (pixels)"
    if isinstance(value, str | bytes) or not hasattr(value, "__len__") or len(value) != 2:
        raise _fail(name, expected, value)
    return (_as_finite_float(name, value[0], expected), _as_finite_float(name, value[1], expected))


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
    """Parameters of a simulated movie of blinking emitters (validated on construction).

    Coordinates are in pixels with pixel centres at integer positions: ``x`` is the column,
    ``y`` the row. Every emitter follows a two-state (on/off) Markov chain, one step per frame.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    frame_shape : tuple of int
        ``(height, width)`` of a frame in pixels (each >= 8).
    n_filaments : int
        Number of curved filaments (cubic Bezier curves) carrying emitters.
    emitters_per_filament : int
        Emitters placed at uniformly random arc-length positions along each filament.
    n_isolated : int
        Emitters placed uniformly at random, away from the border.
    filament_bend : float
        Curvature: the standard deviation of the Bezier control points' sideways offset,
        as a fraction of the filament's chord length.
    psf_sigma : float
        Standard deviation of the Gaussian PSF in pixels (integrated over each pixel).
    photons : float
        Photons emitted by an emitter during one frame in which it is on.
    on_ratio : float
        Stationary fraction of frames an emitter is on, in (0, 1).
    mean_on_frames : float
        Mean duration of an on period in frames (>= 1). The switching probabilities per frame
        are ``p_off = 1 / mean_on_frames`` and ``p_on = p_off * on_ratio / (1 - on_ratio)``,
        which must be <= 1.
    bleach_lifetime : float or None
        Mean frame count before an emitter bleaches for good (exponential lifetime); the
        expected total signal above background decays as ``exp(-t / bleach_lifetime)``.
        ``None`` disables bleaching.
    background : float
        Uniform background in photons per pixel per frame.
    baseline : float
        Camera offset in ADU added to every pixel.
    gain : float
        ADU per detected photon.
    read_noise : float
        Standard deviation of the Gaussian read noise in ADU (0 disables it).
    poisson_noise : bool
        Draw photon counts from a Poisson distribution (shot noise); ``False`` uses the
        expected counts.
    pixel_size : float
        Pixel size in micrometres (metadata only).
    drift : tuple of float
        Sample drift ``(dy, dx)`` in pixels reached at the last frame, along the smooth path
        :meth:`drift_trajectory` (default ``(0, 0)``: no drift). Ground-truth positions are
        those of frame 0.
    seed : int
        Seed of every random draw; the same configuration gives identical bytes.

    Raises
    ------
    ValueError
        If a parameter is out of range; the message names it, the expected range and the value.

    Examples
    --------
    >>> cfg = SimulationConfig(n_frames=100, frame_shape=(32, 32), seed=1)
    >>> SimulationConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    n_frames: int = 1000
    frame_shape: tuple[int, int] = (64, 64)
    n_filaments: int = 3
    emitters_per_filament: int = 40
    n_isolated: int = 10
    filament_bend: float = 0.3
    psf_sigma: float = 1.5
    photons: float = 300.0
    on_ratio: float = 0.2
    mean_on_frames: float = 3.0
    bleach_lifetime: float | None = None
    background: float = 20.0
    baseline: float = 100.0
    gain: float = 1.0
    read_noise: float = 1.5
    poisson_noise: bool = True
    pixel_size: float = 0.1
    drift: tuple[float, float] = (0.0, 0.0)
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "n_frames": parse_positive_int,
            "frame_shape": parse_frame_shape,
            "n_filaments": parse_nonnegative_int,
            "emitters_per_filament": parse_nonnegative_int,
            "n_isolated": parse_nonnegative_int,
            "filament_bend": parse_nonnegative_float,
            "psf_sigma": parse_positive_float,
            "photons": parse_nonnegative_float,
            "on_ratio": parse_fraction,
            "mean_on_frames": parse_positive_float,
            "bleach_lifetime": parse_optional_positive_float,
            "background": parse_nonnegative_float,
            "baseline": parse_nonnegative_float,
            "gain": parse_positive_float,
            "read_noise": parse_nonnegative_float,
            "poisson_noise": parse_bool,
            "pixel_size": parse_positive_float,
            "drift": parse_drift,
            "seed": parse_seed,
        }
        for name, parse in checks.items():
            object.__setattr__(self, name, parse(name, getattr(self, name)))
        if self.mean_on_frames < 1.0:
            raise _fail("mean_on_frames", "a number >= 1 (frames)", self.mean_on_frames)
        if self.p_on > 1.0:
            raise ValueError(
                f"parameter 'on_ratio': {self.on_ratio!r} with mean_on_frames="
                f"{self.mean_on_frames!r} needs an off->on probability of {self.p_on:.3g} per "
                f"frame (> 1); expected on_ratio <= mean_on_frames / (mean_on_frames + 1) = "
                f"{self.mean_on_frames / (self.mean_on_frames + 1):.3g}"
            )
        height, width = self.frame_shape
        if 2 * self.margin >= min(height, width):
            raise ValueError(
                f"parameter 'frame_shape': {self.frame_shape!r} is too small for "
                f"psf_sigma={self.psf_sigma!r}; expected each side > {2 * self.margin:g} pixels"
            )
        if self.nbytes > 2**50:
            raise _fail("n_frames", "a movie smaller than 1 PiB", self.n_frames)

    @property
    def p_off(self) -> float:
        """Probability per frame that an on emitter switches off."""
        return 1.0 / self.mean_on_frames

    @property
    def p_on(self) -> float:
        """Probability per frame that an off emitter switches on."""
        return self.p_off * self.on_ratio / (1.0 - self.on_ratio)

    @property
    def n_emitters(self) -> int:
        """Total number of emitters (filaments plus isolated)."""
        return self.n_filaments * self.emitters_per_filament + self.n_isolated

    @property
    def margin(self) -> float:
        """Distance in pixels kept between emitters and the frame border."""
        return 2.0 * self.psf_sigma + 1.0

    @property
    def shape(self) -> tuple[int, int, int]:
        """Movie shape ``(n_frames, height, width)``."""
        return (self.n_frames, *self.frame_shape)

    @property
    def nbytes(self) -> int:
        """Size of the uint16 movie in bytes."""
        return 2 * self.n_frames * self.frame_shape[0] * self.frame_shape[1]

    def drift_trajectory(self) -> np.ndarray:
        """Displacement ``(dy, dx)`` of the sample at every frame (float64, ``(n_frames, 2)``).

        ``d(t) = drift * (u + 0.12 sin(2 pi u))`` with ``u = t / (n_frames - 1)``: smooth, not a
        straight line, 0 at frame 0 and ``drift`` at the last frame.

        Examples
        --------
        >>> SimulationConfig(n_frames=3, drift=(1.0, -2.0)).drift_trajectory().round(3).tolist()
        [[0.0, -0.0], [0.5, -1.0], [1.0, -2.0]]
        """
        u = np.arange(self.n_frames, dtype=np.float64) / max(self.n_frames - 1, 1)
        path = u + 0.12 * np.sin(2.0 * np.pi * u)
        path[-1] = 1.0 if self.n_frames > 1 else 0.0
        return path[:, None] * np.asarray(self.drift, dtype=np.float64)[None, :]

    def replace(self, **changes: Any) -> SimulationConfig:
        """Return a copy with some parameters changed (validated again).

        Examples
        --------
        >>> SimulationConfig().replace(n_frames=10).n_frames
        10
        """
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as a JSON-serialisable dict.

        Examples
        --------
        >>> SimulationConfig().to_dict()["frame_shape"]
        [64, 64]
        """
        out = dataclasses.asdict(self)
        out["frame_shape"] = list(self.frame_shape)
        out["drift"] = list(self.drift)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SimulationConfig:
        """Build a configuration from a dict such as :meth:`to_dict` returns.

        Missing keys take their default; unknown keys raise ``ValueError``.

        Examples
        --------
        >>> SimulationConfig.from_dict({"n_frames": 5}).n_frames
        5
        """
        if not isinstance(values, Mapping):
            raise _fail("config", "a mapping of simulation parameters", values)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"parameter {unknown[0]!r}: unknown simulation parameter; expected one of "
                f"{sorted(known)}"
            )
        return cls(**dict(values))
