"""The run's stages for the SOFI methods beyond pysofi: exponential/IIR bleaching correction,
cross-cumulants with virtual pixels and balanced SOFI maps (graph pieces for ``_graph``)."""

from __future__ import annotations

import logging
from typing import Any

import dask.array as da
import numpy as np

from sofi_dask.pipeline._config_models import PipelineConfig
from sofi_dask.pipeline._outputs import ImageSpec

logger = logging.getLogger(__name__)

#: bleaching.method values handled here (the others are pysofi's blocks)
FIT_METHODS = ("exp", "biexp", "iir")


def bleaching_method(work: Any, config: PipelineConfig, signal: Any) -> tuple[Any, Any]:
    """The movie corrected by ``bleaching.method`` (exp/biexp/iir, lazy) and the exponential
    fit (None for iir)."""
    from sofi_dask.stats._bleaching_fit import exp_bleaching_correction, iir_bleaching_correction

    b = config.bleaching
    if b.method == "iir":
        logger.info("bleaching correction: IIR high-pass, cut-off %g", b.iir_cutoff)
        return iir_bleaching_correction(work, cutoff=b.iir_cutoff), None
    model = "mono" if b.method == "exp" else "bi"
    work, fit = exp_bleaching_correction(work, model=model, total=signal)
    logger.info(
        "bleaching correction: %s-exponential fit, lifetimes %s frames", model, fit.lifetimes
    )
    return work, fit


def xc_statistic(
    work: Any, config: PipelineConfig, blocks: list[tuple[int, int]] | None
) -> tuple[dict[int, Any], Any]:
    """Cross-cumulant images per order (whole movie, or the unweighted mean over bleaching
    blocks, each block read once) and the result bsofi needs (images and PSF sigma)."""
    from sofi_dask.stats._xc_sofi import xc_cumulants

    st = config.statistic
    orders = tuple(st.orders)
    if config.video.enabled:
        from sofi_dask.stats._xc_sofi import xc_video

        video = xc_video(
            work, orders, window=config.video.window, step=config.video_step, psf_sigma=st.psf_sigma
        )
        return video, None
    if not blocks:
        res = xc_cumulants(work, orders, psf_sigma=st.psf_sigma)
        return dict(res.images), res
    parts = [xc_cumulants(work, orders, psf_sigma=st.psf_sigma, frames=ab) for ab in blocks]
    images = {k: sum(p.images[k] for p in parts) / len(parts) for k in orders}
    sigma = sum(p.psf_sigma for p in parts) / len(parts)
    return images, {"images": images, "psf_sigma": sigma}


def xc_spec(spec: ImageSpec, order: int) -> ImageSpec:
    """``spec`` on the order-``order`` fine grid (pixel size divided by the order)."""
    scale = tuple(spec.scale[:-2]) + tuple(s / order for s in spec.scale[-2:])
    attrs = dict(spec.attrs, virtual_pixel_factor=order)
    return ImageSpec(
        spec.name, spec.stage, spec.order, spec.axes, scale, spec.unit, spec.description, attrs
    )


def bsofi_maps(
    per_order: dict[int, Any], xc: Any, config: PipelineConfig, grid: float, unit: str | None
) -> list[tuple[da.Array, ImageSpec]]:
    """The balanced SOFI maps (on the statistic's pixel grid) with their specs."""
    from sofi_dask.stats._bsofi import bsofi

    if isinstance(xc, dict):  # block means: images and the mean PSF sigma
        source, sigma = xc["images"], xc["psf_sigma"]
    elif xc is not None:
        source, sigma = xc.images, xc.psf_sigma
    else:
        source, sigma = {k: per_order[k] for k in (2, 3, 4)}, config.statistic.psf_sigma
    maps = bsofi(source, psf_sigma=sigma)
    out = []
    for name, arr, what in (
        ("bsofi_ratio", maps.ratio, "on-time ratio map (bSOFI)"),
        ("bsofi_brightness", maps.brightness, "molecular brightness map (bSOFI)"),
        ("bsofi_balanced", maps.balanced, "balanced SOFI image (emitters per pixel, bSOFI)"),
    ):
        arr = arr if isinstance(arr, da.Array) else da.from_array(np.asarray(arr), chunks=-1)
        out.append((arr, ImageSpec(name, "bsofi", None, ("y", "x"), (grid, grid), unit, what)))
    return out
