"""pysofi's ``filtering`` module on :mod:`sofi_dask.filtering` and :mod:`sofi_dask.bleaching`.

Examples
--------
>>> filter1d_same([0.0, 1.0, 0.0, 0.0], [1.0, 2.0, 3.0]).tolist()
[1.0, 2.0, 3.0, 0.0]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from sofi_dask.compat._common import to_numpy
from sofi_dask.compat.masks import gauss1d_mask
from sofi_dask.errors import InputError
from sofi_dask.image import _filtering as _filtering

# native stage modules (by module path: the package re-exports functions of the
# same names, e.g. sofi_dask.ldrc and sofi_dask.cumulants)
from sofi_dask.stats import _bleaching as _bleaching

logger = logging.getLogger(__name__)

__all__ = ["filter1d_same", "med_smooth", "noise_filter1d"]


def filter1d_same(time_series: Any, noise_filter: Any) -> np.ndarray:
    """Convolve a series with a filter and keep the central part of the series' length.

    Native: :func:`sofi_dask.filter1d_same` with ``convention="pysofi"`` (pysofi's
    cropping, one sample left of MATLAB's ``conv(..., 'same')`` when the filter and the series
    lengths are both even; use the native function for MATLAB's convention).

    Examples
    --------
    >>> filter1d_same([1.0, 2.0, 3.0, 4.0], [0.5, 0.5]).tolist()
    [0.5, 1.5, 2.5, 3.5]
    """
    return _filtering.filter1d_same(time_series, noise_filter, convention="pysofi")


def med_smooth(ori_signal: Any, kernel_size: int = 251) -> np.ndarray:
    """Median filter of a 1-D series, padded by its mirror image at both ends.

    Native: :func:`sofi_dask.med_smooth`. pysofi returns a series of the wrong
    length when it is shorter than the kernel (defect 4); here always the input's length.

    Examples
    --------
    >>> med_smooth([5.0, 1.0, 9.0, 3.0, 7.0], kernel_size=3).tolist()
    [5.0, 5.0, 3.0, 7.0, 7.0]
    """
    return _bleaching.med_smooth(ori_signal, kernel_size)


def noise_filter1d(
    dset: Any,
    im_set: Any,
    noise_filter: Any = [],  # noqa: B006 (pysofi's default)
    filtername: str = "noise filter after M6",
    filenames: Any = None,
    return_option: bool = False,
    return_type: str = "dict",
) -> Any:
    """Filter a sequence of images (one per movie) pixel by pixel along the sequence.

    Native: :func:`sofi_dask.noise_filter1d` on the stack ``im_set[f] for f in
    filenames`` (``convention="pysofi"``); each filtered image is given to its data object by
    ``dset[f].add_filtered(image, filtername)``.

    Parameters
    ----------
    dset : dict
        filename -> object with ``add_filtered`` (e.g. :class:`sofi_dask.compat.PysofiData`).
    im_set : dict
        filename -> image (all the same shape).
    noise_filter : array_like
        1-D kernel; default (``[]``) ``gauss1d_mask((1, 21), 2)``.
    filtername : str
        Name passed to ``add_filtered``.
    filenames : list of str, optional
        The sequence order (default: the order of ``im_set``).
    return_option : bool
        Return the filtered images.
    return_type : {'dict', 'ndarray'}
        ``{filename: image}`` or the (n, y, x) stack.

    Returns
    -------
    dict, numpy.ndarray or None

    Notes
    -----
    pysofi keys the returned dict by the order of ``im_set`` even when ``filenames`` gives
    another order or a subset (the images end up under the wrong names); here each image is
    keyed by its own filename. Unknown ``return_type`` raises ValueError (pysofi returns None).

    Examples
    --------
    >>> dset = {f: PysofiData("data", f) for f in files}  # doctest: +SKIP
    >>> ims = {f: dset[f].moment_image(4) for f in files}  # doctest: +SKIP
    >>> out = noise_filter1d(dset, ims, return_option=True)  # doctest: +SKIP
    """
    if return_type not in ("dict", "ndarray"):
        raise InputError(
            f"parameter 'return_type': expected 'dict' or 'ndarray', got {return_type!r}"
        )
    if not isinstance(im_set, Mapping) or not im_set:
        raise InputError("parameter 'im_set': expected a non-empty dict {filename: image}")
    names = list(im_set) if filenames is None else list(filenames)
    missing = [f for f in names if f not in im_set]
    if missing:
        raise InputError(f"filenames: not in im_set: {missing}")
    missing = [f for f in names if f not in dset]
    if missing:
        raise InputError(f"dset: has no data object for {missing}")
    kernel = gauss1d_mask((1, 21), 2) if len(noise_filter) == 0 else noise_filter
    stack = np.stack([np.asarray(to_numpy(im_set[f]), dtype=np.float64) for f in names])
    filtered = to_numpy(_filtering.noise_filter1d(stack, kernel, axis=0, convention="pysofi"))
    for k, f in enumerate(names):
        dset[f].add_filtered(filtered[k], filtername)
    if not return_option:
        return None
    if return_type == "ndarray":
        return filtered
    return {f: filtered[k] for k, f in enumerate(names)}
