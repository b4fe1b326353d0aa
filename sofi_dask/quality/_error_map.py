"""SQUIRREL-style error map between a super-resolved image and its diffraction-limited reference.

Culley et al., "Quantitative mapping and minimization of super-resolution optical imaging
artifacts", Nat. Methods 15, 263 (2018). The super-resolved image ``S`` is converted back to a
diffraction-limited image by a resolution-scaling function (RSF, a Gaussian of width ``sigma``)
and a linear intensity map,

    I_RS = alpha * (S * G_sigma) + beta,

with ``alpha, beta`` the least-squares fit of ``S * G_sigma`` to the reference ``R`` for each
``sigma`` and ``sigma`` the minimiser of the RMS difference over ``[0, max_sigma]``. Then

    error map = |R - I_RS|,   RSE = sqrt(mean((R - I_RS)^2)),   RSP = Pearson(R, I_RS).

When ``S`` lives on a finer grid (Fourier interpolation by an integer factor ``m``), ``R`` is
resampled onto it by cubic spline interpolation (NanoPyx's ``ErrorMap`` does the same; its code
was the reference for these formulas) and ``sigma`` is in fine-grid pixels. SOFI cumulant images
of order ``n > 1`` scale with brightness to the power ``n``, so the linear intensity map is an
approximation there (as it is for SRRF): compare RSE/RSP between runs of one movie rather than as
absolute figures.

The search over ``sigma`` runs on the Fourier side: with the means removed, the least-squares
residual is ``var(R) - cov(B, R)^2 / var(B)`` for ``B = S * G_sigma``, and by Parseval both
``var(B)`` and ``cov(B, R)`` are sums over the half-plane transforms weighted by the transfer
function of ``scipy.ndimage.gaussian_filter``'s (truncated, normalised) kernel, which is
separable: ``H_y(sigma)^T |S(k)|^2 H_x(sigma)`` is a matrix product, so a whole grid of widths
costs about one blur of the image (the previous bounded search blurred it ~10 times). The
transform treats the image as periodic (``mode="nearest"`` for the blur itself): only a border
of ``4 sigma`` pixels differs. The minimiser on a grid of step ``max_sigma / 200`` is refined on a
grid of step 1e-3 around it; ``alpha``, ``beta``, the map and the scores are then computed
directly (one blur).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from typing import Any

import numpy as np
from scipy import fft, ndimage

from sofi_dask._validation import check_real, fail, shown
from sofi_dask.quality._common import Scratch, as_image, rfft2_into, rfft_weights
from sofi_dask.quality._spectra_kernels import folded_spectra

__all__ = ["ErrorMapResult", "Reference", "error_map", "measure_error_map"]


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


def _scores(
    width: float,
    ref: np.ndarray,
    ref_c: np.ndarray,
    image: np.ndarray,
    scratch: Scratch | None = None,
) -> ErrorMapResult:
    """The map and scores for a width: ``alpha, beta`` the least-squares fit of the blurred image
    to the reference (``ref_c``: the reference less its mean), ``RSE``, ``RSP`` and ``|R - I_RS|``.

    Two image-sized buffers (the blur, in ``scratch``'s when given; the centred blur, which
    becomes the map): the sums are dot products, ``I_RS`` is formed in the blur's own buffer, and
    the Pearson coefficient of ``I_RS = alpha B + beta`` with ``R`` is
    ``sign(alpha) cov / sqrt(var var_R)``.
    """
    out = None if scratch is None else scratch.take(1, image.shape)
    if width > 0:
        blurred = ndimage.gaussian_filter(image, width, mode="nearest", output=out)
    elif out is None:
        blurred = image.copy()
    else:
        blurred = out
        np.copyto(blurred, image)
    xm, ym = float(blurred.mean()), float(ref.mean())
    xc = np.subtract(blurred, xm)
    x, y = xc.reshape(-1), ref_c.reshape(-1)
    var, cov, ref_var = float(x @ x), float(x @ y), float(y @ y)
    alpha = cov / var if var > 0 else 0.0
    beta = ym - alpha * xm
    np.multiply(blurred, alpha, out=blurred)
    blurred += beta  # I_RS
    diff = np.subtract(ref, blurred, out=xc)
    rse = float(np.sqrt((x @ x) / x.size))
    denom = np.sqrt(var * ref_var)
    rsp = float(np.sign(alpha) * cov / denom) if alpha != 0 and denom > 0 else 0.0
    return ErrorMapResult(np.abs(diff, out=diff), rse, rsp, width, alpha, beta)


def _kernel_response(sigmas: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Transfer function at ``freqs`` (cycles per pixel) of ``gaussian_filter1d``'s kernel
    (``truncate=4``, normalised) for each width: ``(len(sigmas), len(freqs))``; 1 for width 0.

    All widths at once: the kernels' halves ``exp(-x^2 / 2 s^2)``, ``x = 1 .. radius(s)``, as
    rows of one matrix (zeros past each radius), the centre tap 1; a grid used again (the
    coarse grid of every image of one shape) is made once.
    """
    return _response(sigmas.tobytes(), freqs.tobytes())


