"""pysofi's ``deconvsk`` module (shrinking-kernel deconvolution) on :mod:`sofi_dask.deconv`.

Same names, parameters and defaults as pysofi v0.1.1-alpha; arrays in, numpy arrays out.

Examples
--------
>>> import numpy as np
>>> from sofi_dask.compat import masks
>>> out = deconvsk(masks.gauss2d_mask((7, 7), 1.0), np.ones((16, 12)), 1.5, 5)
>>> out.shape, bool(np.allclose(out, 1.0))
((16, 12), True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sofi_dask.compat._common import to_numpy
from sofi_dask.errors import InputError

# native stage modules (by module path: the package re-exports functions of the
# same names, e.g. sofi_dask.ldrc and sofi_dask.cumulants)
from sofi_dask.image import _deconv as _deconv

__all__ = ["corelucy", "deconvsk", "otf2psf", "psf2otf", "richardson_lucy", "zero_pad"]


def corelucy(image: Any, h: Any) -> np.ndarray:
    """Core of a Richardson-Lucy step, ``fftn(image / reblurred)`` (pysofi's convention).

    Native: :func:`sofi_dask.corelucy` with the estimate as the observed image.

    Parameters
    ----------
    image : ndarray
        Current estimate.
    h : ndarray
        OTF on the grid of ``image`` (:func:`psf2otf`).

    Returns
    -------
    numpy.ndarray
        Complex spectrum.

    Examples
    --------
    >>> core = corelucy(np.full((4, 4), 2.0), psf2otf(np.ones((1, 1)), (4, 4)))
    >>> bool(np.allclose(core[0, 0], 16.0))
    True
    """
    return _deconv.corelucy(image, h)


def deconvsk(est_psf: Any, input_im: Any, deconv_lambda: float, deconv_iter: int) -> np.ndarray:
    """Shrinking-kernel deconvolution: one Richardson-Lucy step per kernel ``U**alpha_i``.

    Native: :func:`sofi_dask.deconvsk` (``image, psf, lam=, iterations=``: note the
    argument order). A dask image stays lazy until here and is computed. Unlike pysofi
    (defect 7) a PSF larger than twice the image works.

    Parameters
    ----------
    est_psf : ndarray
        Estimated PSF (2-D).
    input_im : ndarray
        Image to deconvolve (2-D; a (n, y, x) stack is deconvolved image by image).
    deconv_lambda : float
        Exponent base, > 1.
    deconv_iter : int
        Number of kernels (one RL iteration each), >= 1.

    Returns
    -------
    numpy.ndarray
        float64, the shape of ``input_im``.

    Examples
    --------
    >>> deconvsk(np.ones((3, 3)), np.ones((8, 8)), 1.5, 2).shape
    (8, 8)
    """
    return to_numpy(_deconv.deconvsk(input_im, est_psf, lam=deconv_lambda, iterations=deconv_iter))


def otf2psf(otf: Any, shape: Any) -> np.ndarray:
    """PSF of an OTF (MATLAB ``otf2psf``). Native: :func:`sofi_dask.otf2psf`.

    Examples
    --------
    >>> p = np.arange(6.0).reshape(2, 3)
    >>> bool(np.allclose(otf2psf(psf2otf(p, (5, 6)), p.shape), p))
    True
    """
    return _deconv.otf2psf(otf, shape)


def psf2otf(psf: Any, shape: Any) -> np.ndarray:
    """OTF of a PSF (MATLAB ``psf2otf``). Native: :func:`sofi_dask.psf2otf`.

    Examples
    --------
    >>> psf2otf(np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]]), (4, 4)).tolist()[0]
    [1.0, 1.0, 1.0, 1.0]
    """
    return _deconv.psf2otf(psf, shape)


def richardson_lucy(image: Any, psf: Any, iterations: int = 10, **kwargs: Any) -> tuple:
    """Blind Richardson-Lucy deconvolution; returns ``(P, J)``: restored PSF and image.

    Native: :func:`sofi_dask.richardson_lucy`, MATLAB ``deconvblind``'s update
    (``ratio = observed / reblurred estimate``, ``J <- J * correlate(B, ratio) / scale``).
    pysofi swaps the two images from the second iteration on (its ratio is estimate /
    reblurred estimate, multiplied by the observed image), so with ``iterations > 1`` its
    result differs (~2 % after 4 iterations on a SOFI image); the first iteration, the
    only one :func:`deconvsk` uses per kernel, is the same. pysofi accepts and ignores extra
    keyword arguments; here they are refused with a clear error (a typo would otherwise pass
    silently), except ``workers`` (scipy.fft threads), passed on.

    Examples
    --------
    >>> img = np.zeros((8, 8)); img[4, 4] = 1.0
    >>> p, j = richardson_lucy(img, np.ones((1, 1)), 3)
    >>> bool(np.isclose(j.sum(), 1.0, rtol=1e-6))
    True
    """
    extra = set(kwargs) - {"workers"}
    if extra:
        raise InputError(f"richardson_lucy: unknown keyword argument(s) {sorted(extra)}")
    return _deconv.richardson_lucy(image, psf, iterations, **kwargs)


def zero_pad(image: Any, shape: Any, position: str = "center") -> np.ndarray:
    """Extend ``image`` with zeros to ``shape``; ``position`` 'center' (default) or 'corner'.

    Native: :func:`sofi_dask.zero_pad` (whose default is 'corner'). pysofi returns the
    input object itself when no padding is needed; here always an array.

    Examples
    --------
    >>> zero_pad(np.ones((1, 2)), (3, 4)).tolist()
    [[0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    return _deconv.zero_pad(image, shape, position=position)
