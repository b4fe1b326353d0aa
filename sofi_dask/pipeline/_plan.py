"""The flat plan a pipeline run executes, derived from a validated ``PipelineConfig``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Stage names, as in ``PipelineConfig`` (``outputs.keep_stages``); image names are
#: ``<stage>_order<k>`` with the statistic's kind (``cumulants``/``moments``) for ``statistic``.
STAGES = ("average", "statistic", "noise_filter_1", "deconvolution", "noise_filter_2", "ldrc")


@dataclass(frozen=True)
class Plan:
    """Everything :func:`sofi_dask.run_pipeline` needs, already validated."""

    # input
    channel: int | None = None
    frames: tuple[int, int] | None = None
    # bleaching correction
    bleach: bool = True
    bleach_method: str = "blocks"
    fbc: float = 0.04
    bleach_kernel: int = 251
    bleach_min_frames: int = 50
    # Fourier interpolation
    finterp_factor: int = 1
    # reconstruction
    statistic: str = "cumulants"
    absolute: bool = True
    orders: tuple[int, ...] = (2, 3, 4)
    video: bool = False
    window: int = 100
    step: int | None = None
    # noise filters (video only): (kernel size, sigma) or None when off
    filter1: tuple[int, float] | None = None
    filter2: tuple[int, float] | None = None
    # deconvolution
    deconv: bool = True
    psf_sigma: float = 2.0
    psf_size: int = 51
    psf_path: str | None = None
    deconv_lambda: float = 1.5
    deconv_iterations: int = 20
    # LDRC
    ldrc: bool = True
    ldrc_window: tuple[int, int] = (25, 25)
    ldrc_mask: str = "order2"
    # outputs
    keep: tuple[str, ...] = STAGES
    zarr: bool = True
    tiff: bool = True
    rgb: bool = True
    png: bool = True
    figures: bool = True
    video_format: str = "gif"
    colormap: str = "pink"
    percentiles: tuple[float, float] = (0.0, 100.0)

    @property
    def max_order(self) -> int:
        return max(self.orders)

    def keeps(self, stage: str) -> bool:
        return stage in self.keep

    def psf(self) -> np.ndarray:
        """The deconvolution PSF: a Gaussian (MATLAB ``fspecial``) or the image in ``psf_path``."""
        if self.psf_path is None:
            from sofi_dask.image._masks import gauss2d_mask

            return gauss2d_mask((self.psf_size, self.psf_size), self.psf_sigma)
        path = Path(self.psf_path)
        if not path.is_file():
            raise FileNotFoundError(f"deconvolution.psf.path: {path} does not exist")
        if path.suffix.lower() == ".npy":
            psf = np.load(path, allow_pickle=False)
        else:
            import tifffile

            psf = tifffile.imread(path)
        psf = np.asarray(psf, dtype=np.float64)
        if psf.ndim != 2 or not np.all(np.isfinite(psf)) or psf.max() <= 0:
            raise ValueError(
                f"deconvolution.psf.path: expected a finite 2-D image with a positive maximum, "
                f"got shape {psf.shape} from {path}"
            )
        return psf


def plan_from_config(config: Any) -> Plan:
    """Translate a ``PipelineConfig`` (already validated) into a :class:`Plan`.

    Examples
    --------
    >>> from sofi_dask.pipeline._config import PipelineConfig
    >>> plan_from_config(PipelineConfig()).statistic
    'cumulants'
    """
    from sofi_dask.pipeline._config import parse_config

    c = parse_config(config)

    def nf(section: Any) -> tuple[int, float] | None:
        return (section.kernel_size, section.sigma) if section.enabled else None

    d = c.deconvolution
    o = c.outputs
    return Plan(
        channel=c.input.channel,
        frames=c.statistic.frames,
        bleach=c.bleaching.enabled,
        bleach_method=c.bleaching.method,
        fbc=c.bleaching.fbc,
        bleach_kernel=c.bleaching.smooth_kernel,
        bleach_min_frames=c.bleaching.min_block_frames,
        finterp_factor=c.finterp.factor if c.finterp.enabled else 1,
        statistic=c.statistic.kind,
        absolute=c.statistic.absolute,
        orders=tuple(c.statistic.orders),
        video=c.video.enabled,
        window=c.video.window,
        step=c.video.step,
        filter1=nf(c.noise_filter_1),
        filter2=nf(c.noise_filter_2),
        deconv=d.enabled,
        psf_sigma=d.psf.sigma_px,
        psf_size=d.psf.size,
        psf_path=d.psf.path if d.psf.kind == "file" else None,
        deconv_lambda=d.lam,
        deconv_iterations=d.iterations,
        ldrc=c.ldrc.enabled,
        ldrc_window=tuple(c.ldrc.window_size),
        ldrc_mask=c.ldrc.mask,
        keep=tuple(o.keep_stages),
        zarr=o.zarr,
        tiff=o.tiff_float32,
        rgb=o.tiff_rgb,
        png=o.png,
        figures=o.figures,
        video_format=o.video_format,
        colormap=o.cmap,
        percentiles=tuple(o.percentiles),
    )
