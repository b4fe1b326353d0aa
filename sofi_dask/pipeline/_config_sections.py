"""The frozen, validated sections of the run configuration (see :mod:`sofi_dask.config`)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from sofi_dask.pipeline._config_parse import (
    ConfigError,
    Section,
    Spec,
    _Invalid,
    option,
    parse_bool,
    parse_choice,
    parse_float,
    parse_float_pair,
    parse_int,
    parse_int_tuple,
    parse_optional,
    parse_scalar_table,
    parse_section,
    parse_str,
    section_to_dict,
)

STAGES: tuple[str, ...] = (
    "average",
    "statistic",
    "noise_filter_1",
    "deconvolution",
    "noise_filter_2",
    "ldrc",
)
_MAX_ORDER = 8
_ORDERS_WORDS = f"a list of distinct ints in 1..{_MAX_ORDER}"
_SCHEDULERS = ("threads", "processes", "synchronous", "local", "slurm", "pbs")
#: Keys holding file paths: relative values in a config file are relative to that file.
PATH_KEYS: tuple[str, ...] = (
    "input.path",
    "outputs.path",
    "deconvolution.psf.path",
    "compute.performance_report",
)


def _parse_mask() -> Spec:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or not re.fullmatch(r"average|order[1-8]", value):
            raise _Invalid
        return value

    return Spec(parse, "'average' or 'order<k>' with k in 1..8")


def _parse_cmap() -> Spec:
    def parse(value: Any) -> str:
        import matplotlib

        if not isinstance(value, str) or value not in matplotlib.colormaps:
            raise _Invalid
        return value

    return Spec(parse, "a matplotlib colormap name such as 'pink', 'gray', 'magma'")


def _parse_stages() -> Spec:
    def parse(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            raise _Invalid
        if any(v not in STAGES for v in value) or len(set(value)) != len(value):
            raise _Invalid
        return tuple(s for s in STAGES if s in value)

    return Spec(parse, "a list of distinct stage names from " + ", ".join(STAGES))


def _parse_scheduler() -> Spec:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise _Invalid
        if value in _SCHEDULERS or re.fullmatch(r"[a-z]+://\S+|[\w.\-]+:\d+", value):
            return value
        raise _Invalid

    return Spec(parse, "one of " + ", ".join(map(repr, _SCHEDULERS)) + " or a scheduler address")


def _parse_memory() -> Spec:
    def parse(value: Any) -> str:
        from dask.utils import parse_bytes

        if not isinstance(value, str):
            raise _Invalid
        if value != "auto":
            try:
                if parse_bytes(value) <= 0:
                    raise _Invalid
            except ValueError:
                raise _Invalid from None
        return value

    return Spec(parse, "a size such as '4GiB' or 'auto'")


_PATH = parse_str(words="a file path")


@dataclasses.dataclass(frozen=True)
class InputConfig(Section):
    """The movie to analyse."""

    path: str | None = option(
        None,
        parse_optional(_PATH),
        "TIFF file, folder/glob of TIFFs, or Zarr store from `sofi-dask ingest`",
    )
    channel: int | None = option(
        None, parse_optional(parse_int(0)), "channel of a multi-channel TIFF"
    )


@dataclasses.dataclass(frozen=True)
class BleachingConfig(Section):
    """Bleaching correction by blocks of the total signal (pysofi's bleach_correct)."""

    enabled: bool = option(True, parse_bool(), "correct for bleaching")
    method: str = option(
        "blocks",
        parse_choice("blocks", "correct"),
        "blocks: statistics per block, then their unweighted mean (pysofi's block_ave_*); "
        "correct: subtract each block's mean from the movie first (pysofi's correct_bleaching)",
    )
    fbc: float = option(
        0.04, parse_float(gt=0, lt=1), "fraction of the signal drop that starts a new block"
    )
    smooth_kernel: int = option(
        251, parse_int(1, odd=True), "median-filter length for the total signal, frames"
    )
    min_block_frames: int = option(
        50,
        parse_int(1),
        "blocks shorter than this join their neighbour (1: pysofi's blocks, however short)",
    )


@dataclasses.dataclass(frozen=True)
class FinterpConfig(Section):
    """Fourier interpolation of every frame before the statistics (grid ((H-1)f+1, (W-1)f+1))."""

    enabled: bool = option(False, parse_bool(), "interpolate the movie")
    factor: int = option(2, parse_int(2), "interpolation factor f")


@dataclasses.dataclass(frozen=True)
class StatisticConfig(Section):
    """The SOFI statistic: central moments or cumulants of the chosen orders (one pass)."""

    kind: str = option("cumulants", parse_choice("cumulants", "moments"), "statistic")
    orders: tuple[int, ...] = option(
        (2, 3, 4),
        parse_int_tuple(None, 1, distinct=True, words=_ORDERS_WORDS),
        "orders to compute",
    )
    frames: tuple[int, int] | None = option(
        None,
        parse_optional(
            parse_int_tuple(
                2,
                0,
                distinct=True,
                increasing=True,
                words="[start, end] frame indices with start < end",
            )
        ),
        "frame window [start, end) (default: every frame)",
    )
    absolute: bool = option(
        True,
        parse_bool(),
        "deconvolve and compress |statistic| (SOFI images are magnitudes: cumulants of order "
        ">= 3 can be negative, and deconvolution floors negatives at eps); false: pysofi's "
        "signed input",
    )

    def _check(self) -> None:
        if max(self.orders) > _MAX_ORDER:
            raise ConfigError("orders", f"expected {_ORDERS_WORDS}, got {list(self.orders)!r}")
        object.__setattr__(self, "orders", tuple(sorted(self.orders)))


@dataclasses.dataclass(frozen=True)
class VideoConfig(Section):
    """SOFI video: the statistic over sliding frame windows instead of the whole movie."""

    enabled: bool = option(False, parse_bool(), "compute a SOFI video")
    window: int = option(100, parse_int(2), "frames per window")
    step: int | None = option(
        None, parse_optional(parse_int(1)), "frames between window starts (default: window)"
    )


@dataclasses.dataclass(frozen=True)
class NoiseFilterConfig(Section):
    """Gaussian noise filter along the window axis of a SOFI video (pysofi's noise_filter1d)."""

    enabled: bool = option(False, parse_bool(), "filter (needs video.enabled)")
    kernel_size: int = option(21, parse_int(1), "Gaussian kernel length, windows")
    sigma: float = option(2.0, parse_float(gt=0), "Gaussian sigma, windows")


@dataclasses.dataclass(frozen=True)
class PsfConfig(Section):
    """Point-spread function of the deconvolution."""

    kind: str = option("gaussian", parse_choice("gaussian", "file"), "PSF model")
    sigma_px: float = option(
        2.0, parse_float(gt=0), "Gaussian sigma in pixels of the deconvolved image"
    )
    size: int = option(51, parse_int(1, odd=True), "Gaussian PSF size, pixels (size x size)")
    path: str | None = option(
        None, parse_optional(_PATH), "PSF image (.npy or .tif) when kind = 'file'"
    )

    def _check(self) -> None:
        if self.kind == "file" and self.path is None:
            raise ConfigError("path", "expected a PSF file path because kind = 'file', got None")


@dataclasses.dataclass(frozen=True)
class DeconvolutionConfig(Section):
    """Shrinking-kernel deconvolution (pysofi's deconvsk)."""

    enabled: bool = option(True, parse_bool(), "deconvolve")
    psf: PsfConfig = option(PsfConfig(), None, "point-spread function")
    lam: float = option(1.5, parse_float(gt=1), "lambda of the shrinking kernels")
    iterations: int = option(20, parse_int(1), "Richardson-Lucy iterations per kernel")


@dataclasses.dataclass(frozen=True)
class LdrcConfig(Section):
    """Local dynamic range compression (pysofi's ldrc)."""

    enabled: bool = option(True, parse_bool(), "compress the dynamic range")
    window_size: tuple[int, int] = option(
        (25, 25),
        parse_int_tuple(2, 2, scalar_repeats=True, words="[rows, cols] ints >= 2 (or one int)"),
        "window size, pixels",
    )
    mask: str = option(
        "order2",
        _parse_mask(),
        "mask image: the average image or the SOFI image of an order (<= the highest order); "
        "'order2' is background-free, 'average' (pysofi's usual choice) lifts empty regions",
    )


@dataclasses.dataclass(frozen=True)
class OutputsConfig(Section):
    """What the run writes into its output folder."""

    path: str | None = option(None, parse_optional(_PATH), "output folder")
    zarr: bool = option(True, parse_bool(), "Zarr group with every kept stage (OME-NGFF)")
    tiff_float32: bool = option(True, parse_bool(), "float32 ImageJ TIFF per kept stage")
    tiff_rgb: bool = option(True, parse_bool(), "colour-mapped RGB ImageJ TIFF per kept stage")
    png: bool = option(True, parse_bool(), "colour-mapped PNG preview per kept stage")
    figures: bool = option(True, parse_bool(), "matplotlib figures as PNG")
    video_format: str = option(
        "gif", parse_choice("gif", "tiff", "mp4"), "SOFI video export (mp4 needs ffmpeg)"
    )
    cmap: str = option("pink", _parse_cmap(), "colormap of RGB outputs")
    percentiles: tuple[float, float] = option(
        (0.0, 100.0),
        parse_float_pair(0.0, 100.0, words="[low, high] with 0 <= low < high <= 100"),
        "display range of RGB outputs, percentiles",
    )
    keep_stages: tuple[str, ...] = option(STAGES, _parse_stages(), "stages written (if run)")


@dataclasses.dataclass(frozen=True)
class ComputeConfig(Section):
    """Where and how the graph runs."""

    scheduler: str = option(
        "threads", _parse_scheduler(), "local scheduler, cluster kind or scheduler address"
    )
    n_workers: int | None = option(None, parse_optional(parse_int(1)), "workers (default: auto)")
    threads_per_worker: int | None = option(
        None, parse_optional(parse_int(1)), "threads per worker (default: auto)"
    )
    memory_limit: str | None = option(None, parse_optional(_parse_memory()), "memory per worker")
    performance_report: str | None = option(
        None, parse_optional(_PATH), "write a dask performance report (HTML) here"
    )
    progress: bool = option(True, parse_bool(), "show progress bars")
    cluster_options: dict[str, Any] = option(
        {},
        parse_scalar_table("a table of names to strings, numbers or booleans"),
        "extra dask-jobqueue options for slurm/pbs (queue, walltime, account, ...)",
    )


@dataclasses.dataclass(frozen=True)
class PipelineConfig(Section):
    """The whole run; sections in the order of the chain.

    Examples
    --------
    >>> PipelineConfig().enabled_stages()
    ('average', 'statistic', 'deconvolution', 'ldrc')
    >>> PipelineConfig.from_dict({"deconvolution": {"lam": "abc"}})
    Traceback (most recent call last):
    ...
    sofi_dask.pipeline._config_parse.ConfigError: deconvolution.lam: expected a float > 1, got 'abc'
    """

    input: InputConfig = option(InputConfig(), None, "input")
    bleaching: BleachingConfig = option(BleachingConfig(), None, "bleaching")
    finterp: FinterpConfig = option(FinterpConfig(), None, "finterp")
    statistic: StatisticConfig = option(StatisticConfig(), None, "statistic")
    video: VideoConfig = option(VideoConfig(), None, "video")
    noise_filter_1: NoiseFilterConfig = option(NoiseFilterConfig(), None, "noise filter 1")
    deconvolution: DeconvolutionConfig = option(DeconvolutionConfig(), None, "deconvolution")
    noise_filter_2: NoiseFilterConfig = option(NoiseFilterConfig(), None, "noise filter 2")
    ldrc: LdrcConfig = option(LdrcConfig(), None, "ldrc")
    outputs: OutputsConfig = option(OutputsConfig(), None, "outputs")
    compute: ComputeConfig = option(ComputeConfig(), None, "compute")

    def _check(self) -> None:
        for name in ("noise_filter_1", "noise_filter_2"):
            if getattr(self, name).enabled and not self.video.enabled:
                raise ConfigError(
                    f"{name}.enabled",
                    "expected false unless video.enabled = true (the filter runs along the "
                    "window axis of a SOFI video), got True",
                )
        if self.ldrc.enabled and self.ldrc.mask.startswith("order"):
            order = int(self.ldrc.mask[5:])
            if order > max(self.statistic.orders):
                raise ConfigError(
                    "ldrc.mask",
                    f"expected 'average' or 'order<k>' with k <= the highest of "
                    f"statistic.orders {list(self.statistic.orders)}, got {self.ldrc.mask!r}",
                )
            if order == 1 and self.statistic.kind == "moments":
                raise ConfigError(
                    "ldrc.mask",
                    "expected 'average' or 'order<k>' with k >= 2 for statistic.kind = "
                    "'moments' (the first central moment is 0 everywhere), got 'order1'",
                )

    def enabled_stages(self) -> tuple[str, ...]:
        """The image stages that run, in order (``average`` and ``statistic`` always run)."""
        return tuple(s for s in STAGES if s in ("average", "statistic") or getattr(self, s).enabled)

    @property
    def final_stage(self) -> str:
        """The last stage that runs: the run's result."""
        return self.enabled_stages()[-1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe nested dict of every setting (lists for tuples, None kept)."""
        return section_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> PipelineConfig:
        """Validate a nested dict (missing keys take defaults); inverse of :meth:`to_dict`."""
        return parse_section(cls, data)


def parse_config(data: Mapping[str, Any] | PipelineConfig | None) -> PipelineConfig:
    """A ``PipelineConfig`` from a config, a nested dict, or None (the defaults)."""
    if isinstance(data, PipelineConfig):
        return data
    return PipelineConfig.from_dict(data)
