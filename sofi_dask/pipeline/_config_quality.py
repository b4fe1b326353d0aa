"""The ``drift`` and ``quality`` sections of the run configuration (frozen pydantic models;
re-exported by :mod:`sofi_dask.pipeline._config_models`)."""

from __future__ import annotations

from typing import Literal

from sofi_dask._config_model import Bool, ConfigModel, Int, setting

__all__ = ["DriftConfig", "QualityConfig"]


class DriftConfig(ConfigModel):
    """Sample drift: estimated from segment averages (one extra pass), corrected per frame chunk
    before every statistic (sofi_dask.estimate_drift / correct_drift)."""

    enabled: Bool = setting(False, "estimate and correct the drift")
    segment_frames: Int = setting(100, "frames averaged per segment", ge=1)
    crop: Int = setting(512, "side of the central region registered, pixels", ge=16)
    max_pair_distance: Int = setting(10, "register segments at most this many apart", ge=1)


class QualityConfig(ConfigModel):
    """Image quality in the same pass: FRC of two interleaved halves of the movie, decorrelation
    resolution, SQUIRREL error maps and convergence (the ``quality`` section of run.json)."""

    enabled: Bool = setting(True, "measure the image quality (not for a SOFI video)")
    block_frames: Int = setting(
        100,
        "frames per block (up to twice that, to cut at a chunk edge); blocks alternate "
        "between the two halves (choose well above the blinking correlation time)",
        ge=1,
    )
    threshold: Literal["1/7", "half-bit"] = setting("1/7", "FRC threshold")
    decorrelation: Bool = setting(True, "decorrelation resolution of the average and final images")
    error_maps: Bool = setting(True, "error map, RSE and RSP of the final images")
    outputs: Literal["statistic", "all"] = setting(
        "statistic",
        "FRC of the average and statistic images, or of every output image ('all': the two "
        "halves also go through deconvolution and LDRC, twice those stages' cost again)",
    )
