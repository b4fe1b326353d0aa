"""Glue shared by the pysofi-compatible modules: paths, frame windows, computing at the boundary.

pysofi names a movie by ``(filepath, filename)`` and a frame window by a list ``[start, end]``
(``[]`` for all frames); sofi_dask by a path and ``frames=(start, end) | None``. pysofi returns
numpy arrays; the native stages return lazy dask arrays for lazy input, so the compat layer
computes them here, all outputs of one call together (one pass over the movie).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from math import comb
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import tifffile

from sofi_dask._validation import fail, shown
from sofi_dask.errors import InputError
from sofi_dask.io._open import Movie, open_movie
from sofi_dask.stats import _moments as _moments

__all__ = [
    "as_frames",
    "as_image",
    "as_images",
    "compute_all",
    "movie_path",
    "open_source",
    "shift_moments",
    "to_numpy",
    "window_moments",
    "window_stacks",
]


def movie_path(filepath: Any, filename: Any) -> Path:
    """The movie pysofi reads as ``filepath + '/' + filename`` (TIFF file or Zarr store).

    Raises
    ------
    ValueError
        ``filepath`` or ``filename`` is not a string / path.
    FileNotFoundError
        Nothing exists at the joined path.
    """
    for name, value in (("filepath", filepath), ("filename", filename)):
        if not isinstance(value, (str, os.PathLike)):
            raise InputError(
                f"parameter '{name}': expected a str or path, got {type(value).__name__}"
            )
    path = Path(os.path.join(os.fspath(filepath), os.fspath(filename))).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no such file or Zarr store (filepath={os.fspath(filepath)!r}, "
            f"filename={os.fspath(filename)!r})"
        )
    return path


def open_source(filepath: Any, filename: Any) -> Movie:
    """Open ``filepath/filename`` lazily with :func:`sofi_dask.io.open_movie` (nothing is read)."""
    return open_input(movie_path(filepath, filename))


def open_input(path: Any, chunks: Any = None) -> Movie:
    """:func:`sofi_dask.io.open_movie`, and a one-page 2-D TIFF as a movie of one frame.

    pysofi reads such a file as a 1-frame movie (every moment 0, the average the image);
    ``open_movie`` refuses a single image on purpose (a movie is expected). Only when it does
    is the file looked at again: one page holding one 2-D image (its only frame, read when
    computed).

    Examples
    --------
    >>> import tempfile, tifffile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     tifffile.imwrite(f"{tmp}/one.tif", np.ones((2, 3), np.uint16), metadata=None)
    ...     open_input(f"{tmp}/one.tif").shape
    (1, 2, 3)
    """
    try:
        return open_movie(path, chunks=chunks)
    except ValueError:
        layout = _single_image(Path(path))
        if layout is None:
            raise
    frame = dask.delayed(_read_single_image)(Path(path))
    return Movie(data=da.from_delayed(frame, (1, *layout[0]), layout[1]), path=Path(path))


def _single_image(path: Path) -> tuple[tuple[int, int], np.dtype] | None:
    """``(shape, dtype)`` of a TIFF file with exactly one 2-D integer/float page, else None."""
    if not path.is_file():
        return None
    try:
        with tifffile.TiffFile(path) as tif:
            if len(tif.pages) != 1 or len(tif.pages[0].shape) != 2:
                return None
            shape, dtype = tif.pages[0].shape, np.dtype(tif.pages[0].dtype)
    except (tifffile.TiffFileError, OSError, ValueError):
        return None
    return ((int(shape[0]), int(shape[1])), dtype) if dtype.kind in "uif" else None


def _read_single_image(path: Path) -> np.ndarray:
    return tifffile.imread(path, key=0)[np.newaxis]


def as_frames(frames: Any, name: str = "frames") -> tuple[int, int] | None:
    """pysofi's ``[]`` / ``None`` / ``[start, end]`` as sofi_dask's ``None`` / ``(start, end)``.

    The window itself is checked by the native stage (``sofi_dask._validation.check_frames``).

    Examples
    --------
    >>> as_frames([]), as_frames([2, 10]), as_frames(None)
    (None, (2, 10), None)
    """
    if frames is None:
        return None
    if isinstance(frames, np.ndarray):
        frames = frames.tolist()
    if isinstance(frames, (list, tuple)):
        if len(frames) == 0:
            return None
        if len(frames) == 2:
            return (frames[0], frames[1])
    raise InputError(
        f"parameter '{name}': expected [] (all frames) or [start, end], got {frames!r}"
    )


def to_numpy(value: Any) -> Any:
    """A computed numpy array (dask arrays are computed; numpy passes through)."""
    if dask.is_dask_collection(value):
        return np.asarray(value.compute())
    return value


def compute_all(tree: Any) -> Any:
    """Compute every dask array inside nested dicts / lists in one ``dask.compute`` call.

    All outputs of one pysofi call share one graph, so the movie is read once.
    """
    (out,) = dask.compute(tree)
    return _as_arrays(out)


def _as_arrays(tree: Any) -> Any:
    if isinstance(tree, Mapping):
        return {k: _as_arrays(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_as_arrays(v) for v in tree]
    if isinstance(tree, tuple):
        return tuple(_as_arrays(v) for v in tree)
    return tree


def shift_moments(stack: Any, orders: Any, mean_im: Any) -> dict[int, Any]:
    """Moments about ``mean_im`` from a moment stack (moments about the data's own mean).

    ``E[(x - c)^p] = sum_k C(p, k) m_k d^(p - k)`` with ``m_0 = 1``, ``m_1 = 0``, ``m_k`` the
    central moments (stack layers) and ``d = mean - c``. pysofi accepts a ``mean_im`` and
    takes moments about it; this keeps that meaning without a second pass over the movie.

    Parameters
    ----------
    stack : array (max_order + 1, y, x)
        ``sofi_dask.moment_stack`` layout: layer 0 the mean, layer p the central moment.
    orders : iterable of int
        Orders to return (each <= max_order).
    mean_im : array_like (y, x)
        The origin ``c``.

    Returns
    -------
    dict[int, ndarray]
    """
    c = np.asarray(mean_im, dtype=np.float64)
    if c.shape != tuple(stack.shape[1:]):
        raise InputError(
            f"parameter 'mean_im': expected an image of shape {tuple(stack.shape[1:])}, got "
            f"{c.shape}"
        )
    d = stack[0] - c
    out: dict[int, Any] = {}
    for p in orders:
        total = d**p  # k = 0 term (m_0 = 1)
        for k in range(2, p + 1):
            total = total + comb(p, k) * stack[k] * d ** (p - k)
        out[int(p)] = total
    return out


# --------------------------------------------------------------------------- array-likes
def as_image(value: Any, name: str) -> Any:
    """Any array-like pysofi accepts as an image, as an array (dask arrays stay lazy).

    Nested lists, tuples, Python and numpy scalars, read-only, non-contiguous or
    Fortran-ordered arrays of any boolean, integer or float dtype become float64 numpy arrays
    (pysofi's arithmetic promotes them to float64 too); complex stays complex128. A 0-d
    result is the numpy scalar (as pysofi's arithmetic on scalars gives).

    Raises
    ------
    sofi_dask.errors.InputError
        Ragged nested lists or a non-numeric dtype.

    Examples
    --------
    >>> as_image([[1, 2], [3, 4]], "im").dtype
    dtype('float64')
    >>> as_image(np.uint8(7), "im")
    np.float64(7.0)
    """
    if dask.is_dask_collection(value):
        return value
    try:
        arr = np.asarray(value)
    except ValueError:
        raise fail(
            name, "an array-like of numbers", shown(f"a ragged {type(value).__name__}")
        ) from None
    if arr.dtype.kind not in "biufc":
        raise fail(name, "an array-like of numbers", shown(f"dtype {arr.dtype}"))
    out = arr.astype(np.complex128 if arr.dtype.kind == "c" else np.float64)
    return out[()] if out.ndim == 0 else out


def as_images(tree: Any, name: str) -> Any:
    """:func:`as_image` on every leaf of nested dicts (``{order: image}``,
    ``{block: {order: image}}``, ``{order: {subset: image}}``); keys are kept."""
    if isinstance(tree, Mapping):
        return {k: as_images(v, f"{name}[{k!r}]") for k, v in tree.items()}
    return as_image(tree, name)


# --------------------------------------------------------------------------- short windows
def window_stacks(data: Any, max_order: int, windows: Sequence[tuple[int, int]]) -> list[Any]:
    """Moment stacks ``(max_order + 1, y, x)`` of frame windows of any length >= 1, one pass.

    pysofi computes moments and cumulants of every order on any window (its default bleaching
    blocks are often 3 or 4 frames long): a central moment ``mean_t (x - mean)^p`` is defined
    for any ``n >= 1`` frames (0 for one frame). The native API refuses windows shorter than
    the order on purpose (``sofi-dask run``: such statistics are noise), so compat computes
    them with ``check_length=False`` and warns once per call (``RuntimeWarning``).

    Parameters
    ----------
    data : Movie or array (t, y, x)
    max_order : int
    windows : sequence of (start, end)
        Checked frame windows.

    Returns
    -------
    list
        One stack per window, lazy for a ``Movie`` / dask input.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     s = window_stacks(np.array([1.0, 3.0]).reshape(2, 1, 1), 4, [(0, 2)])
    >>> s[0][:, 0, 0].tolist(), len(caught)
    ([2.0, 0.0, 1.0, 0.0, 1.0], 1)
    """
    short = [(a, b) for a, b in windows if b - a < max_order]
    if short:
        warnings.warn(
            f"{len(short)} of {len(windows)} frame window(s) have fewer frames than the order "
            f"{max_order} (shortest: {min(b - a for a, b in short)} frame(s)); their moments "
            "and cumulants are computed as pysofi does, but are dominated by noise "
            "(sofi_dask's native API refuses them)",
            RuntimeWarning,
            stacklevel=3,
        )
    return _moments.moment_stacks(data, max_order, list(windows), check_length=False)


def window_moments(
    data: Any, max_order: int, windows: Sequence[tuple[int, int]]
) -> list[dict[int, Any]]:
    """``{order: central moment image}`` (orders 1..max_order) of each window, as
    :func:`sofi_dask.block_moments` but for windows of any length >= 1
    (:func:`window_stacks`)."""
    stacks = window_stacks(data, max_order, windows)
    return [{p: s[p] for p in range(1, max_order + 1)} for s in stacks]
