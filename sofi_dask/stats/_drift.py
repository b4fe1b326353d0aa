"""Sample drift: estimation from segment averages, lazy sub-pixel correction per frame chunk.

:func:`estimate_drift` averages consecutive segments of frames (one streaming pass; a central
crop of at most ``crop`` pixels per side is enough for registration), registers every pair of
segments at most ``max_pair_distance`` apart by cross-correlation with sub-pixel peak fitting,
solves the redundant system for one position per segment (outlier pairs dropped), and turns the
positions at the segment centres into a smooth per-frame trace (a smoothing spline with the
smoothing chosen by generalised cross-validation, ``scipy.interpolate.make_smoothing_spline``).

Convention: ``drift[t] = (dy, dx)`` is where the sample is at frame ``t`` relative to frame 0
(a feature at ``(y, x)`` in frame 0 is at ``(y + dy, x + dx)`` in frame ``t``);
:func:`correct_drift` samples frame ``t`` at ``(y + dy, x + dx)``, moving it back.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dask.array as da
import numpy as np

from sofi_dask._cpus import one_blas_thread, task_threads
from sofi_dask._validation import as_movie_array, check_int, check_real, fail, shown
from sofi_dask.stats._drift_kernels import (
    connected,
    power,
    refine_near,
    register_many,
    shift_frames,
    solve_positions,
    spectra,
)

__all__ = ["DriftResult", "correct_drift", "estimate_drift"]


@dataclasses.dataclass(frozen=True)
class DriftResult:
    """Estimated drift.

    Attributes
    ----------
    trace : numpy.ndarray
        ``(n_frames, 2)`` drift ``(dy, dx)`` in pixels per frame, 0 at frame 0.
    segment_centres : numpy.ndarray
        Centre frame of each segment.
    segment_positions : numpy.ndarray
        ``(n_segments, 2)`` registered positions (before smoothing), in the trace's frame;
        NaN for a segment left out because it correlates with no other segment (its
        correlation peaks all below half the median).
    pairs_used : int
        Pairwise registrations kept (out of ``pairs_total``).
    pairs_total : int
        Pairwise registrations made.
    residual_rms : float
        RMS in pixels of the kept pairs' residuals (consistency of the registrations).
    """

    trace: np.ndarray
    segment_centres: np.ndarray
    segment_positions: np.ndarray
    pairs_used: int
    pairs_total: int
    residual_rms: float

    def to_dict(self, pixel_size: float | None = None) -> dict[str, Any]:
        """JSON-ready summary (segment positions; the maximum drift in pixels and units).

        Examples
        --------
        >>> r = DriftResult(np.zeros((3, 2)), np.array([1.0]), np.zeros((1, 2)), 0, 0, 0.0)
        >>> r.to_dict()["max_drift_pixels"]
        0.0
        """
        peak = float(np.max(np.linalg.norm(self.trace, axis=1))) if len(self.trace) else 0.0
        return {
            "max_drift_pixels": peak,
            "max_drift": None if pixel_size is None else peak * pixel_size,
            "segment_centres": [float(c) for c in self.segment_centres],
            "segment_positions": [
                [None if np.isnan(v) else float(v) for v in p] for p in self.segment_positions
            ],
            "pairs_used": self.pairs_used,
            "pairs_total": self.pairs_total,
            "residual_rms_pixels": self.residual_rms,
        }


def _crop_slices(shape: tuple[int, ...], crop: int) -> tuple[slice, slice]:
    out = []
    for size in shape[1:]:
        c = min(size, crop)
        start = (size - c) // 2
        out.append(slice(start, start + c))
    return out[0], out[1]


def _smooth_trace(centres: np.ndarray, positions: np.ndarray, n_frames: int) -> np.ndarray:
    from scipy.interpolate import make_smoothing_spline  # heavy to import: only where used

    frames = np.arange(n_frames, dtype=np.float64)
    trace = np.empty((n_frames, 2))
    for axis in range(2):
        if len(centres) >= 5:
            spline = make_smoothing_spline(centres, positions[:, axis])
            trace[:, axis] = spline(frames)
        elif len(centres) >= 2:
            slope = np.polyfit(centres, positions[:, axis], 1)
            trace[:, axis] = np.polyval(slope, frames)
        else:
            trace[:, axis] = positions[0, axis]
    return trace - trace[0]


def _sum_dtype(dtype: Any, frames: int) -> Any:
    """Accumulator of segment sums: exact integer sums for 8/16-bit frames (2-3x cheaper than
    float64 ones, the same means), else float64."""
    dt = np.dtype(dtype)
    if dt.kind in "ui" and dt.itemsize <= 2 and frames <= 2**15:
        return np.uint32 if dt.kind == "u" else np.int32
    return np.float64


def _piece_starts(start: int, stop: int, edges: np.ndarray) -> np.ndarray:
    """First frames of the segments' pieces among the frames ``start .. stop - 1``."""
    return np.unique(np.r_[start, edges[(edges > start) & (edges < stop)]])


