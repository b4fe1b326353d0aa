"""Damage to a movie store is an error naming the file, never a number.

* :func:`open_store_group` opens a store's group and ``movie`` array; a broken or deleted
  ``zarr.json`` is a :class:`~sofi_dask.errors.DamagedStoreError` naming the file and what it is.
* :func:`missing_chunks` compares the chunk files on disk (one walk of ``movie/c``) with the
  chunk grid a complete store records; :func:`check_chunks_present` refuses a store missing one,
  :func:`missing_stats_chunks` a missing chunk of the per-frame statistics (read as NaN).
* :class:`CheckedChunks` is what the lazy ``Movie.data`` reads from: a chunk that fails to
  decode (checksum mismatch, truncated, emptied) or whose file vanished raises
  ``DamagedStoreError`` naming the array, the chunk key, the file and the frames it holds.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr
from dask.base import tokenize

from sofi_dask._scratch import thread_buffer
from sofi_dask.errors import DamagedStoreError, InputError
from sofi_dask.io._chunk_read import ChunkDecodeError, ChunkFileReader
from sofi_dask.io._chunk_refs import chunk_refs_array
from sofi_dask.io._store import MOVIE, STATS

SCRATCH_LIMIT = 64 * 2**20  # bytes: larger chunks are not kept in a thread's scratch buffer
REPAIR_HINT = (
    "run `sofi-dask verify {store}` for every damaged chunk, and "
    "`sofi-dask ingest SOURCE {store} --repair` to rewrite them from the source TIFF"
)


# --------------------------------------------------------------------------- metadata
def _metadata_error(file: Path, what: str) -> InputError | None:
    """Why ``file`` (a ``zarr.json``) is unusable, or None when it parses."""
    if not file.is_file():
        v2 = [n for n in (".zgroup", ".zarray") if (file.parent / n).is_file()]
        if v2:  # a Zarr v2 store, not a damaged v3 one
            return InputError(
                f"{file.parent}: a Zarr v2 store ({v2[0]}, no zarr.json); sofi_dask reads Zarr v3 "
                "stores: ingest the source TIFF with `sofi-dask ingest`, or convert the store "
                "with zarr's `zarr migrate v3 STORE` (pip install 'zarr[cli]')"
            )
        return DamagedStoreError(f"{file}: {what} is missing (deleted?); the store is damaged")
    try:
        meta = json.loads(file.read_bytes())
    except (OSError, ValueError) as exc:
        return DamagedStoreError(f"{file}: {what} is not valid JSON ({exc}); the store is damaged")
    if not isinstance(meta, dict) or meta.get("zarr_format") != 3:
        return DamagedStoreError(f"{file}: {what} is not Zarr v3 metadata; the store is damaged")
    return None


def looks_like_store(path: Path) -> bool:
    """True for a folder that is (or was) a movie store: its group ``zarr.json`` or its
    ``movie`` array folder is there (so a deleted ``zarr.json`` is damage, not "no TIFF")."""
    return path.is_dir() and (
        (path / "zarr.json").exists() or (path / MOVIE / "zarr.json").exists()
    )


def open_store_group(path: Path, mode: str = "r") -> tuple[zarr.Group, zarr.Array]:
    """Open a movie store's group and its ``movie`` array, naming a broken metadata file."""
    for file, what in (
        (path / "zarr.json", "the store's group metadata (zarr.json)"),
        (path / MOVIE / "zarr.json", f"the metadata of the {MOVIE!r} array (zarr.json)"),
    ):
        if file == path / MOVIE / "zarr.json" and not (path / MOVIE).exists():
            raise DamagedStoreError(f"{path}: Zarr group has no {MOVIE!r} array")
        err = _metadata_error(file, what)
        if err is not None:
            raise err
    try:
        group = zarr.open_group(str(path), mode=mode)
        arr = group[MOVIE]
    except Exception as exc:  # noqa: BLE001 - any zarr failure on parsed JSON: bad contents
        raise DamagedStoreError(f"{path}: the store's metadata is not usable ({exc})") from exc
    if not isinstance(arr, zarr.Array):
        raise DamagedStoreError(f"{path}/{MOVIE}: expected an array, got a group")
    return group, arr


# --------------------------------------------------------------------------- chunk keys
def chunk_key(arr: zarr.Array, coords: tuple[int, ...]) -> str:
    """The key of chunk ``coords`` inside the array (e.g. ``c/3/0/0``)."""
    return str(arr.metadata.encode_chunk_key(tuple(int(c) for c in coords)))


def chunk_frames(arr: zarr.Array, coords: tuple[int, ...]) -> tuple[int, int]:
    """Frames ``[first, stop)`` held by chunk ``coords``."""
    depth = int(arr.chunks[0])
    t0 = int(coords[0]) * depth
    return t0, min(int(arr.shape[0]), t0 + depth)


def describe_chunk(store: Path, arr: zarr.Array, coords: tuple[int, ...], name: str = MOVIE) -> str:
    """``array 'movie', chunk c/3/0/0 (file ...), frames 768..1023`` (``name``: the array's
    path in the store, e.g. ``frame_stats/total``)."""
    key = chunk_key(arr, coords)
    t0, t1 = chunk_frames(arr, coords)
    return f"array {name!r}, chunk {key} (file {store / name / key}), frames {t0}..{t1 - 1}"


