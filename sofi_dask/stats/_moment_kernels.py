"""Per-chunk central sums of every order: a fused numba kernel and a numpy reference.

A chunk is an in-memory block ``(t, y, x)`` of any integer or float dtype. Its *state* is the
frame count ``n``, the per-pixel mean and the per-pixel central sums
``M_p = sum_t (x_t - mean)^p`` for ``p = 2..max_order``, all float64. Both functions use two
passes over the chunk (mean first, then the sums about that mean), so no power sum about zero
is ever formed and an offset of 1e8 or a bleaching drift costs no accuracy.

The numba kernel walks one image row at a time (rows outer, frames, then pixels inner): the row's
accumulators (``max_order`` x ``x`` doubles) stay in L1 cache and the innermost loop over pixels
is independent per pixel, so it vectorises without ``fastmath`` (which stays off: no
reassociation of the sums). ``nogil=True`` lets the threaded scheduler run chunks in parallel.

No dask in here; see :mod:`sofi_dask._moment_state` for merging states and
:mod:`sofi_dask.moments` for the graphs.
"""

from __future__ import annotations

import functools
import logging
import math

import numba
import numpy as np

__all__ = ["central_sums", "central_sums_numpy", "chunk_stack", "merge_sums"]

logger = logging.getLogger(__name__)


