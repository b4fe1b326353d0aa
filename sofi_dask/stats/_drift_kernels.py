"""Kernels of drift correction: image registration and sub-pixel frame shifts (no dask).

Registration: the cross-correlation ``c(s) = sum_r a(r) b(r + s)`` of two mean-subtracted,
Tukey-apodised images, by ``scipy.fft``; it peaks at ``s = d`` when ``b(r) = a(r - d)``. The
integer peak is refined by fitting a quadratic surface to the logarithm of the 3 x 3 values
around it (a 2-D Gaussian, tilted peaks of anisotropic structures included; a plain quadratic
when a value is not positive).

Redundant registration (Wang et al., Opt. Express 22, 15982 (2014), "RCC"): positions
``p_k`` of ``n`` segments from the pairwise shifts ``s_ij = p_j - p_i`` by least squares with
``p_0 = 0``; pairs whose residual exceeds a bound are dropped and the system solved again, so
one bad segment cannot derail the trace.

Shifts: separable cubic convolution (Keys, a = -0.5; 4 taps per axis) with replicated edges, a
numba kernel that runs without the GIL. A local kernel, so tiles with an overlap of
``ceil(max |d|) + 2`` pixels give the same values as whole frames.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy import fft

from sofi_dask.stats._fourier import rfft_weights, tukey_window

__all__ = [
    "connected",
    "keys_weights",
    "power",
    "refine_near",
    "register",
    "register_many",
    "shift_frames",
    "solve_positions",
    "spectra",
    "spectrum",
]


def spectra(images: np.ndarray, *, workers: int = 1) -> np.ndarray:
    """Real FFTs ``(k, y, x // 2 + 1)`` of a stack of images, each mean-subtracted and
    apodised (Tukey window, a quarter of each side tapered; the window made once per shape)."""
    img = np.asarray(images, dtype=np.float64)
    window = tukey_window(img.shape[-2:], 0.25)
    # the means over a flat view: numpy's reduction over two axes is ~3x slower
    prepared = img - img.reshape(len(img), -1).mean(axis=1)[:, None, None]
    prepared *= window
    return fft.rfft2(prepared, axes=(-2, -1), workers=workers)


def spectrum(image: np.ndarray) -> np.ndarray:
    """Real FFT of the prepared (mean-subtracted, apodised) image."""
    return spectra(np.asarray(image)[None])[0]


def power(spec: np.ndarray) -> np.ndarray:
    """``sum |S|^2`` over each half-plane spectrum of a stack (the peak height's norm)."""
    return (spec.real**2 + spec.imag**2).sum(axis=(-2, -1))


_OFFSETS = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)], dtype=np.float64)
# least-squares fit of q(y, x) = c0 + c1 y + c2 x + c3 y^2 + c4 x^2 + c5 x y on the 3 x 3 grid
_DESIGN = np.column_stack(
    [
        np.ones(9),
        _OFFSETS[:, 0],
        _OFFSETS[:, 1],
        _OFFSETS[:, 0] ** 2,
        _OFFSETS[:, 1] ** 2,
        _OFFSETS[:, 0] * _OFFSETS[:, 1],
    ]
)
_FIT = np.linalg.pinv(_DESIGN)


def _refine(patches: np.ndarray) -> np.ndarray:
    """Sub-pixel peaks ``(k, 2)`` of 3 x 3 patches ``(k, 3, 3)``: vertex of a quadratic surface
    fitted to their logarithm (a 2-D Gaussian, tilted peaks included), or to the values when
    some are not positive; ``(0, 0)`` (the integer peak) where the surface has no maximum."""
    values = patches.reshape(len(patches), 9)
    positive = np.all(values > 0, axis=1)
    vals = np.where(positive[:, None], np.log(np.where(values > 0, values, 1.0)), values)
    c = vals @ _FIT.T
    a, b, d = 2.0 * c[:, 3], c[:, 5], 2.0 * c[:, 4]  # the Hessian [[a, b], [b, d]]
    det = a * d - b * b
    peak = (det > 0) & (a < 0)
    safe = np.where(peak, det, 1.0)
    fy = (-d * c[:, 1] + b * c[:, 2]) / safe
    fx = (b * c[:, 1] - a * c[:, 2]) / safe
    out = np.clip(np.stack([fy, fx], axis=1), -1.0, 1.0)
    out[~peak] = 0.0
    return out


