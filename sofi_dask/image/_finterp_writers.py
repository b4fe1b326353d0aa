"""Streaming output of Fourier-interpolated movies (pysofi ``fourier_interp_tiff`` semantics).

Every chunk of frames is read once, interpolated, rescaled per frame to that frame's original
[min, max], rounded (half to even, as ``numpy.around``) to uint16 and written; the interpolated
movie is never held in memory (memory ~ a few chunks, whatever the frame count). Outputs are
written under a hidden temporary name and renamed when complete, so a half-written file never
carries the final name.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np

from sofi_dask._cpus import cpu_count, one_blas_thread
from sofi_dask._validation import check_positive_int, fail, shown
from sofi_dask.image import _finterp_kernels as K
from sofi_dask.image._utils import is_dask_array
from sofi_dask.io._atomic import AtomicOutputDir, atomic_output, check_output_path

logger = logging.getLogger(__name__)

__all__ = [
    "fourier_interp_movie_to_tiff",
    "fourier_interp_movie_to_zarr",
    "interpolate_movie_uint16",
    "rescale_to_uint16",
]


def rescale_to_uint16(frames: Any, original_min: Any, original_max: Any) -> np.ndarray:
    """Rescale each frame to its original dynamic range and round to uint16.

    Each frame's own [min, max] is mapped linearly onto ``[original_min, original_max]``, the
    values are rounded half to even and cast to uint16 (pysofi's ``fourier_interp_tiff``). A
    constant frame (pysofi: 0/0 = NaN) becomes ``original_min``.

    Parameters
    ----------
    frames : array_like
        (..., y, x) interpolated frames.
    original_min, original_max : array_like
        One value per frame (shape ``frames.shape[:-2]``), within [0, 65535], min <= max.

    Returns
    -------
    numpy.ndarray
        uint16, shape of ``frames``.

    Raises
    ------
    ValueError
        A range outside [0, 65535] or with min > max.

    Examples
    --------
    >>> rescale_to_uint16(np.array([[[0.0, 0.5, 1.0]]]), [10], [20]).tolist()
    [[[10, 15, 20]]]
    """
    frames = np.asarray(frames)
    lo = np.asarray(original_min, dtype=np.float64)
    hi = np.asarray(original_max, dtype=np.float64)
    if lo.size and (lo.min() < 0 or hi.max() > 65535):
        raise fail(
            "original_min/original_max",
            "values in [0, 65535] for uint16 output",
            shown(f"[{lo.min()}, {hi.max()}]"),
        )
    if np.any(lo > hi):
        raise fail("original_min", "<= original_max for every frame", shown("a larger one"))
    return K.rescale_frames_uint16(frames, lo, hi)


def _block_uint16(block: np.ndarray, lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    lo = block.min(axis=(-2, -1))
    hi = block.max(axis=(-2, -1))
    return rescale_to_uint16(K.apply_operators(block, lx, ly), lo, hi)


def interpolate_movie_uint16(
    data: Any, factor: int, *, frames_per_chunk: int | None = None
) -> da.Array:
    """Lazy interpolated movie rescaled per frame to its original range, as uint16.

    Same as ``rescale_to_uint16(interpolate_movie(data, factor), min, max)`` with each frame's
    original min and max, in one task per chunk (the input chunk is read once).

    Examples
    --------
    >>> movie = np.array([[[0, 10], [20, 30]]], dtype=np.uint16)
    >>> interpolate_movie_uint16(movie, 2).compute()[0].tolist()
    [[0, 5, 10], [10, 15, 20], [20, 25, 30]]
    """
    from sofi_dask.image._finterp import _interp_graph

    return _interp_graph(data, factor, _block_uint16, np.uint16, frames_per_chunk)


def _input_paths(data: Any) -> list[Path]:
    path = getattr(data, "path", None)
    return [Path(os.fspath(path))] if path is not None else []


def _is_interp_array(path: Path) -> bool:
    """A Zarr array written by :func:`fourier_interp_movie_to_zarr` (``overwrite`` may replace)."""
    try:
        meta = json.loads((path / "zarr.json").read_text())
    except (OSError, ValueError):
        return False
    attrs = meta.get("attributes", {}) if isinstance(meta, dict) else {}
    return isinstance(attrs, dict) and attrs.get("sofi_dask", {}).get("stage") == "fourier_interp"


def _movie(data: Any, factor: int, rescale: bool, frames_per_chunk: int | None) -> da.Array:
    from sofi_dask.image._finterp import as_lazy_or_numpy, interpolate_movie

    arr = as_lazy_or_numpy(data)
    if getattr(arr, "ndim", 0) != 3:
        raise fail("data", "a 3-D (t, y, x) movie", shown(f"shape {np.shape(arr)}"))
    if rescale:
        return interpolate_movie_uint16(arr, factor, frames_per_chunk=frames_per_chunk)
    return interpolate_movie(arr, factor, frames_per_chunk=frames_per_chunk)


def fourier_interp_movie_to_zarr(
    data: Any,
    dest: Any,
    factor: int,
    *,
    rescale: bool = True,
    overwrite: bool = False,
    frames_per_chunk: int | None = None,
    clevel: int = 3,
) -> Path:
    """Interpolate every frame and stream the result into a Zarr v3 array at ``dest``.

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array or Movie
        (t, y, x) movie.
    dest : str or PathLike
        Zarr array folder to create (written under a hidden name and renamed when done).
    factor : int
        Interpolation factor, >= 1.
    rescale : bool
        uint16 with per-frame rescale to the original [min, max] (pysofi's TIFF output); False
        writes the float64 interpolation.
    overwrite : bool
        Replace an existing ``dest`` (never the input).
    frames_per_chunk : int, optional
        Frames per Zarr chunk (default as :func:`sofi_dask.interpolate_movie`).
    clevel : int
        Zstd compression level.

    Returns
    -------
    pathlib.Path
        ``dest``. Its attribute ``sofi_dask`` records the factor, rescale and ``complete``.

    Raises
    ------
    OutputExistsError
        ``dest`` exists and ``overwrite`` is false (a ``FileExistsError``).
    InputError
        ``dest`` is, contains or lies in the input, or is a folder not written by this
        function; bad ``factor``; ``data`` not 3-D.
    """
    import zarr
    from zarr.codecs import ZstdCodec

    atomic = AtomicOutputDir(
        dest,
        protected=_input_paths(data),
        overwrite=overwrite,
        replaceable=_is_interp_array,
        what="Zarr array",
        name="dest",
    )
    movie = _movie(data, factor, rescale, frames_per_chunk)
    with atomic as tmp:
        target = zarr.create_array(
            store=str(tmp),
            shape=movie.shape,
            chunks=(movie.chunks[0][0],) + movie.shape[1:],
            dtype=movie.dtype,
            compressors=ZstdCodec(level=clevel),
            attributes={
                "sofi_dask": {
                    "stage": "fourier_interp",
                    "factor": int(factor),
                    "rescale_uint16": bool(rescale),
                    "complete": False,
                }
            },
        )
        with one_blas_thread():  # tasks on every CPU: one BLAS thread each
            da.store(movie, target, lock=False)
        target.attrs["sofi_dask"] = {**target.attrs["sofi_dask"], "complete": True}
    logger.debug("wrote %s", atomic.final)
    return atomic.final


#: largest merged input block (whole frames) held per task by the TIFF writer
TIFF_INPUT_BLOCK_BYTES = 256 * 2**20


def _iter_interp_batches(
    data: Any, factor: int, rescale: bool, frames_per_chunk: int | None, k: int
) -> Iterator[np.ndarray]:
    """Interpolated frames in order, in batches, each input frame read once.

    The input is read ``k`` blocks of whole frames at a time with the current dask scheduler
    (blocks follow the input's own frame chunks, so no chunk is decoded twice); each block is
    interpolated in batches of ``frames_per_chunk`` frames on ``k`` threads, at most ``k``
    batches in flight, and yielded in frame order.
    """
    from concurrent.futures import ThreadPoolExecutor

    from sofi_dask.image._finterp import (
        CHUNK_BYTES,
        as_lazy_or_numpy,
        interp_operators,
        interpolated_grid_shape,
    )

    factor = check_positive_int(factor, "factor", integral_float=True)
    if frames_per_chunk is not None:
        frames_per_chunk = check_positive_int(
            frames_per_chunk, "frames_per_chunk", integral_float=True
        )
    arr = as_lazy_or_numpy(data)
    if getattr(arr, "ndim", 0) != 3:
        raise fail("data", "a 3-D (t, y, x) movie", shown(f"shape {np.shape(arr)}"))
    out_shape = interpolated_grid_shape(arr.shape, factor)
    nf = frames_per_chunk or max(1, CHUNK_BYTES // (out_shape[1] * out_shape[2] * 8))
    in_frame = arr.shape[1] * arr.shape[2] * np.dtype(arr.dtype).itemsize
    cap = max(1, TIFF_INPUT_BLOCK_BYTES // in_frame)
    if is_dask_array(arr):
        t_chunks = [min(c, cap) for c in arr.chunks[0]]
        darr = (
            arr.rechunk({0: max(t_chunks), 1: -1, 2: -1})
            if max(arr.chunks[0]) > cap
            else arr.rechunk({1: -1, 2: -1})
        )
        blocks = [darr.blocks[i] for i in range(darr.numblocks[0])]
    else:
        blocks = [arr[i : i + cap] for i in range(0, arr.shape[0], cap)]
    lx, ly = interp_operators(arr.shape, factor)
    fn = _block_uint16 if rescale else _block_interp_f64

    def batches(chunk: np.ndarray) -> Iterator[np.ndarray]:
        for start in range(0, chunk.shape[0], nf):
            yield chunk[start : start + nf]

    with one_blas_thread(), ThreadPoolExecutor(max_workers=k) as pool:
        pending: deque = deque()
        for first in range(0, len(blocks), k):
            group = blocks[first : first + k]
            if is_dask_array(arr):
                group = list(dask.compute(*group))
            for chunk in group:
                for batch in batches(np.asarray(chunk)):
                    pending.append(pool.submit(fn, batch, lx, ly))
                    if len(pending) >= k:
                        yield pending.popleft().result()
            del group
        while pending:
            yield pending.popleft().result()


def _block_interp_f64(block: np.ndarray, lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    return K.apply_operators(block, lx, ly)


def fourier_interp_movie_to_tiff(
    data: Any,
    dest: Any,
    factor: int,
    *,
    rescale: bool = True,
    overwrite: bool = False,
    frames_per_chunk: int | None = None,
    chunks_in_flight: int | None = None,
) -> Path:
    """Interpolate every frame and stream the result into a (Big)TIFF stack at ``dest``.

    The input's frame chunks are read ``chunks_in_flight`` at a time (default: the number of
    cores) with the current dask scheduler, each exactly once; their frames are interpolated in
    batches of ``frames_per_chunk`` on as many threads and appended in order, so memory stays at
    a few input chunks and batches, whatever the frame count. The file opens in Fiji/napari as a
    (t, y, x) stack.

    Parameters
    ----------
    data, factor, rescale, overwrite, frames_per_chunk
        As :func:`fourier_interp_movie_to_zarr`.
    dest : str or PathLike
        TIFF file to create (written as ``.<stem>.partial-*.tif`` and renamed when done).
    chunks_in_flight : int, optional
        Input chunks read, and batches interpolated, concurrently.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    OutputExistsError
        ``dest`` exists and ``overwrite`` is false (a ``FileExistsError``).
    InputError
        ``dest`` is the input or a folder; bad ``factor``; ``data`` not 3-D or without frames.
    """
    import tifffile

    inputs = _input_paths(data)
    out = check_output_path(dest, overwrite=overwrite, protected=inputs)
    k = max(1, int(chunks_in_flight or cpu_count()))
    frames = _iter_interp_batches(data, factor, rescale, frames_per_chunk, k)
    try:
        first = next(frames, None)  # bad input raises here, before any file exists
        if first is None:
            raise fail("data", "at least one frame", shown(f"shape {getattr(data, 'shape', None)}"))
        with (
            atomic_output(out, overwrite=overwrite, protected=inputs) as tmp,
            tifffile.TiffWriter(tmp, bigtiff=True) as tw,
        ):
            for batch in itertools.chain([first], frames):
                for frame in batch:
                    tw.write(frame, contiguous=True, photometric="minisblack")
    finally:
        frames.close()
    logger.debug("wrote %s", out)
    return out
