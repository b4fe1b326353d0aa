"""The batched, parallel TIFF -> Zarr writer with per-frame statistics in the same pass.

One task = one time chunk x one band of chunk rows (all columns). It reads the frames of
its band in one batch (a read-only memory map of the file for uncompressed contiguous data,
``preadv`` or decoded page ranges otherwise), computes per-frame total / minimum / maximum
of the band, writes the band's chunks (whole chunks only, so concurrent tasks never share a
chunk), its statistics and, last, its completion record. Tasks run on a thread pool:
reading, Blosc and the numba statistics kernel release the GIL, and at most ``workers``
task buffers are alive at a time, so memory does not grow with the movie.

Compressed TIFFs are decoded strip by strip (``_tiff_decode.py``): a task covers a group of
bands that starts and ends on strip boundaries (e.g. two 32-row bands for 64-row strips), so
every strip is decoded exactly once; pages with a single strip are decoded whole once per
time chunk, with the time depth of the default chunks reduced so that a time chunk of whole
frames fits :data:`TASK_MEMORY_BUDGET`.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

import numba
import numpy as np
import zarr

from sofi_dask._cpus import cpu_count
from sofi_dask.errors import InputError
from sofi_dask.io._chunk_write import ChunkFileWriter
from sofi_dask.io._store import INGEST, MOVIE
from sofi_dask.io._tiff import TiffSource

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]


class FrameSource(Protocol):
    """What a task reads frames from: a :class:`TiffSource` or frames in memory."""

    dtype: np.dtype

    def view(
        self,
        start: int,
        stop: int,
        rows: tuple[int, int] | None = None,
        out: np.ndarray | None = None,
        digests: list[str] | None = None,
    ) -> np.ndarray:
        """Frames ``start..stop-1`` (rows window); ``out``, of that shape, may be filled
        and returned (a source may return a view or memory map instead); ``digests``, when
        given, gets the content fingerprint of each frame file read (frame sequences)."""
        ...


class BufferPool:
    """Task buffers used again: a task's block goes back after its chunks are written, so a
    worker faults in the pages of its ~32 MB block once, not once per task (a fresh block
    per task cost ~0.5 s of system time per 650 MB ingested). Holds at most ``size``
    buffers.

    Examples
    --------
    >>> pool = BufferPool(2)
    >>> a = pool.get((4, 8, 8), np.dtype(np.uint16))
    >>> pool.put(a)
    >>> pool.get((4, 8, 8), np.dtype(np.uint16)) is a
    True
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._free: list[np.ndarray] = []
        self._lock = threading.Lock()

    def get(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        with self._lock:
            for k, buf in enumerate(self._free):
                if buf.shape == shape and buf.dtype == dtype:
                    return self._free.pop(k)
        return np.empty(shape, dtype)

    def put(self, buf: np.ndarray) -> None:
        with self._lock:
            self._free.append(buf)
            del self._free[: -self.size]


@numba.njit(nogil=True, cache=True)
def _int_frame_stats(block, out):  # pragma: no cover - compiled
    for f in range(block.shape[0]):
        frame = block[f]
        total = np.int64(0)
        lo = frame[0, 0]
        hi = frame[0, 0]
        for i in range(frame.shape[0]):
            for j in range(frame.shape[1]):
                v = frame[i, j]
                total += np.int64(v)
                lo = min(lo, v)
                hi = max(hi, v)
        out[f, 0] = total
        out[f, 1] = lo
        out[f, 2] = hi


def band_frame_stats(block: np.ndarray) -> np.ndarray:
    """Per-frame total, minimum and maximum of a (n, y, x) block, float64, shape (n, 3).

    Integers up to 32 bits: one fused pass (numba, GIL released), totals exact in int64.
    Floats and 64-bit integers: numpy (float64 totals, NaN propagates).

    Examples
    --------
    >>> band_frame_stats(np.arange(8, dtype=np.uint16).reshape(2, 2, 2))
    array([[ 6.,  0.,  3.],
           [22.,  4.,  7.]])
    """
    out = np.empty((block.shape[0], 3), dtype=np.float64)
    if block.size == 0:
        out[:] = np.nan
        return out
    if block.dtype.kind in "ui" and block.dtype.itemsize < 8:
        if not block.flags.c_contiguous:
            block = np.ascontiguousarray(block)
        _int_frame_stats(block, out)
        return out
    out[:, 0] = block.sum(axis=(1, 2), dtype=np.float64)
    out[:, 1] = block.min(axis=(1, 2))
    out[:, 2] = block.max(axis=(1, 2))
    return out


@dataclass(frozen=True)
class IngestPlan:
    """Task grid of an ingest: time chunks x bands of chunk rows."""

    shape: tuple[int, int, int]
    chunks: tuple[int, int, int]

    @property
    def grid(self) -> tuple[int, int]:
        return math.ceil(self.shape[0] / self.chunks[0]), math.ceil(self.shape[1] / self.chunks[1])

    def frames(self, i: int) -> tuple[int, int]:
        t0 = i * self.chunks[0]
        return t0, min(self.shape[0], t0 + self.chunks[0])

    def rows(self, j: int) -> tuple[int, int]:
        y0 = j * self.chunks[1]
        return y0, min(self.shape[1], y0 + self.chunks[1])


def _run_task(
    source: FrameSource,
    arrays: Mapping[str, Any],
    plan: IngestPlan,
    i: int,
    j: int,
    j_end: int | None = None,
    *,
    buffers: BufferPool | None = None,
) -> int:
    """Time chunk ``i`` x bands ``j..j_end-1`` (one band by default): read, stats, write."""
    j_end = j + 1 if j_end is None else j_end
    t0, t1 = plan.frames(i)
    y0, y1 = plan.rows(j)[0], plan.rows(j_end - 1)[1]
    buf = None if buffers is None else buffers.get((t1 - t0, y1 - y0, plan.shape[2]), source.dtype)
    digests: list[str] | None = [] if DIGESTS in arrays and j == 0 else None
    # a memory map if possible; a frame sequence's fingerprints from the bytes read
    block = source.view(t0, t1, rows=(y0, y1), out=buf, digests=digests)
    stats = np.empty((t1 - t0, j_end - j, 3))
    for k in range(j, j_end):
        a, b = plan.rows(k)
        stats[:, k - j] = band_frame_stats(block[:, a - y0 : b - y0])
    if block.dtype.kind == "f" and not np.isfinite(stats[:, :, 0]).all():
        raise _non_finite(source, block, stats.sum(axis=1), t0, y0)
    arrays[MOVIE][t0:t1, y0:y1, :] = block
    del block  # unmaps: resident memory stays bounded by the tasks in flight
    if buf is not None:
        buffers.put(buf)  # written: free for the next task (also when ``block`` was a map)
    arrays[f"{INGEST}/band_stats"][t0:t1, j:j_end, :] = stats
    if digests is not None:
        arrays[DIGESTS][t0:t1] = digest_bytes(digests)
    arrays[f"{INGEST}/done"][i, j:j_end] = 1  # the completion records, written last
    return (t1 - t0) * (j_end - j)


DIGESTS = f"{INGEST}/digests"
"""Content fingerprints of the files of a frame sequence, one row of 16 bytes per frame,
written by the ingest task that reads them (the first band of each time chunk)."""


def digest_bytes(digests: Sequence[str]) -> np.ndarray:
    """``["blake2b:<32 hex>", ...]`` as a (n, 16) uint8 array.

    Examples
    --------
    >>> digest_bytes(["blake2b:" + "0f" * 16]).shape
    (1, 16)
    """
    raw = b"".join(bytes.fromhex(d.partition(":")[2]) for d in digests)
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(digests), 16)


