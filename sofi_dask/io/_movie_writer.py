"""Writing a movie that is made in memory (e.g. simulated) into a store, batch by batch.

:func:`create_movie` creates the same store as :func:`sofi_dask.io.ingest` (attributes,
completion records, per-frame statistics); :class:`MovieWriter` writes whole time chunks
through the ingest tasks and marks the store complete when every chunk is written.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from sofi_dask.errors import IncompleteStoreError, InputError, OutputExistsError, SofiDaskError
from sofi_dask.io._ingest import IngestPlan, default_workers, open_arrays, run_tasks
from sofi_dask.io._store import (
    MOVIE,
    done_records,
    finalize,
    make_codecs,
    new_store,
    parse_chunks,
    remove_store,
)

__all__ = ["MovieWriter", "create_movie"]


class _MemoryFrames:
    """Frames ``start..start+len(frames)-1`` held in memory, read like a :class:`TiffSource`."""

    def __init__(self, start: int, frames: np.ndarray) -> None:
        self.start = start
        self.frames = frames
        self.dtype = frames.dtype

    def view(
        self,
        start: int,
        stop: int,
        rows: tuple[int, int] | None = None,
        out: np.ndarray | None = None,
        digests: list[str] | None = None,
    ) -> np.ndarray:
        y0, y1 = rows if rows is not None else (0, self.frames.shape[1])
        return self.frames[start - self.start : stop - self.start, y0:y1]


class _WriterClosedError(SofiDaskError, RuntimeError):
    """``write`` after ``close``: a programming error, still one of the package's errors."""


class MovieWriter:
    """Writes a movie into a new store in batches of whole time chunks (see
    :func:`create_movie`). Each batch goes through the same tasks as :func:`ingest`: the
    band's chunks, per-frame statistics, then the completion record, on a thread pool.

    Attributes
    ----------
    path : pathlib.Path
        The store.
    shape, dtype, chunks
        Of the ``movie`` array; batches start at a multiple of ``chunks[0]`` frames.
    """

    def __init__(self, group: zarr.Group, path: Path, *, workers: int | None = None) -> None:
        arr = group[MOVIE]
        self.path = path
        self.shape: tuple[int, int, int] = tuple(int(s) for s in arr.shape)  # type: ignore[assignment]
        self.dtype = np.dtype(arr.dtype)
        self.chunks: tuple[int, int, int] = tuple(int(c) for c in arr.chunks)  # type: ignore[assignment]
        self._group = group
        self._plan = IngestPlan(self.shape, self.chunks)
        self._arrays = open_arrays(group)
        self._done = done_records(group)
        self._workers = workers or default_workers(self._plan, self.dtype.itemsize)
        self._closed = False

    @property
    def group(self) -> zarr.Group:
        """The store's Zarr group, e.g. to add arrays or attributes before :meth:`close`."""
        return self._group

    @property
    def complete(self) -> bool:
        """True once :meth:`close` has marked the store complete."""
        return self._closed

    def frames_written(self) -> int:
        """Frames whose time chunk has been written."""
        return sum(
            self._plan.frames(i)[1] - self._plan.frames(i)[0]
            for i in range(self._plan.grid[0])
            if self._done[i].all()
        )

    def write(self, start: int, frames: np.ndarray) -> None:
        """Write frames ``start..start+len(frames)-1`` (whole time chunks).

        Parameters
        ----------
        start : int
            First frame; a multiple of ``chunks[0]``.
        frames : numpy.ndarray
            (n, y, x) of the store's dtype; n a multiple of ``chunks[0]`` unless the batch
            ends the movie. Writing a time chunk again replaces it.

        Raises
        ------
        ValueError
            Misaligned ``start`` / length, wrong frame shape or dtype, frames past the end.
        SofiDaskError
            The writer is closed (also a ``RuntimeError``).
        """
        if self._closed:
            raise _WriterClosedError(f"{self.path}: the movie writer is closed")
        frames = np.asarray(frames)
        t, ny, nx = self.shape
        depth = self.chunks[0]
        if frames.ndim != 3 or frames.shape[1:] != (ny, nx):
            raise InputError(
                f"parameter 'frames': expected shape (n, {ny}, {nx}), got {frames.shape}"
            )
        if frames.dtype != self.dtype:
            raise InputError(f"parameter 'frames': expected dtype {self.dtype}, got {frames.dtype}")
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
            raise InputError(f"parameter 'start': expected an int, got {start!r}")
        start = int(start)
        stop = start + frames.shape[0]
        if start < 0 or start % depth or frames.shape[0] == 0 or stop > t:
            raise InputError(
                f"parameter 'start': expected a multiple of {depth} (chunks[0]) in 0..{t - 1} with "
                "frames "
                f"ending by {t}, got start={start} and {frames.shape[0]} frames"
            )
        if frames.shape[0] % depth and stop != t:
            raise InputError(
                f"parameter 'frames': expected a multiple of {depth} frames (whole time chunks) "
                "unless the "
                f"batch ends the movie, got {frames.shape[0]} frames at {start}"
            )
        i0, i1 = start // depth, math.ceil(stop / depth)
        todo = [(i, j) for i in range(i0, i1) for j in range(self._plan.grid[1])]
        run_tasks(
            _MemoryFrames(start, frames), self._arrays, self._plan, todo, workers=self._workers
        )
        self._done[i0:i1] = True

    def close(self) -> Path:
        """Combine the per-frame statistics and mark the store complete.

        Raises
        ------
        IncompleteStoreError
            Some time chunks were never written (the store stays incomplete: readers refuse it
            with the same error).
        """
        if self._closed:
            return self.path
        missing = np.flatnonzero(~self._done.all(axis=1))
        if missing.size:
            first = self._plan.frames(int(missing[0]))
            raise IncompleteStoreError(
                f"{self.path}: {missing.size} time chunks not written (first: frames "
                f"{first[0]}..{first[1] - 1}); the store stays incomplete"
            )
        finalize(self._group, self.shape[1] * self.shape[2])
        self._closed = True
        return self.path

    def __enter__(self) -> MovieWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()


