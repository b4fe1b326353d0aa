"""Fourier interpolation fused into the moment reduction: one chunk of frames in, the moment
stack of a band of rows of its interpolated frames out, no interpolated chunk in memory (no
dask inside).

The interpolated frames of a chunk ``(t, H, W)`` would be ``f^2`` times its pixels, in float64
8/2 = 4 times the bytes per pixel of uint16: materialised per chunk (64 MiB pieces), each was
written once (page faults on fresh memory) and read again by the moment reduction. Here a
task interpolates a few frames at a time into one reused buffer and adds their power sums to
float64 accumulators right away.

Layout: the operator's rows ``m = j f`` are unit vectors (the samples of the input are kept),
so only the new rows and columns are matrix products. A batch of ``k`` frames is laid out row
by row across frames, ``(rows, k, W)`` (:func:`_interp_batch`): the H input rows (cast), then
the band's new rows, ``Lx[new rows] @ frames`` as ONE product ``(new, H) @ (H, k W)`` for the
batch (a product per frame ran at ~88 % of the speed); then the new columns of the band's
rows, one product ``(rows k, W) @ (W, Wn - W)``. The power sums read that layout
(:func:`sofi_dask.stats._moment_fused_kernels.accumulate_powers_split`), in a permuted order of
rows and columns (coarse, then new) that is put back in place once per task. Rows first, then
columns: a band costs its share of the products and no more, so bands (for big frames) add no
arithmetic. One core, 256 frames of 256 x 256, f = 2, order 4: 0.90-0.98 -> 0.80-0.82 ms per
frame in float32, 1.74-1.79 -> 1.50-1.60 ms in float64 (with 16 MiB batches; float64 stacks
differ by ~1e-15 relative from a product per frame: the products' blocking).

A task's buffers (batch, cast frames, reference, float64 power sums) are carved from one work
area that each thread keeps between tasks (:func:`_work_area`; a cache of scratch space, every
task writes what it reads): as fresh allocations they were ``mmap``-ed and page-faulted in, 16
MB per task of 256 frames of 256 x 256 (4100 minor faults; now 1000: the returned stack, the
operators' copies).

The reference of the power sums is the interpolated mean frame (same operator, in the
interpolation's arithmetic, stored float64): the mean of the interpolated frames by linearity,
up to rounding, which the first power sum corrects exactly
(:func:`sofi_dask.stats._moment_fused_kernels.stack_from_power_sums`). The mean frame of 8- and
16-bit input is summed in 32-bit integers: exact, as the float64 sums are, in half the time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sofi_dask._scratch import carve, carve_bytes, thread_buffer
from sofi_dask.stats._moment_fused_kernels import accumulate_powers_split, stack_from_power_sums

__all__ = ["band_moment_stack", "band_plan"]

#: bytes of the interpolated batch of one task (16 frames of 256 x 256 at f = 2 in float32;
#: 4 MiB batches: 5-10 % slower, the float64 power sums read and written more often)
BATCH_BYTES = 16 * 2**20
#: largest work area (bytes) a thread keeps between tasks; bigger ones are allocated per call
SCRATCH_BYTES = 128 * 2**20


def _work_area(shapes: dict[str, tuple[tuple[int, ...], np.dtype]]) -> dict[str, np.ndarray]:
    """Uninitialised arrays of the given shapes and dtypes in this thread's reused scratch
    buffer (:mod:`sofi_dask._scratch`; a fresh one above ``SCRATCH_BYTES``): every task writes
    each array before it reads it. A task's buffers were otherwise fresh memory each time,
    which the kernel zeroes and page-faults in (large allocations are ``mmap``-ed)."""
    raw = thread_buffer("finterp-moments", carve_bytes(shapes), limit=SCRATCH_BYTES)
    return carve(raw, shapes)


def band_plan(lx: np.ndarray, ly: np.ndarray, rows: tuple[int, int]) -> dict[str, Any]:
    """The operators and index maps of the output rows ``rows = (r0, r1)``, permuted layout.

    Keys: ``coarse`` (slice of input rows copied), ``lx_new`` (rows of ``lx`` for the band's new
    rows), ``ly_new_t`` ((W, Wn - W), the new columns), ``row_order`` / ``col_order`` (output
    index of each permuted row / column).
    """
    hn, h = lx.shape
    wn, w = ly.shape
    f = (hn - 1) // (h - 1) if h > 1 else ((wn - 1) // (w - 1) if w > 1 else 1)
    r0, r1 = int(rows[0]), int(rows[1])
    band = np.arange(r0, r1)
    coarse_rows = band[band % f == 0]
    new_rows = band[band % f != 0]
    new_cols = np.array([j * f + s for s in range(1, f) for j in range(w - 1)], dtype=np.int64)
    return {
        "coarse": slice(int(coarse_rows[0]) // f, int(coarse_rows[-1]) // f + 1)
        if coarse_rows.size
        else slice(0, 0),
        "lx_new": np.ascontiguousarray(lx[new_rows]),
        "ly_new_t": np.ascontiguousarray(ly[new_cols].T),
        "row_order": np.concatenate([coarse_rows, new_rows]) - r0,
        "col_order": np.concatenate([np.arange(w) * f, new_cols]),
    }


def _interp_into(
    out: np.ndarray, frames: np.ndarray, plan: dict[str, Any], lx_new: Any, ly_new_t: Any
) -> None:
    """The band of ``frames`` (k, H, W), already of ``out``'s dtype, into ``out`` (k, rows, Wn)
    in the permuted layout."""
    k, _, w = frames.shape
    coarse = frames[:, plan["coarse"]]
    nc = coarse.shape[1]
    out[:, :nc, :w] = coarse
    if lx_new.shape[0]:
        np.matmul(lx_new, frames, out=out[:, nc:, :w])
    if ly_new_t.shape[1]:
        flat = out.reshape(k * out.shape[1], out.shape[2])
        np.matmul(flat[:, :w], ly_new_t, out=flat[:, w:])


def _interp_batch(
    left: np.ndarray,
    right: np.ndarray,
    frames: np.ndarray,
    coarse: slice,
    lx_new: np.ndarray,
    ly_new_t: np.ndarray,
) -> None:
    """A batch of frames interpolated into the row-major layout across frames: ``left`` (H +
    new rows, k, W) gets the input rows (cast) then the new rows (one product for the batch),
    ``right`` (band rows, k, new columns) the new columns of the band's coarse rows, then of
    its new rows (one product when the band is every row)."""
    h, k, w = frames.shape[1], frames.shape[0], frames.shape[2]
    nn = lx_new.shape[0]
    np.copyto(left[:h], frames.transpose(1, 0, 2), casting="unsafe")
    if nn:
        np.matmul(lx_new, left[:h].reshape(h, k * w), out=left[h:].reshape(nn, k * w))
    wr = ly_new_t.shape[1]
    if not wr:
        return
    nc = coarse.stop - coarse.start
    if nc == h:  # the band holds every row: the left block is its rows in order
        np.matmul(left.reshape(-1, w), ly_new_t, out=right.reshape(-1, wr))
        return
    if nc:
        np.matmul(left[coarse].reshape(nc * k, w), ly_new_t, out=right[:nc].reshape(nc * k, wr))
    if nn:
        np.matmul(left[h:].reshape(nn * k, w), ly_new_t, out=right[nc:].reshape(nn * k, wr))


def band_moment_stack(
    frames: np.ndarray,
    lx: np.ndarray,
    ly: np.ndarray,
    rows: tuple[int, int],
    max_order: int,
    *,
    dtype: Any = np.float64,
    batch_bytes: int = BATCH_BYTES,
) -> np.ndarray:
    """Moment stack of output rows ``rows`` of the interpolated ``frames``, without them.

    Parameters
    ----------
    frames : numpy.ndarray
        (t, H, W) real values, ``t >= 1``.
    lx, ly : numpy.ndarray
        ``interp_operator(H, f)`` and ``interp_operator(W, f)``.
    rows : (int, int)
        Output rows ``r0..r1-1`` of the interpolated grid.
    max_order : int
        Highest order, >= 1.
    dtype : {numpy.float64, numpy.float32}
        Arithmetic of the interpolation (the power sums are float64 in both cases).
    batch_bytes : int
        Size of the reused buffer of interpolated frames.

    Returns
    -------
    numpy.ndarray
        float64 ``(max_order + 1, r1 - r0, Wn)``: the mean, 0, then the central moments
        ``M_p / t`` (the layout of :func:`sofi_dask.stats.moment_stack`).

    Examples
    --------
    >>> from sofi_dask.image._finterp_kernels import apply_operators, interp_operator
    >>> movie = np.random.default_rng(0).random((6, 3, 4))
    >>> lx, ly = interp_operator(3, 2), interp_operator(4, 2)
    >>> stack = band_moment_stack(movie, lx, ly, (0, 5), 2)
    >>> direct = apply_operators(movie, lx, ly)
    >>> bool(np.allclose(stack[2], direct.var(axis=0), rtol=1e-12, atol=0))
    True
    """
    dt = np.dtype(dtype)
    frames = np.asarray(frames)
    t, h, w = frames.shape
    wn = ly.shape[0]
    plan = band_plan(lx, ly, rows)
    ny = int(rows[1]) - int(rows[0])
    coarse = plan["coarse"]
    nn = plan["lx_new"].shape[0]
    wr = wn - w
    per_frame = ((h + nn) * w + ny * wr) * dt.itemsize
    step = max(1, min(t, int(batch_bytes) // max(1, per_frame)))
    f64 = np.dtype(np.float64)
    shapes: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    if frames.dtype.kind in "ui" and frames.dtype.itemsize <= 2 and t <= 2**15:
        shapes["int_sum"] = ((h, w), np.dtype(np.uint32 if frames.dtype.kind == "u" else np.int32))
    area = _work_area(
        {
            **shapes,
            "sums": ((max_order, ny, wn), f64),
            "ref": ((1, ny, wn), f64),
            "ref_dt": ((1, ny, wn), dt),
            "mean": ((1, h, w), f64),
            "left": (((h + nn) * step * w,), dt),
            "right": ((ny * step * wr,), dt),
        }
    )
    # the reference: the interpolated mean frame, in the interpolation's arithmetic (any value
    # near the mean will do: the first power sum corrects the shift exactly), stored float64
    lx_new = plan["lx_new"].astype(dt, copy=False)
    ly_new_t = plan["ly_new_t"].astype(dt, copy=False)
    mean_raw = area["mean"]
    if "int_sum" in area:  # exact integer sums (the float64 ones are exact too): 2x faster
        np.sum(frames, axis=0, dtype=area["int_sum"].dtype, out=area["int_sum"])
        mean_raw[0] = area["int_sum"]
    else:
        np.sum(frames, axis=0, dtype=np.float64, out=mean_raw[0])
    mean_raw /= t
    ref = area["ref"]
    if dt == f64:
        _interp_into(ref, mean_raw, plan, lx_new, ly_new_t)
    else:
        ref_dt = area["ref_dt"]
        _interp_into(ref_dt, mean_raw.astype(dt), plan, lx_new, ly_new_t)
        ref[...] = ref_dt
    ref = ref[0]
    src = np.concatenate([np.arange(coarse.start, coarse.stop), h + np.arange(nn)])
    sums = area["sums"]
    sums.fill(0.0)
    for a in range(0, t, step):
        k = min(step, t - a)
        left = area["left"][: (h + nn) * k * w].reshape(h + nn, k, w)
        right = area["right"][: ny * k * wr].reshape(ny, k, wr)
        _interp_batch(left, right, frames[a : a + k], coarse, lx_new, ly_new_t)
        accumulate_powers_split(left, src, right, ref, sums)
    out = np.empty((max_order + 1, ny, wn), dtype=np.float64)
    stack_from_power_sums(t, ref, sums, plan["row_order"], plan["col_order"], out)
    return out