def band_groups(plan: IngestPlan, decode_rows: int, itemsize: int) -> list[tuple[int, int]]:
    """Bands ``[(j0, j1), ...]`` read together so that each decoded strip is read once.

    ``decode_rows``: rows decoded together in the source (0: any band reads alone). A group
    ends where a band and a strip end together, unless it would pass
    :data:`GROUP_MEMORY_BUDGET` (then strips on its edges are decoded twice).

    Examples
    --------
    >>> band_groups(IngestPlan((10, 128, 64), (10, 32, 64)), 64, 2)
    [(0, 2), (2, 4)]
    >>> band_groups(IngestPlan((10, 128, 64), (10, 32, 64)), 0, 2)
    [(0, 1), (1, 2), (2, 3), (3, 4)]
    """
    n_bands = plan.grid[1]
    if decode_rows <= 0:
        return [(j, j + 1) for j in range(n_bands)]
    band_bytes = plan.chunks[0] * plan.chunks[1] * plan.shape[2] * itemsize
    cap = max(1, GROUP_MEMORY_BUDGET // max(1, band_bytes))
    groups = []
    j0 = 0
    for j in range(n_bands):
        y1 = plan.rows(j)[1]
        if y1 % decode_rows == 0 or y1 == plan.shape[1] or j + 1 - j0 >= cap:
            groups.append((j0, j + 1))
            j0 = j + 1
    return groups


GROUP_MEMORY_BUDGET = 256 << 20
"""Most bytes of frames one ingest task of a compressed TIFF holds (a group of bands)."""


def compressed_depth(chunks: tuple[int, int, int], decode_rows: int, itemsize: int) -> int:
    """Time depth of default chunks for a source whose strips are ``decode_rows`` tall: the
    default depth, or less (a multiple of 16) when one strip-aligned group would pass
    :data:`GROUP_MEMORY_BUDGET`, so that every strip is still decoded once.

    Examples
    --------
    >>> compressed_depth((256, 32, 2048), 64, 2)  # 64-row strips: two bands, 64 MB
    256
    >>> compressed_depth((256, 32, 2048), 2048, 2)  # one strip per 2048 x 2048 page
    32
    """
    if decode_rows <= chunks[1]:
        return chunks[0]
    group_rows = math.lcm(decode_rows, chunks[1])
    fit = GROUP_MEMORY_BUDGET // max(1, group_rows * chunks[2] * itemsize)
    return max(1, min(chunks[0], max(16, fit // 16 * 16)))


def _non_finite(
    source: FrameSource, block: np.ndarray, stats: np.ndarray, t0: int, y0: int
) -> InputError:
    """The error for NaN or infinite pixels: the policy is to refuse them at ingestion (SOFI
    statistics of such values are undefined), naming the file, frames and first pixel."""
    bad = np.flatnonzero(~np.isfinite(stats[:, 0]))
    f = int(bad[0])
    y, x = (int(v) for v in np.argwhere(~np.isfinite(block[f]))[0])
    value = block[f, y, x]
    where = f"frame {t0 + f}"
    layouts = getattr(source, "layouts", None)
    if layouts:
        bounds = np.concatenate([[0], np.cumsum([lay.n_frames for lay in layouts])])
        k = int(np.searchsorted(bounds, t0 + f, side="right") - 1)
        where = f"{layouts[k].path}: frame {t0 + f}" + (
            f" (frame {t0 + f - int(bounds[k])} of this file)" if len(layouts) > 1 else ""
        )
    others = (
        f"; also frames {', '.join(str(t0 + int(b)) for b in bad[1:6])}" if bad.size > 1 else ""
    )
    return InputError(
        f"{where}: pixel (y={y0 + y}, x={x}) is {value} ({int((~np.isfinite(block[f])).sum())} "
        f"non-finite pixels in this frame{others}); NaN or infinite pixels are refused "
        "(SOFI statistics of them are undefined): replace them in the source, e.g. with the "
        "frame's mean, and ingest again"
    )


TASK_MEMORY_BUDGET = 768 << 20


def default_workers(plan: IngestPlan, itemsize: int, bands: int = 1) -> int:
    """Writer threads: twice the CPUs (tasks also wait on page faults and writes), 2..16,
    fewer when the task buffers (~3x a band: input, encoded output, zarr's copies) would pass
    ~768 MB, so that peak memory stays under 1 GB whatever the movie's size. ``bands``: bands
    per task (compressed sources)."""
    band = bands * plan.chunks[0] * plan.chunks[1] * plan.shape[2] * itemsize
    by_memory = max(1, TASK_MEMORY_BUDGET // max(1, 3 * band))
    return int(min(max(2, 2 * cpu_count()), 16, by_memory))


def open_arrays(group: zarr.Group) -> dict[str, Any]:
    """The arrays the tasks write, opened once and shared by the threads. Each is written by
    a :class:`~sofi_dask.io._chunk_write.ChunkFileWriter` (the same bytes as zarr, from
    reused buffers, without a trip through zarr's event loop: tasks write whole chunks of
    every array) when the store's layout is the one the ingest creates, else by zarr (its
    sync API is thread-safe). ``write_empty_chunks=True``: tasks write whole chunks anyway,
    and zarr's scan for fill-value chunks costs about twice the Blosc encoding itself."""
    names = [MOVIE, f"{INGEST}/band_stats", f"{INGEST}/done"]
    if DIGESTS in group:  # a frame sequence's fingerprints, recorded as the files are read
        names.append(DIGESTS)
    arrays = {}
    for name in names:
        arr = group[name].with_config({"write_empty_chunks": True})
        arrays[name] = ChunkFileWriter.for_array(arr) or arr
    return arrays


def run_tasks(
    source: FrameSource,
    arrays: Mapping[str, Any],
    plan: IngestPlan,
    todo: Sequence[tuple[int, ...]],
    *,
    workers: int,
    on_task: Callable[[int], None] | None = None,
) -> None:
    """Run the ``(time chunk, band[, band end])`` tasks ``todo`` on a pool, at most
    ``workers`` in flight; ``on_task(frames x bands)`` is called from the calling thread
    after each one."""
    pending: set[Future[int]] = set()
    tasks = iter(todo)
    buffers = BufferPool(workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sofi-ingest") as pool:
        try:
            for _ in range(workers):
                task = next(tasks, None)
                if task is None:
                    break
                pending.add(pool.submit(_run_task, source, arrays, plan, *task, buffers=buffers))
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    n = fut.result()
                    if on_task is not None:
                        on_task(n)
                    task = next(tasks, None)
                    if task is not None:
                        pending.add(
                            pool.submit(_run_task, source, arrays, plan, *task, buffers=buffers)
                        )
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise


def write_movie(
    source: TiffSource,
    group: zarr.Group,
    plan: IngestPlan,
    done: np.ndarray,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> None:
    """Run every task without a completion record; at most ``workers`` in flight."""
    n_t, n_bands = plan.grid
    groups = band_groups(plan, source.decode_rows, source.dtype.itemsize)
    todo = [(i, j0, j1) for i in range(n_t) for j0, j1 in groups if not done[i, j0:j1].all()]
    total = plan.shape[0]
    done_units = sum(
        plan.frames(i)[1] - plan.frames(i)[0]
        for i in range(n_t)
        for j in range(n_bands)
        if done[i, j]
    )
    widest = max(j1 - j0 for j0, j1 in groups)
    workers = workers or default_workers(plan, source.dtype.itemsize, widest)
    if progress is not None:
        progress(min(total, done_units // n_bands), total)
    if not todo:
        return
    logger.info(
        "ingest: %d tasks to run (%d done), %d workers", len(todo), int(done.sum()), workers
    )

    def on_task(n: int) -> None:
        nonlocal done_units
        done_units += n
        if progress is not None:
            progress(min(total, done_units // n_bands), total)

    run_tasks(source, open_arrays(group), plan, todo, workers=workers, on_task=on_task)