def _piece_sums(
    block: np.ndarray, edges: np.ndarray, acc: Any, block_info: Any = None
) -> np.ndarray:
    """Sums over the frames of each segment's piece in one chunk (``edges``: segment starts)."""
    start, stop = block_info[0]["array-location"][0] if block_info else (0, block.shape[0])
    cuts = [*(_piece_starts(start, stop, edges) - start), stop - start]
    # slice sums, not np.add.reduceat (9x slower with a wider accumulator dtype)
    return np.stack([block[a:b].sum(axis=0, dtype=acc) for a, b in itertools.pairwise(cuts)])


def _segment_means(
    arr: Any, bounds: list[tuple[int, int]], ys: slice, xs: slice, lazy: bool
) -> np.ndarray:
    """Mean image ``(segments, y, x)`` of the crop per segment, one pass: per chunk one task
    summing its pieces of the segments, the pieces of a segment split across chunks added
    afterwards (a graph of one task per chunk, where a mean per segment made one per piece)."""
    edges = np.array([a for a, _ in bounds], dtype=np.int64)
    acc = _sum_dtype(arr.dtype, max(b - a for a, b in bounds))
    crop = arr[:, ys, xs]
    if lazy:
        starts = np.cumsum((0, *crop.chunks[0]))
        firsts = [_piece_starts(a, b, edges) for a, b in itertools.pairwise(starts)]
        sums = crop.map_blocks(
            _piece_sums,
            edges=edges,
            acc=acc,
            chunks=(tuple(f.size for f in firsts), *crop.chunks[1:]),
            dtype=acc,
            meta=np.empty((0, 0, 0), dtype=acc),
        ).compute()
        # each piece's segment: the last segment start at or before the piece's first frame
        owner = np.searchsorted(edges, np.concatenate(firsts), side="right") - 1
        groups = [*np.flatnonzero(np.r_[True, np.diff(owner) > 0]), len(owner)]
        sums = np.stack([sums[a:b].sum(axis=0) for a, b in itertools.pairwise(groups)])
    else:
        sums = _piece_sums(np.asarray(crop), edges, acc)
    counts = np.array([b - a for a, b in bounds], dtype=np.float64)
    return sums / counts[:, None, None]


