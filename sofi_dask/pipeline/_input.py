"""Resolve a pipeline input: open a Zarr store, or ingest TIFFs once into a reusable store."""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sofi_dask.errors import ConfigError, OutputExistsError
from sofi_dask.io._lock import write_lock

logger = logging.getLogger(__name__)

InputLike = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


@dataclass(frozen=True)
class ResolvedInput:
    """The movie a run reads, where it came from, and whether ingestion ran or was reused."""

    movie: Any
    sources: tuple[Path, ...]
    store: Path | None
    ingestion: str  # "none" (read directly), "reused", "ingested"


def is_zarr_store(path: Path) -> bool:
    """Whether ``path`` is a Zarr store (v3 or v2 group), not a TIFF or a folder of TIFFs."""
    return path.is_dir() and ((path / "zarr.json").is_file() or (path / ".zgroup").is_file())


def source_paths(source: InputLike) -> list[Path]:
    """Every file or store the input names (for identity and for protecting it)."""
    if isinstance(source, str | os.PathLike):
        text = os.fspath(source)
        if any(c in text for c in "*?[") and not Path(text).exists():
            return sorted(Path(p).resolve() for p in glob.glob(text))
        return [Path(text).expanduser().resolve()]
    return [Path(p).expanduser().resolve() for p in source]


def cache_store_path(source: InputLike, cache_dir: str | os.PathLike[str] | None) -> Path:
    """Where the ingested store of a TIFF input lives: ``<input>.zarr`` beside it, or
    ``<cache_dir>/<input name>.zarr``.

    Examples
    --------
    >>> cache_store_path("/data/movie.tif", None).name
    'movie.tif.zarr'
    """
    paths = source_paths(source)
    if not paths:
        raise FileNotFoundError(f"input: no file matches {source!r}")
    if isinstance(source, str | os.PathLike) and len(paths) == 1:
        base = paths[0]
        name = base.name
    else:  # a glob or a list: name after the first file's folder and stem
        base = paths[0]
        name = f"{base.parent.name}-{base.stem}-{len(paths)}files"
    folder = Path(cache_dir).expanduser().resolve() if cache_dir else base.parent
    return folder / f"{name}.zarr"


def _store_state(
    store: Path, source: InputLike, channel: int | None, axes: str | None = None
) -> str:
    """``"missing"``, ``"current"`` (complete, same source files), ``"stale"`` (complete but
    the TIFFs changed since), ``"unfinished"`` or ``"foreign"`` (not written by ingest)."""
    import json

    import zarr

    from sofi_dask.io._tiff import open_tiff_source

    if not (store.exists() or store.is_symlink()):
        return "missing"
    try:
        info = zarr.open_group(store, mode="r").attrs.asdict().get("sofi_dask")
    except Exception:  # noqa: BLE001 - unreadable: let ingest report it precisely
        return "foreign"
    if not isinstance(info, dict) or "source" not in info:
        return "foreign"
    if not info.get("complete", False):
        return "unfinished"
    identity = json.loads(json.dumps(open_tiff_source(source, channel, axes).identity()))
    params = info.get("parameters", {})
    same = params.get("channel") == channel and params.get("axes") == (axes and axes.upper())
    return "current" if info["source"] == identity and same else "stale"


