"""Writers of simulated movies: contiguous (Big)TIFF or a Zarr movie store, in frame batches.

Outputs appear under their final name only when complete (written to a hidden temporary
beside the destination, flushed, then renamed: :mod:`sofi_dask.io._atomic`); ground truth goes
beside the movie as ``<movie>.truth.csv`` (one row per emitter) and ``<movie>.simulation.json``
(parameters).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from sofi_dask import __version__
from sofi_dask._validation import check_bool, check_positive_int
from sofi_dask.io._atomic import AtomicOutputDir, atomic_output
from sofi_dask.simulate._config import SimulationConfig, resolve_config
from sofi_dask.simulate._emitters import GroundTruth
from sofi_dask.simulate._engine import iter_simulated_batches

__all__ = ["truth_paths", "write_simulated_tiff", "write_simulated_zarr"]

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
_TRUTH_COLUMNS = ["x", "y", "filament", "photons", "bleach_frame", "on_frames"]


def truth_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ground-truth CSV and parameter JSON written beside the movie at ``path``.

    Examples
    --------
    >>> [p.name for p in truth_paths("/data/movie.tif")]
    ['movie.tif.truth.csv', 'movie.tif.simulation.json']
    """
    path = Path(path)
    return (
        path.with_name(path.name + ".truth.csv"),
        path.with_name(path.name + ".simulation.json"),
    )


def _write_sidecars(path: Path, config: SimulationConfig, truth: GroundTruth) -> None:
    """Ground truth and parameters beside the movie (they belong to it: replaced with it)."""
    csv_path, json_path = truth_paths(path)
    with atomic_output(csv_path, overwrite=True) as tmp:
        truth.to_csv(tmp)
    record = {
        "sofi_dask_version": __version__,
        "movie": path.name,
        "shape": list(config.shape),
        "dtype": "uint16",
        "n_emitters": truth.n_emitters,
        "config": config.to_dict(),
    }
    with atomic_output(json_path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(record, indent=2))


def _pwrite_all(fd: int, data: np.ndarray, offset: int) -> None:
    view = memoryview(np.ascontiguousarray(data)).cast("B")
    while view.nbytes:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _tiff_into(
    target: Path,
    config: SimulationConfig,
    batch_frames: int | None,
    threads: int | None,
    progress: Progress | None,
) -> GroundTruth:
    """Write the movie as a contiguous (Big)TIFF at ``target``; return the ground truth."""
    height, width = config.frame_shape
    frame_bytes = 2 * height * width
    # pages' IFDs (~200 B each) and the header come on top of the pixel data
    bigtiff = config.nbytes + 512 * config.n_frames + 2**20 >= 2**32
    pixels_per_cm = 1e4 / config.pixel_size
    with tifffile.TiffWriter(target, bigtiff=bigtiff) as tif:
        offset, _ = tif.write(
            shape=config.shape,
            dtype=np.uint16,
            photometric="minisblack",
            resolution=(pixels_per_cm, pixels_per_cm),
            resolutionunit="CENTIMETER",
            metadata={"axes": "TYX", "sofi_dask_simulation": config.to_dict()},
            software=f"sofi_dask {__version__}",
            returnoffset=True,
        )
    result: list[GroundTruth] = []
    done = 0
    with open(target, "r+b") as fh:
        for start, frames in iter_simulated_batches(
            config, batch_frames=batch_frames, threads=threads, on_done=result.append
        ):
            _pwrite_all(fh.fileno(), frames, offset + start * frame_bytes)
            done += frames.shape[0]
            if progress is not None:
                progress(done, config.n_frames)
    return result[0]


def write_simulated_tiff(
    path: str | os.PathLike[str],
    config: SimulationConfig | None = None,
    *,
    batch_frames: int | None = None,
    threads: int | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    **overrides: Any,
) -> Path:
    """Simulate a movie straight to a contiguous multi-page TIFF, in frame batches.

    The file is a plain uncompressed TIFF (BigTIFF past 4 GB) with one page per frame and
    contiguous pixel data, so ``tifffile.memmap(path, mode="r")`` maps it. Memory stays at two
    batches whatever the movie's size. Ground truth goes to ``<path>.truth.csv`` and the
    parameters to ``<path>.simulation.json``.

    Parameters
    ----------
    path : path-like
        Destination TIFF.
    config : SimulationConfig, optional
        Parameters (default: ``SimulationConfig()``); ``**overrides`` replace some of them.
    batch_frames : int, optional
        Frames rendered per batch (default: about 32 MB). The bytes do not depend on it.
    threads : int, optional
        Rendering threads (default: the CPUs available).
    overwrite : bool
        Replace an existing file (default: refuse).
    progress : callable, optional
        ``progress(done_frames, total_frames)`` after each batch.

    Returns
    -------
    pathlib.Path
        The TIFF written.

    Raises
    ------
    ValueError
        If a parameter is invalid.
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    FileNotFoundError
        If the destination folder does not exist.

    Examples
    --------
    >>> write_simulated_tiff("movie.tif", n_frames=5000, frame_shape=(128, 128))  # doctest: +SKIP
    PosixPath('movie.tif')
    """
    cfg = resolve_config(config, overrides)
    overwrite = check_bool(overwrite, "overwrite")
    with atomic_output(path, overwrite=overwrite) as tmp:
        truth = _tiff_into(tmp, cfg, batch_frames, threads, progress)
        _write_sidecars(Path(path), cfg, truth)  # before the movie: it appears last
    path = Path(path)
    logger.info("simulated %s frames of %s into %s", cfg.n_frames, cfg.frame_shape, path)
    return path