@functools.lru_cache(maxsize=16)
def _response(sigmas_bytes: bytes, freqs_bytes: bytes) -> np.ndarray:
    sigmas = np.frombuffer(sigmas_bytes, dtype=np.float64)
    freqs = np.frombuffer(freqs_bytes, dtype=np.float64)
    out = np.ones((sigmas.size, freqs.size))
    radii = (4.0 * sigmas + 0.5).astype(np.int64)  # int(truncate * sigma + 0.5), as scipy's
    live = (sigmas > 0) & (radii > 0)
    if live.any():
        x = np.arange(1, int(radii[live].max()) + 1, dtype=np.float64)
        tail = np.exp(-0.5 * (x[None, :] / sigmas[live, None]) ** 2)
        tail[x[None, :] > radii[live, None]] = 0.0
        total = 1.0 + 2.0 * tail.sum(axis=1)  # the kernel's sum: centre 1, the mirrored tail
        out[live] = (1.0 + 2.0 * tail @ np.cos(2.0 * np.pi * np.outer(x, freqs))) / total[:, None]
    out.setflags(write=False)
    return out


class Reference:
    """A diffraction-limited reference prepared once for the error maps of several images: per
    grid (integer factor ``m`` of the images), the resampled reference, it less its mean and its
    half-plane transform (made when first asked for; thread-safe).

    Examples
    --------
    >>> ref = Reference(np.arange(64.0).reshape(8, 8))
    >>> ref.at(1)[1].mean() == 0, ref.at(2)[0].shape, ref.transform(1) is ref.transform(1)
    (np.True_, (16, 16), True)
    """

    def __init__(self, reference: Any) -> None:
        self.image = as_image(reference, "reference")
        self._grids: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._transforms: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def at(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """The reference on the grid of factor ``m`` (cubic spline) and it less its mean."""
        with self._lock:
            if m not in self._grids:
                ref = self.image
                if m > 1:
                    ref = ndimage.zoom(ref, m, order=3, mode="nearest", grid_mode=True)
                self._grids[m] = (ref, ref - ref.mean())
            return self._grids[m]

    def transform(self, m: int) -> np.ndarray:
        """The half-plane transform of the centred reference on the grid of factor ``m``."""
        ref_c = self.at(m)[1]
        with self._lock:
            if m not in self._transforms:
                self._transforms[m] = rfft2_into(ref_c, None, 0)
            return self._transforms[m]


class _FourierFit:
    """The least-squares residual of ``alpha * blur_sigma(S) + beta`` against ``R`` for many
    widths at once, from the half-plane transforms (see the module's notes)."""

    def __init__(
        self,
        ref_c: np.ndarray,
        image: np.ndarray,
        fr: np.ndarray | None = None,
        scratch: Scratch | None = None,
    ) -> None:
        """``ref_c``: the reference less its mean; ``fr``: its transform when already made."""
        ny, nx = image.shape
        out = None if scratch is None else scratch.take(0, image.shape)
        fs = rfft2_into(np.subtract(image, image.mean(), out=out), scratch, 0)
        fr = rfft2_into(ref_c, None, 0) if fr is None else fr
        # a stored column stands for its mirror too; the transfer functions are even in each
        # frequency: rows +fy and -fy fold into one (half the rows for the products with every
        # width's response); one pass over both transforms
        self.power, self.cross, self.ref_power = folded_spectra(fs, fr, rfft_weights(nx))
        self.fy = fft.fftfreq(ny)[: ny // 2 + 1]
        self.fx = fft.rfftfreq(nx)

    def residual(self, sigmas: np.ndarray) -> np.ndarray:
        hy = _kernel_response(sigmas, self.fy)
        hx = _kernel_response(sigmas, self.fx)
        cov = np.einsum("sx,sx->s", hy @ self.cross, hx)
        var = np.einsum("sx,sx->s", (hy * hy) @ self.power, hx * hx)
        with np.errstate(invalid="ignore", divide="ignore"):
            explained = np.where(var > 0, cov * cov / var, 0.0)
        return self.ref_power - explained

    def best(self, upper: float) -> float:
        coarse = np.linspace(0.0, upper, 201)
        i = int(np.argmin(self.residual(coarse)))
        step = coarse[1] - coarse[0] if upper > 0 else 0.0
        fine = np.arange(max(0.0, coarse[i] - step), min(upper, coarse[i] + step) + 5e-4, 1e-3)
        fine = np.clip(fine, 0.0, upper)
        return float(fine[int(np.argmin(self.residual(fine)))])


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
    return measure_error_map(Reference(reference), image, sigma, max_sigma)


def measure_error_map(
    reference: Reference,
    image: Any,
    sigma: float | None = None,
    max_sigma: float | None = None,
    scratch: Scratch | None = None,
) -> ErrorMapResult:
    """:func:`error_map` against a prepared reference (the quality report's images share one),
    the image-sized work arrays in ``scratch``'s buffers when given."""
    ref = reference.image
    img = as_image(image, "image")
    factor = img.shape[0] / ref.shape[0]
    if factor < 1 or factor != int(factor) or img.shape[1] != ref.shape[1] * int(factor):
        raise fail(
            "image",
            f"the shape of reference {ref.shape} times an integer factor >= 1",
            shown(f"shape {img.shape}"),
        )
    m = int(factor)
    upper = 5.0 * m if max_sigma is None else check_real(max_sigma, "max_sigma", minimum=0)
    if sigma is not None:
        width = check_real(sigma, "sigma", minimum=0)
    ref, ref_c = reference.at(m)
    if sigma is None:
        width = _FourierFit(ref_c, img, reference.transform(m), scratch).best(upper)
    return _scores(width, ref, ref_c, img, scratch)