def resolve_input(
    source: InputLike,
    *,
    ingest: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    channel: int | None = None,
    axes: str | None = None,
    chunks: Any = None,
    progress: Callable[[int, int], None] | None = None,
    wait: bool = False,
) -> ResolvedInput:
    """Open the run's movie, ingesting TIFF input into a cached Zarr store on first use.

    A store that is complete and was ingested from the same files (same paths, sizes and
    modification times, as checked by :func:`sofi_dask.io.ingest`) is reused; an incomplete one
    (a killed ingestion) is completed; the TIFF files themselves are never modified.

    Parameters
    ----------
    source : path, glob or list of paths
        A Zarr store written by ``ingest``, a TIFF file, a folder or glob of TIFFs, or a list.
    ingest : bool
        Convert TIFF input into a Zarr store (reused by later runs); False reads the TIFF
        lazily in frame batches.
    cache_dir : path, optional
        Folder for the ingested store (default: beside the input).
    channel : int, optional
        Channel of a multi-channel TIFF. For a Zarr store: None or the channel it was
        ingested from, else a :class:`~sofi_dask.errors.ConfigError` (``input.channel``).
    axes : str, optional
        Declared axes of TIFF input, e.g. ``"TYX"`` (see ``sofi_dask.io.ingest``). For a Zarr
        store: None or ``"TYX"``, else a ConfigError (``input.axes``).
    chunks : optional
        Chunk shape of the ingested store (see ``sofi_dask.io.ingest``).
    progress : callable, optional
        ``progress(done_frames, total_frames)`` during ingestion.
    wait : bool
        Another process is ingesting into the same cached store: wait for it, then reuse its
        store (default: raise :class:`~sofi_dask.errors.StoreLockedError`).

    Returns
    -------
    ResolvedInput
    """
    from sofi_dask import io

    paths = source_paths(source)
    if not paths:
        raise FileNotFoundError(f"input: no file matches {source!r}")
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"input: {p} does not exist")
    if len(paths) == 1 and is_zarr_store(paths[0]):
        movie = io.open_movie(paths[0])
        _check_store_options(paths[0], movie, channel, axes)
        return ResolvedInput(movie, tuple(paths), None, "none")
    if not ingest:
        src = source if isinstance(source, str | os.PathLike) else list(paths)
        movie = io.open_movie(src, channel=channel, axes=axes)
        return ResolvedInput(movie, tuple(paths), None, "none")
    store = cache_store_path(source, cache_dir)
    src = os.fspath(source) if isinstance(source, str | os.PathLike) else [str(p) for p in paths]
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        # the state is read under the lock: a run that waited reuses the store just written
        with write_lock(store, wait=wait):
            status = _ingest_if_needed(store, source, src, channel, axes, chunks, progress)
            movie = io.open_movie(store, channel=None)
    except PermissionError as exc:
        raise PermissionError(
            f"input: cannot write the ingested store {store} ({exc}); "
            "choose a writable folder with --cache-dir"
        ) from exc
    return ResolvedInput(movie, tuple(paths), store, status)


def _check_store_options(store: Path, movie: Any, channel: int | None, axes: str | None) -> None:
    """A store holds one (t, y, x) movie: ``input.axes`` / ``input.channel`` (which describe a
    TIFF) are refused unless they say what the store already is."""
    if axes is not None and axes.strip().upper() != "TYX":
        raise ConfigError(
            "input.axes",
            f"expected null or 'TYX' for the Zarr store {str(store)!r} (a store holds one "
            f"(t, y, x) movie; axes describe a TIFF), got {axes!r}",
        )
    info = movie.attrs.get("sofi_dask")
    params = info.get("parameters", {}) if isinstance(info, dict) else {}
    ingested = params.get("channel") if isinstance(params, dict) else None
    if channel is not None and channel != ingested:
        was = "" if ingested is None else f"; it was ingested from channel {ingested}"
        raise ConfigError(
            "input.channel",
            f"expected null for the Zarr store {str(store)!r} (a store holds one channel"
            f"{was}; ingest another channel into its own store), got {channel!r}",
        )


def _ingest_if_needed(
    store: Path,
    source: InputLike,
    src: Any,
    channel: int | None,
    axes: str | None,
    chunks: Any,
    progress: Callable[[int, int], None] | None,
) -> str:
    from sofi_dask import io

    state = _store_state(store, src, channel, axes)
    if state == "current":
        logger.info("reusing ingested store %s", store)
        return "reused"
    if state == "foreign":
        raise OutputExistsError(
            f"input: {store} exists and is not a store ingested by sofi-dask; move it or "
            "choose another folder with --cache-dir"
        )
    if state == "stale":
        logger.warning("%s was ingested from other or changed files; ingesting again", store)
    logger.info("ingesting %s into %s", source, store)
    io.ingest(
        src,
        store,
        chunks=chunks,
        channel=channel,
        axes=axes,
        progress=progress,
        overwrite=state == "stale",
        lock=False,  # held by resolve_input
    )
    return "ingested"


def with_pixel_size(movie: Any, micrometres: float) -> Any:
    """``movie`` (a ``Movie``) with its pixel size set to ``micrometres``: the same frames.

    Examples
    --------
    >>> import dask.array as da
    >>> from pathlib import Path
    >>> from sofi_dask.io import Movie
    >>> with_pixel_size(Movie(da.zeros((2, 4, 4)), Path("m.tif")), 0.1).pixel_size
    0.1
    """
    meta = {**movie.attrs.get("sofi_dask", {}), "pixel_size": float(micrometres)}
    return dataclasses.replace(movie, attrs={**movie.attrs, "sofi_dask": meta})