def central_sums_numpy(block: np.ndarray, max_order: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and central sums of orders 2..``max_order`` of ``block`` along axis 0 (numpy).

    Parameters
    ----------
    block : ndarray, shape (t, ...)
        Frames along axis 0; any integer or float dtype; ``t >= 1``.
    max_order : int
        Highest order (>= 1).

    Returns
    -------
    mean : ndarray, float64, shape ``block.shape[1:]``
    sums : ndarray, float64, shape ``(max_order - 1,) + block.shape[1:]``
        ``sums[p - 2] = sum_t (block[t] - mean) ** p``.

    Examples
    --------
    >>> mean, sums = central_sums_numpy(np.array([[1.0], [3.0]]), 3)
    >>> mean.tolist(), sums[:, 0].tolist()
    ([2.0], [2.0, 0.0])
    """
    block = np.asarray(block)
    n = block.shape[0]
    mean = block.sum(axis=0, dtype=np.float64) / n
    sums = np.zeros((max(max_order - 1, 0),) + block.shape[1:], dtype=np.float64)
    if max_order < 2:
        return mean, sums
    for t in range(n):  # frame by frame: temporaries stay one frame in size
        d = block[t].astype(np.float64) - mean
        p = d * d
        sums[0] += p
        for k in range(1, max_order - 1):
            p *= d
            sums[k] += p
    return mean, sums


def _make_numba_kernel(n_sums: int):  # pragma: no cover - compiled
    """The fused kernel for ``n_sums`` central sums (orders 2..n_sums + 1).

    ``n_sums`` is a compile-time constant of each kernel, so the loop over orders unrolls inside
    the vectorised loop over pixels (1.5x faster than a run-time order loop at order 6).
    """

    @numba.njit(nogil=True, cache=True, fastmath=False)
    def kernel(block, mean, sums):
        t, ny, nx = block.shape
        row_mean = np.zeros(nx, dtype=np.float64)
        rows = np.zeros((max(n_sums, 1), nx), dtype=np.float64)
        for i in range(ny):
            # pass 1: the row's mean
            for j in range(nx):
                row_mean[j] = 0.0
            for k in range(t):
                for j in range(nx):
                    row_mean[j] += block[k, i, j]
            for j in range(nx):
                row_mean[j] = row_mean[j] / t
                mean[i, j] = row_mean[j]
            if n_sums < 1:
                continue
            # pass 2: central sums of every order about that mean (row data now in cache)
            for o in range(n_sums):
                for j in range(nx):
                    rows[o, j] = 0.0
            for k in range(t):
                for j in range(nx):
                    dj = block[k, i, j] - row_mean[j]
                    pj = dj * dj
                    rows[0, j] += pj
                    for o in range(1, n_sums):
                        pj *= dj
                        rows[o, j] += pj
            for o in range(n_sums):
                for j in range(nx):
                    sums[o, i, j] = rows[o, j]

    return kernel


@functools.cache
def _numba_kernel(n_sums: int):
    """One compiled kernel per number of central sums (built on first use)."""
    return _make_numba_kernel(n_sums)


def _kernel_input(block: np.ndarray) -> np.ndarray:
    """A (t, y, x) block as the kernels take it: bool/float16 as float32, native byte order,
    at least one frame."""
    if block.dtype == np.bool_ or block.dtype == np.float16:
        block = block.astype(np.float32)
    if not block.dtype.isnative:
        block = block.astype(block.dtype.newbyteorder("="))
    if block.shape[0] == 0:
        raise ValueError("block must hold at least one frame")
    return block


def central_sums(block: np.ndarray, max_order: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and central sums of orders 2..``max_order`` along axis 0 (fused numba kernel).

    Same contract as :func:`central_sums_numpy` (the numpy reference the tests compare with).
    Blocks of any dimension (time first) are reduced; bool and float16 blocks are widened first.

    Examples
    --------
    >>> mean, sums = central_sums(np.arange(8, dtype=np.uint16).reshape(4, 1, 2), 2)
    >>> mean.tolist(), sums[0].tolist()
    ([[3.0, 4.0]], [[20.0, 20.0]])
    """
    block = np.asarray(block)
    if block.ndim != 3:  # the kernel walks (t, y, x): view any other layout as (t, 1, pixels)
        if block.ndim == 0:
            raise ValueError("block must have a time axis")
        space = block.shape[1:]
        mean, sums = central_sums(block.reshape(block.shape[0], 1, -1), max_order)
        return mean.reshape(space), sums.reshape((sums.shape[0], *space))
    block = _kernel_input(block)
    t, ny, nx = block.shape
    mean = np.empty((ny, nx), dtype=np.float64)
    sums = np.empty((max(max_order - 1, 0), ny, nx), dtype=np.float64)
    _numba_kernel(max(int(max_order) - 1, 0))(block, mean, sums)
    return mean, sums


def chunk_stack(block: np.ndarray, max_order: int) -> np.ndarray:
    """The moment stack ``[mean, 0, M_2 / t, ..., M_N / t]`` of one chunk ``(t, y, x)``, float64
    ``(max_order + 1, y, x)``, written by the kernel of :func:`central_sums` straight into its
    layers (one allocation; the same numbers as the state of :func:`central_sums` divided by t).

    Examples
    --------
    >>> chunk_stack(np.array([[[1.0]], [[3.0]]]), 2)[:, 0, 0].tolist()
    [2.0, 0.0, 1.0]
    """
    block = np.asarray(block)
    if block.ndim != 3:
        raise ValueError(f"chunk_stack takes a (t, y, x) block, got shape {block.shape}")
    block = _kernel_input(block)
    t, ny, nx = block.shape
    n_sums = max(int(max_order) - 1, 0)
    out = np.empty((n_sums + 2, ny, nx), dtype=np.float64)
    _numba_kernel(n_sums)(block, out[0], out[2:])
    out[1] = 0.0
    out[2:] /= t
    return out


_SPAN = 512  # pixels per pass of the merge kernel: its scratch rows stay in L1 cache


def _make_merge_kernel(n_sums: int):  # pragma: no cover - compiled
    """The k-way merge for ``n_sums`` central sums (the order loops unroll, as above)."""

    @numba.njit(nogil=True, cache=True, fastmath=False)
    def kernel(means, sums, counts, from_stack, to_stack, binom, out_mean, out_sums):
        k = len(means)
        npx = out_mean.shape[0]
        n = 0.0
        for i in range(k):
            n += counts[i]
        powers = np.empty((n_sums + 2, _SPAN), dtype=np.float64)
        ref = means[0]
        for j0 in range(0, npx, _SPAN):
            m = min(_SPAN, npx - j0)
            # the pooled mean: ref + sum_i n_i (mean_i - ref) / n
            for j in range(m):
                out_mean[j0 + j] = counts[0] * (ref[j0 + j] - ref[j0 + j])
            for i in range(1, k):
                mi = means[i]
                for j in range(m):
                    out_mean[j0 + j] = out_mean[j0 + j] + counts[i] * (mi[j0 + j] - ref[j0 + j])
            for j in range(m):
                out_mean[j0 + j] = ref[j0 + j] + out_mean[j0 + j] / n
            if n_sums < 1:
                continue
            for o in range(n_sums):
                for j in range(m):
                    out_sums[o, j0 + j] = 0.0
            for i in range(k):
                mi = means[i]
                si = sums[i]
                c = counts[i]
                scale = c if from_stack else 1.0
                for j in range(m):
                    powers[1, j] = mi[j0 + j] - out_mean[j0 + j]
                for q in range(2, n_sums + 2):
                    for j in range(m):
                        powers[q, j] = powers[q - 1, j] * powers[1, j]
                for p in range(2, n_sums + 2):
                    for j in range(m):
                        if from_stack:
                            acc = si[p - 2, j0 + j] * scale + c * powers[p, j]
                        else:
                            acc = si[p - 2, j0 + j] + c * powers[p, j]
                        for q in range(1, p - 1):
                            if from_stack:
                                mq = si[p - q - 2, j0 + j] * scale
                            else:
                                mq = si[p - q - 2, j0 + j]
                            acc = acc + binom[p, q] * mq * powers[q, j]
                        out_sums[p - 2, j0 + j] += acc
            if to_stack:
                for o in range(n_sums):
                    for j in range(m):
                        out_sums[o, j0 + j] = out_sums[o, j0 + j] / n

    return kernel


@functools.cache
def _merge_kernel(n_sums: int):
    """One compiled merge per number of central sums (built on first use)."""
    return _make_merge_kernel(n_sums)


@functools.cache
def _binomials(n_sums: int) -> np.ndarray:
    out = np.zeros((n_sums + 2, n_sums + 2), dtype=np.float64)
    for p in range(n_sums + 2):
        for k in range(p + 1):
            out[p, k] = math.comb(p, k)
    out.flags.writeable = False
    return out


def merge_sums(
    means: list[np.ndarray],
    sums: list[np.ndarray],
    counts: list[int],
    out_mean: np.ndarray,
    out_sums: np.ndarray,
    *,
    from_stack: bool = False,
    to_stack: bool = False,
) -> None:
    """Exact k-way merge (Pébay) of the means and central sums of disjoint frame sets, into
    ``out_mean`` (pixels) and ``out_sums`` (``(n_sums, pixels)``), one numba pass, no temporaries.

    The operations, in their order, of the numpy merge this replaces (so the results are the
    same to the bit): pooled mean ``ref + sum_i n_i (mean_i - ref) / n`` (``ref`` the first
    part's mean), then per part ``delta = mean_i - mean`` and
    ``M_p += M_p,i + n_i delta^p + sum_{k=1}^{p-2} C(p, k) M_{p-k,i} delta^k``.
    ``from_stack``: the parts' sums are moment-stack layers ``M_p / n_i`` (multiplied by
    ``n_i`` first); ``to_stack``: the merged sums are divided by ``n``. Every array float64,
    C-contiguous, flattened over the pixels (``means[i]`` and ``out_mean`` 1-D, ``sums[i]``
    and ``out_sums`` 2-D).

    Examples
    --------
    >>> out_mean, out_sums = np.empty(1), np.empty((2, 1))
    >>> merge_sums([np.array([2.0]), np.array([8.0])], [np.array([[2.0], [0.0]]),
    ...            np.zeros((2, 1))], [2, 1], out_mean, out_sums)
    >>> out_mean.tolist(), out_sums[:, 0].tolist()  # frames 1, 3 and 8
    ([4.0], [26.0, 36.0])
    """
    n_sums = int(out_sums.shape[0])
    kernel = _merge_kernel(n_sums)
    kernel(
        tuple(means),
        tuple(sums),
        np.asarray(counts, dtype=np.float64),
        bool(from_stack),
        bool(to_stack),
        _binomials(n_sums),
        out_mean,
        out_sums,
    )
