"""Per-chunk helpers of :func:`sofi_dask.correct_bleaching`.

Each chunk's state holds, per block overlapping it, (frames, float64 sum, minimum) per pixel
(:func:`_segment_state`); states merge exactly (:func:`_segment_combine`) into the block means
and the overall floor (:func:`_segment_stats`), which :func:`_apply_correction` subtracts.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np


def _segment_state(block: np.ndarray, *, t0: int, edges: tuple[int, ...]) -> dict:
    """Per block overlapping this chunk: (frames, float64 sum, minimum) per pixel."""
    t1 = t0 + block.shape[0]
    state = {}
    for b, (a, e) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        lo, hi = max(a, t0), min(e, t1)
        if hi > lo:
            seg = block[lo - t0 : hi - t0]
            state[b] = (hi - lo, seg.sum(axis=0, dtype=np.float64), seg.min(axis=0))
    return state


def _segment_combine(*states: dict) -> dict:
    out: dict = {}
    for s in states:
        for b, (n, total, low) in s.items():
            if b in out:
                m, t, lo = out[b]
                out[b] = (m + n, t + total, np.minimum(lo, low))
            else:
                out[b] = (n, total, low)
    return out


def _segment_stats(state: dict, n_blocks: int) -> np.ndarray:
    """``(n_blocks + 1, y, x)``: block means, then ``min_b rint(min_b - mean_b)``."""
    means = np.stack([state[b][1] / state[b][0] for b in range(n_blocks)])
    lows = np.stack([np.rint(state[b][2] - means[b]) for b in range(n_blocks)])
    return np.concatenate([means, lows.min(axis=0)[None]], axis=0)


def _apply_correction(
    block: np.ndarray,
    frames: np.ndarray,
    stats: np.ndarray,
    *,
    edges: np.ndarray,
    out_dtype: Any,
) -> np.ndarray:
    """``rint(x - mean_b) - floor`` per frame of ``block`` (``b``: the frame's block), in one
    fused pass (numba) for integer and float blocks into an integer ``out_dtype``; 5x faster
    than the numpy form (:func:`_apply_correction_numpy`, the reference the tests compare)."""
    out_dtype = np.dtype(out_dtype)
    if block.ndim != 3 or block.dtype.kind not in "uif" or out_dtype.kind not in "iu":
        return _apply_correction_numpy(block, frames, stats, edges=edges, out_dtype=out_dtype)
    which = (np.searchsorted(edges, frames, side="right") - 1).astype(np.int64)
    out = np.empty(block.shape, dtype=out_dtype)
    _correct_kernel(np.ascontiguousarray(block), which, np.ascontiguousarray(stats), out)
    return out


@numba.njit(nogil=True, cache=True)
def _correct_kernel(block, which, stats, out):  # pragma: no cover - numba
    t, ny, nx = block.shape
    floor = stats[stats.shape[0] - 1]
    for k in range(t):
        mean = stats[which[k]]
        for i in range(ny):
            for j in range(nx):
                out[k, i, j] = np.rint(block[k, i, j] - mean[i, j]) - floor[i, j]


def _apply_correction_numpy(
    block: np.ndarray,
    frames: np.ndarray,
    stats: np.ndarray,
    *,
    edges: np.ndarray,
    out_dtype: Any,
) -> np.ndarray:
    out = np.empty(block.shape, dtype=out_dtype)
    which = np.searchsorted(edges, frames, side="right") - 1
    floor = stats[-1]
    start = 0
    while start < len(frames):
        b = which[start]
        stop = start + int(np.searchsorted(which[start:], b, side="right"))
        out[start:stop] = np.rint(block[start:stop] - stats[b]) - floor
        start = stop
    return out


def _correction_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind in "ui" and dtype.itemsize <= 2:
        return np.dtype(np.int32)
    return np.dtype(np.int64)
