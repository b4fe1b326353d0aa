"""pysofi's ``finterp`` module (Fourier interpolation) on :mod:`sofi_dask.finterp`.

An (H, W) image becomes ((H-1) f + 1, (W-1) f + 1) by trigonometric interpolation of its
mirror extension; the original samples are reproduced on the coarse grid.

Difference from pysofi (defect 8): pysofi returns the absolute value of the interpolation,
which flips the sign of negative values (cumulant images); here the real part. Both agree for
non-negative images wherever the interpolant is >= 0.

Examples
--------
>>> import numpy as np
>>> [a.shape for a in fourier_interp_array(np.ones((3, 4)), [1, 2, 3])]
[(3, 4), (5, 7), (7, 10)]
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from sofi_dask._validation import check_frames, check_positive_int
from sofi_dask.compat._common import as_frames, compute_all, movie_path, open_input

# native stage modules (by module path: the package re-exports functions of the
# same names, e.g. sofi_dask.ldrc and sofi_dask.cumulants)
from sofi_dask.image import _finterp as _finterp
from sofi_dask.io._open import open_movie
from sofi_dask.stats import _moments as _moments

logger = logging.getLogger(__name__)

__all__ = [
    "fourier_interp_array",
    "fourier_interp_tiff",
    "ft_matrix2d",
    "ift_matrix2d",
    "interpolate_image",
]


def ft_matrix2d(xrange: int, yrange: int) -> tuple[np.ndarray, np.ndarray]:
    """Fourier transform matrices for the x and y dimensions (``fx``, ``fy``).

    Native: :func:`sofi_dask.image._finterp.ft_matrix2d`.
    """
    return _finterp.ft_matrix2d(xrange, yrange)


def ift_matrix2d(xrange: int, yrange: int, interp_num: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse Fourier transform matrices onto the ``interp_num``-times finer grid.

    Native: :func:`sofi_dask.image._finterp.ift_matrix2d`.
    """
    return _finterp.ift_matrix2d(xrange, yrange, interp_num)


def interpolate_image(im: Any, fx: Any, fy: Any, ifx: Any, ify: Any, interp_num: int) -> np.ndarray:
    """Fourier-interpolate one image with explicit transform matrices.

    Native: :func:`sofi_dask.image._finterp.interpolate_image` (real part; pysofi the
    absolute value).

    Examples
    --------
    >>> im = np.arange(6.0).reshape(2, 3)
    >>> fx, fy = ft_matrix2d(4, 6); ifx, ify = ift_matrix2d(4, 6, 2)
    >>> bool(np.allclose(interpolate_image(im, fx, fy, ifx, ify, 2)[::2, ::2], im))
    True
    """
    return _finterp.interpolate_image(im, fx, fy, ifx, ify, interp_num)


def fourier_interp_array(im: Any, interp_num_lst: Any) -> list[np.ndarray]:
    """Interpolate one image by each factor of ``interp_num_lst``; a list of float64 images.

    Native: :func:`sofi_dask.fourier_interp_array` (real part; pysofi the absolute
    value, defect 8).
    """
    out = _finterp.fourier_interp_array(im, list(interp_num_lst))
    return compute_all(list(out))


def _tiff_input(filepath: Any, filename: Any) -> Path:
    """pysofi's ``filepath/filename + '.tif'``; a name that already has its suffix (or a
    Zarr store) is taken as it is."""
    try:
        return movie_path(filepath, os.fspath(filename) + ".tif")
    except FileNotFoundError:
        return movie_path(filepath, filename)


def fourier_interp_tiff(
    filepath: Any,
    filename: Any,
    interp_num_lst: Any,
    frames: Any = [],  # noqa: B006 (pysofi's default)
    save_option: bool = True,
    return_option: bool = False,
) -> list[np.ndarray] | None:
    """Fourier-interpolate every frame of a movie by each factor; save and/or return them.

    Each interpolated frame is rescaled to its original [min, max] and rounded to uint16
    (pysofi's output). Native: :func:`sofi_dask.fourier_interp_movie_to_tiff` (frames
    streamed in chunks) and :func:`sofi_dask.image._finterp.interpolate_movie_uint16`.

    Parameters
    ----------
    filepath : str
        Folder of the movie.
    filename : str
        Name without ``.tif`` (as pysofi); a name with its suffix, or a Zarr store, works too.
    interp_num_lst : list of int
        Interpolation factors.
    frames : list of int
        ``[start, end]``; ``[]`` for all frames.
    save_option : bool
        Write ``filepath/<name>_InterpNum<f>.tif`` for each factor.
    return_option : bool
        Return the interpolated movies (``f**2`` times the movie in memory each).

    Returns
    -------
    list of numpy.ndarray or None
        One uint16 (t, y', x') array per factor when ``return_option`` (pysofi: lists of
        frames).

    Notes
    -----
    pysofi appends to an existing ``_InterpNum`` file (a re-run doubles the stack); here the
    file is written atomically and replaced, never the input. With both options the returned
    arrays are read back from the written files (no second interpolation).
    """
    lazy = interp_outputs(_tiff_input(filepath, filename), interp_num_lst, frames, save_option)
    if not return_option:
        return None
    return [np.asarray(x.compute()) for x in lazy]


def interp_outputs(src: Path, interp_num_lst: Any, frames: Any, save_option: bool) -> list[Any]:
    """Interpolated uint16 movies of ``src``, one lazy dask array per factor.

    With ``save_option`` each is streamed into ``<stem>_InterpNum<f>.tif`` beside ``src``
    (atomic, replacing an earlier output, never the input) and the lazy array reads that
    file; otherwise it interpolates on demand.
    """
    movie = open_input(src)
    window = check_frames(as_frames(frames), movie.n_frames)
    data = movie if window == (0, movie.n_frames) else movie.data[window[0] : window[1]]
    stem = src.stem if src.suffix else src.name
    out: list[Any] = []
    for f in interp_num_lst:
        factor = check_positive_int(f, "interp_num_lst", integral_float=True)
        if save_option:
            dest = src.with_name(f"{stem}_InterpNum{factor}.tif")
            _finterp.fourier_interp_movie_to_tiff(data, dest, factor, overwrite=True)
            logger.info("wrote %s", dest)
            out.append(open_movie(dest).data)
        else:
            out.append(_finterp.interpolate_movie_uint16(data, factor))
    return out
