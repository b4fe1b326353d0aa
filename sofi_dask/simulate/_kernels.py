"""Numba kernels of the simulator: counter-based random numbers, blinking, rendering, noise.

Every random number is a hash of ``(stream key, frame, index)`` (splitmix64), so any frame
range can be computed on its own, in any batch size and on any number of threads, and the
result is the same bytes. No dask in here.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy import special

__all__ = [
    "GOLDEN",
    "background_table",
    "blink_states",
    "render_frames",
]

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53
_PTRS_MIN = 10.0  # below this mean, Poisson by inversion; above, Hormann's PTRS
_LN_2PI = math.log(2.0 * math.pi)


@numba.njit(nogil=True, cache=True, inline="always")
def _mix64(z: np.uint64) -> np.uint64:
    """The splitmix64 finaliser: a bijective 64-bit hash."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@numba.njit(nogil=True, cache=True, inline="always")
def _u01(z: np.uint64) -> float:
    """Uniform float in [0, 1) from the top 53 bits of a hash."""
    return float(z >> _S11) * _INV53


@numba.njit(nogil=True, cache=True, inline="always")
def _frame_key(stream_key: np.uint64, frame: int) -> np.uint64:
    return _mix64(stream_key + np.uint64(frame) * GOLDEN)


@numba.njit(nogil=True, cache=True)
def _poisson_small(lam: float, u: float) -> int:
    """Poisson(lam) by sequential inversion of the CDF with one uniform (lam < ~30)."""
    p = math.exp(-lam)
    cdf = p
    k = 0
    limit = int(lam + 12.0 * math.sqrt(lam) + 40.0)
    while u > cdf and k < limit:
        k += 1
        p *= lam / k
        cdf += p
    return k


@numba.njit(nogil=True, cache=True)
def _poisson_ptrs(lam: float, state: np.uint64) -> tuple[int, np.uint64]:
    """Poisson(lam) for lam >= 10 by transformed rejection with squeeze (Hormann, 1993).

    ``state`` is a splitmix64 counter, advanced and returned with the sample.
    """
    slam = math.sqrt(lam)
    loglam = math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        state += GOLDEN
        u = _u01(_mix64(state)) - 0.5
        state += GOLDEN
        v = _u01(_mix64(state))
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= v_r:
            return int(k), state
        if k < 0 or (us < 0.013 and v > us):
            continue
        lhs = math.log(v) + math.log(inv_alpha) - math.log(a / (us * us) + b)
        rhs = -lam + k * loglam - math.lgamma(k + 1.0)
        if lhs <= rhs:
            return int(k), state


@numba.njit(nogil=True, cache=True)
def _poisson(lam: float, state: np.uint64) -> tuple[int, np.uint64]:
    if lam <= 0.0:
        return 0, state
    if lam < _PTRS_MIN:
        state += GOLDEN
        return _poisson_small(lam, _u01(_mix64(state))), state
    return _poisson_ptrs(lam, state)


