"""SQUIRREL-style error map between a super-resolved image and its diffraction-limited reference.

Culley et al., "Quantitative mapping and minimization of super-resolution optical imaging
artifacts", Nat. Methods 15, 263 (2018). The super-resolved image ``S`` is converted back to a
diffraction-limited image by a resolution-scaling function (RSF, a Gaussian of width ``sigma``)
and a linear intensity map,

    I_RS = alpha * (S * G_sigma) + beta,

with ``alpha, beta`` the least-squares fit of ``S * G_sigma`` to the reference ``R`` for each
``sigma`` and ``sigma`` the minimiser of the RMS difference (bounded 1-D search). Then

    error map = |R - I_RS|,   RSE = sqrt(mean((R - I_RS)^2)),   RSP = Pearson(R, I_RS).

When ``S`` lives on a finer grid (Fourier interpolation by an integer factor ``m``), ``R`` is
resampled onto it by cubic spline interpolation (NanoPyx's ``ErrorMap`` does the same; its code
was the reference for these formulas) and ``sigma`` is in fine-grid pixels. SOFI cumulant images
of order ``n > 1`` scale with brightness to the power ``n``, so the linear intensity map is an
approximation there (as it is for SRRF): compare RSE/RSP between runs of one movie rather than as
absolute figures.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from scipy import ndimage, optimize

from sofi_dask._validation import check_real, fail, shown
from sofi_dask.quality._common import as_image

__all__ = ["ErrorMapResult", "error_map"]


@dataclasses.dataclass(frozen=True)
class ErrorMapResult:
    """Error map and global scores.

    Attributes
    ----------
    error_map : numpy.ndarray
        ``|R - I_RS|`` on the grid of the super-resolved image.
    rse : float
        Resolution-scaled error (RMS of the difference, in the reference's units).
    rsp : float
        Resolution-scaled Pearson coefficient.
    sigma : float
        Width of the fitted Gaussian RSF in pixels of the super-resolved image.
    alpha, beta : float
        The intensity map ``I_RS = alpha * blur(S) + beta``.
    """

    error_map: np.ndarray
    rse: float
    rsp: float
    sigma: float
    alpha: float
    beta: float

    def to_dict(self) -> dict[str, float]:
        """The scalar scores (JSON-ready).

        Examples
        --------
        >>> img = np.random.default_rng(0).random((16, 16))
        >>> sorted(error_map(img, img).to_dict())
        ['alpha', 'beta', 'rse', 'rsp', 'sigma']
        """
        return {
            "rse": self.rse,
            "rsp": self.rsp,
            "sigma": self.sigma,
            "alpha": self.alpha,
            "beta": self.beta,
        }


def _fit(sigma: float, ref: np.ndarray, image: np.ndarray) -> tuple[float, float, np.ndarray]:
    blurred = ndimage.gaussian_filter(image, sigma, mode="nearest") if sigma > 0 else image
    x = blurred.ravel()
    y = ref.ravel()
    xm, ym = x.mean(), y.mean()
    var = float(((x - xm) ** 2).sum())
    alpha = float(((x - xm) * (y - ym)).sum() / var) if var > 0 else 0.0
    beta = float(ym - alpha * xm)
    return alpha, beta, alpha * blurred + beta


def _rmse(sigma: float, ref: np.ndarray, image: np.ndarray) -> float:
    _, _, scaled = _fit(sigma, ref, image)
    return float(np.sqrt(np.mean((scaled - ref) ** 2)))


def error_map(
    reference: Any,
    image: Any,
    *,
    sigma: float | None = None,
    max_sigma: float | None = None,
) -> ErrorMapResult:
    """Error map, RSE and RSP of ``image`` against a diffraction-limited ``reference``.

    Parameters
    ----------
    reference : array, shape (y, x)
        Diffraction-limited reference (the average image of the movie).
    image : array, shape (m*y, m*x)
        Super-resolved image on the same field of view, ``m`` >= 1 an integer factor.
    sigma : float, optional
        Fixed RSF width in pixels of ``image``; default: fitted.
    max_sigma : float, optional
        Upper bound of the fitted width (default ``5 m`` pixels).

    Returns
    -------
    ErrorMapResult

    Raises
    ------
    sofi_dask.errors.InputError
        Images not 2-D/finite, or ``image``'s shape not an integer multiple of ``reference``'s.

    Examples
    --------
    >>> from scipy.ndimage import gaussian_filter
    >>> truth = np.zeros((32, 32)); truth[10, 12] = truth[20, 18] = 1.0
    >>> sharp = gaussian_filter(truth, 1.0)
    >>> ref = 3.0 * gaussian_filter(truth, 2.0) + 0.5
    >>> result = error_map(ref, sharp)
    >>> round(result.sigma, 1), round(result.alpha, 1), round(result.rsp, 3)
    (1.7, 3.0, 1.0)
    """
    ref = as_image(reference, "reference")
    img = as_image(image, "image")
    factor = img.shape[0] / ref.shape[0]
    if factor < 1 or factor != int(factor) or img.shape[1] != ref.shape[1] * int(factor):
        raise fail(
            "image",
            f"the shape of reference {ref.shape} times an integer factor >= 1",
            shown(f"shape {img.shape}"),
        )
    m = int(factor)
    if m > 1:
        ref = ndimage.zoom(ref, m, order=3, mode="nearest", grid_mode=True)
    upper = 5.0 * m if max_sigma is None else check_real(max_sigma, "max_sigma", minimum=0)
    if sigma is None:
        found = optimize.minimize_scalar(
            _rmse, bounds=(0.0, upper), args=(ref, img), method="bounded", options={"xatol": 1e-3}
        )
        width = float(found.x)
    else:
        width = check_real(sigma, "sigma", minimum=0)
    alpha, beta, scaled = _fit(width, ref, img)
    diff = ref - scaled
    rse = float(np.sqrt(np.mean(diff**2)))
    rs, rr = scaled - scaled.mean(), ref - ref.mean()
    denom = float(np.sqrt((rs**2).sum() * (rr**2).sum()))
    rsp = float((rs * rr).sum() / denom) if denom > 0 else 0.0
    return ErrorMapResult(np.abs(diff), rse, rsp, width, alpha, beta)
