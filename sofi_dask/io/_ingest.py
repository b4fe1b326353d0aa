"""The batched, parallel TIFF -> Zarr writer with per-frame statistics in the same pass.

One task = one time chunk x one band of chunk rows (all columns). It reads the frames of
its band in one batch (a read-only memory map of the file for uncompressed contiguous data,
``preadv`` or decoded page ranges otherwise), computes per-frame total / minimum / maximum
of the band, writes the band's chunks (whole chunks only, so concurrent tasks never share a
chunk), its statistics and, last, its completion record. Tasks run on a thread pool:
reading, Blosc and the numba statistics kernel release the GIL, and at most ``workers``
task buffers are alive at a time, so memory does not grow with the movie.

Known cost: compressed or tiled TIFFs are decoded page by page, so with row-strip chunks
(frames > 256 KB) every band re-decodes the pages of its time chunk; pass whole-frame chunks
(e.g. ``chunks=(32, -1, -1)``) for big compressed frames.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

import numba
import numpy as np
import zarr

from sofi_dask.io._store import INGEST, MOVIE
from sofi_dask.io._tiff import TiffSource

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]


class FrameSource(Protocol):
    """What a task reads frames from: a :class:`TiffSource` or frames in memory."""

    dtype: np.dtype

    def view(self, start: int, stop: int, rows: tuple[int, int] | None = None) -> np.ndarray: ...


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
    source: FrameSource, arrays: Mapping[str, Any], plan: IngestPlan, i: int, j: int
) -> int:
    t0, t1 = plan.frames(i)
    y0, y1 = plan.rows(j)
    block = source.view(t0, t1, rows=(y0, y1))  # a memory map of the TIFF when possible
    stats = band_frame_stats(block)
    arrays[MOVIE][t0:t1, y0:y1, :] = block
    del block  # unmaps: resident memory stays bounded by the tasks in flight
    arrays[f"{INGEST}/band_stats"][t0:t1, j : j + 1, :] = stats[:, None, :]
    arrays[f"{INGEST}/done"][i, j] = 1  # the completion record, written last
    return t1 - t0


TASK_MEMORY_BUDGET = 768 << 20


def default_workers(plan: IngestPlan, itemsize: int) -> int:
    """Writer threads: twice the CPUs (tasks also wait on page faults and writes), 2..16,
    fewer when the task buffers (~3x a band: input, encoded output, zarr's copies) would pass
    ~768 MB, so that peak memory stays under 1 GB whatever the movie's size."""
    band = plan.chunks[0] * plan.chunks[1] * plan.shape[2] * itemsize
    by_memory = max(1, TASK_MEMORY_BUDGET // max(1, 3 * band))
    return int(min(max(2, 2 * (os.cpu_count() or 1)), 16, by_memory))


def open_arrays(group: zarr.Group) -> dict[str, Any]:
    """The arrays the tasks write, opened once and shared by the threads (zarr's sync API is
    thread-safe). ``write_empty_chunks=True``: tasks write whole chunks anyway, and zarr's
    scan for fill-value chunks costs about twice the Blosc encoding itself."""
    return {
        MOVIE: group[MOVIE].with_config({"write_empty_chunks": True}),
        f"{INGEST}/band_stats": group[f"{INGEST}/band_stats"],
        f"{INGEST}/done": group[f"{INGEST}/done"],
    }


def run_tasks(
    source: FrameSource,
    arrays: Mapping[str, Any],
    plan: IngestPlan,
    todo: Sequence[tuple[int, int]],
    *,
    workers: int,
    on_task: Callable[[int], None] | None = None,
) -> None:
    """Run the ``(time chunk, band)`` tasks ``todo`` on a pool, at most ``workers`` in flight;
    ``on_task(frames)`` is called from the calling thread after each one."""
    pending: set[Future[int]] = set()
    tasks = iter(todo)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sofi-ingest") as pool:
        try:
            for _ in range(workers):
                task = next(tasks, None)
                if task is None:
                    break
                pending.add(pool.submit(_run_task, source, arrays, plan, *task))
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    n = fut.result()
                    if on_task is not None:
                        on_task(n)
                    task = next(tasks, None)
                    if task is not None:
                        pending.add(pool.submit(_run_task, source, arrays, plan, *task))
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
    todo = [(i, j) for i in range(n_t) for j in range(n_bands) if not done[i, j]]
    total = plan.shape[0]
    done_units = sum(
        plan.frames(i)[1] - plan.frames(i)[0]
        for i in range(n_t)
        for j in range(n_bands)
        if done[i, j]
    )
    workers = workers or default_workers(plan, source.dtype.itemsize)
    if progress is not None:
        progress(done_units // n_bands, total)
    if not todo:
        return
    logger.info(
        "ingest: %d tasks to run (%d done), %d workers", len(todo), int(done.sum()), workers
    )

    def on_task(n: int) -> None:
        nonlocal done_units
        done_units += n
        if progress is not None:
            progress(done_units // n_bands, total)

    run_tasks(source, open_arrays(group), plan, todo, workers=workers, on_task=on_task)