def all_chunk_coords(grid: tuple[int, ...]) -> list[tuple[int, ...]]:
    return list(itertools.product(*(range(int(n)) for n in grid)))


def present_chunk_keys(store: Path, name: str = MOVIE) -> set[str]:
    """Keys of the chunk files of array ``name`` on disk (one walk of ``<name>/c``)."""
    root = store / name
    keys = set()
    for folder, _dirs, files in os.walk(root / "c"):
        rel = Path(folder).relative_to(root).as_posix()
        keys.update(f"{rel}/{f}" for f in files if ".partial" not in f)
    return keys


def missing_chunks(store: Path, arr: zarr.Array, name: str = MOVIE) -> list[tuple[int, ...]]:
    """Chunk coordinates of array ``name`` (default ``movie``) whose file is not on disk."""
    present = present_chunk_keys(store, name)
    return [c for c in all_chunk_coords(arr.cdata_shape) if chunk_key(arr, c) not in present]


def missing_chunk_error(
    store: Path, arr: zarr.Array, missing: list[tuple[int, ...]], name: str = MOVIE
) -> DamagedStoreError:
    """The error for chunk files of array ``name`` missing from a complete store."""
    more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
    return DamagedStoreError(
        f"{store}: missing chunk file: {describe_chunk(store, arr, missing[0], name)}{more}; "
        + REPAIR_HINT.format(store=store)
    )


def records_chunks(info: dict[str, Any] | None) -> bool:
    """True when a complete store says every chunk of its grid was written."""
    rec = (info or {}).get("chunks_written")
    return isinstance(rec, dict) and bool(rec.get("all"))


def check_chunks_present(store: Path, arr: zarr.Array, info: dict[str, Any] | None) -> None:
    """Refuse a complete store that records its chunks and misses one (named)."""
    if not records_chunks(info):
        return  # written before the record existed: damage shows when the chunk is read
    rec = info["chunks_written"]  # type: ignore[index]
    if [int(n) for n in rec.get("grid", [])] != [int(n) for n in arr.cdata_shape]:
        raise DamagedStoreError(
            f"{store / MOVIE / 'zarr.json'}: chunk grid {list(arr.cdata_shape)} differs from "
            f"the one recorded when the store was written ({rec.get('grid')})"
        )
    missing = missing_chunks(store, arr)
    if missing:
        raise missing_chunk_error(store, arr, missing)


def missing_stats_chunks(store: Path, group: zarr.Group, name: str) -> list[tuple[int, ...]]:
    """Chunk coordinates of ``frame_stats/<name>`` whose file is not on disk (zarr would
    read a missing one as its fill value: NaN statistics, no error).

    Every chunk of the statistics of a complete store is on disk: NaN pixels are refused
    when a store is written, so no statistic is NaN and zarr skipped no chunk equal to the
    NaN fill value (and :func:`~sofi_dask.io._store.write_frame_stats` writes such chunks
    anyway). The files are checked, never the values."""
    return missing_chunks(store, group[f"{STATS}/{name}"], f"{STATS}/{name}")