def register_many(
    spec_a: np.ndarray,
    specs_b: np.ndarray,
    shape: tuple[int, int],
    *,
    powers: tuple[float, np.ndarray] | None = None,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Shifts ``(k, 2)`` of images b relative to image a from their :func:`spectra`
    (``specs_b``: ``(k, ...)``) and the normalised correlation peak heights ``(k,)``.

    ``powers``: :func:`power` of a and of the b's, when already known.
    """
    ny, nx = shape
    corr = fft.irfft2(np.conj(spec_a)[None] * specs_b, s=shape, axes=(-2, -1), workers=workers)
    k = len(corr)
    flat = corr.reshape(k, -1)
    best = np.argmax(flat, axis=1)
    iy, ix = np.divmod(best, nx)
    c0 = flat[np.arange(k), best]
    step = np.array([-1, 0, 1])
    rows = (iy[:, None] + step) % ny
    cols = (ix[:, None] + step) % nx
    patches = corr[np.arange(k)[:, None, None], rows[:, :, None], cols[:, None, :]]
    frac = _refine(patches)
    shifts = np.stack([(iy + ny // 2) % ny - ny // 2, (ix + nx // 2) % nx - nx // 2], axis=1)
    pa, pb = powers if powers is not None else (float(power(spec_a)), power(specs_b))
    norm = np.sqrt(pa * np.asarray(pb, dtype=np.float64))
    peaks = np.where(norm > 0, c0 * corr[0].size / np.where(norm > 0, norm, 1.0), 0.0)
    return shifts + frac, peaks


_NEAR = 2  # refine_near searches the peak within this many pixels of zero


def refine_near(
    spec_a: np.ndarray, specs_b: np.ndarray, shape: tuple[int, int], *, workers: int = 1
) -> np.ndarray:
    """Shifts ``(k, 2)`` of images b relative to image a, for images already registered to
    within a pixel or so: the cross-correlation only at the ``5 x 5`` shifts around zero (two
    small matrix products with the Fourier kernels, the same values as the inverse transform
    there), its maximum refined as in :func:`register_many`; a pair whose maximum lies on the
    border of that window is registered over the whole plane instead."""
    ny, nx = shape
    s = np.arange(-_NEAR, _NEAR + 1)
    ey = np.exp(2j * np.pi * np.outer(s, np.arange(ny)) / ny)  # (5, ny)
    kx = np.arange(nx // 2 + 1)
    ex = np.exp(2j * np.pi * np.outer(kx, s) / nx) * rfft_weights(nx)[:, None]
    k = len(specs_b)
    cross = (np.conj(spec_a)[None] * specs_b).reshape(k * ny, -1)
    corr = (ey @ (cross @ ex).reshape(k, ny, s.size)).real / (ny * nx)  # as irfft2 at s
    best = np.argmax(corr.reshape(k, -1), axis=1)
    iy, ix = np.divmod(best, s.size)
    inner = (iy > 0) & (iy < s.size - 1) & (ix > 0) & (ix < s.size - 1)
    out = np.empty((k, 2))
    idx = np.flatnonzero(inner)
    if idx.size:
        step = np.array([-1, 0, 1])
        rows = iy[idx, None] + step
        cols = ix[idx, None] + step
        patches = corr[idx[:, None, None], rows[:, :, None], cols[:, None, :]]
        out[idx] = np.stack([s[iy[idx]], s[ix[idx]]], axis=1) + _refine(patches)
    far = np.flatnonzero(~inner)
    if far.size:
        out[far] = register_many(spec_a, specs_b[far], shape, workers=workers)[0]
    return out


def register(
    spec_a: np.ndarray, spec_b: np.ndarray, shape: tuple[int, int]
) -> tuple[float, float, float]:
    """Shift ``(dy, dx)`` of image b relative to image a from their :func:`spectrum`, and the
    normalised correlation peak height.

    Examples
    --------
    >>> yy, xx = np.mgrid[:64, :64]
    >>> a = np.exp(-((yy - 30.0) ** 2 + (xx - 31.0) ** 2) / 8.0)
    >>> b = np.exp(-((yy - 32.3) ** 2 + (xx - 29.6) ** 2) / 8.0)
    >>> dy, dx, _ = register(spectrum(a), spectrum(b), a.shape)
    >>> round(dy, 2), round(dx, 2)
    (2.3, -1.4)
    """
    shifts, peaks = register_many(spec_a, np.asarray(spec_b)[None], shape)
    return float(shifts[0, 0]), float(shifts[0, 1]), float(peaks[0])


def solve_positions(
    n: int, pairs: np.ndarray, shifts: np.ndarray, max_residual: float
) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(n, 2)`` (``p_0 = 0``) from pairwise shifts, dropping outlier pairs.

    ``pairs`` is ``(m, 2)`` int ``(i, j)``, ``shifts`` ``(m, 2)`` the measured ``p_j - p_i``.
    Returns the positions and a boolean mask of the pairs kept.

    Examples
    --------
    >>> pairs = np.array([[0, 1], [1, 2], [0, 2], [0, 3], [1, 3], [2, 3]])
    >>> truth = np.array([[0, 0], [1, 0], [2, 1], [3, 1.5]])
    >>> shifts = truth[pairs[:, 1]] - truth[pairs[:, 0]]
    >>> shifts[2] += 5.0  # one bad registration
    >>> pos, kept = solve_positions(4, pairs, shifts, 1.0)
    >>> bool(np.allclose(pos, truth)), kept.tolist()
    (True, [True, True, False, True, True, True])
    """
    keep = np.ones(len(pairs), dtype=bool)
    pos = np.zeros((n, 2))
    for _ in range(len(pairs)):
        a = np.zeros((int(keep.sum()), n))
        sel = pairs[keep]
        a[np.arange(len(sel)), sel[:, 1]] = 1.0
        a[np.arange(len(sel)), sel[:, 0]] -= 1.0
        sol, *_ = np.linalg.lstsq(a[:, 1:], shifts[keep], rcond=None)
        pos = np.vstack([np.zeros((1, 2)), sol])
        resid = np.linalg.norm(shifts - (pos[pairs[:, 1]] - pos[pairs[:, 0]]), axis=1)
        worst = int(np.argmax(np.where(keep, resid, -1.0)))
        if resid[worst] <= max_residual:
            break
        trial = keep.copy()
        trial[worst] = False
        if not connected(n, pairs[trial]):
            break
        keep = trial
    return pos, keep


def connected(n: int, pairs: np.ndarray) -> bool:
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        parent[find(int(i))] = find(int(j))
    return len({find(i) for i in range(n)}) == 1


def keys_weights(frac: float) -> np.ndarray:
    """Keys cubic-convolution weights (a = -0.5) of taps ``-1, 0, 1, 2`` at offset ``frac``.

    Examples
    --------
    >>> keys_weights(0.0).tolist(), float(keys_weights(0.3).sum())
    ([0.0, 1.0, 0.0, 0.0], 1.0)
    """
    a = -0.5
    out = np.empty(4)
    for k, dist in enumerate((1.0 + frac, frac, 1.0 - frac, 2.0 - frac)):
        x = abs(dist)
        if x <= 1.0:
            out[k] = (a + 2.0) * x**3 - (a + 3.0) * x**2 + 1.0
        elif x < 2.0:
            out[k] = a * x**3 - 5.0 * a * x**2 + 8.0 * a * x - 4.0 * a
        else:
            out[k] = 0.0
    return out


@numba.njit(nogil=True, cache=True)
def _shift_kernel(block, shifts, out):  # pragma: no cover - compiled
    nt, ny, nx = block.shape
    tmp = np.empty((ny, nx), dtype=np.float64)
    wy = np.empty(4)
    wx = np.empty(4)
    a = -0.5
    for t in range(nt):
        sy = shifts[t, 0]
        sx = shifts[t, 1]
        iy = math.floor(sy)
        ix = math.floor(sx)
        for k in range(4):
            for axis in range(2):
                frac = (sy - iy) if axis == 0 else (sx - ix)
                x = abs(frac + 1.0 - k)
                if x <= 1.0:
                    w = (a + 2.0) * x**3 - (a + 3.0) * x**2 + 1.0
                elif x < 2.0:
                    w = a * x**3 - 5.0 * a * x**2 + 8.0 * a * x - 4.0 * a
                else:
                    w = 0.0
                if axis == 0:
                    wy[k] = w
                else:
                    wx[k] = w
        for y in range(ny):
            for x in range(nx):
                tmp[y, x] = 0.0
            for k in range(4):
                src = min(max(y + iy + k - 1, 0), ny - 1)
                w = wy[k]
                for x in range(nx):
                    tmp[y, x] += w * block[t, src, x]
        for y in range(ny):
            for x in range(nx):
                acc = 0.0
                for k in range(4):
                    src = min(max(x + ix + k - 1, 0), nx - 1)
                    acc += wx[k] * tmp[y, src]
                out[t, y, x] = acc


def shift_frames(block: np.ndarray, shifts: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``out[t, y, x] = block[t, y + shifts[t, 0], x + shifts[t, 1]]`` by cubic convolution.

    Parameters
    ----------
    block : ndarray, shape (t, y, x)
        Frames (any real dtype).
    shifts : ndarray, shape (t, 2)
        Where each output pixel samples the input, ``(dy, dx)`` in pixels.
    dtype : numpy dtype
        Output float dtype.

    Examples
    --------
    >>> frame = np.arange(6.0)[None, None, :].repeat(3, axis=1)
    >>> shift_frames(frame, np.array([[0.0, 1.5]]), np.float64)[0, 0].tolist()
    [1.5, 2.5, 3.5, 4.5625, 5.0625, 5.0]
    """
    out = np.empty(block.shape, dtype=dtype)
    _shift_kernel(np.ascontiguousarray(block), np.asarray(shifts, dtype=np.float64), out)
    return out