def estimate_drift(
    data: Any,
    *,
    segment_frames: int = 100,
    crop: int = 512,
    max_pair_distance: int = 10,
    max_residual: float = 1.0,
) -> DriftResult:
    """Drift trace of a movie from cross-correlation of segment averages (one pass).

    Parameters
    ----------
    data : array, shape (t, y, x)
        dask or numpy array (or ``Movie``).
    segment_frames : int
        Frames averaged per segment (>= 1); at least two segments are needed.
    crop : int
        Side of the central region used for registration (>= 16; whole frames if smaller).
    max_pair_distance : int
        Register every pair of segments at most this many segments apart (>= 1).
    max_residual : float
        Pairs whose shift disagrees with the solution by more pixels are dropped.

    Returns
    -------
    DriftResult

    Raises
    ------
    sofi_dask.errors.InputError
        Bad parameters or movie, or fewer than two segments.

    Examples
    --------
    >>> from scipy.ndimage import shift
    >>> rng = np.random.default_rng(0)
    >>> scene = np.zeros((48, 48)); scene[rng.integers(8, 40, 30), rng.integers(8, 40, 30)] = 50
    >>> from scipy.ndimage import gaussian_filter
    >>> scene = gaussian_filter(scene, 1.5)
    >>> movie = np.stack([shift(scene, (0.01 * t, -0.02 * t)) for t in range(100)])
    >>> result = estimate_drift(movie, segment_frames=10)
    >>> np.round(result.trace[-1], 1).tolist()
    [1.0, -2.0]
    """
    arr, lazy = as_movie_array(data)
    n = int(arr.shape[0])
    seg = check_int(segment_frames, "segment_frames", minimum=1)
    crop = check_int(crop, "crop", minimum=16)
    max_dist = check_int(max_pair_distance, "max_pair_distance", minimum=1)
    max_residual = check_real(max_residual, "max_residual", minimum=0, inclusive=False)
    if n < 2 * seg:
        raise fail(
            "segment_frames", f"at most half the movie's {n} frames", shown(str(segment_frames))
        )
    if min(arr.shape[1:]) < 16:
        raise fail("data", "frames of at least 16 x 16 pixels", shown(f"shape {arr.shape}"))
    ys, xs = _crop_slices(arr.shape, crop)
    bounds = [(a, min(a + seg, n)) for a in range(0, n, seg)]
    if bounds[-1][1] - bounds[-1][0] < seg // 2 and len(bounds) > 2:
        bounds[-2] = (bounds[-2][0], n)  # a short tail joins the previous segment
        bounds.pop()
    stack = _segment_means(arr, bounds, ys, xs, lazy)
    shape = stack.shape[1:]
    threads = task_threads()
    specs = spectra(stack, workers=threads)  # each segment's transform, made once
    powers = power(specs)

    def batch(i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Segment i against its next max_dist segments, in one batch of transforms."""
        js = np.arange(i + 1, min(i + max_dist, len(specs) - 1) + 1)
        first, peak = register_many(specs[i], specs[js], shape, powers=(powers[i], powers[js]))
        # refine once on the segments moved back by the first estimate: the apodising window
        # then sees the same content in both images, which removes its pull towards 0; what is
        # left is within a pixel, so the correlation is needed only near zero
        back = shift_frames(stack[js], first, np.dtype(np.float64))
        return js, first + refine_near(specs[i], spectra(back), shape), peak

    # the batches on parallel threads (transforms, shifts and products release the GIL), each
    # matrix product on one BLAS thread (more only spin); results in segment order
    with one_blas_thread(), ThreadPoolExecutor(max_workers=threads) as pool:
        done = list(pool.map(batch, range(len(specs) - 1)))
    pairs = [(i, int(j)) for i, (js, _, _) in enumerate(done) for j in js]
    shifts = [s for _, rows, _ in done for s in rows]
    peaks = [p for _, _, ps in done for p in ps]
    pair_arr = np.array(pairs, dtype=np.int64)
    shift_arr = np.array(shifts, dtype=np.float64)
    # a segment that correlates with nothing (out of focus, blank, shutter closed) is left out
    strong = np.array(peaks) >= 0.5 * float(np.median(peaks))
    used = np.unique(pair_arr[strong])
    if len(used) < 2 or not connected(len(used), np.searchsorted(used, pair_arr[strong])):
        strong[:] = True
        used = np.arange(len(specs))
    sub_pairs = np.searchsorted(used, pair_arr[strong])
    positions, kept = solve_positions(len(used), sub_pairs, shift_arr[strong], max_residual)
    resid = shift_arr[strong][kept] - (
        positions[sub_pairs[kept, 1]] - positions[sub_pairs[kept, 0]]
    )
    centres = np.array([(a + b - 1) / 2.0 for a, b in bounds])
    trace = _smooth_trace(centres[used], positions, n)
    # positions in the trace's frame (0 at frame 0); NaN for segments left out
    frames = np.arange(n)
    offset = positions[0] - np.array(
        [np.interp(centres[used[0]], frames, trace[:, k]) for k in (0, 1)]
    )
    seg_pos = np.full((len(specs), 2), np.nan)
    seg_pos[used] = positions - offset
    return DriftResult(
        trace=trace,
        segment_centres=centres,
        segment_positions=seg_pos,
        pairs_used=int(kept.sum()),
        pairs_total=len(pairs),
        residual_rms=float(np.sqrt(np.mean(np.sum(resid**2, axis=1)))) if len(resid) else 0.0,
    )


def _correct_block(
    block: np.ndarray, trace: np.ndarray, out_dtype: Any, block_info: Any = None
) -> np.ndarray:
    start = block_info[0]["array-location"][0][0] if block_info else 0
    return shift_frames(block, trace[start : start + block.shape[0]], np.dtype(out_dtype))


def correct_drift(data: Any, drift: Any, *, dtype: Any = np.float32) -> da.Array | np.ndarray:
    """The movie with each frame shifted back by the drift: lazy, per frame chunk.

    Parameters
    ----------
    data : array, shape (t, y, x)
        dask or numpy array (or ``Movie``).
    drift : DriftResult or array, shape (t, 2)
        Per-frame drift ``(dy, dx)`` in pixels (see the module convention).
    dtype : float dtype
        Output dtype (default float32: exact for 16-bit data plus interpolation, half the
        memory of float64; statistics accumulate in float64 anyway).

    Returns
    -------
    dask.array.Array or numpy.ndarray
        Lazy for dask input (spatial tiles get an overlap of ``ceil(max |drift|) + 2``
        pixels, so tiles and whole frames give the same values); pixels shifted in from outside
        the frame repeat the edge.

    Examples
    --------
    >>> movie = np.zeros((2, 16, 16)); movie[0, 8, 8] = 1.0; movie[1, 9, 6] = 1.0
    >>> out = correct_drift(movie, np.array([[0.0, 0.0], [1.0, -2.0]]))
    >>> [tuple(map(int, np.unravel_index(np.argmax(f), f.shape))) for f in out]
    [(8, 8), (8, 8)]
    """
    arr, lazy = as_movie_array(data)
    trace = np.asarray(drift.trace if isinstance(drift, DriftResult) else drift, dtype=np.float64)
    if trace.shape != (arr.shape[0], 2) or not np.all(np.isfinite(trace)):
        raise fail(
            "drift",
            f"finite (dy, dx) per frame, shape ({arr.shape[0]}, 2)",
            shown(f"shape {trace.shape}"),
        )
    out_dtype = np.dtype(dtype)
    if out_dtype.kind != "f":
        raise fail("dtype", "a float dtype", dtype)
    if not lazy:
        return shift_frames(np.asarray(arr), trace, out_dtype)
    depth = int(math.ceil(float(np.abs(trace).max()))) + 2
    meta = np.empty((0, 0, 0), dtype=out_dtype)
    if arr.numblocks[1] == 1 and arr.numblocks[2] == 1:
        return arr.map_blocks(
            _correct_block, trace=trace, out_dtype=out_dtype, dtype=out_dtype, meta=meta
        )
    return arr.map_overlap(
        _correct_block,
        depth={0: 0, 1: depth, 2: depth},
        boundary="none",
        trace=trace,
        out_dtype=out_dtype,
        dtype=out_dtype,
        meta=meta,
    )
