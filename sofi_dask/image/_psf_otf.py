"""MATLAB-style PSF/OTF helpers of the deconvolution: ``zero_pad``, ``psf2otf``, ``otf2psf``,
``corelucy`` (re-exported by :mod:`sofi_dask.deconv`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft as sfft

from sofi_dask._validation import fail, shown
from sofi_dask.image import _deconv_kernels as K

__all__ = ["corelucy", "otf2psf", "psf2otf", "zero_pad"]


def zero_pad(image: Any, shape: Any, position: str = "corner") -> np.ndarray:
    """Extend ``image`` with zeros to ``shape``.

    Parameters
    ----------
    image : array_like
        Input array (any number of dimensions).
    shape : sequence of int
        Output shape, at least ``image.shape`` on every axis.
    position : {"corner", "center"}
        Where the input goes: the top-left corner, or the centre (then every axis must grow by an
        even number of samples).

    Returns
    -------
    numpy.ndarray
        The padded array, same dtype as ``image``.

    Raises
    ------
    ValueError
        ``shape`` has the wrong length, a non-positive or too small entry, or odd growth with
        ``position="center"``; ``position`` unknown.

    Examples
    --------
    >>> zero_pad(np.ones((1, 2)), (3, 4), position="center").tolist()
    [[0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    image = np.asarray(image)
    target = tuple(int(s) for s in np.atleast_1d(shape))
    if len(target) != image.ndim:
        raise fail("shape", f"{image.ndim} entries", shape)
    if any(s <= 0 for s in target):
        raise fail("shape", "positive sizes", shape)
    grow = [t - s for t, s in zip(target, image.shape, strict=True)]
    if any(g < 0 for g in grow):
        raise fail("shape", f"at least the image shape {image.shape}", target)
    if position == "center":
        if any(g % 2 for g in grow):
            raise fail(
                "shape",
                f"the parity of the image shape {image.shape} on every axis (position='center' "
                "needs an even growth)",
                target,
            )
        offset = [g // 2 for g in grow]
    elif position == "corner":
        offset = [0] * image.ndim
    else:
        raise fail("position", "'corner' or 'center'", position)
    out = np.zeros(target, dtype=image.dtype)
    out[tuple(slice(o, o + s) for o, s in zip(offset, image.shape, strict=True))] = image
    return out


def _real_if_close(x: np.ndarray) -> np.ndarray:
    """MATLAB's rule: drop the imaginary part when it is within the FFT's rounding error."""
    n_ops = float(np.sum(x.size * np.log2(np.maximum(x.shape, 1))))
    return np.real_if_close(x, tol=max(n_ops, 1.0))


def psf2otf(psf: Any, shape: Any = None) -> np.ndarray:
    """Optical transfer function of a PSF (MATLAB ``psf2otf``).

    The PSF is zero-padded to ``shape`` and circularly shifted so that its centre pixel
    ``(ph // 2, pw // 2)`` is at the origin, then Fourier transformed.

    Parameters
    ----------
    psf : array_like
        Point-spread function (any number of dimensions).
    shape : sequence of int, optional
        Output shape, at least ``psf.shape`` (default: ``psf.shape``).

    Returns
    -------
    numpy.ndarray
        The OTF; real when its imaginary part is within rounding error (as MATLAB), else complex.

    Raises
    ------
    ValueError
        ``shape`` has the wrong length or is smaller than the PSF.

    Examples
    --------
    >>> psf2otf(np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]]), (4, 4)).tolist()[0]
    [1.0, 1.0, 1.0, 1.0]
    """
    psf = np.asarray(psf, dtype=np.float64)
    target = psf.shape if shape is None else tuple(int(s) for s in np.atleast_1d(shape))
    if len(target) != psf.ndim:
        raise fail("shape", f"{psf.ndim} entries", shape)
    if any(t < p for t, p in zip(target, psf.shape, strict=True)):
        raise fail("shape", f"at least the PSF shape {psf.shape}", target)
    if not np.any(psf):
        return np.zeros(target)
    return _real_if_close(sfft.fftn(K.psf_to_origin(psf, target)))


def otf2psf(otf: Any, shape: Any = None) -> np.ndarray:
    """Point-spread function of an OTF (MATLAB ``otf2psf``), the inverse of :func:`psf2otf`.

    Parameters
    ----------
    otf : array_like
        Optical transfer function.
    shape : sequence of int, optional
        Shape of the PSF to return, at most ``otf.shape`` (default: ``otf.shape``).

    Returns
    -------
    numpy.ndarray
        Real PSF of ``shape`` whose centre ``(ph // 2, pw // 2)`` came from the origin.

    Raises
    ------
    ValueError
        ``shape`` has the wrong length or is larger than the OTF.

    Examples
    --------
    >>> p = np.arange(6.0).reshape(2, 3)
    >>> bool(np.allclose(otf2psf(psf2otf(p, (5, 6)), p.shape), p))
    True
    """
    otf = np.asarray(otf)
    target = otf.shape if shape is None else tuple(int(s) for s in np.atleast_1d(shape))
    if len(target) != otf.ndim:
        raise fail("shape", f"{otf.ndim} entries", shape)
    if any(t > o or t < 1 for t, o in zip(target, otf.shape, strict=True)):
        raise fail("shape", f"positive sizes, at most the OTF shape {otf.shape}", target)
    if not np.any(otf):
        return np.zeros(target)
    grid = np.real(_real_if_close(sfft.ifftn(otf)))
    return K.origin_to_psf(grid, target)


def corelucy(image: Any, otf: Any, observed: Any = None) -> np.ndarray:
    """Core of a Richardson-Lucy step: ``fftn(observed / reblurred)``.

    ``reblurred = real(ifftn(otf * fftn(image)))`` with values <= 0 set to eps (MATLAB's
    ``corelucy`` without damping, weights or read-out noise).

    Parameters
    ----------
    image : array_like
        Current estimate.
    otf : array_like
        OTF of the PSF on the grid of ``image`` (see :func:`psf2otf`).
    observed : array_like, optional
        The observed image (default: ``image``, pysofi's convention).

    Returns
    -------
    numpy.ndarray
        Complex spectrum of the ratio, shape of ``image``.

    Examples
    --------
    >>> core = corelucy(np.full((4, 4), 2.0), psf2otf(np.ones((1, 1)), (4, 4)))
    >>> bool(np.allclose(core[0, 0], 16.0))
    True
    """
    image = np.asarray(image, dtype=np.float64)
    otf = np.asarray(otf)
    if otf.shape != image.shape:
        raise fail("otf", f"the image shape {image.shape}", shown(f"shape {otf.shape}"))
    ratio_num = image if observed is None else np.asarray(observed, dtype=np.float64)
    reblur = np.real(sfft.ifftn(otf * sfft.fftn(image)))
    reblur[reblur <= 0] = K.EPS
    return sfft.fftn(ratio_num / reblur)
