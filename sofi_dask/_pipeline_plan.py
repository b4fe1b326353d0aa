"""The flat, validated plan a pipeline run executes, derived from a ``PipelineConfig``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STAGES = ("average", "statistic", "filter1", "deconv", "filter2", "ldrc")


@dataclass(frozen=True)
class Plan:
    """Everything :func:`sofi_dask.pipeline.run_pipeline` needs, already validated.

    Stage names in ``keep``: ``average``, ``statistic`` (the moment or cumulant images),
    ``filter1``, ``deconv``, ``filter2``, ``ldrc``.
    """

    # input
    ingest: bool = True
    cache_dir: str | None = None
    channel: int | None = None
    chunks: Any = None
    frames: tuple[int, int] | None = None
    # bleaching correction
    bleach: bool = False
    fbc: float = 0.04
    bleach_kernel: int = 251
    # Fourier interpolation
    finterp: bool = False
    finterp_factor: int = 1
    # reconstruction
    statistic: str = "moments"
    orders: tuple[int, ...] = (2, 3, 4, 5, 6)
    video: bool = False
    window: int | None = None
    step: int | None = None
    # noise filters (video only)
    filter1: bool = True
    filter2: bool = True
    filter_size: int = 21
    filter_sigma: float = 2.0
    # deconvolution
    deconv: bool = True
    psf_size: int = 51
    psf_sigma: float = 2.0
    deconv_lambda: float = 1.5
    deconv_iterations: int = 20
    # LDRC
    ldrc: bool = True
    ldrc_window: tuple[int, int] = (25, 25)
    ldrc_mask: str = "average"
    # outputs
    keep: tuple[str, ...] = STAGES
    colormap: str = "pink"
    contrast: float = 1.0
    tiff: bool = True
    rgb: bool = True
    png: bool = True
    figures: bool = True

    @property
    def max_order(self) -> int:
        return max(self.orders)

    def keeps(self, stage: str) -> bool:
        return stage in self.keep
