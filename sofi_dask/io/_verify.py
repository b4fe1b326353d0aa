"""``verify_store``: read every chunk of a movie store, check its checksum and the per-frame
statistics recorded at ingestion; ``repair_chunks``: rewrite damaged chunks from the source.

One task = one time chunk x one band of chunk rows, as in the ingest: its chunks are read one
by one (a missing file, a checksum mismatch or a failed decode marks that chunk damaged), and
when all decode, the band's per-frame total / minimum / maximum are computed exactly as the
ingest did (same kernel, same block) and summed over bands. Frames whose statistics differ
from the stored ones are reported with the chunks that hold them: for stores written before
checksums existed this is the only check that can see a flipped byte.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sofi_dask.errors import DamagedStoreError, IncompleteStoreError, InputError
from sofi_dask.io import _store
from sofi_dask.io._ingest import IngestPlan, band_frame_stats, default_workers
from sofi_dask.io._integrity import (
    all_chunk_coords,
    chunk_frames,
    chunk_key,
    describe_chunk,
    looks_like_store,
    missing_stats_chunks,
    open_store_group,
    present_chunk_keys,
)

logger = logging.getLogger(__name__)

__all__ = ["ChunkDamage", "VerifyReport", "verify_store"]


@dataclass(frozen=True)
class ChunkDamage:
    """One damaged chunk of ``movie``: its grid coordinates, key, file, frames and why."""

    coords: tuple[int, ...]
    key: str
    file: Path
    frames: tuple[int, int]  # [first, stop)
    reason: str

    def __str__(self) -> str:
        return (
            f"chunk {self.key} (frames {self.frames[0]}..{self.frames[1] - 1}): {self.reason} "
            f"[{self.file}]"
        )


@dataclass
class VerifyReport:
    """What :func:`verify_store` found.

    Attributes
    ----------
    path : pathlib.Path
    n_chunks : int
        Chunks of ``movie`` read.
    checksums : bool
        The store's chunks carry crc32c checksums (False: written by an older version; only
        the statistics can show corruption, and a missing chunk only when it changes them).
    damaged : list of ChunkDamage
    stats_checked : bool
        Per-frame statistics were recorded and compared.
    problems : list of str
        Other damage (unreadable statistics arrays).
    frame_stats : numpy.ndarray or None
        (t, 3) total/minimum/maximum recomputed from the chunks (NaN where damaged).
    """

    path: Path
    n_chunks: int
    checksums: bool
    damaged: list[ChunkDamage] = field(default_factory=list)
    stats_checked: bool = False
    problems: list[str] = field(default_factory=list)
    frame_stats: np.ndarray | None = None

    @property
    def ok(self) -> bool:
        return not self.damaged and not self.problems

    def summary(self) -> str:
        """Text report, one line per damaged chunk."""
        lines = [f"verify {self.path}: {self.n_chunks} chunks read"]
        lines.append(
            "checksums:  crc32c on every chunk"
            if self.checksums
            else "checksums:  none (store written before checksums; statistics checked only)"
        )
        lines.append(
            "statistics: per-frame total/minimum/maximum compared"
            if self.stats_checked
            else "statistics: not recorded; not checked"
        )
        lines += [f"DAMAGED {d}" for d in self.damaged]
        lines += [f"DAMAGED {p}" for p in self.problems]
        lines.append(
            "result:     OK" if self.ok else f"result:     {len(self.damaged)} damaged chunks"
        )
        return "\n".join(lines)


def _has_checksums(arr: Any) -> bool:
    return any(getattr(c, "to_dict", lambda: {})().get("name") == "crc32c" for c in arr.compressors)


def _stored_stats(path: Path, group: Any, problems: list[str]) -> np.ndarray | None:
    if _store.STATS not in group:
        return None
    out = []
    for k in _store.STAT_NAMES:  # "mean" too: a missing chunk of it is damage as well
        try:
            missing = missing_stats_chunks(path, group, k)
            values = np.asarray(group[_store.STATS][k][...], dtype=np.float64)
        except Exception as exc:  # noqa: BLE001
            file = path / _store.STATS / k
            problems.append(f"{_store.STATS}/{k} cannot be read ({exc}) [{file}]")
            return None
        if missing:  # read as NaN: recomputed by a repair
            name = f"{_store.STATS}/{k}"
            chunk = describe_chunk(path, group[name], missing[0], name)
            problems.append(f"missing chunk file: {chunk}")
            return None
        out.append(values)
    return np.stack(out[:3], axis=1)


def verify_store(
    path: str | os.PathLike[str],
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Read every chunk of a movie store and check checksums and per-frame statistics.

    Parameters
    ----------
    path : path
        A store written by :func:`sofi_dask.io.ingest` (or ``create_movie``).
    workers : int, optional
        Reader threads (default as for ingest).
    progress : callable, optional
        ``progress(done_tasks, total_tasks)``.

    Returns
    -------
    VerifyReport
        ``report.ok`` is False when a chunk is missing, fails its checksum or decode, or
        holds frames whose statistics differ from those recorded at ingestion.

    Raises
    ------
    DamagedStoreError
        The store's metadata (``zarr.json``) is missing or broken.

    Examples
    --------
    >>> verify_store("movie.zarr").ok  # doctest: +SKIP
    True
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such store")
    if not looks_like_store(p):
        raise InputError(
            f"{p}: not a movie store (no zarr.json, no {_store.MOVIE!r} array); verify reads "
            "stores written by `sofi-dask ingest`"
        )
    group, arr = open_store_group(p)
    shape = tuple(int(s) for s in arr.shape)
    chunks = tuple(int(c) for c in arr.chunks)
    plan = IngestPlan(shape, chunks)  # type: ignore[arg-type]
    present = present_chunk_keys(p)
    report = VerifyReport(p, int(np.prod(arr.cdata_shape)), _has_checksums(arr))
    stored = _stored_stats(p, group, report.problems)
    n_t, n_bands = plan.grid
    n_x = int(arr.cdata_shape[2])
    band = np.full((shape[0], n_bands, 3), np.nan)

    def task(i: int, j: int) -> list[ChunkDamage]:
        t0, t1 = plan.frames(i)
        y0, y1 = plan.rows(j)
        parts, damage = [], []
        for k in range(n_x):
            c = (i, j, k)
            key = chunk_key(arr, c)
            x0, x1 = k * chunks[2], min(shape[2], (k + 1) * chunks[2])
            reason = None
            if key not in present:
                reason = "missing chunk file"
            else:
                try:
                    parts.append(np.asarray(arr[t0:t1, y0:y1, x0:x1]))
                except Exception as exc:  # noqa: BLE001 - any decode failure is damage
                    reason = f"cannot be decoded ({exc})"
            if reason is not None:
                damage.append(ChunkDamage(c, key, p / _store.MOVIE / key, (t0, t1), reason))
        if not damage:
            block = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)
            band[t0:t1, j] = band_frame_stats(block)
        return damage

    todo = [(i, j) for i in range(n_t) for j in range(n_bands)]
    workers = workers or default_workers(plan, arr.dtype.itemsize)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sofi-verify") as pool:
        for n, found in enumerate(pool.map(lambda ij: task(*ij), todo), 1):
            report.damaged.extend(found)
            if progress is not None:
                progress(n, len(todo))
    frame = np.stack(
        [band[:, :, 0].sum(axis=1), band[:, :, 1].min(axis=1), band[:, :, 2].max(axis=1)], axis=1
    )
    report.frame_stats = frame
    if stored is not None:
        report.stats_checked = True
        unread = np.isnan(frame).any(axis=1)
        same = np.isclose(frame, stored, rtol=1e-12, atol=0, equal_nan=True).all(axis=1)
        bad = np.flatnonzero(~same & ~unread)
        damaged_t = {d.coords[0] for d in report.damaged}
        for i in sorted({int(t) // chunks[0] for t in bad} - damaged_t):
            frames = bad[(bad >= i * chunks[0]) & (bad < (i + 1) * chunks[0])]
            for c in all_chunk_coords((1, *arr.cdata_shape[1:])):
                coords = (i, *c[1:])
                key = chunk_key(arr, coords)
                report.damaged.append(
                    ChunkDamage(
                        coords,
                        key,
                        p / _store.MOVIE / key,
                        chunk_frames(arr, coords),
                        f"per-frame statistics differ from those recorded at ingestion "
                        f"(frames {', '.join(str(int(t)) for t in frames[:5])}"
                        f"{', ...' if frames.size > 5 else ''})",
                    )
                )
    report.damaged.sort(key=lambda d: d.coords)
    return report


def repair_chunks(
    path: Path, source: Any, report: VerifyReport, *, workers: int | None = None
) -> int:
    """Rewrite the damaged chunks of ``report`` from ``source`` (a ``TiffSource`` of the same
    movie); then rewrite unreadable statistics from a fresh verification. Returns the number
    of chunks rewritten."""
    group, arr = open_store_group(path, mode="r+")
    movie = arr.with_config({"write_empty_chunks": True})
    chunks = [int(c) for c in arr.chunks]
    shape = [int(s) for s in arr.shape]

    def rewrite(d: ChunkDamage) -> None:
        (t0, t1), (_, j, k) = d.frames, d.coords
        y0, y1 = j * chunks[1], min(shape[1], (j + 1) * chunks[1])
        x0, x1 = k * chunks[2], min(shape[2], (k + 1) * chunks[2])
        movie[t0:t1, y0:y1, x0:x1] = source.view(t0, t1, rows=(y0, y1))[:, :, x0:x1]
        logger.info("repaired %s", d.file)

    with ThreadPoolExecutor(max_workers=workers or 4) as pool:
        list(pool.map(rewrite, report.damaged))
    if report.problems:  # unreadable statistics: recompute them from the repaired chunks
        again = verify_store(path, workers=workers)
        if again.damaged or again.frame_stats is None:
            raise DamagedStoreError(f"{path}: still damaged after repair: {again.damaged[:1]}")
        stats = again.frame_stats
        npix = shape[1] * shape[2]
        values = {
            "total": stats[:, 0],
            "minimum": stats[:, 1],
            "maximum": stats[:, 2],
            "mean": stats[:, 0] / npix,
        }
        _store.write_frame_stats(group, values)
    return len(report.damaged)


def repair_store(
    dest: Path,
    src: Any,
    identity: list[Any],
    params: dict[str, Any],
    *,
    workers: int | None = None,
) -> Path:
    """``ingest(..., repair=True)``: verify the complete store ``dest`` of the TIFF source
    ``src`` (whose ``identity`` and channel must match the store's; chunks and compressor are
    the store's) and rewrite its damaged chunks from the source; raises if damage remains."""
    if not looks_like_store(dest):
        raise InputError(f"{dest}: --repair needs an existing movie store, found none")
    group, _arr = open_store_group(dest)
    info = _store.sofi_info(group) or {}
    if not info.get("complete"):
        raise IncompleteStoreError(
            f"{dest}: unfinished ingest; run the ingest again without --repair to complete it"
        )
    stored_channel = (info.get("parameters") or {}).get("channel")
    if info.get("source") != identity or stored_channel != params.get("channel"):
        raise InputError(
            f"{dest}: was ingested from another source or channel ({info.get('source')}, "
            f"channel {stored_channel}); --repair needs the same source file(s), unchanged"
        )
    report = verify_store(dest, workers=workers)
    if report.ok:
        logger.info("%s: no damaged chunk; nothing to repair", dest)
        return dest
    n = repair_chunks(dest, src, report, workers=workers)
    again = verify_store(dest, workers=workers)
    if not again.ok:
        raise DamagedStoreError(f"{dest}: still damaged after repair:\n{again.summary()}")
    logger.warning("%s: %d damaged chunks rewritten from the source", dest, n)
    return dest