# --------------------------------------------------------------------------- reading
def _covered(arr: zarr.Array, key: tuple[slice, ...]) -> list[tuple[int, ...]]:
    ranges = []
    for sl, size, chunk in zip(key, arr.shape, arr.chunks, strict=True):
        start, stop, _ = sl.indices(int(size))
        if stop <= start:
            return []
        ranges.append(range(start // int(chunk), (stop - 1) // int(chunk) + 1))
    return list(itertools.product(*ranges))


class CheckedChunks:
    """Array-like over a store's ``movie`` for ``dask.array.from_array``: each read checks the
    chunk files exist (when the store records them all) and turns a decode failure (checksum
    mismatch, truncated or emptied file) into :class:`DamagedStoreError` naming the chunk.

    Pickles as the store path (each worker opens the array itself).
    """

    def __init__(self, store: Path, arr: zarr.Array, check_files: bool) -> None:
        self.store = Path(store)
        self.arr = arr
        self.check_files = check_files
        self.shape = tuple(int(s) for s in arr.shape)
        self.dtype = np.dtype(arr.dtype)
        self.ndim = len(self.shape)
        self.reader = ChunkFileReader.for_array(arr)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reopen, (str(self.store), self.check_files))

    def _damaged(self, coords: tuple[int, ...], why: str) -> DamagedStoreError:
        return DamagedStoreError(
            f"{self.store}: damaged chunk: {describe_chunk(self.store, self.arr, coords)}: "
            f"{why}; " + REPAIR_HINT.format(store=self.store)
        )

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        slices = all(isinstance(k, slice) for k in key) and len(key) == self.ndim
        covered = _covered(self.arr, key) if slices else []
        if self.check_files:
            for c in covered:
                if not (self.store / MOVIE / chunk_key(self.arr, c)).is_file():
                    raise self._damaged(c, "the chunk file is missing")
        if self.reader is not None and len(covered) == 1:
            whole = self._read_whole(covered[0], key)
            if whole is not None:
                return whole
        try:
            return np.asarray(self.arr[key])
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - any decode failure is damage
            for c in covered:  # find the chunk that fails (one, unless dask merged slices)
                sel = tuple(
                    slice(i * int(ch), (i + 1) * int(ch))
                    for i, ch in zip(c, self.arr.chunks, strict=True)
                )
                try:
                    self.arr[sel]
                except Exception as inner:  # noqa: BLE001
                    raise self._damaged(c, f"it cannot be decoded ({inner})") from inner
            raise DamagedStoreError(
                f"{self.store}: reading {MOVIE!r}{list(key)} failed ({exc}); "
                + REPAIR_HINT.format(store=self.store)
            ) from exc

    def _read_whole(
        self,
        coords: tuple[int, ...],
        key: tuple[slice, ...],
        out: np.ndarray | None = None,
        part: bool = False,
    ) -> np.ndarray | None:
        """Chunk ``coords`` read by the file reader (into ``out`` when given) when ``key``
        selects it whole (the tasks of :func:`store_dask_array` do; with ``part``, any
        contiguous part of it), else None (zarr reads it). The result is C-contiguous."""
        sel = []
        for c, sl, size, ch in zip(coords, key, self.shape, self.arr.chunks, strict=True):
            start, stop, step = sl.indices(size)
            first = c * int(ch)
            whole = start == first and stop == min(size, first + int(ch))
            if step != 1 or not (whole or part):
                return None
            sel.append(slice(start - first, stop - first))
        try:
            out = self.reader.read(coords, out)  # type: ignore[union-attr]
        except FileNotFoundError:
            if self.check_files:
                raise self._damaged(coords, "the chunk file is missing") from None
            return None  # never written (a store without the record): zarr's fill value
        except (ChunkDecodeError, OSError) as exc:
            raise self._damaged(coords, f"it cannot be decoded ({exc})") from exc
        if out.shape != tuple(s.stop - s.start for s in sel):  # an edge chunk or a part
            view = out[tuple(sel)]
            out = view if view.flags.c_contiguous else np.ascontiguousarray(view)
        return out

    def read_scratch(self, key: Any) -> np.ndarray:
        """``self[key]`` for a selection inside one chunk, the chunk read into this thread's
        scratch buffer (:mod:`sofi_dask._scratch`): the result is valid only until this
        thread's next ``read_scratch`` and must never leave the caller's task (no fresh
        pages per chunk). Other selections, layouts and chunks over ``SCRATCH_LIMIT`` bytes
        are read as ``self[key]``."""
        key = key if isinstance(key, tuple) else (key,)
        slices = all(isinstance(k, slice) for k in key) and len(key) == self.ndim
        covered = _covered(self.arr, key) if slices else []
        reader = self.reader
        if reader is None or len(covered) != 1 or reader.nbytes > SCRATCH_LIMIT:
            return self[key]
        coords = covered[0]
        if self.check_files and not (self.store / MOVIE / chunk_key(self.arr, coords)).is_file():
            raise self._damaged(coords, "the chunk file is missing")
        buf = thread_buffer("movie-chunk", reader.nbytes).view(reader.dtype).reshape(reader.chunks)
        got = self._read_whole(coords, key, out=buf, part=True)
        return self[key] if got is None else got


def _reopen(store: str, check_files: bool) -> CheckedChunks:
    group, arr = open_store_group(Path(store))
    return CheckedChunks(Path(store), arr, check_files)


def _token(path: Path, arr: zarr.Array, info: dict[str, Any] | None) -> str:
    meta = path / MOVIE / "zarr.json"
    written = meta.stat().st_mtime_ns if meta.exists() else None  # a re-ingest: new keys
    return tokenize(str(path.resolve()), (info or {}).get("created"), written, arr.chunks)


def store_dask_array(path: Path, arr: zarr.Array, info: dict[str, Any] | None) -> da.Array:
    """The lazy ``movie`` of a store, one task per stored chunk, read through
    :class:`~sofi_dask.io._integrity.CheckedChunks` (damage raises, naming the chunk)."""
    checked = CheckedChunks(path, arr, records_chunks(info))
    return da.from_array(
        checked,
        chunks=arr.chunks,
        name=f"read-zarr-{_token(path, arr, info)}",
        meta=np.empty((0,) * arr.ndim, dtype=arr.dtype),
        asarray=False,
        fancy=False,
    )


def store_chunk_refs(path: Path, arr: zarr.Array, info: dict[str, Any] | None) -> da.Array | None:
    """The same movie as :func:`store_dask_array` with :class:`~sofi_dask.io._chunk_refs.
    ChunkRef` blocks (read by their consumer into a scratch buffer), or None when the chunk
    file reader does not read this store's layout (nothing to gain)."""
    checked = CheckedChunks(path, arr, records_chunks(info))
    if checked.reader is None:
        return None
    return chunk_refs_array(checked, arr.chunks, f"chunk-refs-{_token(path, arr, info)}")
