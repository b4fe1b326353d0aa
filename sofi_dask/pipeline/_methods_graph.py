"""The run's stages for the SOFI methods beyond pysofi: exponential/IIR bleaching correction,
cross-cumulants with virtual pixels and balanced SOFI maps (graph pieces for ``_graph``)."""

from __future__ import annotations

import logging
from typing import Any

import dask.array as da
import numpy as np

from sofi_dask.errors import ConfigError, InputError
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
    try:
        work, fit = exp_bleaching_correction(work, model=model, total=signal)
    except InputError as exc:  # noise, a spike, a rising signal: nothing to divide by
        raise ConfigError(
            "bleaching.method",
            f"{b.method!r} fits the total signal per frame, and the fit is no bleaching "
            f"decay ({exc}): the movie shows no bleaching to fit; use bleaching.method = "
            "'blocks' or bleaching.enabled = false",
        ) from None
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


def _put_statistic(stack: np.ndarray, out: np.ndarray, *, cumulants: bool) -> None:
    """A moment stack's statistic layers (cumulants when asked) written into ``out``."""
    from sofi_dask.stats._cumulant_kernels import cumulant_layers

    if cumulants:
        cumulant_layers(stack, out)
    else:
        out[...] = stack


def _stat_pack(
    stack: np.ndarray, *, frames: int, cumulants: bool, out: np.ndarray | None = None
) -> np.ndarray:
    """One block's ``[statistic stack, frames * mean image]``, written in place (into the
    first ``k + 1`` layers of ``out`` when given)."""
    k = int(stack.shape[0])
    if out is None:
        out = np.empty((k + 1, *stack.shape[1:]), dtype=np.float64)
    _put_statistic(stack, out[:k], cumulants=cumulants)
    np.multiply(frames, stack[0], out=out[k])
    return out


def block_average_tree(
    stacks: list[da.Array], windows: Any, cumulants: bool
) -> tuple[dict[int, da.Array], da.Array]:
    """The unweighted mean over the blocks of their statistic (``block_average``) and the
    frame-weighted sum of their mean images, from one sum tree of one packed stack per block
    (:func:`sofi_dask.stats._stack_tree.sum_tree`): a Python sum of lazy arrays is fused into
    one task with every block's stack as input, holding all of them until the last is done."""
    from sofi_dask.stats._stack_tree import sum_tree

    k = int(stacks[0].shape[0])
    packs = [
        da.map_blocks(
            _stat_pack,
            st if st.numblocks[0] == 1 else st.rechunk({0: -1}),
            frames=b - a,
            cumulants=cumulants,
            dtype=np.float64,
            chunks=((k + 1,), *st.chunks[1:]),
            meta=np.empty((0, 0, 0), dtype=np.float64),
        )
        for (a, b), st in zip(windows, stacks, strict=True)
    ]
    total, _ = sum_tree(packs)
    return {p: total[p] / len(stacks) for p in range(1, k)}, total[k]