def background_table(mean: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverse-CDF table of Poisson(``mean``): ``(cdf, guide)`` for one-uniform sampling.

    ``cdf[k]`` is P(K <= k) up to a tail below 1e-16 (last entry forced to 1); ``guide[i]`` is
    the smallest ``k`` with ``cdf[k] > i / len(guide)``.
    """
    kmax = int(mean + 12.0 * math.sqrt(mean) + 40.0)
    k = np.arange(kmax + 1, dtype=np.float64)
    cdf = special.pdtr(k, mean) if mean > 0 else np.ones_like(k)
    cdf = np.maximum.accumulate(cdf)
    cdf[-1] = 1.0
    n_guide = 4 * cdf.size
    guide = np.searchsorted(cdf, np.arange(n_guide) / n_guide, side="right").astype(np.int64)
    return cdf, guide


@numba.njit(nogil=True, cache=True)
def blink_states(
    key: np.uint64,
    start: int,
    stop: int,
    previous: np.ndarray,
    on_ratio: np.ndarray,
    p_on: np.ndarray,
    p_off: np.ndarray,
) -> np.ndarray:
    """On/off states (uint8, shape (stop - start, n_emitters)) of frames ``start..stop-1``.

    ``previous`` holds the states at frame ``start - 1`` (ignored when ``start == 0``, where the
    chain starts from its stationary distribution). ``on_ratio``, ``p_on`` and ``p_off`` are
    per emitter (float64 arrays of length n_emitters).
    """
    n_emitters = previous.shape[0]
    out = np.empty((stop - start, n_emitters), dtype=np.uint8)
    for t in range(start, stop):
        fkey = _frame_key(key, t)
        row = t - start
        for e in range(n_emitters):
            u = _u01(_mix64(fkey + np.uint64(e) * GOLDEN))
            if t == 0:
                on = u < on_ratio[e]
            else:
                was_on = previous[e] if row == 0 else out[row - 1, e]
                on = (u >= p_off[e]) if was_on else (u < p_on[e])
            out[row, e] = 1 if on else 0
    return out


@numba.njit(nogil=True, cache=True)
def render_frames(
    out: np.ndarray,
    start: int,
    amplitude: np.ndarray,
    x0: np.ndarray,
    y0: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    bg_cdf: np.ndarray,
    bg_guide: np.ndarray,
    background: float,
    key: np.uint64,
    gain: float,
    baseline: float,
    read_noise: float,
    poisson_noise: bool,
) -> None:
    """Render frames ``start .. start + len(out) - 1`` into ``out`` (uint16, (n, H, W)).

    ``amplitude[i, e]`` is the photon count of emitter ``e`` in frame ``start + i`` (0 when off);
    its PSF is ``outer(gy[e], gx[e])`` placed with its top-left corner at ``(y0[e], x0[e])``
    (clipped at the frame border). Counts: Poisson(background) + Poisson(signal) (exact
    Poisson of the sum), times ``gain``, plus ``baseline`` and Gaussian read noise, rounded and
    clipped to uint16.
    """
    n, height, width = out.shape
    n_emitters, patch = gx.shape
    signal = np.zeros((height, width), dtype=np.float64)
    n_guide = bg_guide.shape[0]
    for i in range(n):
        signal[:, :] = 0.0
        for e in range(n_emitters):
            amp = amplitude[i, e]
            if amp <= 0.0:
                continue
            for a in range(patch):
                yy = y0[e] + a
                if yy < 0 or yy >= height:
                    continue
                wy = amp * gy[e, a]
                for b in range(patch):
                    xx = x0[e] + b
                    if 0 <= xx < width:
                        signal[yy, xx] += wy * gx[e, b]
        # one splitmix64 stream per frame, consumed in a fixed order: the frame's bytes do not
        # depend on how frames are grouped into batches or threads
        state = _frame_key(key, start + i)
        spare = 0.0
        has_spare = False
        for yy in range(height):
            for xx in range(width):
                lam = signal[yy, xx]
                if poisson_noise:
                    state += GOLDEN
                    u = _u01(_mix64(state))
                    k = bg_guide[int(u * n_guide)]
                    while bg_cdf[k] <= u:
                        k += 1
                    s, state = _poisson(lam, state)
                    counts = float(k + s)
                else:
                    counts = background + lam
                value = gain * counts + baseline
                if read_noise > 0.0:
                    if has_spare:
                        z = spare
                        has_spare = False
                    else:
                        # Marsaglia's polar method: two normals per accepted pair
                        while True:
                            state += GOLDEN
                            v1 = 2.0 * _u01(_mix64(state)) - 1.0
                            state += GOLDEN
                            v2 = 2.0 * _u01(_mix64(state)) - 1.0
                            r2 = v1 * v1 + v2 * v2
                            if 0.0 < r2 < 1.0:
                                break
                        f = math.sqrt(-2.0 * math.log(r2) / r2)
                        z = v1 * f
                        spare = v2 * f
                        has_spare = True
                    value += read_noise * z
                value = math.floor(value + 0.5)
                if value < 0.0:
                    value = 0.0
                elif value > 65535.0:
                    value = 65535.0
                out[i, yy, xx] = np.uint16(value)
