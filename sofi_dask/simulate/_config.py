"""Parameters of the blinking-movie simulator: a frozen model of the one configuration system.

:class:`SimulationConfig` is a :class:`~sofi_dask._config_model.ConfigModel`, validated like the
pipeline's configuration: wrong values and unknown keys raise
:class:`~sofi_dask.errors.ConfigError` (a ``ValueError``) naming the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, BeforeValidator, model_validator

from sofi_dask._config_model import Bool, ConfigModel, Float, Int, check, setting

__all__ = ["SimulationConfig", "resolve_config"]


def _pair(value: Any) -> Any:
    """A (height, width) given as any sized sequence (a numpy array too) becomes a list."""
    if hasattr(value, "__len__") and not isinstance(value, str | bytes | Mapping):
        return list(value)
    return value


def _sides(value: tuple[int, int]) -> tuple[int, int]:
    if min(value) < 8:
        raise ValueError("side < 8")
    return value


class SimulationConfig(ConfigModel):
    """Parameters of a simulated movie of blinking emitters (validated on construction).

    Coordinates are in pixels with pixel centres at integer positions: ``x`` is the column,
    ``y`` the row. Every emitter follows a two-state (on/off) Markov chain, one step per frame.
    Each field's description (``SimulationConfig.model_fields``) says what it means.

    Parameters
    ----------
    n_frames, frame_shape : int, (int, int)
        Number of frames; ``(height, width)`` of a frame in pixels (each >= 8).
    n_filaments, emitters_per_filament, n_isolated : int
        Curved filaments (cubic Bezier curves); emitters at uniformly random arc-length
        positions along each; emitters placed uniformly at random, away from the border.
    filament_bend : float
        Standard deviation of the Bezier control points' sideways offset, as a fraction of the
        filament's chord length.
    psf_sigma, photons : float
        Gaussian PSF sigma in pixels (integrated over each pixel); photons emitted by an
        emitter during one frame in which it is on.
    on_ratio, mean_on_frames : float
        Stationary fraction of frames an emitter is on, in (0, 1); mean on period in frames
        (>= 1). The switching probabilities per frame are ``p_off = 1 / mean_on_frames`` and
        ``p_on = p_off * on_ratio / (1 - on_ratio)``, which must be <= 1.
    on_ratio_2 : float or None
        A second population: emitters with an odd index (ground-truth ``id``) blink with this
        on-time ratio instead (same ``mean_on_frames``); ``None`` (default): one population.
    bleach_lifetime : float or None
        Mean frame count before an emitter bleaches for good (exponential lifetime): the
        expected total signal above background decays as ``exp(-t / bleach_lifetime)``.
        ``None`` disables bleaching.
    background, baseline, gain, read_noise : float
        Background photons per pixel per frame; camera offset in ADU; ADU per detected photon;
        standard deviation of the Gaussian read noise in ADU (0 disables it).
    poisson_noise : bool
        Draw photon counts from a Poisson distribution; ``False`` uses the expected counts.
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
    ConfigError
        A parameter out of range or unknown; the message names it, the expected range and the
        value.

    Examples
    --------
    >>> cfg = SimulationConfig(n_frames=100, frame_shape=(32, 32), seed=1)
    >>> SimulationConfig.from_dict(cfg.to_dict()) == cfg
    True
    >>> cfg.replace(n_frames=10).n_frames, cfg.to_dict()["frame_shape"]
    (10, [32, 32])
    >>> SimulationConfig(on_ratio=1.5)
    Traceback (most recent call last):
    ...
    sofi_dask.errors.ConfigError: on_ratio: expected a float > 0 and < 1, got 1.5
    """

    n_frames: Int = setting(1000, "number of frames", ge=1)
    frame_shape: Annotated[tuple[Int, Int], BeforeValidator(_pair), AfterValidator(_sides)] = (
        setting(
            (64, 64), "(height, width) of a frame, pixels", expected="[height, width] ints >= 8"
        )
    )
    n_filaments: Int = setting(3, "curved filaments carrying emitters", ge=0)
    emitters_per_filament: Int = setting(40, "emitters along each filament", ge=0)
    n_isolated: Int = setting(10, "emitters placed at random, away from the border", ge=0)
    filament_bend: Float = setting(
        0.3, "filament curvature: sideways offset of the control points / chord length", ge=0
    )
    psf_sigma: Float = setting(1.5, "Gaussian PSF sigma, pixels", gt=0)
    photons: Float = setting(300.0, "photons per emitter per frame it is on", ge=0)
    on_ratio: Float = setting(0.2, "stationary fraction of frames an emitter is on", gt=0, lt=1)
    on_ratio_2: Float | None = setting(
        None, "on-time ratio of the odd-numbered emitters (null: one population)", gt=0, lt=1
    )
    mean_on_frames: Float = setting(3.0, "mean on period, frames", ge=1)
    bleach_lifetime: Float | None = setting(
        None, "mean frames before an emitter bleaches for good (null: no bleaching)", gt=0
    )
    background: Float = setting(20.0, "background photons per pixel per frame", ge=0)
    baseline: Float = setting(100.0, "camera offset, ADU", ge=0)
    gain: Float = setting(1.0, "ADU per detected photon", gt=0)
    read_noise: Float = setting(1.5, "standard deviation of the Gaussian read noise, ADU", ge=0)
    poisson_noise: Bool = setting(True, "Poisson shot noise (false: expected photon counts)")
    pixel_size: Float = setting(0.1, "pixel size, micrometres (metadata only)", gt=0)
    drift: Annotated[tuple[Float, Float], BeforeValidator(_pair)] = setting(
        (0.0, 0.0),
        "sample drift (dy, dx) reached at the last frame, pixels",
        expected="[dy, dx] finite numbers (pixels)",
    )
    seed: Int = setting(
        0, "seed of every random draw", expected="an int in [0, 2**63)", ge=0, lt=2**63
    )

    @model_validator(mode="after")
    def _consistent(self) -> SimulationConfig:
        for name in ("on_ratio", "on_ratio_2"):
            ratio = getattr(self, name)
            p_on = None if ratio is None else self.p_off * ratio / (1.0 - ratio)
            if p_on is not None and p_on > 1.0:
                raise check(
                    name,
                    f"{ratio!r} with mean_on_frames={self.mean_on_frames!r} needs an "
                    f"off->on probability of {p_on:.3g} per frame (> 1); expected {name} <= "
                    f"mean_on_frames / (mean_on_frames + 1) = "
                    f"{self.mean_on_frames / (self.mean_on_frames + 1):.3g}",
                )
        if 2 * self.margin >= min(self.frame_shape):
            raise check(
                "frame_shape",
                f"{self.frame_shape!r} is too small for psf_sigma={self.psf_sigma!r}; expected "
                f"each side > {2 * self.margin:g} pixels",
            )
        if self.nbytes > 2**50:
            raise check("n_frames", f"expected a movie smaller than 1 PiB, got {self.n_frames}")
        return self

    @property
    def p_off(self) -> float:
        """Probability per frame that an on emitter switches off."""
        return 1.0 / self.mean_on_frames

    @property
    def p_on(self) -> float:
        """Probability per frame that an off emitter switches on."""
        return self.p_off * self.on_ratio / (1.0 - self.on_ratio)

    def emitter_on_ratios(self) -> np.ndarray:
        """On-time ratio of every emitter (float64, ``n_emitters``): ``on_ratio``, or
        ``on_ratio_2`` for the emitters with an odd index when a second population is set.

        Examples
        --------
        >>> SimulationConfig(n_filaments=0, n_isolated=3, on_ratio_2=0.4).emitter_on_ratios()
        array([0.2, 0.4, 0.2])
        """
        out = np.full(self.n_emitters, self.on_ratio)
        if self.on_ratio_2 is not None:
            out[1::2] = self.on_ratio_2
        return out

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


def resolve_config(
    config: SimulationConfig | None, overrides: Mapping[str, Any]
) -> SimulationConfig:
    """``config`` (default: the defaults) with keyword ``overrides`` applied and validated.

    Examples
    --------
    >>> resolve_config(None, {"n_frames": 7}).n_frames
    7
    """
    if config is None:
        return SimulationConfig(**overrides)
    if not isinstance(config, SimulationConfig):
        raise ValueError(
            f"parameter 'config': expected a SimulationConfig or None, got {type(config).__name__}"
        )
    return config.replace(**overrides) if overrides else config
