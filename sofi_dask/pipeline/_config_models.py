"""The sections of the run configuration, in the order of pysofi's chain (frozen pydantic models).

bleaching correction -> Fourier interpolation -> moments/cumulants (whole movie or SOFI video)
-> noise filter 1 -> shrinking-kernel deconvolution -> noise filter 2 -> LDRC -> outputs, plus
``input`` and ``compute``. The graph reads these sections directly; the values it derives are
properties here (:attr:`PipelineConfig.max_order`, :meth:`PipelineConfig.keeps`, ...).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, field_validator, model_validator

from sofi_dask._config_model import (
    Bool,
    ConfigModel,
    FilePath,
    Float,
    Int,
    OddInt,
    Text,
    check,
    setting,
)
from sofi_dask.pipeline._config_checks import check_methods
from sofi_dask.pipeline._config_compute import ComputeConfig
from sofi_dask.pipeline._config_quality import DriftConfig, QualityConfig

__all__ = [
    "STAGES",
    "BleachingConfig",
    "ComputeConfig",
    "DeconvolutionConfig",
    "DriftConfig",
    "FinterpConfig",
    "InputConfig",
    "LdrcConfig",
    "NoiseFilterConfig",
    "OutputsConfig",
    "PipelineConfig",
    "PsfConfig",
    "QualityConfig",
    "StatisticConfig",
    "VideoConfig",
]

#: Image stages in the order of the chain (``outputs.keep_stages``); image names are
#: ``<stage>_order<k>``, with the statistic's kind (``cumulants``/``moments``) for ``statistic``.
STAGES: tuple[str, ...] = (
    "average",
    "statistic",
    "noise_filter_1",
    "deconvolution",
    "noise_filter_2",
    "ldrc",
)
MAX_ORDER = 8
_ORDERS_WORDS = f"a list of distinct ints in 1..{MAX_ORDER}"


def _distinct(value: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(set(value)) != len(value):
        raise ValueError("not distinct")
    return value


def _increasing(value: tuple[int, ...]) -> tuple[int, ...]:
    if list(value) != sorted(value):
        raise ValueError("not increasing")
    return value


def _square(value: Any) -> Any:
    return [value, value] if isinstance(value, int) and not isinstance(value, bool) else value


def _mask(value: str) -> str:
    if not re.fullmatch(r"average|order[1-8]", value):
        raise ValueError("not a mask")
    return value


def _cmap(value: str) -> str:
    import matplotlib

    if value not in matplotlib.colormaps:
        raise ValueError("not a colormap")
    return value


class InputConfig(ConfigModel):
    """The movie to analyse."""

    path: FilePath | None = setting(
        None, "TIFF file, folder/glob of TIFFs, or Zarr store from `sofi-dask ingest`"
    )
    channel: Int | None = setting(None, "channel of a multi-channel TIFF", ge=0)
    axes: Text | None = setting(None, "declared TIFF axes, e.g. TYX for an ImageJ 'CYX' stack")
    pixel_size_um: Float | None = setting(
        None, "pixel size in micrometres, in place of the file's (an uncalibrated TIFF)", gt=0
    )


class BleachingConfig(ConfigModel):
    """Bleaching correction by blocks of the total signal (pysofi's bleach_correct)."""

    enabled: Bool = setting(True, "correct for bleaching")
    method: Literal["blocks", "correct", "exp", "biexp", "iir"] = setting(
        "blocks",
        "blocks: statistics per block, then their unweighted mean (pysofi's block_ave_*); "
        "correct: subtract each block's mean from the movie first (pysofi's correct_bleaching); "
        "exp/biexp: divide by a mono/bi-exponential fit of the total signal; iir: Butterworth "
        "high-pass along time (sofipackage)",
    )
    iir_cutoff: Float = setting(
        0.02, "iir: cut-off frequency, fraction of the Nyquist frequency", gt=0, lt=1
    )
    fbc: Float = setting(0.04, "fraction of the signal drop that starts a new block", gt=0, lt=1)
    smooth_kernel: OddInt = setting(251, "median-filter length for the total signal, frames", ge=1)
    min_block_frames: Int = setting(
        50,
        "blocks shorter than this merge with their short neighbours, or else join the shorter "
        "neighbour (1: pysofi's blocks, however short)",
        ge=1,
    )


class FinterpConfig(ConfigModel):
    """Fourier interpolation of every frame before the statistics (grid ((H-1)f+1, (W-1)f+1))."""

    enabled: Bool = setting(False, "interpolate the movie")
    factor: Int = setting(2, "interpolation factor f", ge=2)
    precision: Literal["float64", "float32"] = setting("float64", "float32: ~2x faster")


class StatisticConfig(ConfigModel):
    """The SOFI statistic: central moments or cumulants of the chosen orders (one pass)."""

    kind: Literal["cumulants", "moments", "xc_cumulants"] = setting(
        "cumulants",
        "statistic (xc_cumulants: cross-cumulants with virtual pixels, orders 2..4, on a grid "
        "order times finer)",
    )
    orders: Annotated[tuple[Int, ...], AfterValidator(_distinct)] = setting(
        (2, 3, 4), "orders to compute", expected=_ORDERS_WORDS, min_length=1
    )
    frames: (
        Annotated[tuple[Int, Int], AfterValidator(_distinct), AfterValidator(_increasing)] | None
    ) = setting(
        None,
        "frame window [start, end) (default: every frame)",
        expected="[start, end] frame indices with start < end, or null",
    )
    absolute: Bool = setting(
        True,
        "deconvolve and compress |statistic| (SOFI images are magnitudes: cumulants of order "
        ">= 3 can be negative, and deconvolution floors negatives at eps); false: pysofi's "
        "signed input",
    )

    psf_sigma: Float | None = setting(
        None, "xc_cumulants/bsofi: PSF sigma, pixels (null: estimated from the data)", gt=0
    )
    linearise: Bool = setting(False, "replace each order-n image by |image|^(1/n)")
    bsofi: Bool = setting(
        False, "balanced SOFI maps (on-time ratio, brightness, balanced image; orders 2, 3, 4)"
    )

    @field_validator("orders")
    @classmethod
    def _sorted_orders(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not all(1 <= k <= MAX_ORDER for k in value):
            raise ValueError("order out of range")
        return tuple(sorted(value))

    @field_validator("frames")
    @classmethod
    def _frames_from_zero(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and value[0] < 0:
            raise ValueError("negative frame")
        return value

    @property
    def max_order(self) -> int:
        """The highest order (the statistics are computed up to it in one pass)."""
        return max(self.orders)


class VideoConfig(ConfigModel):
    """SOFI video: the statistic over sliding frame windows instead of the whole movie."""

    enabled: Bool = setting(False, "compute a SOFI video")
    window: Int = setting(100, "frames per window", ge=2)
    step: Int | None = setting(None, "frames between window starts (default: window)", ge=1)


class NoiseFilterConfig(ConfigModel):
    """Gaussian noise filter along the window axis of a SOFI video (pysofi's noise_filter1d)."""

    enabled: Bool = setting(False, "filter (needs video.enabled)")
    kernel_size: Int = setting(21, "Gaussian kernel length, windows", ge=1)
    sigma: Float = setting(2.0, "Gaussian sigma, windows", gt=0)


class PsfConfig(ConfigModel):
    """Point-spread function of the deconvolution."""

    kind: Literal["gaussian", "file"] = setting("gaussian", "PSF model")
    sigma_px: Float = setting(
        2.0,
        "Gaussian sigma of the microscope's PSF in pixels of the statistic's grid (the order-k "
        "image is deconvolved with PSF^k when per_order)",
        gt=0,
    )
    size: OddInt = setting(51, "Gaussian PSF size, pixels (size x size)", ge=1)
    path: FilePath | None = setting(None, "PSF image (.npy or .tif) when kind = 'file'")
    per_order: Bool = setting(
        True,
        "deconvolve the order-k image with PSF^k, the PSF of an order-k SOFI image (a Gaussian "
        "of sigma/sqrt(k); not for xc_cumulants or linearised images); false: the same PSF for "
        "every order (pysofi's single est_psf)",
    )

    @model_validator(mode="after")
    def _file_needs_path(self) -> PsfConfig:
        if self.kind == "file" and self.path is None:
            raise check("path", "expected a PSF file path because kind = 'file', got None")
        return self


class DeconvolutionConfig(ConfigModel):
    """Shrinking-kernel deconvolution (pysofi's deconvsk)."""

    enabled: Bool = setting(True, "deconvolve")
    psf: PsfConfig = setting(PsfConfig(), "point-spread function")
    lam: Float = setting(1.5, "lambda of the shrinking kernels", gt=1)
    iterations: Int = setting(20, "Richardson-Lucy iterations per kernel", ge=1)
    memory_budget_mb: Int = setting(512, "MiB per task: whole images up to it, tiles above", ge=0)


class LdrcConfig(ConfigModel):
    """Local dynamic range compression (pysofi's ldrc)."""

    enabled: Bool = setting(True, "compress the dynamic range")
    window_size: Annotated[tuple[Int, Int], BeforeValidator(_square)] = setting(
        (25, 25),
        "window size, pixels",
        expected="[rows, cols] ints >= 2 (or one int)",
    )
    mask: Annotated[Text, AfterValidator(_mask)] = setting(
        "order2",
        "mask image: the average image or the SOFI image of an order (<= the highest order); "
        "'order2' is background-free, 'average' (pysofi's usual choice) lifts empty regions",
        expected="'average' or 'order<k>' with k in 1..8",
    )
    mask_floor: Float | None = setting(
        5.0,
        "subtract this percentile of the mask from it (clipped at 0) before LDRC: the mask's "
        "background floor (camera offset, shot-noise variance) otherwise lifts empty windows "
        "above the pixels beside a structure; null: the mask as is (pysofi)",
        ge=0,
        le=100,
    )

    @field_validator("window_size")
    @classmethod
    def _at_least_two(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 2:
            raise ValueError("window too small")
        return value


class OutputsConfig(ConfigModel):
    """What the run writes into its output folder."""

    path: FilePath | None = setting(None, "output folder")
    zarr: Bool = setting(True, "Zarr group with every kept stage (OME-NGFF)")
    tiff_float32: Bool = setting(True, "float32 ImageJ TIFF per kept stage")
    tiff_rgb: Bool = setting(True, "colour-mapped RGB ImageJ TIFF per kept stage")
    png: Bool = setting(True, "colour-mapped PNG preview per kept stage")
    figures: Bool = setting(True, "matplotlib figures as PNG")
    video_format: Literal["gif", "tiff", "mp4"] = setting(
        "gif", "SOFI video export (mp4 needs ffmpeg)"
    )
    cmap: Annotated[Text, AfterValidator(_cmap)] = setting(
        "pink",
        "colormap of RGB outputs",
        expected="a matplotlib colormap name such as 'pink', 'gray', 'magma'",
    )
    percentiles: tuple[Float, Float] = setting(
        (0.0, 99.9),
        "display range of RGB outputs and figures, percentiles (the top 0.1 % saturates: "
        "[0, 100] is pysofi's min-max)",
        expected="[low, high] with 0 <= low < high <= 100",
    )
    signed_stretch: Literal["asinh", "linear"] = setting(
        "asinh", "stretch of signed images (order >= 3): asinh (log beyond median |x|), linear"
    )
    keep_stages: tuple[Literal[STAGES], ...] = setting(  # type: ignore[valid-type]
        STAGES,
        "stages written (if run)",
        expected="a list of distinct stage names from " + ", ".join(STAGES),
    )

    @field_validator("percentiles")
    @classmethod
    def _low_high(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0.0 <= value[0] < value[1] <= 100.0:
            raise ValueError("not a range")
        return value

    @field_validator("keep_stages")
    @classmethod
    def _chain_order(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _distinct(value)
        return tuple(s for s in STAGES if s in value)


class PipelineConfig(ConfigModel):
    """The whole run; sections in the order of the chain.

    Examples
    --------
    >>> PipelineConfig().enabled_stages()
    ('average', 'statistic', 'deconvolution', 'ldrc')
    >>> PipelineConfig.from_dict({"deconvolution": {"lam": "abc"}})
    Traceback (most recent call last):
    ...
    sofi_dask.errors.ConfigError: deconvolution.lam: expected a float > 1, got 'abc'
    """

    input: InputConfig = setting(InputConfig(), "the movie to analyse")
    drift: DriftConfig = setting(DriftConfig(), "drift correction")
    bleaching: BleachingConfig = setting(BleachingConfig(), "bleaching correction")
    finterp: FinterpConfig = setting(FinterpConfig(), "Fourier interpolation")
    statistic: StatisticConfig = setting(StatisticConfig(), "moments or cumulants")
    video: VideoConfig = setting(VideoConfig(), "SOFI video (sliding windows)")
    noise_filter_1: NoiseFilterConfig = setting(
        NoiseFilterConfig(), "noise filter before the deconvolution (video)"
    )
    deconvolution: DeconvolutionConfig = setting(
        DeconvolutionConfig(), "shrinking-kernel deconvolution"
    )
    noise_filter_2: NoiseFilterConfig = setting(
        NoiseFilterConfig(), "noise filter after the deconvolution (video)"
    )
    ldrc: LdrcConfig = setting(LdrcConfig(), "local dynamic range compression")
    quality: QualityConfig = setting(QualityConfig(), "image quality measures")
    outputs: OutputsConfig = setting(OutputsConfig(), "what the run writes")
    compute: ComputeConfig = setting(ComputeConfig(), "where and how the graph runs")

    @model_validator(mode="after")
    def _consistent(self) -> PipelineConfig:
        for name in ("noise_filter_1", "noise_filter_2"):
            if getattr(self, name).enabled and not self.video.enabled:
                raise check(
                    f"{name}.enabled",
                    "expected false unless video.enabled = true (the filter runs along the "
                    "window axis of a SOFI video), got True",
                )
        check_methods(self)
        mask = self.ldrc.mask
        if self.ldrc.enabled and mask.startswith("order"):
            orders = list(self.statistic.orders)
            if int(mask[5:]) > max(orders):
                raise check(
                    "ldrc.mask",
                    f"expected 'average' or 'order<k>' with k <= the highest of "
                    f"statistic.orders {orders}, got {mask!r}; try --ldrc-mask average",
                )
            if mask == "order1" and self.statistic.kind == "moments":
                raise check(
                    "ldrc.mask",
                    "expected 'average' or 'order<k>' with k >= 2 for statistic.kind = "
                    "'moments' (the first central moment is 0 everywhere), got 'order1'",
                )
        return self

    def enabled_stages(self) -> tuple[str, ...]:
        """The image stages that run, in order (``average`` and ``statistic`` always run)."""
        return tuple(s for s in STAGES if s in ("average", "statistic") or getattr(self, s).enabled)

    @property
    def final_stage(self) -> str:
        """The last stage that runs: the run's result."""
        return self.enabled_stages()[-1]

    # ---- what the graph derives from the sections (no second copy of the settings)
    @property
    def max_order(self) -> int:
        """The highest statistic order."""
        return self.statistic.max_order

    @property
    def finterp_factor(self) -> int:
        """The Fourier interpolation factor, 1 when the interpolation is off."""
        return self.finterp.factor if self.finterp.enabled else 1

    @property
    def block_statistics(self) -> bool:
        """Statistics per bleaching block, then their mean (not for a SOFI video)."""
        b = self.bleaching
        return b.enabled and b.method == "blocks" and not self.video.enabled

    @property
    def video_step(self) -> int:
        """Frames between SOFI-video window starts (``video.step``, default the window)."""
        return self.video.step or self.video.window

    def keeps(self, stage: str) -> bool:
        """Whether ``stage``'s images are written (``outputs.keep_stages``)."""
        return stage in self.outputs.keep_stages
