"""Pure numpy/scipy kernels of the Richardson-Lucy deconvolutions (no dask inside).

Conventions (MATLAB's ``psf2otf``): a PSF of shape ``(ph, pw)`` has its centre at
``(ph // 2, pw // 2)``; on a periodic grid its pixel ``(a, b)`` sits at offset
``(a - ph // 2, b - pw // 2)`` from the origin. Convolutions are circular on that grid.

The shrinking-kernel scheme works on the mirror extension (2H, 2W) of an image. When every
kernel is symmetric in each axis (a Gaussian PSF, for instance), the convolution of a mirror
extended image stays mirror symmetric and is diagonalised by the type-II DCT of the (H, W)
quadrant: the "dct" plan does in (H, W) exactly what the "fft" plan does in (2H, 2W), four times
cheaper. Both give the same numbers up to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

EPS = float(np.finfo(np.float64).eps)
SQRT_EPS = float(np.sqrt(EPS))

__all__ = [
    "EPS",
    "SkPlan",
    "dct_spectrum",
    "deconvsk_stack",
    "image_nbytes",
    "make_plan",
    "mirror_extend",
    "origin_to_psf",
    "psf_to_origin",
    "rl_blind",
    "shrinking_kernels",
]


def mirror_extend(images: np.ndarray) -> np.ndarray:
    """``[[x, fliplr x], [flipud x, rot180 x]]`` on the last two axes: (..., 2H, 2W)."""
    top = np.concatenate([images, images[..., ::-1]], axis=-1)
    return np.concatenate([top, top[..., ::-1, :]], axis=-2)


def _floor_eps(x: np.ndarray) -> np.ndarray:
    """Values <= 0 (and -0.0) become eps, in place; returns ``x``."""
    x[x <= 0] = EPS
    return x


def psf_to_origin(psf: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Place ``psf`` on a periodic grid of ``shape`` with its centre at the origin.

    Equal to MATLAB's zero-pad-then-circshift when ``shape >= psf.shape``; a PSF larger than the
    grid is wrapped (its aliased parts add up), which is what a circular convolution with the
    whole PSF means.
    """
    out = np.zeros(shape, dtype=np.float64)
    idx = np.ix_(*[(np.arange(p) - p // 2) % s for p, s in zip(psf.shape, shape, strict=True)])
    if all(p <= s for p, s in zip(psf.shape, shape, strict=True)):
        out[idx] = psf
    else:
        np.add.at(out, idx, psf)
    return out


def origin_to_psf(grid: np.ndarray, psf_shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`psf_to_origin` (MATLAB's circshift-then-crop of ``otf2psf``)."""
    idx = np.ix_(*[(np.arange(p) - p // 2) % s for p, s in zip(psf_shape, grid.shape, strict=True)])
    return grid[idx]


def shrinking_kernels(psf: np.ndarray, lam: float, iterations: int) -> np.ndarray:
    """Kernels ``(psf / max)^alpha_i`` with ``alpha_i = lam^(i+1) / (lam - 1)``, i = 0..n-1.

    Each kernel has its values <= 0 replaced by eps and is normalised to unit sum, as the
    Richardson-Lucy step that uses it expects. Shape ``(iterations, ph, pw)``, float64.
    """
    p0 = np.clip(np.asarray(psf, dtype=np.float64), 0.0, None)
    p0 = p0 / p0.max()
    out = np.empty((iterations,) + p0.shape, dtype=np.float64)
    for i in range(iterations):
        alpha = lam ** (i + 1) / (lam - 1.0)
        k = _floor_eps(p0**alpha)
        out[i] = k / k.sum()
    return out


def _axis_symmetric(grid: np.ndarray, rtol: float = 1e-12) -> bool:
    """True when a kernel placed at the origin is even in each axis (to ``rtol`` of its max)."""
    tol = rtol * float(np.abs(grid).max())
    for axis in range(grid.ndim):
        flipped = np.roll(np.flip(grid, axis=axis), 1, axis=axis)
        if float(np.abs(grid - flipped).max()) > tol:
            return False
    return True


@dataclass(frozen=True)
class SkPlan:
    """Transfer functions of the shrinking kernels for images of one shape.

    ``method`` is "dct" (spectra real, shape (n, H, W)) or "fft" (rfft2 spectra, shape
    (n, 2H, W + 1)); ``scale[i]`` is the kernel sum plus sqrt(eps) (MATLAB's ``scale``).
    ``spectra`` is None when they are built one step at a time from ``kernels``.
    """

    image_shape: tuple[int, int]
    method: str
    kernels: np.ndarray
    spectra: np.ndarray | None
    scale: np.ndarray

    @property
    def ext_shape(self) -> tuple[int, int]:
        return (2 * self.image_shape[0], 2 * self.image_shape[1])

    def spectrum(self, i: int, workers: int = 1, out: np.ndarray | None = None) -> np.ndarray:
        """Transfer function of kernel ``i``; ``out``: a (H, W) float64 buffer a DCT plan's
        spectrum is written into when it is not precomputed (reused from step to step)."""
        if self.spectra is not None:
            return self.spectra[i]
        if self.method == "dct":
            return dct_spectrum(self.kernels[i], self.image_shape, out=out)
        return _spectrum(self.kernels[i], self.ext_shape, self.method, workers)

    @property
    def nbytes(self) -> int:
        return 0 if self.spectra is None else int(self.spectra.nbytes)


def _spectrum(kernel: np.ndarray, ext_shape: tuple[int, int], method: str, workers: int):
    if method == "fft":
        return sfft.rfft2(psf_to_origin(kernel, ext_shape), workers=workers)
    # an even kernel has a real spectrum; its first quadrant diagonalises the type-II DCT
    return dct_spectrum(kernel, (ext_shape[0] // 2, ext_shape[1] // 2))


def dct_spectrum(
    kernel: np.ndarray, image_shape: tuple[int, int], out: np.ndarray | None = None
) -> np.ndarray:
    """First (H, W) quadrant of the spectrum of an axis-even ``kernel`` on the (2H, 2W) grid.

    For a kernel even in each axis the spectrum is real and separable in its sums:
    ``S[u, v] = sum_ab k[a, b] cos(pi u oy_a / H) cos(pi v ox_b / W)`` (offsets ``o`` from
    the centre), i.e. two small matrix products, ``Cy @ k @ Cx.T``: (H x ph x pw) +
    (H x pw x W) multiply-adds instead of an FFT of the (2H, 2W) grid, and no (2H, 2W)
    buffer. Equal to ``rfft2(psf_to_origin(k, (2H, 2W))).real[:H, :W]`` to rounding. ``out``:
    an (H, W) float64 array to write it into (the same numbers; no fresh image-sized array).

    Examples
    --------
    >>> k = np.outer([1.0, 2.0, 1.0], [1.0, 4.0, 1.0])
    >>> ref = np.fft.rfft2(psf_to_origin(k, (12, 10))).real[:6, :5]
    >>> bool(np.allclose(dct_spectrum(k, (6, 5)), ref))
    True
    """
    h, w = int(image_shape[0]), int(image_shape[1])
    ph, pw = kernel.shape
    oy = np.arange(ph) - ph // 2
    ox = np.arange(pw) - pw // 2
    cy = np.cos(np.pi * np.outer(np.arange(h), oy) / h)
    cx = np.cos(np.pi * np.outer(np.arange(w), ox) / w)
    return np.matmul(cy @ np.asarray(kernel, dtype=np.float64), cx.T, out=out)


#: full-size float64 buffers one image's deconvolution holds at its peak (measured with
#: tracemalloc: 7 for the DCT plan, 28 for the FFT plan on the (2H, 2W) extension)
WORK_BUFFERS = {"dct": 7, "fft": 28}


def image_nbytes(image_shape: tuple[int, int], method: str) -> int:
    """Peak working memory of :func:`deconvsk_stack` for one image (spectra not precomputed).

    Examples
    --------
    >>> image_nbytes((2048, 2048), "dct") // 2**20
    224
    """
    return WORK_BUFFERS[method] * int(image_shape[0]) * int(image_shape[1]) * 8


def spectra_nbytes(image_shape: tuple[int, int], n: int, method: str) -> int:
    """Bytes that :func:`make_plan` with ``precompute=True`` holds."""
    h, w = image_shape
    return n * (h * w * 8 if method == "dct" else 2 * h * (w + 1) * 16)


def _symmetry_grid(psf_shape: tuple[int, ...], grid_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Smallest periodic grid on which a PSF is even exactly when it is even on ``grid_shape``.

    A PSF of ``p`` samples covers offsets ``[-(p // 2), p - 1 - p // 2]``; on a grid of
    ``s >= 2 (p // 2) + 1`` samples these offsets and their negatives are distinct residues, so
    evenness does not depend on ``s``: the grid ``2 (p // 2) + 1`` decides it. A smaller grid
    (the PSF wraps) is checked as it is.
    """
    return tuple(min(s, 2 * (p // 2) + 1) for p, s in zip(psf_shape, grid_shape, strict=True))


def plan_method(kernels: np.ndarray, image_shape: tuple[int, int]) -> str:
    """ "dct" when every kernel is even in each axis on the (2H, 2W) grid, else "fft".

    Checked on the small equivalent grid of :func:`_symmetry_grid` (cost independent of the
    image size).
    """
    ext = (2 * image_shape[0], 2 * image_shape[1])
    grid = _symmetry_grid(kernels.shape[-2:], ext)
    ok = all(_axis_symmetric(psf_to_origin(k, grid)) for k in kernels)
    return "dct" if ok else "fft"


def make_plan(
    kernels: np.ndarray,
    image_shape: tuple[int, int],
    *,
    method: str | None = None,
    precompute: bool = True,
    workers: int = 1,
) -> SkPlan:
    """Spectra of ``kernels`` (from :func:`shrinking_kernels`) for images of ``image_shape``."""
    image_shape = (int(image_shape[0]), int(image_shape[1]))
    if method is None:
        method = plan_method(kernels, image_shape)
    ext = (2 * image_shape[0], 2 * image_shape[1])
    spectra = None
    if precompute:
        spectra = np.stack([_spectrum(k, ext, method, workers) for k in kernels])
    scale = kernels.reshape(len(kernels), -1).sum(axis=1) + SQRT_EPS
    return SkPlan(image_shape, method, kernels, spectra, scale)


def _rl_step_fft(x: np.ndarray, otf: np.ndarray, scale: float, workers: int) -> np.ndarray:
    # as the DCT step: products in place, transforms overwrite their input
    s = x.shape[-2:]
    spec = sfft.rfft2(x, workers=workers)
    spec *= otf
    buf = sfft.irfft2(spec, s=s, workers=workers, overwrite_x=True)  # reblurred estimate
    np.divide(x, _floor_eps(buf), out=buf)  # ratio
    spec = sfft.rfft2(buf, workers=workers)
    np.conjugate(spec, out=spec)  # spec * conj(otf) = conj(conj(spec) * otf)
    spec *= otf
    np.conjugate(spec, out=spec)
    buf = sfft.irfft2(spec, s=s, workers=workers, overwrite_x=True)  # back-projection
    buf *= x
    buf /= scale
    return np.maximum(buf, 0.0, out=buf)


def _rl_step_dct(
    x: np.ndarray, lam: np.ndarray, scale: float, workers: int, spare: np.ndarray | None = None
) -> np.ndarray:
    # one image-sized buffer for the whole step: transforms overwrite their input, products
    # and quotients are written in place (each fresh 32 MB array of a 2048 x 2048 image is
    # new pages for the kernel to fault in and zero: system time). ``spare``: a buffer of x's
    # shape to use for it (the previous step's input), instead of a new one.
    ax = (-2, -1)
    if spare is None:
        buf = sfft.dctn(x, axes=ax, workers=workers)
    else:  # the same transform of a copy, in place: the same numbers
        np.copyto(spare, x)
        buf = sfft.dctn(spare, axes=ax, workers=workers, overwrite_x=True)
    buf *= lam
    buf = sfft.idctn(buf, axes=ax, workers=workers, overwrite_x=True)  # reblurred estimate
    np.divide(x, _floor_eps(buf), out=buf)  # ratio
    buf = sfft.dctn(buf, axes=ax, workers=workers, overwrite_x=True)
    buf *= lam
    buf = sfft.idctn(buf, axes=ax, workers=workers, overwrite_x=True)  # back-projection
    buf *= x
    buf /= scale
    return np.maximum(buf, 0.0, out=buf)


def deconvsk_stack(images: np.ndarray, plan: SkPlan, workers: int = 1) -> np.ndarray:
    """Shrinking-kernel deconvolution of every image of a (n, H, W) stack; float64 (n, H, W).

    One Richardson-Lucy step per kernel (the image being deconvolved is the current estimate,
    floored at eps), on the mirror extension; the result is cropped back, values <= 0 -> eps.
    """
    x = np.array(images, dtype=np.float64, copy=True)
    h, w = x.shape[-2:]
    if (h, w) != plan.image_shape:
        raise ValueError(f"images have shape {(h, w)}, the plan was made for {plan.image_shape}")
    if plan.method == "fft":
        x = mirror_extend(x)
    spare = None
    # one buffer for the kernels' spectra when they are made step by step (a fresh 32 MB
    # array per step of a 2048 x 2048 image is fresh pages to fault in: system time)
    lam = np.empty((h, w)) if plan.method == "dct" and plan.spectra is None else None
    for i in range(len(plan.kernels)):
        _floor_eps(x)
        if plan.method == "fft":
            x = _rl_step_fft(x, plan.spectrum(i, workers), float(plan.scale[i]), workers)
            continue
        # DCT steps ping-pong between two buffers (no fresh image-sized array per step)
        spectrum = plan.spectrum(i, workers, out=lam)
        out = _rl_step_dct(x, spectrum, float(plan.scale[i]), workers, spare)
        spare = x if out is not x else None
        x = out
    return _floor_eps(np.ascontiguousarray(x[..., :h, :w]))


def rl_blind(
    observed: np.ndarray, psf: np.ndarray, iterations: int, workers: int = -1
) -> tuple[np.ndarray, np.ndarray]:
    """Blind Richardson-Lucy (MATLAB ``deconvblind`` without acceleration, damping, weights).

    Returns ``(psf, image)``. ``observed`` and ``psf`` are float64, values <= 0 already eps,
    ``psf`` normalised.
    """
    shape = observed.shape
    j = observed.copy()
    p = psf.copy()
    for _ in range(iterations):
        y = np.maximum(j, 0.0)
        b = np.maximum(p, 0.0)
        b /= b.sum()
        otf = sfft.rfft2(psf_to_origin(b, shape), workers=workers)
        reblur = _floor_eps(
            sfft.irfft2(otf * sfft.rfft2(y, workers=workers), s=shape, workers=workers)
        )
        cc = sfft.rfft2(observed / reblur, workers=workers)
        j_old = j
        back = sfft.irfft2(otf.conj() * cc, s=shape, workers=workers)
        j = np.maximum(y * back / (otf[0, 0].real + SQRT_EPS), 0.0)
        spec_old = sfft.rfft2(j_old, workers=workers)
        corr = sfft.irfft2(spec_old.conj() * cc, s=shape, workers=workers)
        # MATLAB: otf2psf(conj(H) .* fft(ones)) is the constant sum(J_old)
        scale = spec_old[0, 0].real + SQRT_EPS
        p = np.maximum(b * origin_to_psf(corr, b.shape) / scale, 0.0)
        p /= p.sum()
    return p, j
