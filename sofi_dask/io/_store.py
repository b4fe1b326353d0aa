"""The Zarr v3 store written by :func:`sofi_dask.io.ingest`: layout, codecs, chunking, state.

Layout of a store ``movie.zarr``::

    movie.zarr/                      group; attrs "ome" (OME-NGFF 0.5), "sofi_dask"
      movie                          (t, y, x) original dtype, Blosc-compressed chunks
      frame_stats/total|minimum|maximum|mean   (t,) float64, written when the ingest completes
      _ingest/done                   (n_time_chunks, n_bands) uint8 completion records
      _ingest/band_stats             (t, n_bands, 3) float64 per-band total/min/max

Every array's codec chain ends with Zarr v3's ``crc32c`` checksum codec (after the compressor),
so a corrupted or truncated chunk fails to decode instead of giving wrong numbers. Every chunk
of ``movie`` is written (also chunks equal to the fill value), and a complete store records its
chunk grid (``sofi_dask.chunks_written``), so a missing chunk file is damage, found when the
store is opened (see :mod:`sofi_dask.io._integrity`).

``_ingest`` exists only while an ingest is unfinished. A record in ``_ingest/done`` is written
after the chunks of its task (zarr writes every key atomically), so a resumed ingest redoes
exactly the tasks without a record. Zarr 3 skips writing chunks equal to the fill value
(``write_empty_chunks=False``), so a missing chunk never means "not written": only the
records do. The group attribute ``sofi_dask.complete`` turns true last.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec, Crc32cCodec

from sofi_dask.errors import IncompleteStoreError, InputError, OutputExistsError
from sofi_dask.io._ome import ngff_attrs

MOVIE = "movie"
STATS = "frame_stats"
INGEST = "_ingest"
STAT_NAMES = ("total", "minimum", "maximum", "mean")
COMPRESSORS = ("lz4", "zstd", "blosclz", "zlib", "none")
TARGET_CHUNK_BYTES = 32 << 20
MAX_WHOLE_FRAME_CHUNK = 64 << 20
TIME_DEPTH = 256
BIG_FRAME_DEPTH = 128
"""Time depth of the default chunks of frames over 256 KB: (128, 64, 2048) for 2048 x 2048
uint16 was faster than (256, 32, 2048) for the default run, the SOFI video and
``distributed`` (``bench/chunks.py``, docs/benchmarks.md): taller strips cut the overlap of
LDRC's windows and the per-strip overheads."""
CHECKSUM = "crc32c"


def checksum_codecs() -> list[Any]:
    """The codecs of an uncompressed array: only the checksum."""
    return [Crc32cCodec()]


# --------------------------------------------------------------------------- parameters
def make_codecs(compressor: str, clevel: int, dtype: np.dtype) -> list[Any]:
    """Zarr v3 bytes-to-bytes codecs for ``compressor`` (a Blosc codec name, or ``"none"``),
    followed by the ``crc32c`` checksum.

    Blosc with byte shuffle is used for every name: on camera noise it compresses as well as
    plain Zstd and several times faster (see docs/benchmarks.md).
    """
    if compressor not in COMPRESSORS:
        raise InputError(
            f"parameter 'compressor': expected one of {COMPRESSORS}, got {compressor!r}"
        )
    if not isinstance(clevel, (int, np.integer)) or not 0 <= int(clevel) <= 9:
        raise InputError(f"parameter 'clevel': expected an integer in 0..9, got {clevel!r}")
    if compressor == "none":
        return checksum_codecs()
    dtype = np.dtype(dtype)
    return [
        BloscCodec(
            cname=compressor,
            clevel=int(clevel),
            shuffle="shuffle" if dtype.itemsize > 1 else "bitshuffle",
            typesize=dtype.itemsize,
        ),
        Crc32cCodec(),
    ]


