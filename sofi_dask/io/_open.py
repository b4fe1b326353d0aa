"""Movies in and out: TIFF -> Zarr ingestion and lazy opening of stores and TIFFs.

Public names: :func:`ingest`, :func:`open_movie`, :class:`Movie`, :class:`FrameStats`,
:func:`movie_info`, and :func:`create_movie` / :class:`MovieWriter` to write a movie made in
memory (batches of frames) into the same kind of store. See docs/architecture.md for the
store layout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from sofi_dask.errors import DamagedStoreError, IncompleteStoreError, InputError, OutputExistsError
from sofi_dask.io import _store
from sofi_dask.io._integrity import (
    check_chunks_present,
    looks_like_store,
    missing_chunk_error,
    missing_stats_chunks,
    open_store_group,
    store_chunk_refs,
    store_dask_array,
)
from sofi_dask.io._lock import write_lock
from sofi_dask.io._movie import FrameStats, Movie
from sofi_dask.io._space import explain_disk_full, human_bytes

if TYPE_CHECKING:
    from sofi_dask.io._tiff import TiffSource

# TIFF reading and the ingest (tifffile, the TIFF layouts, the ingest tasks and their numba
# kernels, the source fingerprints) are imported where a TIFF is read: opening a store needs
# none of them (~15-20 ms of imports of a run on a store)

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
Source = PathLike | Sequence[PathLike]

__all__ = ["FrameStats", "Movie", "ingest", "open_movie"]


# --------------------------------------------------------------------------- helpers
def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def _version() -> str:
    from sofi_dask import __version__

    return __version__


def _tiff_attrs(source: TiffSource) -> dict[str, Any]:
    info = {
        "version": _version(),
        "complete": True,
        "source": source.identity(),
        "shape": list(source.shape),
        "dtype": source.dtype.str,
        "pixel_size": source.pixel_size,
    }
    return _jsonable(_store.group_attrs(Path(source.layouts[0].path).name, source.pixel_size, info))


# --------------------------------------------------------------------------- ingest
def ingest(
    source: Source,
    dest: PathLike,
    *,
    chunks: int | tuple[int, int, int] | None = None,
    compressor: str = "lz4",
    clevel: int = 5,
    overwrite: bool = False,
    channel: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    repair: bool = False,
    wait: bool = False,
    lock: bool = True,
    axes: str | None = None,
) -> Path:
    """Convert a TIFF movie (one file or an ordered sequence) into a Zarr v3 store.

    The store holds ``movie`` (t, y, x) in the original dtype, Blosc-compressed, and the
    per-frame statistics ``frame_stats/{total,minimum,maximum,mean}`` computed in the same
    pass. Running ``ingest`` again after an interruption (even SIGKILL) finishes the store;
    the store is marked complete only once every chunk is written. The source is only read.

    Parameters
    ----------
    source : path, glob pattern, folder or list of paths
        A TIFF (classic, BigTIFF, ImageJ hyperstack, OME-TIFF) or several TIFFs taken as
        one movie: folders and patterns in natural sort order (``Block2`` before
        ``Block10``), lists in the order given.
    dest : path
        The Zarr store to write (a directory, conventionally ``*.zarr``).
    chunks : int or (t, y, x), optional
        Chunk shape (``-1`` = full axis; an int = frames per chunk). Default: whole frames at
        ~32 MB per chunk, or 128 frames x spatial tiles for big frames (see
        :func:`sofi_dask.io._store.default_chunks`).
    compressor : {"lz4", "zstd", "blosclz", "zlib", "none"}
        Blosc compressor (with byte shuffle). ``"lz4"`` is fast enough to keep up with disk
        copies; ``"zstd"`` compresses ~15 % better at a third of the speed.
    clevel : int
        Compression level 0..9.
    overwrite : bool
        Replace an existing store at ``dest``. Without it an existing destination is
        refused, except an unfinished ingest of the same source, which is resumed, and a
        complete store of the same source and parameters, which is kept as it is.
    channel : int, optional
        Channel to take from a multi-channel or RGB file.
    progress : callable, optional
        ``progress(done_frames, total_frames)``, called from the calling thread.
    workers : int, optional
        Writer threads (default: twice the CPUs, 2..16, fewer for big chunk bands so that
        the task buffers stay under ~768 MB). Memory ~ 3 x workers x chunk-band size.
    repair : bool
        ``dest`` is a complete store of this source: read every chunk (as
        :func:`~sofi_dask.io._verify.verify_store`) and rewrite only the damaged ones (missing,
        failing their checksum, or holding frames whose statistics changed) from the source.
    wait : bool
        Another process is writing ``dest``: wait for it (default: raise
        :class:`~sofi_dask.errors.StoreLockedError`).
    axes : str, optional
        Declare the axes of the TIFF(s), e.g. ``"TYX"`` for an ImageJ stack whose metadata
        calls its time axis channels (``"CYX"``); same letters from Y on as stored.
    lock : bool
        Hold ``dest``'s write lock (:func:`~sofi_dask.io._lock.write_lock`) while writing;
        False only when the caller holds it.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    FileNotFoundError
        The source does not exist.
    FileExistsError
        ``dest`` exists (and is not an ingest of this source with these parameters, unfinished
        or complete) and not ``overwrite``.
    StoreLockedError
        Another process is writing ``dest`` and not ``wait``.
    ValueError
        The source is not a usable movie (not a TIFF, truncated, a single image, zero
        frames, several channels without ``channel=``) or a parameter is invalid.

    Examples
    --------
    >>> ingest("movie.tif", "movie.zarr")  # doctest: +SKIP
    PosixPath('movie.zarr')
    """
    from sofi_dask.io import _source_digests as digests_
    from sofi_dask.io._ingest import compressed_depth
    from sofi_dask.io._tiff import check_dest_outside, open_tiff_source

    dest = Path(dest).expanduser()
    src = open_tiff_source(source, channel=channel, axes=axes)
    check_dest_outside(dest, src)
    shape, dtype = src.shape, src.dtype
    chunk_shape = _store.parse_chunks(chunks, shape, dtype)
    if chunks is None and src.decode_rows:  # compressed: whole strips per task, RSS bounded
        depth = compressed_depth(chunk_shape, src.decode_rows, dtype.itemsize)
        chunk_shape = (depth, *chunk_shape[1:])
    codecs = _store.make_codecs(compressor, clevel, dtype)
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise InputError(f"parameter 'workers': expected a positive int or None, got {workers!r}")
    params = _jsonable(
        {"chunks": chunk_shape, "compressor": compressor, "clevel": clevel, "channel": channel}
        | ({"axes": axes.upper()} if axes else {})
    )
    digests = digests_.deferred(src) and not repair  # frame files: fingerprints as read
    identity = _jsonable(src.identity(content=not digests))
    dest.parent.mkdir(parents=True, exist_ok=True)
    with write_lock(dest, wait=wait) if lock else contextlib.nullcontext():
        if repair:
            from sofi_dask.io._verify import repair_store

            return repair_store(dest, src, identity, params, workers=workers)
        if not overwrite and _complete_from(dest, src, identity if not digests else None, params):
            logger.info("%s: already complete from this source; nothing to do", dest)
            return dest
        _write_store(
            src, dest, chunk_shape, codecs, params, identity, overwrite, progress, workers, digests
        )
    return dest


def _write_store(
    src: TiffSource,
    dest: Path,
    chunk_shape: tuple[int, int, int],
    codecs: list[Any],
    params: dict[str, Any],
    identity: list[Any],
    overwrite: bool,
    progress: Callable[[int, int], None] | None,
    workers: int | None,
    digests: bool = False,
) -> None:
    from sofi_dask.io import _source_digests as digests_
    from sofi_dask.io._ingest import IngestPlan, write_movie

    shape, dtype = src.shape, src.dtype
    group = None
    if dest.exists() or dest.is_symlink():
        if overwrite:
            _store.remove_store(dest)
        else:
            group = _resumable(dest, identity, params)
    if group is None:
        group = _store.new_store(
            dest, shape, dtype, chunk_shape, codecs, params, identity, src.pixel_size
        )
        done = np.zeros(IngestPlan(shape, chunk_shape).grid, dtype=bool)
        if digests:
            digests_.create_record(group, shape[0], chunk_shape[0])
    else:
        logger.info("%s: resuming an unfinished ingest", dest)
        if digests:
            digests_.check_recorded(dest, group, src, IngestPlan(shape, chunk_shape))
        _store.remove_partials(dest)
        done = _store.done_records(group)
    plan = IngestPlan(shape, chunk_shape)
    raw = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize

    def needed() -> str:  # the compression ratio so far times the raw movie
        frac = float(_store.done_records(group).mean())
        stored = _store.stored_bytes(dest / _store.MOVIE)
        if frac <= 0 or stored <= 0:
            return f"up to {human_bytes(raw)} (the raw movie)"
        return f"about {human_bytes(stored / frac)} in all ({human_bytes(stored)} written)"

    try:
        with explain_disk_full(dest, "the movie store", needed):
            write_movie(src, group, plan, done, workers=workers, progress=progress)
    except InputError:
        # a file of the source is not what the first one promised (files of a frame
        # sequence are checked as they are read): leave nothing behind but the error
        if not done.any():
            _store.remove_store(dest)
        raise
    full = digests_.completed_identity(group, src, identity) if digests else None
    _store.finalize(group, shape[1] * shape[2], source=full)


def _resumable(dest: Path, identity: list[Any], params: dict[str, Any]) -> zarr.Group | None:
    hint = "pass overwrite=True (--overwrite) to replace it"
    if not _store.is_zarr(dest):
        raise OutputExistsError(f"{dest}: destination exists; {hint}")
    try:
        group = zarr.open_group(str(dest), mode="r+")
    except Exception as exc:
        raise OutputExistsError(f"{dest}: destination exists ({exc}); {hint}") from exc
    info = _store.sofi_info(group)
    if info is None:
        raise OutputExistsError(
            f"{dest}: destination exists (a Zarr store not written by sofi_dask); {hint}"
        )
    if info.get("complete"):
        raise OutputExistsError(
            f"{dest}: destination already holds a complete movie of another source (or the "
            f"source changed since, or other ingest parameters); {hint}"
        )
    if info.get("source") != identity:
        raise OutputExistsError(
            f"{dest}: holds an unfinished ingest of another source (or the source changed "
            f"since); {hint}"
        )
    if info.get("parameters") != params:
        raise OutputExistsError(
            f"{dest}: holds an unfinished ingest with other parameters {info.get('parameters')} "
            f"(now {params}); {hint}"
        )
    records = (f"{_store.INGEST}/done", f"{_store.INGEST}/band_stats", _store.MOVIE)
    if any(name not in group for name in records):
        # killed while being created: no task ran (they need the records), nothing to keep
        logger.info("%s: unfinished store killed while being created; starting over", dest)
        _store.remove_store(dest)
        return None
    return group


def complete_info(dest: Path) -> dict[str, Any] | None:
    """The ``sofi_dask`` attributes of a complete movie store at ``dest``, else None."""
    if not _store.is_movie_store(dest):
        return None
    try:
        info = _store.sofi_info(zarr.open_group(str(dest), mode="r")) or {}
    except Exception:  # noqa: BLE001 - unreadable: the ingest names what is wrong
        return None
    return info if info.get("complete") else None


def _complete_from(dest: Path, src: TiffSource, identity: Any, params: dict[str, Any]) -> bool:
    """``dest`` is complete, of this source (as a run's cached store: same files, sizes, times
    and contents) and these ingest parameters: an ingest run again has nothing to do."""
    info = complete_info(dest)
    if info is None or info.get("parameters") != params:
        return False
    return info.get("source") == (identity or _jsonable(src.identity()))


# --------------------------------------------------------------------------- open
def _open_zarr(path: Path) -> tuple[zarr.Group | None, zarr.Array]:
    if (path / _store.MOVIE).is_dir() or not (path / "zarr.json").exists():
        return open_store_group(path)  # ours (or what is left of it): names a broken file
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as exc:
        raise DamagedStoreError(
            f"{path / 'zarr.json'}: cannot open the Zarr metadata ({exc})"
        ) from exc
    if isinstance(node, zarr.Array):
        return None, node
    raise InputError(f"{path}: Zarr group has no {_store.MOVIE!r} array")


def _frame_stats(path: Path, group: zarr.Group) -> FrameStats | None:
    if _store.STATS not in group:
        return None
    values = {}
    for k in _store.STAT_NAMES:
        try:
            missing = missing_stats_chunks(path, group, k)
            values[k] = np.asarray(group[_store.STATS][k][...])
        except Exception as exc:  # noqa: BLE001 - missing, truncated or corrupted
            raise DamagedStoreError(
                f"{path / _store.STATS / k}: the stored per-frame statistics "
                f"({_store.STATS}/{k}) cannot be read ({exc}); the store is damaged"
            ) from exc
        if missing:  # zarr reads a missing chunk as NaN
            arr = group[f"{_store.STATS}/{k}"]
            raise missing_chunk_error(path, arr, missing, f"{_store.STATS}/{k}")
    return FrameStats(**values)


def open_movie(
    path: Source, *, channel: int | None = None, chunks: Any = None, axes: str | None = None
) -> Movie:
    """Open a movie lazily: a Zarr store written by :func:`ingest`, or TIFF file(s) directly.

    TIFFs are read in batches of frames (one task per chunk, never per page); a store that
    an interrupted ingest left unfinished is refused.

    Parameters
    ----------
    path : path, glob pattern, folder or list of paths
        A Zarr store, or what :func:`ingest` accepts as ``source``.
    channel : int, optional
        Channel of a multi-channel TIFF.
    chunks : int or (t, y, x), optional
        Chunks of the dask array for TIFF input (Zarr input keeps the stored chunks).
    axes : str, optional
        Declared axes of TIFF input (see :func:`ingest`).

    Returns
    -------
    Movie

    Raises
    ------
    FileNotFoundError, ValueError
        Missing path, unreadable or incomplete store, or an unusable TIFF (see :func:`ingest`).

    Examples
    --------
    >>> movie = open_movie("movie.zarr")  # doctest: +SKIP
    >>> movie.data.mean(axis=0).compute()  # doctest: +SKIP
    """
    if isinstance(path, (str, os.PathLike)) and (
        _store.is_zarr(Path(path)) or looks_like_store(Path(path))
    ):
        p = Path(path)
        group, arr = _open_zarr(p)
        attrs = dict(group.attrs.asdict()) if group is not None else {}
        info = _store.sofi_info(group) if group is not None else None
        if info is not None and not info.get("complete", False):
            raise IncompleteStoreError(
                f"{p}: incomplete store: its ingest did not finish; run `sofi-dask ingest` "
                "again with the same source to complete it (or overwrite it)"
            )
        if arr.ndim != 3:
            raise InputError(f"{p}: expected a (t, y, x) movie, got shape {arr.shape}")
        if info is not None:
            check_chunks_present(p, arr, info)
        stats = _frame_stats(p, group) if group is not None else None
        refs = store_chunk_refs(p, arr, info)
        return Movie(store_dask_array(p, arr, info), p, attrs, stats, refs)
    from sofi_dask.io._tiff import open_tiff_source, tiff_to_dask

    src = open_tiff_source(path, channel=channel, axes=axes)
    first = Path(path) if isinstance(path, (str, os.PathLike)) else Path(src.layouts[0].path)
    return Movie(tiff_to_dask(src, chunks), first, _tiff_attrs(src), None)