#: Upper bound of one time chunk of whole frames when the simulator picks the Zarr chunks:
#: frames are rendered one time chunk (or several) at a time, two batches in flight.
ZARR_BATCH_BYTES = 128 << 20


def _zarr_chunks(config: SimulationConfig, chunks: Any) -> tuple[int, int, int]:
    """Chunks of a simulated store: the given ones, else ingest's default with the time depth
    capped so that one time chunk of whole frames stays under :data:`ZARR_BATCH_BYTES`."""
    from sofi_dask.io import _store

    shape = config.shape
    if chunks is not None:
        return _store.parse_chunks(chunks, shape, np.dtype(np.uint16))
    default = _store.default_chunks(shape, np.dtype(np.uint16))
    frame_bytes = 2 * shape[1] * shape[2]
    if default[0] * frame_bytes <= ZARR_BATCH_BYTES:
        return default
    depth = max(1, min(shape[0], ZARR_BATCH_BYTES // frame_bytes))
    return _store.default_chunks((depth, shape[1], shape[2]), np.dtype(np.uint16))


def write_simulated_zarr(
    path: str | os.PathLike[str],
    config: SimulationConfig | None = None,
    *,
    chunks: int | tuple[int, ...] | None = None,
    batch_frames: int | None = None,
    threads: int | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    **overrides: Any,
) -> Path:
    """Simulate a movie straight into a Zarr v3 store laid out like :func:`sofi_dask.io.ingest`'s.

    Frame batches go through :func:`sofi_dask.io.create_movie`'s writer (the same chunks,
    per-frame statistics and completion records as an ingested movie; one write of the data,
    no temporary TIFF). The store is built under a hidden temporary name beside ``path`` and
    renamed when complete, so ``path`` never holds a half-written movie. The ground truth is
    stored in the group as the array ``ground_truth`` (columns in its attrs), the parameters in
    the group attribute ``sofi_dask_simulation``, and beside the store as
    ``<path>.truth.csv`` / ``<path>.simulation.json``.

    Parameters
    ----------
    path : path-like
        Destination store (a folder).
    config : SimulationConfig, optional
        Parameters; ``**overrides`` replace some of them.
    chunks : int or (t, y, x), optional
        Chunk shape (as for ``ingest``). Default: ``ingest``'s, with at most ~128 MB of
        whole frames per time chunk (big frames get fewer frames per chunk).
    batch_frames : int, optional
        Frames rendered per batch, rounded down to a multiple of the chunk depth (default: one
        time chunk). Memory ~ 3 batches. The bytes do not depend on it.
    threads, overwrite, progress
        As for :func:`write_simulated_tiff`. ``overwrite`` replaces only a movie store written
        by sofi_dask (or an empty folder).

    Returns
    -------
    pathlib.Path
        The store written.

    Raises
    ------
    ValueError
        If a parameter is invalid.
    OutputExistsError
        If ``path`` exists and ``overwrite`` is False (a ``FileExistsError``).
    InputError
        If ``path`` is a file, a link or a non-empty folder that is not a movie store written
        by sofi_dask (``overwrite`` never deletes those).
    FileNotFoundError
        If the destination folder does not exist.

    Examples
    --------
    >>> write_simulated_zarr("movie.zarr", n_frames=2000)  # doctest: +SKIP
    PosixPath('movie.zarr')
    """
    from sofi_dask import io
    from sofi_dask.io import _store

    cfg = resolve_config(config, overrides)
    atomic = AtomicOutputDir(
        path,
        overwrite=check_bool(overwrite, "overwrite"),
        replaceable=_store.is_movie_store,
        what="store",
        name="path",
    )
    path = atomic.final
    chunk_shape = _zarr_chunks(cfg, chunks)
    depth = chunk_shape[0]
    if batch_frames is not None:
        batch_frames = check_positive_int(batch_frames, "batch_frames")
    batch = depth if batch_frames is None else depth * max(1, batch_frames // depth)
    if batch_frames is not None and batch != batch_frames:
        logger.info(
            "batch_frames %s rounded to %s (whole time chunks of %s)", batch_frames, batch, depth
        )
    source = [{"simulated": True, "seed": cfg.seed, "generator": "sofi_dask.simulate"}]
    with atomic as tmp:
        result: list[GroundTruth] = []
        writer = io.create_movie(
            tmp,
            cfg.shape,
            np.uint16,
            chunks=chunk_shape,
            pixel_size=cfg.pixel_size,
            source=source,
            name=path.name,
            overwrite=True,  # the empty temporary folder AtomicOutputDir made for it
        )
        done = 0
        for start, frames in iter_simulated_batches(
            cfg, batch_frames=batch, threads=threads, on_done=result.append
        ):
            writer.write(start, frames)
            done += frames.shape[0]
            if progress is not None:
                progress(done, cfg.n_frames)
        truth = result[0]
        table = truth.as_table()
        group = writer.group
        arr = group.create_array("ground_truth", shape=table.shape, dtype="float64")
        arr[...] = table
        arr.attrs["columns"] = _TRUTH_COLUMNS
        group.attrs["sofi_dask_simulation"] = {
            "config": cfg.to_dict(),
            "ground_truth_columns": _TRUTH_COLUMNS,
            "sofi_dask_version": __version__,
        }
        writer.close()  # complete only now, with everything in it
        _write_sidecars(path, cfg, truth)  # before the store: it appears last
    logger.info("simulated %s frames of %s into %s", cfg.n_frames, cfg.frame_shape, path)
    return path
