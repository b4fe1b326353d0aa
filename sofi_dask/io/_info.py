"""``movie_info``: what ``sofi-dask info`` reports about a movie store or a TIFF."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from sofi_dask.errors import DamagedStoreError
from sofi_dask.io import _store
from sofi_dask.io._integrity import describe_chunk, looks_like_store, missing_chunks, records_chunks
from sofi_dask.io._open import Source, _frame_stats, _open_zarr
from sofi_dask.io._tiff import open_tiff_source, tiff_to_dask

__all__ = ["movie_info"]


def _summary(values: np.ndarray) -> dict[str, float]:
    return {
        "min": float(np.min(values)),
        "max": float(np.max(values)),
        "mean": float(np.mean(values)),
    }


def movie_info(
    path: Source, *, channel: int | None = None, axes: str | None = None
) -> dict[str, Any]:
    """What ``sofi-dask info`` reports about a store or TIFF (works on unfinished stores).

    Parameters
    ----------
    path : path or sequence of paths
        A Zarr store, a TIFF, a folder or list of TIFFs.
    channel, axes : optional
        For a TIFF, as :func:`~sofi_dask.io.open_movie` takes them (a channel of a
        multi-channel file; declared axes, e.g. ``"TYX"`` for an ImageJ 'CYX' stack).

    Returns
    -------
    dict
        ``path``, ``format`` ("zarr"/"tiff"), ``complete``, ``shape``, ``dtype``, ``chunks``,
        ``n_chunks``, ``compressor``, ``nbytes``, ``stored_bytes``, ``compression_ratio``,
        ``pixel_size``, ``source`` and ``frame_stats`` (a summary of each statistic plus the
        last/first total ratio, None when not recorded); ``progress`` (fraction of tasks done)
        for an unfinished store; ``damage`` (list of str: missing chunk files, unreadable
        statistics; empty when none was seen; :func:`~sofi_dask.io._verify.verify_store`
        reads every chunk to find the rest).

    Examples
    --------
    >>> movie_info("movie.zarr")["compression_ratio"]  # doctest: +SKIP
    2.4
    """
    if isinstance(path, (str, os.PathLike)) and (
        _store.is_zarr(Path(path)) or looks_like_store(Path(path))
    ):
        p = Path(path)
        group, arr = _open_zarr(p)
        info = (_store.sofi_info(group) if group is not None else None) or {}
        nbytes = int(np.prod(arr.shape, dtype=np.int64)) * arr.dtype.itemsize
        stored = (
            _store.stored_bytes(p / _store.MOVIE) if group is not None else _store.stored_bytes(p)
        )
        out: dict[str, Any] = {
            "path": str(p),
            "format": "zarr",
            "complete": bool(info.get("complete", True)) if info else True,
            "shape": list(arr.shape),
            "dtype": str(arr.dtype),
            "chunks": list(arr.chunks),
            "n_chunks": int(np.prod(arr.cdata_shape)),
            "compressor": [c.to_dict() for c in arr.compressors],
            "checksums": any(c.to_dict().get("name") == "crc32c" for c in arr.compressors),
            "nbytes": nbytes,
            "stored_bytes": stored,
            "compression_ratio": nbytes / stored if stored else None,
            "pixel_size": info.get("pixel_size"),
            "source": info.get("source"),
            "frame_stats": None,
            "damage": [],
        }
        if info and out["complete"] and records_chunks(info):
            missing = missing_chunks(p, arr)
            out["damage"] = [f"missing chunk file: {describe_chunk(p, arr, c)}" for c in missing]
        if info and not out["complete"] and group is not None and _store.INGEST in group:
            rec = _store.done_records(group)
            out["progress"] = float(rec.mean()) if rec.size else 0.0
        fs = None
        if group is not None and out["complete"]:
            try:
                fs = _frame_stats(p, group)
            except DamagedStoreError as exc:
                out["damage"].append(str(exc))
        if fs is not None and fs.n_frames:
            stats = {k: np.asarray(getattr(fs, k)) for k in _store.STAT_NAMES}
            summary: dict[str, Any] = {k: _summary(v) for k, v in stats.items()}
            first = stats["total"][0]
            summary["last_first_total_ratio"] = float(stats["total"][-1] / first) if first else None
            out["frame_stats"] = summary
        return out
    src = open_tiff_source(path, channel=channel, axes=axes)
    arr = tiff_to_dask(src)
    nbytes = int(np.prod(src.shape, dtype=np.int64)) * src.dtype.itemsize
    stored = sum(lay.size for lay in src.layouts)
    return {
        "path": str(path) if isinstance(path, (str, os.PathLike)) else src.layouts[0].path,
        "format": "tiff",
        "complete": True,
        "shape": list(src.shape),
        "dtype": str(src.dtype),
        "chunks": [c[0] for c in arr.chunks],
        "n_chunks": int(np.prod(arr.numblocks)),
        "compressor": "contiguous (uncompressed)" if src.contiguous else "pages",
        "nbytes": nbytes,
        "stored_bytes": stored,
        "compression_ratio": nbytes / stored if stored else None,
        "pixel_size": src.pixel_size,
        "source": src.identity(),
        "n_files": len(src.layouts),
        "frame_stats": None,
    }
