"""pysofi's ``PysofiData`` class on sofi_dask's lazy engine.

A ``PysofiData(filepath, filename)`` names one movie (a TIFF file or a Zarr store). It opens the
movie lazily (:func:`sofi_dask.io.open_movie`: dimensions from the header, nothing read) and
keeps only the lazy handle and the small result images: never the movie. Every method is one
streaming pass over the frames at most, all orders at once; a pass already made is reused
(moments of orders up to the highest computed, the average image) while the file is unchanged.

Examples
--------
>>> d = PysofiData("data", "movie.tif")  # doctest: +SKIP
>>> d.n_frames, d.xdim, d.ydim  # doctest: +SKIP
(5000, 128, 128)
>>> k_set = d.cumulants_images(highest_order=6)  # doctest: +SKIP
>>> sofi6 = d.ldrc(order=6, input_im=d.deconvsk(input_im=k_set[6]))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import numbers
import os
from typing import Any

import numpy as np

from sofi_dask._validation import check_frames, check_positive_int
from sofi_dask.compat import deconvsk as _deconvsk
from sofi_dask.compat import finterp as _finterp
from sofi_dask.compat import ldrc as _ldrc
from sofi_dask.compat import masks as _masks
from sofi_dask.compat import reconstruction as _rec
from sofi_dask.compat._common import (
    as_frames,
    as_image,
    compute_all,
    movie_path,
    open_input,
    to_numpy,
    window_moments,
)
from sofi_dask.errors import InputError

# native stage modules (by module path: the package re-exports functions of the
# same names, e.g. sofi_dask.ldrc and sofi_dask.cumulants)
from sofi_dask.stats import _bleaching as _bleaching
from sofi_dask.stats import _cumulants as _cum
from sofi_dask.stats import _moments as _moments

logger = logging.getLogger(__name__)

__all__ = ["PysofiData"]

_DEFAULT_PSF = _masks.gauss2d_mask((51, 51), 2)


class PysofiData:
    """One movie and its SOFI results (pysofi's ``PysofiData``), computed out of core.

    Parameters
    ----------
    filepath : str
        Folder of the movie.
    filename : str
        Name of the TIFF file or Zarr store in ``filepath``.

    Attributes
    ----------
    filename, filepath : str
    ave : ndarray or None
        Average image (after :meth:`average_image`).
    finterp_factor : int
        Interpolation factor of the last interpolated moment image (1: none).
    morder_lst, morder_finterp_lst : list of int
        Orders of the moment images computed (without / with Fourier interpolation), each once.
    moments_set, moments_set_bc, moments_finterp_set : dict
        order -> moment image (plain, bleaching corrected, interpolated).
    cumulants_set, cumulants_set_bc : dict
        order -> cumulant image (plain, bleaching corrected).
    morder, corder : int
        Highest order of :meth:`calc_moments_set` / :meth:`cumulants_images`.
    fbc : float
        Bleaching correction factor of the last corrected result (1: none).
    n_frames, xdim, ydim : int
        Frames, rows and columns (pysofi's ``xdim, ydim = frame.shape``).

    Notes
    -----
    pysofi's pipeline runs through this class as in pysofi: Fourier interpolation
    (:meth:`moment_image` with ``finterp=True``) -> moments or cumulants -> noise filter
    (:func:`sofi_dask.compat.filtering.noise_filter1d` over several objects, which calls
    :meth:`add_filtered`) -> :meth:`deconvsk` -> noise filter -> :meth:`ldrc` -> a
    colour-mapped TIFF video (:func:`sofi_dask.compat.visualization.save_avi` with a ``.tif``
    name). Differences from pysofi: results are float64 (pysofi truncates moments to int64);
    ``mean_im`` / ``m_set`` arguments are honoured (pysofi ignores them); a repeated order is
    listed once in ``morder_lst``; ``ldrc`` / ``deconvsk`` without ``input_im`` work on a
    fresh object (pysofi fails); methods that return whole movies
    (:meth:`bleach_correct`, :meth:`finterp_tiffstack`) keep them on the object as lazy dask
    arrays (``bc_ims``, ``finterps``), never in memory; nothing is printed.

    Examples
    --------
    >>> d = PysofiData("data", "movie.zarr")  # doctest: +SKIP
    >>> m6 = d.moment_image(order=6)  # doctest: +SKIP
    """

    def __init__(self, filepath: Any, filename: Any) -> None:
        self.filename = filename
        self.filepath = filepath
        self.ave: np.ndarray | None = None
        self.finterp_factor = 1
        self.morder_lst: list[int] = []
        self.morder_finterp_lst: list[int] = []
        self.moments_set: dict[int, np.ndarray] = {}
        self.moments_set_bc: dict[int, np.ndarray] = {}
        self.moments_finterp_set: dict[int, np.ndarray] = {}
        self.cumulants_set: dict[int, np.ndarray] = {}
        self.cumulants_set_bc: dict[int, np.ndarray] = {}
        self.morder = 0
        self.corder = 0
        self.fbc = 1
        self._path = movie_path(filepath, filename)
        self._movie = open_input(self._path)
        self._stacks: dict[tuple[Any, ...], np.ndarray] = {}
        self._signature = self._file_signature()
        self.n_frames, self.xdim, self.ydim = self.get_dims()

    def __repr__(self) -> str:
        return (
            f"PysofiData({os.fspath(self.filepath)!r}, {os.fspath(self.filename)!r}: "
            f"{self.n_frames} frames of {self.xdim} x {self.ydim})"
        )

    # ----------------------------------------------------------------------- glue
    def _file_signature(self) -> tuple[int, int]:
        st = os.stat(self._path)
        return st.st_mtime_ns, st.st_size

    def _stack(self, max_order: int, frames: Any = None, interp_num: int = 1) -> np.ndarray:
        """Moment stack (mean, 0, m2..m_max) of a frame window, reused while the file is
        unchanged and the cached stack reaches ``max_order``."""
        window = check_frames(as_frames(frames), self.n_frames)
        signature = self._file_signature()
        if signature != self._signature:
            self._stacks.clear()
            self._movie = open_input(self._path)
            self._signature = signature
        key = (window, int(interp_num))
        cached = self._stacks.get(key)
        if cached is not None and cached.shape[0] > max_order:
            return cached
        stack = to_numpy(_rec.movie_stack(self._movie, max_order, window, int(interp_num)))
        self._stacks[key] = stack
        return stack

    @staticmethod
    def _note(lst: list[int], order: int) -> None:
        if order not in lst:
            lst.append(order)

    # ----------------------------------------------------------------------- pysofi API
    def average_image(self, frames: Any = []) -> np.ndarray:  # noqa: B006
        """Average image of the movie (or of ``frames=[start, end]``); sets ``ave``.

        Native: :func:`sofi_dask.average_image` (or layer 0 of moments already
        computed over the same frames, without reading the movie).
        """
        window = check_frames(as_frames(frames), self.n_frames)
        cached = self._stacks.get((window, 1))
        if cached is not None and self._file_signature() == self._signature:
            self.ave = cached[0].copy()
        else:
            self.ave = to_numpy(_moments.average_image(self._movie, frames=window))
        return self.ave

    def average_image_with_finterp(self, interp_num: int) -> np.ndarray:
        """Fourier-interpolated average image (of ``ave`` when computed already).

        Native: :func:`sofi_dask.fourier_interp_array` /
        :func:`sofi_dask.image._finterp.average_image_with_finterp`.
        """
        if self.ave is not None:
            return _finterp.fourier_interp_array(self.ave, [interp_num])[0]
        from sofi_dask.image import _finterp as _native_finterp

        return to_numpy(_native_finterp.average_image_with_finterp(self._movie, interp_num))

    def moment_image(
        self,
        order: int = 6,
        mean_im: Any = None,
        mvlength: Any = [],  # noqa: B006
        finterp: bool = False,
        interp_num: int = 1,
    ) -> np.ndarray:
        """Moment-reconstructed image of ``order`` (of the interpolated frames with ``finterp``).

        Native: :func:`sofi_dask.moment_stack` (one pass, on
        :func:`sofi_dask.interpolate_movie` with ``finterp``).

        Parameters
        ----------
        order : int
            Moment order >= 1.
        mean_im : ndarray, optional
            Origin of the moment (pysofi ignores it; here honoured).
        mvlength : int or list of int
            Frames to use: ``n`` (the first n frames), ``[start, end]``, or ``[]`` for all.
        finterp : bool
            Interpolate the frames first (sets ``moments_finterp_set``, ``finterp_factor``).
        interp_num : int
            Interpolation factor.

        Returns
        -------
        numpy.ndarray
            float64 image (pysofi: int64-truncated with ``finterp``).
        """
        order = check_positive_int(order, "order")
        if isinstance(mvlength, numbers.Integral) and not isinstance(mvlength, bool):
            mvlength = [0, int(mvlength)]
        factor = int(interp_num) if finterp else 1
        stack = self._stack(order, mvlength, factor)
        image = _rec.stack_moments(stack, [order], mean_im)[order]
        if not finterp:
            self._note(self.morder_lst, order)
            self.moments_set[order] = image
            return image
        self._note(self.morder_finterp_lst, order)
        self.moments_finterp_set[order] = image
        self.finterp_factor = factor
        return image

    def calc_moments_set(
        self,
        highest_order: int = 4,
        frames: Any = [],  # noqa: B006
        mean_im: Any = None,
        bleach_correction: bool = False,
        smooth_kernel: int = 251,
        fbc: float = 0.04,
    ) -> dict[int, np.ndarray]:
        """Moment images of orders 1..``highest_order`` from one pass.

        Without ``bleach_correction`` sets ``moments_set`` and ``morder``; with it sets
        ``moments_set_bc`` (the unweighted average of the bleaching blocks' moments) and
        ``fbc``. Native: :func:`sofi_dask.moment_stack`,
        :func:`sofi_dask.block_moments` + :func:`block_average`.

        Returns
        -------
        dict[int, numpy.ndarray]
            float64 (pysofi truncates to int64); order 1 is 0.
        """
        highest_order = check_positive_int(highest_order, "highest_order")
        if bleach_correction:
            blocks = self._blocks(smooth_kernel, fbc)
            per_block = window_moments(self._movie, highest_order, blocks)
            self.moments_set_bc = compute_all(_bleaching.block_average(per_block))
            self.fbc = fbc
            return self.moments_set_bc
        stack = self._stack(highest_order, frames)
        orders = range(1, highest_order + 1)
        self.moments_set = _rec.stack_moments(stack, orders, mean_im)
        self.morder = highest_order
        for o in orders:
            self._note(self.morder_lst, o)
        return self.moments_set

    def cumulants_images(
        self,
        highest_order: int = 4,
        frames: Any = [],  # noqa: B006
        m_set: Any = None,
        bleach_correction: bool = False,
        smooth_kernel: int = 251,
        fbc: float = 0.04,
    ) -> dict[int, np.ndarray]:
        """Cumulant images of orders 1..``highest_order`` (one pass; none with ``m_set``).

        Without ``bleach_correction``: from ``m_set`` when it holds orders 1..highest_order
        (pysofi ignores it), else from :meth:`calc_moments_set` (which also sets
        ``moments_set``); sets ``cumulants_set`` and ``corder``. With it: the average of the
        bleaching blocks' cumulants, ``cumulants_set_bc`` (and ``fbc``). Native:
        :func:`sofi_dask.cumulants_from_moments` (pysofi's recursion, order 1 = 0
        as pysofi), :func:`sofi_dask.block_moments`.
        """
        highest_order = check_positive_int(highest_order, "highest_order")
        if bleach_correction:
            blocks = self._blocks(smooth_kernel, fbc)
            per_block = window_moments(self._movie, highest_order, blocks)
            k_blocks = [_cum.cumulants_from_moments(m) for m in per_block]
            self.cumulants_set_bc = compute_all(_bleaching.block_average(k_blocks))
            self.fbc = fbc
            return self.cumulants_set_bc
        self.corder = highest_order
        orders = range(1, highest_order + 1)
        if m_set is not None and all(o in m_set for o in orders):
            moments = {o: as_image(to_numpy(m_set[o]), f"m_set[{o}]") for o in orders}
        else:
            moments = self.calc_moments_set(highest_order, frames)
        self.cumulants_set = _cum.cumulants_from_moments(moments)
        return self.cumulants_set

    def ldrc(
        self,
        order: int = 6,
        window_size: Any = [25, 25],  # noqa: B006
        mask_im: Any = None,
        input_im: Any = None,
    ) -> np.ndarray:
        """Local dynamic range compression of ``input_im`` against ``mask_im``; sets
        ``ldrc_image``.

        Defaults: ``input_im`` the moment image of ``order`` (computed when missing; pysofi
        then fails), ``mask_im`` the average image. Native: :func:`sofi_dask.ldrc`.
        """
        if input_im is None:
            input_im = self.moments_set.get(order)
            if input_im is None:
                input_im = self.moment_image(order)
        if mask_im is None:
            mask_im = self.average_image()
        self.ldrc_image = _ldrc.ldrc(mask_im, input_im, order, window_size)
        return self.ldrc_image

    def deconvsk(
        self,
        est_psf: Any = _DEFAULT_PSF,
        input_im: Any = None,
        deconv_lambda: float = 1.5,
        deconv_iter: int = 20,
    ) -> np.ndarray:
        """Shrinking-kernel deconvolution of ``input_im``; sets ``deconv``.

        Default ``input_im``: the highest-order moment image of :meth:`calc_moments_set`,
        else ``ave``, else the average image (pysofi fails with KeyError on a fresh object).
        Native: :func:`sofi_dask.deconvsk`.
        """
        if input_im is None:
            if self.morder in self.moments_set:
                input_im = self.moments_set[self.morder]
            elif self.ave is not None:
                input_im = self.ave
            else:
                input_im = self.average_image()
        self.deconv = _deconvsk.deconvsk(est_psf, input_im, deconv_lambda, deconv_iter)
        return self.deconv

    def finterp_tiffstack(
        self,
        interp_num_lst: Any = [2, 4],  # noqa: B006
        frames: Any = [],  # noqa: B006
        save_option: bool = True,
        return_option: bool = False,
    ) -> list[np.ndarray] | None:
        """Fourier-interpolate the movie by each factor (uint16, per-frame original range).

        Saves ``<stem>_InterpNum<f>.tif`` beside the movie (replaced atomically; pysofi
        appends) and/or returns the interpolated movies; ``finterps`` keeps them as lazy dask
        arrays. Native: :func:`sofi_dask.fourier_interp_movie_to_tiff`,
        :func:`sofi_dask.image._finterp.interpolate_movie_uint16`.
        """
        self.finterps = _finterp.interp_outputs(self._path, interp_num_lst, frames, save_option)
        if not return_option:
            return None
        return [np.asarray(x.compute()) for x in self.finterps]

    def finterp_image(
        self,
        input_im: Any = None,
        interp_num_lst: Any = [2, 4],  # noqa: B006
    ) -> list[np.ndarray]:
        """Fourier-interpolate an image (default: the average image); sets ``finterp``."""
        if input_im is None:
            input_im = self.average_image()
        self.finterp = _finterp.fourier_interp_array(input_im, interp_num_lst)
        return self.finterp

    def bleach_correct(
        self,
        fbc: float = 0.04,
        smooth_kernel: int = 251,
        save_option: bool = True,
        return_option: bool = False,
    ) -> np.ndarray | None:
        """Bleaching-corrected movie (as ``reconstruction.correct_bleaching``); sets ``bc_ims``.

        Saves ``<stem>_bc.tif`` and/or returns the corrected movie (float64); ``bc_ims``
        keeps it as a lazy dask array. pysofi runs the whole correction twice with both
        options (and appends the file twice); here once.
        """
        self.bc_ims = _rec.bleach_corrected(self._path, fbc, smooth_kernel, save_option)
        self.fbc = fbc
        if not return_option:
            return None
        return np.asarray(self.bc_ims.compute(), dtype=np.float64)

    def add_filtered(self, image: Any, filter_name: str = "noise filter") -> None:
        """Attach a (noise-)filtered image: sets ``filtered`` and ``filter_name``."""
        self.filter_name = filter_name
        self.filtered = image

    def get_dims(self) -> tuple[int, int, int]:
        """``(n_frames, xdim, ydim)`` from the file's header (no frame is read)."""
        n, rows, cols = self._movie.shape
        return int(n), int(rows), int(cols)

    def add(self, **kwargs: Any) -> None:
        """Add or update attributes: ``d.add(name=value, ...)``."""
        for key, value in kwargs.items():
            setattr(self, key, value)

    def get_frame(self, frame_num: int = 0) -> np.ndarray:
        """One frame, in the movie's dtype (only that frame's bytes are read from a TIFF).

        Raises
        ------
        ValueError
            ``frame_num`` not an integer in ``[0, n_frames)`` (pysofi: a bare Exception).
        """
        if (
            isinstance(frame_num, bool)
            or not isinstance(frame_num, numbers.Integral)
            or not 0 <= frame_num < self.n_frames
        ):
            raise InputError(
                f"parameter 'frame_num': expected an integer in [0, {self.n_frames}) "
                f"(the movie has {self.n_frames} frames), got {frame_num!r}"
            )
        single = open_input(self._path, chunks=1) if self._is_tiff() else self._movie
        return np.asarray(single.data[int(frame_num)].compute())

    # ----------------------------------------------------------------------- helpers
    def _is_tiff(self) -> bool:
        return not self._path.is_dir()

    def _blocks(self, smooth_kernel: int, fbc: float) -> list[tuple[int, int]]:
        signal = to_numpy(_moments.total_signal(self._movie))
        return _bleaching.bleaching_blocks(signal, fbc=fbc, kernel_size=smooth_kernel)