def default_chunks(shape: tuple[int, int, int], dtype: np.dtype) -> tuple[int, int, int]:
    """Default chunk shape of a (t, y, x) movie: ~32 MB chunks, deep in time.

    * Frames up to 256 KB (e.g. 256 x 256 uint16): whole frames, >= 256 frames deep.
    * Bigger frames: :data:`BIG_FRAME_DEPTH` (128) frames deep and a spatial tile of whole rows
      (row strips, a multiple of 16 rows), e.g. (128, 64, 2048) for 2048 x 2048 uint16.
      Per-chunk statistics state (orders x tile pixels x 8 B) is then ~20 % of the chunk for 6
      orders, and each frame's
      share of a chunk is one contiguous run of rows in the TIFF and in memory (so an ingest
      task is exactly one chunk: no cross-chunk copies). Frames too wide for 16-row strips
      are also split along x.
    """
    t, y, x = (int(s) for s in shape)
    itemsize = np.dtype(dtype).itemsize
    frame = max(1, y * x * itemsize)
    if frame * TIME_DEPTH <= MAX_WHOLE_FRAME_CHUNK:
        depth = max(TIME_DEPTH, TARGET_CHUNK_BYTES // frame)
        return (max(1, min(t, depth)), y, x)
    depth = max(1, min(t, BIG_FRAME_DEPTH))
    rows = TARGET_CHUNK_BYTES // (depth * x * itemsize)
    if rows >= 16:
        return (depth, min(y, rows // 16 * 16), x)
    ty = min(y, 16)
    tx = max(16, TARGET_CHUNK_BYTES // (depth * ty * itemsize))
    return (depth, ty, min(x, tx))


def parse_chunks(
    chunks: int | tuple[int, int, int] | None, shape: tuple[int, int, int], dtype: np.dtype
) -> tuple[int, int, int]:
    """Validate ``chunks``: None (default), frames per chunk, or (t, y, x) with -1 = full."""
    if chunks is None:
        return default_chunks(shape, dtype)
    if isinstance(chunks, (int, np.integer)) and not isinstance(chunks, bool):
        chunks = (int(chunks), -1, -1)
    try:
        parts = tuple(int(c) for c in chunks)  # type: ignore[union-attr]
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"parameter 'chunks': expected None, an int or (t, y, x) ints, got {chunks!r}"
        ) from exc
    if len(parts) != 3 or any(c == 0 or c < -1 for c in parts):
        raise InputError(
            f"parameter 'chunks': expected 3 positive ints (or -1 for full), got {chunks!r}"
        )
    return tuple(s if c == -1 else min(c, s) for c, s in zip(parts, shape, strict=True))  # type: ignore[return-value]


# --------------------------------------------------------------------------- metadata
def group_attrs(name: str, pixel_size: float | None, info: dict[str, Any]) -> dict[str, Any]:
    """All group attributes: the OME-NGFF 0.5 ``ome`` block (:mod:`sofi_dask.io._ome`: axes t,
    y, x; micrometre when the pixel size is known) and ``sofi_dask`` (provenance, state)."""
    unit = None if pixel_size is None else "micrometer"
    scale = (1.0, pixel_size or 1.0, pixel_size or 1.0)
    return {**ngff_attrs(name, ("t", "y", "x"), scale, unit=unit, path=MOVIE), "sofi_dask": info}


# --------------------------------------------------------------------------- store
def is_zarr(path: Path) -> bool:
    """True if ``path`` is a Zarr (v2 or v3) store directory."""
    return path.is_dir() and any((path / n).exists() for n in ("zarr.json", ".zgroup", ".zarray"))


def is_movie_store(path: Path) -> bool:
    """True if ``path`` is a movie store written by sofi_dask (finished or not).

    That is a Zarr group whose ``sofi_dask`` attributes record a ``source`` and ingest
    ``parameters`` (written when the group is created, before any chunk).
    """
    if path.is_symlink() or not (path / "zarr.json").is_file():
        return False
    try:
        meta = json.loads((path / "zarr.json").read_text())
    except (OSError, ValueError):
        return False
    info = meta.get("attributes", {}).get("sofi_dask") if isinstance(meta, dict) else None
    return (
        meta.get("node_type") == "group"
        and isinstance(info, dict)
        and "source" in info
        and "parameters" in info
    )


def remove_store(path: Path) -> None:
    """Delete a previous movie store at ``path`` (only one written by sofi_dask, or an empty
    folder): ``overwrite=True`` never deletes anything else."""
    hint = "refusing to delete it even with overwrite=True; remove it yourself or pick another"
    if path.is_symlink():
        raise OutputExistsError(f"{path}: is a symbolic link; {hint}")
    if path.is_dir():
        if any(path.iterdir()) and not is_movie_store(path):
            what = "a Zarr store not written by sofi_dask" if is_zarr(path) else "not a Zarr store"
            raise OutputExistsError(f"{path}: exists and is {what}; {hint}")
        shutil.rmtree(path)
    elif path.exists():
        raise OutputExistsError(f"{path}: exists and is a file, not a Zarr store; {hint}")


def create_store(
    dest: Path,
    shape: tuple[int, int, int],
    dtype: np.dtype,
    chunks: tuple[int, int, int],
    codecs: list[Any],
    attrs: dict[str, Any],
) -> zarr.Group:
    """Create an empty, incomplete store (movie array and completion records).

    The attributes are part of the group's creation, so even a store killed right after it
    is recognisably ours (see :func:`is_movie_store`) and its ``complete`` is false.
    """
    group = zarr.open_group(str(dest), mode="w-", zarr_format=3, attributes=attrs)
    t, y, x = shape
    group.create_array(
        MOVIE,
        shape=shape,
        chunks=chunks,
        dtype=np.dtype(dtype),
        compressors=codecs,
        fill_value=0,
        dimension_names=("t", "y", "x"),
    )
    n_t = math.ceil(t / chunks[0])
    n_bands = math.ceil(y / chunks[1])
    ing = group.create_group(INGEST)
    ing.create_array(
        "done",
        shape=(n_t, n_bands),
        chunks=(1, 1),
        dtype="uint8",
        fill_value=0,
        compressors=checksum_codecs(),
    )
    ing.create_array(
        "band_stats",
        shape=(t, n_bands, 3),
        chunks=(chunks[0], 1, 3),
        dtype="float64",
        fill_value=np.nan,
        compressors=checksum_codecs(),
    )
    return group


def new_store(
    dest: Path,
    shape: tuple[int, int, int],
    dtype: np.dtype,
    chunks: tuple[int, int, int],
    codecs: list[Any],
    parameters: dict[str, Any],
    source: list[dict[str, Any]],
    pixel_size: float | None,
    name: str | None = None,
) -> zarr.Group:
    """Create an incomplete movie store with its full attributes (OME-NGFF and provenance).

    ``parameters`` (chunks, compressor, clevel, channel) and ``source`` (provenance: path,
    size, mtime of each file, or a description of a generated movie) must be JSON-like;
    ``name`` (default: the folder's name) goes into the OME-NGFF metadata.
    """
    from sofi_dask import __version__

    info = {
        "version": __version__,
        "complete": False,
        "source": source,
        "parameters": parameters,
        "shape": [int(s) for s in shape],
        "dtype": np.dtype(dtype).str,
        "pixel_size": None if pixel_size is None else float(pixel_size),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "checksum": CHECKSUM,
    }
    attrs = json.loads(json.dumps(group_attrs(name or dest.name, info["pixel_size"], info)))
    return create_store(dest, shape, dtype, chunks, codecs, attrs)


def sofi_info(group: zarr.Group) -> dict[str, Any] | None:
    """The ``sofi_dask`` attributes of a store, or None for a store written by others."""
    info = group.attrs.get("sofi_dask")
    return dict(info) if isinstance(info, dict) else None


def done_records(group: zarr.Group) -> np.ndarray:
    """Completion records (n_time_chunks, n_bands) as a bool array."""
    return np.asarray(group[f"{INGEST}/done"][...]).astype(bool)


def finalize(
    group: zarr.Group, frame_pixels: int, source: list[dict[str, Any]] | None = None
) -> None:
    """Combine per-band statistics into per-frame arrays, then mark the store complete
    (``source``: the source's identity, when it was completed during the ingest)."""
    band = np.asarray(group[f"{INGEST}/band_stats"][...])
    total = band[:, :, 0].sum(axis=1)
    stats = {
        "total": total,
        "minimum": band[:, :, 1].min(axis=1),
        "maximum": band[:, :, 2].max(axis=1),
        "mean": total / frame_pixels,
    }
    if np.isnan(band).any():
        raise IncompleteStoreError(
            f"{group.store}: missing per-frame statistics; ingest incomplete"
        )
    write_frame_stats(group, stats)
    attrs = dict(group.attrs.asdict())
    info = dict(attrs["sofi_dask"])
    info["complete"] = True
    if source is not None:
        info["source"] = source
    # every chunk of the grid is written (write_empty_chunks=True): opening checks they exist
    info["chunks_written"] = {"grid": [int(n) for n in group[MOVIE].cdata_shape], "all": True}
    attrs["sofi_dask"] = info
    group.attrs.put(attrs)
    # the records are not needed any more; a kill here leaves a complete store with leftovers
    remove_member(group, INGEST)


def write_frame_stats(group: zarr.Group, stats: dict[str, np.ndarray]) -> None:
    """Write the per-frame statistics ``frame_stats/<name>`` (one (t,) float64 array each),
    every chunk, also one equal to the NaN fill value (zarr skips those by default): a
    missing chunk file is damage, never "all NaN" (checked by ``_integrity``)."""
    sg = group.require_group(STATS)
    for name in STAT_NAMES:
        n = len(stats[name])
        arr = sg.create_array(
            name,
            shape=(n,),
            chunks=(min(n, 1 << 20),),
            dtype="float64",
            fill_value=np.nan,
            dimension_names=("t",),
            compressors=checksum_codecs(),
            overwrite=True,
            config={"write_empty_chunks": True},
        )
        arr[...] = stats[name]


def remove_member(group: zarr.Group, name: str) -> None:
    """Delete ``group[name]``: its folder at once on a local store (zarr lists and deletes it
    key by key, 0.3 s for the few hundred keys of an ingest's records), else through zarr."""
    from zarr.storage import LocalStore

    store = group.store
    if isinstance(store, LocalStore) and not getattr(group.metadata, "consolidated_metadata", None):
        folder = Path(store.root) / group.path / name
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)
            return
    del group[name]


def remove_partials(path: Path) -> None:
    """Delete ``*.partial`` temporary files a killed writer may have left in the store."""
    for root, _dirs, files in os.walk(path):
        for f in files:
            if f.endswith(".partial"):
                Path(root, f).unlink(missing_ok=True)


def stored_bytes(path: Path) -> int:
    """Bytes on disk under ``path``."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total
