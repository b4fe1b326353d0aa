"""Glue shared by the pysofi-compatible modules: paths, frame windows, computing at the boundary.

pysofi names a movie by ``(filepath, filename)`` and a frame window by a list ``[start, end]``
(``[]`` for all frames); sofi_dask by a path and ``frames=(start, end) | None``. pysofi returns
numpy arrays; the native stages return lazy dask arrays for lazy input, so the compat layer
computes them here, all outputs of one call together (one pass over the movie).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from math import comb
from pathlib import Path
from typing import Any

import dask
import numpy as np

from sofi_dask.io._open import Movie, open_movie

__all__ = [
    "as_frames",
    "compute_all",
    "movie_path",
    "open_source",
    "shift_moments",
    "to_numpy",
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
            raise ValueError(f"{name}: expected a str or path, got {type(value).__name__}")
    path = Path(os.path.join(os.fspath(filepath), os.fspath(filename))).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no such file or Zarr store (filepath={os.fspath(filepath)!r}, "
            f"filename={os.fspath(filename)!r})"
        )
    return path


def open_source(filepath: Any, filename: Any) -> Movie:
    """Open ``filepath/filename`` lazily with :func:`sofi_dask.io.open_movie` (nothing is read)."""
    return open_movie(movie_path(filepath, filename))


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
    raise ValueError(f"{name}: expected [] (all frames) or [start, end], got {frames!r}")


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
        raise ValueError(
            f"mean_im: expected an image of shape {tuple(stack.shape[1:])}, got {c.shape}"
        )
    d = stack[0] - c
    out: dict[int, Any] = {}
    for p in orders:
        total = d**p  # k = 0 term (m_0 = 1)
        for k in range(2, p + 1):
            total = total + comb(p, k) * stack[k] * d ** (p - k)
        out[int(p)] = total
    return out
