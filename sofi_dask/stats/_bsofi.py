"""Balanced SOFI (bSOFI): molecular parameter maps from cumulants of orders 2, 3 and 4.

Geissbuehler et al., "Mapping molecular statistics with balanced super-resolution optical
fluctuation imaging (bSOFI)", Optical Nanoscopy 1:4 (2012), with the estimator of the
authors' code (Leutenegger et al., EPFL, ``sofiParameters.m`` of the SOFI toolbox /
sofipackage). An emitter of brightness ``eps`` (signal per frame when on) blinking between on
and off with on-time ratio ``rho`` has the cumulants ``k_n = eps^n f_n(rho)`` with
``f_2 = rho (1 - rho)``, ``f_3 = f_2 (1 - 2 rho)``, ``f_4 = f_2 (1 - 6 rho + 6 rho^2)``. Where
one emitter dominates a pixel of the (resolution-matched) cumulant images, with the PSF factors
of the orders cancelling,

    K1 = k3 / k2 / (3/2)^c = eps (1 - 2 rho),     K2 = k4 / k2 / 2^c = eps^2 (1 - 6 rho + 6 rho^2),
    eps = sqrt(3 K1^2 - 2 K2),   rho = (1 - K1 / eps) / 2,   N = k2 / (eps^2 rho (1 - rho)),

``c`` the illumination/condition exponent of the toolbox (0 in the single-molecule limit, 1.5
for TIRF, 2 for full-field densely labelled samples). ``N`` (the number of emitters seen by the
pixel) is the *balanced* image: linear in the emitter density and free of the brightness and
blinking statistics that weight a plain SOFI image by ``eps^n f_n(rho)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import dask.array as da
import numpy as np

from sofi_dask._validation import check_real, fail

__all__ = ["BSofi", "bsofi", "linearise"]


@dataclasses.dataclass
class BSofi:
    """Result of :func:`bsofi` (lazy for dask input), all on the frame's pixel grid.

    Attributes
    ----------
    ratio : Array
        On-time ratio ``rho`` in (0, 1).
    brightness : Array
        Molecular brightness ``eps`` (signal per frame of an emitter when on).
    balanced : Array
        The balanced image ``N = k2 / (eps^2 rho (1 - rho))``.
    mask : Array
        bool: where the estimates are defined (elsewhere the maps hold 0).
    cumulants : dict[int, Array]
        The cumulants of orders 2..4 the maps were computed from (resolution-matched when a PSF
        sigma was given).
    """

    ratio: Any
    brightness: Any
    balanced: Any
    mask: Any
    cumulants: dict[int, Any]


def _xp(a: Any) -> Any:
    return da if isinstance(a, da.Array) else np


def linearise(image: Any, order: int) -> Any:
    """Linearised SOFI image ``|k_n|^(1/n)``: the brightness scaling ``eps^n`` of order ``n``
    undone (Geissbuehler et al. 2012), elementwise, lazy for dask input.

    Examples
    --------
    >>> linearise(np.array([16.0, -81.0]), 4).tolist()
    [2.0, 3.0]
    """
    if isinstance(order, bool) or not isinstance(order, int | np.integer) or order < 1:
        raise fail("order", "an integer >= 1", order)
    return _xp(image).abs(image) ** (1.0 / int(order))


def _grid_steps(images: dict[int, Any]) -> dict[int, int]:
    """Fine-grid step of each order: ``n`` for fine grids ``(n (H-1)+1, ...)`` (from
    :func:`xc_cumulants`), 1 for images of one shape on the pixel grid."""
    if not isinstance(images, dict) or not {2, 3, 4} <= set(images):
        raise fail("cumulants", "images of orders 2, 3 and 4", images)
    shapes = {n: tuple(images[n].shape) for n in (2, 3, 4)}
    if len(set(shapes.values())) == 1:
        return {2: 1, 3: 1, 4: 1}
    pixel = {n: tuple((s - 1) // n + 1 for s in shapes[n]) for n in (2, 3, 4)}
    fine = all(all((s - 1) % n == 0 for s in shapes[n]) for n in (2, 3, 4))
    if not fine or len(set(pixel.values())) != 1:
        expected = "images of one shape, or fine grids (n (H-1)+1) of one frame"
        raise fail("cumulants", expected, shapes)
    return {2: 2, 3: 3, 4: 4}


def _match_block(image: np.ndarray, sigma: Any, *, order: int, lam: float, step: int) -> np.ndarray:
    """Filter from the order's PSF ``U^n`` (OTF ``O_n``, variance sigma^2 / n) to one transfer
    function common to all orders, ``T = O_4 O_2^2 / (O_2^2 + lam)`` (the order-4 resolution,
    Wiener-regularised where order 2 carries no signal): ``H_n = (n / 4) T / O_n``, the factor
    keeping the peak of ``U^n`` (the OTF of a unit-peak Gaussian of variance ``v`` is
    ``2 pi v exp(-v k^2 / 2)``). With one ``T`` for every order, the PSF factors cancel exactly
    in the cumulant ratios. FFT over the image mirrored at its edges (``step``: fine pixels per
    frame pixel)."""
    sigma = float(np.asarray(sigma))
    pad = int(np.ceil(4 * sigma * step)) + 2
    padded = np.pad(np.asarray(image, dtype=np.float64), pad, mode="symmetric")
    h, w = padded.shape
    ky = 2 * np.pi * step * np.fft.fftfreq(h)[:, None]
    kx = 2 * np.pi * step * np.fft.rfftfreq(w)[None, :]
    s2 = (ky**2 + kx**2) * sigma**2
    o_2 = np.exp(-0.5 * s2 / 2)
    # T / O_n = O_2^2 / (O_2^2 + lam) * exp(-s2 (1/4 - 1/n) / 2), bounded for n = 2, 3, 4
    filt = (order / 4) * o_2**2 / (o_2**2 + lam) * np.exp(-0.5 * s2 * (0.25 - 1.0 / order))
    out = np.fft.irfft2(np.fft.rfft2(padded) * filt, s=(h, w))
    return out[pad:-pad, pad:-pad]


def _matched(image: Any, sigma: Any, order: int, lam: float, step: int) -> Any:
    """``image`` filtered by :func:`_match_block` as one block (a 2-D image: the FFT needs it
    whole; ``sigma`` may be a lazy 0-d array)."""
    kw = dict(order=order, lam=lam, step=step)
    if isinstance(image, da.Array):
        sig = sigma if isinstance(sigma, da.Array) else da.from_array(np.asarray(sigma, float))
        return da.blockwise(_match_block, "yx", image.rechunk(-1), "yx", sig, "", dtype=float, **kw)
    return _match_block(image, sigma, **kw)


def bsofi(
    cumulants: Any,
    *,
    psf_sigma: float | None = None,
    cond: float = 0.0,
    threshold: float = 0.05,
    regularization: float = 1e-3,
) -> BSofi:
    """Balanced SOFI: on-time ratio, brightness and balanced (density) maps.

    Follows the estimator of the bSOFI authors' code (see the module notes): from the cumulants
    ``k2, k3, k4`` at each pixel, ``eps = sqrt(3 K1^2 - 2 K2)``, ``rho = (1 - K1 / eps) / 2``
    and ``N = k2 / (eps^2 rho (1 - rho))`` with ``K1 = k3 / k2 / (3/2)^cond`` and
    ``K2 = k4 / k2 / 2^cond``. Cross-cumulants (:func:`xc_cumulants`) are free of the noise
    bias of auto-cumulants and are the recommended input.

    Parameters
    ----------
    cumulants : XCCumulants or dict[int, array]
        Cumulant images of orders 2, 3, 4: the result of :func:`xc_cumulants` (fine grids,
        sampled at the pixel positions; its PSF sigma is used), or auto-cumulant images of one
        shape (e.g. :func:`cumulants`). numpy or dask.
    psf_sigma : float, optional
        Gaussian PSF sigma in pixels. When known (given, or from ``XCCumulants``), every order
        is filtered to one common transfer function, the order-4 resolution Wiener-regularised
        where order 2 carries no signal (the bSOFI deconvolution step), on its own fine grid,
        so that the PSF factors cancel in the ratios also where emitters overlap; the
        brightness is then the emitter's peak signal per frame. Each image is filtered whole
        (one FFT of the 2-D image). ``None`` with a dict: no filtering (exact for isolated
        emitters: the PSF factors ``U^4 U^2 / (U^3)^2`` cancel at every pixel).
    cond : float
        Illumination/condition exponent ``c`` >= 0 (0: single-molecule limit).
    threshold : float
        Estimates are defined where ``k2 > threshold * max(k2)`` (in [0, 1)).
    regularization : float
        ``lam`` of the Wiener filter (> 0).

    Returns
    -------
    BSofi
        ``ratio``, ``brightness``, ``balanced``, ``mask``, ``cumulants``; no NaN or inf (0
        outside the mask). Lazy for dask input.

    Raises
    ------
    InputError
        Missing orders, shapes that do not match, bad parameters.

    Examples
    --------
    >>> rho, eps = 0.2, 10.0
    >>> f2 = rho * (1 - rho)
    >>> k = {2: np.full((2, 2), eps**2 * f2), 3: np.full((2, 2), eps**3 * f2 * (1 - 2 * rho)),
    ...      4: np.full((2, 2), eps**4 * f2 * (1 - 6 * rho + 6 * rho**2))}
    >>> out = bsofi(k)
    >>> round(float(out.ratio[0, 0]), 12), round(float(out.brightness[0, 0]), 9)
    (0.2, 10.0)
    """
    sigma = psf_sigma
    if hasattr(cumulants, "images") and hasattr(cumulants, "psf_sigma"):
        if sigma is None:
            sigma = cumulants.psf_sigma
        cumulants = cumulants.images
    steps = _grid_steps(cumulants)
    k = {n: cumulants[n] for n in (2, 3, 4)}
    cond = check_real(cond, "cond", minimum=0.0)
    threshold = check_real(threshold, "threshold", minimum=0.0, maximum=1.0)
    lam = check_real(regularization, "regularization", minimum=0.0, inclusive=False)
    if sigma is not None:
        if not isinstance(sigma, da.Array):
            sigma = check_real(sigma, "psf_sigma", minimum=0.0, inclusive=False)
        k = {n: _matched(k[n], sigma, n, lam, steps[n]) for n in (2, 3, 4)}
    # the ratios are taken at the frame's pixels (every n-th pixel of an order-n fine grid)
    k = {n: k[n][:: steps[n], :: steps[n]] for n in (2, 3, 4)}
    xp = _xp(k[2])
    k2, k3, k4 = (k[n] for n in (2, 3, 4))
    ok = k2 > threshold * k2.max()
    safe2 = xp.where(ok, k2, 1.0)
    big1 = k3 / safe2 / 1.5**cond
    big2 = k4 / safe2 / 2.0**cond
    b2 = 3 * big1**2 - 2 * big2
    ok = ok & (b2 > 0)
    bright = xp.sqrt(xp.where(ok, b2, 1.0))
    rho = 0.5 - 0.5 * big1 / bright
    ok = ok & (rho > 0) & (rho < 1)
    rho_safe = xp.where(ok, rho, 0.5)
    density = safe2 / (bright**2 * rho_safe * (1 - rho_safe))
    zero = 0.0
    return BSofi(
        ratio=xp.where(ok, rho_safe, zero),
        brightness=xp.where(ok, bright, zero),
        balanced=xp.where(ok, density, zero),
        mask=ok,
        cumulants=k,
    )