def create_movie(
    dest: str | os.PathLike[str],
    shape: tuple[int, int, int],
    dtype: Any,
    *,
    chunks: int | tuple[int, int, int] | None = None,
    compressor: str = "lz4",
    clevel: int = 5,
    pixel_size: float | None = None,
    source: list[dict[str, Any]] | None = None,
    overwrite: bool = False,
    workers: int | None = None,
    name: str | None = None,
) -> MovieWriter:
    """Create a movie store laid out like :func:`sofi_dask.io.ingest`'s and return its writer.

    For movies made in memory batch by batch (e.g. the simulator): write whole time chunks
    with :meth:`MovieWriter.write`, then :meth:`MovieWriter.close` records the per-frame
    statistics and marks the store complete (or use it as a context manager: closed when the
    block ends without an error; after an error the store stays incomplete and readers refuse
    it). Memory: the caller's batch plus the tasks in flight.

    Parameters
    ----------
    dest : path
        The store to create.
    shape : (t, y, x)
        Movie shape.
    dtype : dtype
        Pixel type (integers or floats).
    chunks, compressor, clevel, overwrite, workers
        As for :func:`sofi_dask.io.ingest` (``overwrite`` deletes only a movie store written
        by sofi_dask, or an empty folder).
    pixel_size : float, optional
        Micrometres per pixel, written to the OME-NGFF scale.
    source : list of dict, optional
        Provenance recorded as the store's ``source`` (default: ``[]``).
    name : str, optional
        Image name in the OME-NGFF metadata (default: the name of ``dest``).

    Returns
    -------
    MovieWriter

    Raises
    ------
    FileExistsError
        ``dest`` exists and not ``overwrite`` (or it is not ours to delete).
    ValueError
        A bad shape, dtype, chunks, compressor, clevel or pixel size.

    Examples
    --------
    >>> with create_movie("m.zarr", (512, 64, 64), "uint16", chunks=256) as w:  # doctest: +SKIP
    ...     for start in (0, 256):
    ...         w.write(start, np.zeros((256, 64, 64), np.uint16))
    """
    dest = Path(dest).expanduser()
    try:
        shape_t = tuple(int(s) for s in shape)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"parameter 'shape': expected (t, y, x) positive ints, got {shape!r}"
        ) from exc
    if len(shape_t) != 3 or min(shape_t) < 1:
        raise InputError(f"parameter 'shape': expected (t, y, x) positive ints, got {shape!r}")
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise InputError(f"parameter 'dtype': expected a numpy dtype, got {dtype!r}") from exc
    if dt.kind not in "uif" or dt.itemsize > 8:
        raise InputError(f"parameter 'dtype': expected an integer or float type, got {dt}")
    dt = dt.newbyteorder("=")
    if pixel_size is not None and not (
        isinstance(pixel_size, (int, float)) and math.isfinite(pixel_size) and pixel_size > 0
    ):
        raise InputError(
            f"parameter 'pixel_size': expected a positive number or None, got {pixel_size!r}"
        )
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise InputError(f"parameter 'workers': expected a positive int or None, got {workers!r}")
    chunk_shape = parse_chunks(chunks, shape_t, dt)  # type: ignore[arg-type]
    codecs = make_codecs(compressor, clevel, dt)
    params = {
        "chunks": list(chunk_shape),
        "compressor": compressor,
        "clevel": int(clevel),
        "channel": None,
    }
    if dest.exists() or dest.is_symlink():
        if not overwrite:
            raise OutputExistsError(
                f"{dest}: destination exists; pass overwrite=True (--overwrite) to replace it"
            )
        remove_store(dest)
    group = new_store(
        dest,
        shape_t,
        dt,
        chunk_shape,
        codecs,
        params,
        list(source or []),
        None if pixel_size is None else float(pixel_size),
        name,
    )
    return MovieWriter(group, dest, workers=workers)
