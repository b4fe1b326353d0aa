"""Property test: every sofi_dask.compat statistic equals pysofi's formulas in plain numpy.

For random small movies (1..30 frames of 1..5 x 2..5 pixels, any integer or float dtype,
written as real TIFF files), orders 1..6, random frame-block cuts (1-frame blocks included:
pysofi computes every order on any block) and list or array inputs, each compat result equals
an independent numpy implementation of the formula pysofi documents, to 1e-9 (relative to the
size of the terms that cancel). The formulas below are written from pysofi's documented
semantics (``/work/shared/pysofi-notes.md``), not from either implementation; they were
cross-checked against pysofi itself (``/work/shared/tools/pysofi-python``) on random inputs
when this test was written.

Where pysofi has a documented defect the formula is the correct one compat implements:
float64 moments (pysofi truncates ``calc_moments`` to int64), a float64 total signal (pysofi
wraps uint16 sums), ``min_image`` over the window only (pysofi always includes frame 0).
"""

from __future__ import annotations

import itertools
import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sofi_dask.compat import PysofiData
from sofi_dask.compat import filtering as cfilt
from sofi_dask.compat import reconstruction as rec

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DTYPES = ["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"]


# --------------------------------------------------------------------------- pysofi's formulas
def ref_moment(x: np.ndarray, p: int, origin: np.ndarray | None = None) -> np.ndarray:
    """``mean_t (x_t - c)^p``, ``c`` the mean of the same frames unless given."""
    c = x.mean(axis=0) if origin is None else origin
    return ((x - c) ** p).mean(axis=0)


def ref_cumulants(m: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """``k_n = m_n - sum_{i=1}^{n-1} C(n-1, i) k_{n-i} m_i`` for n = 1..max(m)."""
    k: dict[int, np.ndarray] = {}
    for n in range(1, max(m) + 1):
        acc = np.asarray(m[n], dtype=np.float64)
        for i in range(1, n):
            acc = acc - math.comb(n - 1, i) * k[n - i] * np.asarray(m[i], dtype=np.float64)
        k[n] = acc
    return k


def ref_med_smooth(signal: np.ndarray, k: int) -> np.ndarray:
    """Median of ``k`` samples around each sample; ``k`` samples mirrored at each end
    including the edge sample (``x[:k][::-1]``), then cropped back (odd ``k``)."""
    s = np.asarray(signal, dtype=np.float64)
    padded = np.concatenate([s[:k][::-1], s, s[-k:][::-1]])
    h = k // 2
    return np.array([np.median(padded[k + i - h : k + i + h + 1]) for i in range(s.size)])


def ref_cut_frames(signal: np.ndarray, fbc: float) -> tuple[list[int], list[int]]:
    """Bounds ``int(mx - (mx - mn) i fbc)``, i = 1..ceil(1/fbc); from the argmax on, each frame
    that falls below the next bound (strictly) crosses it, one bound per frame at most."""
    s = np.asarray(signal, dtype=np.float64)
    mx, mn = s.max(), s.min()
    bounds = [int(mx - (mx - mn) * i * fbc) for i in range(1, math.ceil(1 / fbc) + 1)]
    crossings, b = [], 0
    for t in range(int(np.argmax(s)), s.size):
        if b < len(bounds) and s[t] < bounds[b]:
            crossings.append(t)
            b += 1
    return [int(mx)] + bounds, [0] + crossings + [s.size]


def ref_blocks(x: np.ndarray, kernel: int, fbc: float) -> list[tuple[int, int]]:
    total = x.reshape(x.shape[0], -1).sum(axis=1)
    _, frames = ref_cut_frames(ref_med_smooth(total, kernel), fbc)
    return [(a, b) for a, b in itertools.pairwise(frames) if b > a]


def ref_xc(x: np.ndarray, r: int) -> dict[tuple[int, int], np.ndarray]:
    """Second-order cross-cumulants of the pixel pairs mirrored about each output pixel."""
    d = x - x.mean(axis=0)
    n, hgt, wid = x.shape
    offsets = [(i, j) for i in range(-r, 0) for j in range(-r, r + 1)]
    offsets += [(0, j) for j in range(-r, 0)]
    out = {}
    for i, j in offsets:
        a = d[:, r + i : hgt - r + i, r + j : wid - r + j]
        b = d[:, r - i : hgt - r - i, r - j : wid - r - j]
        out[(i, j)] = (a * b).mean(axis=0)
    return out


def ref_lag_subsets(n_lags: int) -> dict[int, list[tuple[int, ...]]]:
    """Index subsets per order: all of them for orders 2..L-2 when L > 3, else the prefix."""
    return {
        o: list(itertools.combinations(range(n_lags), o))
        if n_lags > 3 and o <= n_lags - 2
        else [tuple(range(o))]
        for o in range(2, n_lags + 1)
    }


def ref_lag_moments(x: np.ndarray, tau: list[int]) -> dict[int, dict[tuple, np.ndarray]]:
    """``mean_{t < N - max(tau)} prod_{i in s} d(t + tau_i)``, ``d = x - mean over all N``."""
    d = x - x.mean(axis=0)
    t_len = x.shape[0] - max(tau)
    out: dict[int, dict[tuple, np.ndarray]] = {}
    for o, subsets in ref_lag_subsets(len(tau)).items():
        out[o] = {}
        for s in subsets:
            prod = np.ones((t_len,) + x.shape[1:])
            for i in s:
                prod = prod * d[tau[i] : tau[i] + t_len]
            out[o][s] = prod.mean(axis=0)
    return out


def ref_partitions(items: tuple[int, ...]) -> list[list[tuple[int, ...]]]:
    """Every set partition of ``items`` (parts in increasing order of first element)."""
    if not items:
        return [[]]
    first, rest = items[0], items[1:]
    out = []
    for r in range(len(rest) + 1):
        for others in itertools.combinations(rest, r):
            remaining = tuple(i for i in rest if i not in others)
            for tail in ref_partitions(remaining):
                out.append([(first, *others), *tail])
    return out


def ref_lag_cumulants(m: dict[int, dict[tuple, np.ndarray]], n_lags: int) -> dict[int, np.ndarray]:
    """``k_o = sum_P (-1)^(|P|-1) (|P|-1)! prod_{part} m(part)`` over the partitions of
    0..o-1 whose parts all have >= 2 elements."""
    out = {}
    for o in range(2, n_lags + 1):
        total = 0.0
        for part in ref_partitions(tuple(range(o))):
            if any(len(p) < 2 for p in part):
                continue
            sign = (-1) ** (len(part) - 1) * math.factorial(len(part) - 1)
            total = total + sign * np.prod([np.asarray(m[len(p)][p]) for p in part], axis=0)
        out[o] = total
    return out


def ref_correct_bleaching(x: np.ndarray, blocks: list[tuple[int, int]]) -> np.ndarray:
    out = np.concatenate([np.round(x[a:b] - x[a:b].mean(axis=0)) for a, b in blocks])
    return out - out.min(axis=0)


# --------------------------------------------------------------------------- helpers
def assert_close(got, ref, scale=None) -> None:
    ref = np.asarray(ref, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    size = np.abs(ref).max(initial=0.0) if scale is None else scale
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9 * max(1.0, size))


def moment_scale(x: np.ndarray, p: int, origin: np.ndarray | None = None) -> float:
    """Size of the terms summed in a moment: ``max mean_t |x_t - c|^p`` (odd moments of
    symmetric values cancel to ~0, with rounding errors of this size)."""
    c = x.mean(axis=0) if origin is None else origin
    return float((np.abs(x - c) ** p).mean(axis=0).max())


def cumulant_scale(m: dict[int, np.ndarray], order: int) -> float:
    """Size of the terms of k_order that cancel: max |m_order|, max |m_2|^(order/2)."""
    return max(np.abs(m[order]).max(), np.abs(m[2]).max() ** (order / 2)) if order > 1 else 1.0


def lag_cumulant_scale(m: dict[int, dict[tuple, np.ndarray]], order: int) -> float:
    """Largest term of the time-lag cumulant of ``order`` (products of moments that cancel)."""
    terms = [
        np.prod([np.abs(m[len(p)][p]).max() for p in part])
        for part in ref_partitions(tuple(range(order)))
        if all(len(p) >= 2 for p in part)
    ]
    return float(max(terms))


def as_input(a: np.ndarray, kind: str):
    """The same values as a nested list, a tuple, a read-only or a non-contiguous array."""
    if kind == "list":
        return a.tolist()
    if kind == "tuple":
        return tuple(a.tolist()) if a.ndim == 1 else tuple(tuple(r) for r in a.tolist())
    if kind == "readonly":
        b = a.copy()
        b.setflags(write=False)
        return b
    if kind == "strided":
        big = np.zeros((2 * a.shape[0],) + a.shape[1:], dtype=a.dtype)
        big[::2] = a
        return big[::2]
    return a


INPUT_KINDS = st.sampled_from(["list", "tuple", "array", "readonly", "strided"])


@st.composite
def movies(draw, min_side: int = 1):
    """(movie, dtype): random values in the dtype's range, an optional bleaching-like decay."""
    n = draw(st.integers(1, 30))
    h = draw(st.integers(min_side, 5))
    # width >= 2: tifffile writes a (t, y, 1) array as one (t, y) page, not as t frames
    w = draw(st.integers(max(2, min_side), 5))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    decay = draw(st.sampled_from([0.0, 40.0]))
    t = np.arange(n, dtype=np.float64)[:, None, None]
    low = 0 if dtype.kind == "u" else -30
    values = rng.uniform(low, 60, (n, h, w)) + decay * np.exp(-t / max(1.0, n / 3))
    if dtype.kind == "f":
        return values.astype(dtype), dtype
    return np.clip(np.round(values), low, 127).astype(dtype), dtype


def cuts(draw, n: int) -> list[tuple[int, int]]:
    """Random consecutive blocks covering 0..n-1 (1-frame blocks allowed)."""
    inner = sorted(draw(st.sets(st.integers(1, n - 1), max_size=6))) if n > 1 else []
    edges = [0, *inner, n]
    return list(itertools.pairwise(edges))


def write(folder: str, movie: np.ndarray, plain: bool = False) -> tuple[str, str]:
    """The movie as a TIFF; with ``plain`` a 1-frame movie is one bare 2-D page (pysofi reads
    that as a movie of one frame too)."""
    if plain and movie.shape[0] == 1:
        tifffile.imwrite(Path(folder) / "movie.tif", movie[0], metadata=None)
    else:
        tifffile.imwrite(Path(folder) / "movie.tif", movie, photometric="minisblack")
    return folder, "movie.tif"


# --------------------------------------------------------------------------- properties
@SETTINGS
@given(movies(), st.integers(1, 6), st.data())
def test_moments_of_windows_and_blocks(movie_dtype, order, data):
    movie, _ = movie_dtype
    x = movie.astype(np.float64)
    blocks = cuts(data.draw, x.shape[0])
    a, b = blocks[data.draw(st.integers(0, len(blocks) - 1))]
    origin = data.draw(st.floats(-5, 5)) + x.mean(axis=0)
    kind = data.draw(INPUT_KINDS)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # short windows warn; computed anyway
        src = write(tmp, movie, plain=data.draw(st.booleans()))
        assert_close(rec.average_image(*src, [a, b]), x[a:b].mean(axis=0))
        assert_close(rec.min_image(*src, [a, b]), x[a:b].min(axis=0))
        assert_close(rec.calc_total_signal(*src), x.reshape(x.shape[0], -1).sum(axis=1))
        ref = {p: ref_moment(x[a:b], p) for p in range(1, order + 1)}
        scale = {p: moment_scale(x[a:b], p) for p in ref}
        assert_close(rec.calc_moment_im(*src, order, [a, b]), ref[order], scale[order])
        shifted = rec.calc_moment_im(*src, order, [a, b], mean_im=as_input(origin, kind))
        assert_close(
            shifted, ref_moment(x[a:b], order, origin), moment_scale(x[a:b], order, origin)
        )
        got = rec.calc_moments(*src, order, [a, b])
        assert sorted(got) == list(range(1, order + 1))
        for p in ref:
            assert_close(got[p], ref[p], scale[p])
        for a_b, got_block in zip(
            blocks, [rec.calc_block_moments(*src, order, list(w)) for w in blocks], strict=True
        ):
            for p in range(1, order + 1):
                block = x[a_b[0] : a_b[1]]
                assert_close(got_block[p], ref_moment(block, p), moment_scale(block, p))
        d = PysofiData(*src)
        assert d.get_dims() == x.shape
        assert_close(d.moment_image(order, mvlength=[a, b]), ref[order], scale[order])
        k = d.cumulants_images(order, frames=[a, b])
        for p, kp in ref_cumulants(ref).items():
            assert_close(k[p], kp, cumulant_scale(ref, p))


@settings(SETTINGS, max_examples=15)  # ~1 s an example: files, blocks, correction
@given(movies(), st.integers(1, 6), st.sampled_from([1, 3, 5]), st.sampled_from([0.1, 0.25, 0.5]))
def test_bleaching_blocks_of_any_length(movie_dtype, order, kernel, fbc):
    movie, _ = movie_dtype
    x = movie.astype(np.float64)
    kernel = min(kernel, x.shape[0] if x.shape[0] % 2 else x.shape[0] - 1)
    blocks = ref_blocks(x, kernel, fbc)
    per_block = [{p: ref_moment(x[a:b], p) for p in range(1, order + 1)} for a, b in blocks]
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        src = write(tmp, movie)
        got = rec.moments_all_blocks(*src, order, kernel, fbc)
        assert sorted(got) == list(range(len(blocks)))
        m_scale = {p: max(moment_scale(x[a:b], p) for a, b in blocks) for p in range(1, order + 1)}
        for i, ref in enumerate(per_block):
            for p in ref:
                assert_close(got[i][p], ref[p], m_scale[p])
        ave_m = rec.block_ave_moments(*src, order, kernel, fbc)
        ave_k = rec.block_ave_cumulants(*src, order, kernel, fbc)
        k_blocks = [ref_cumulants(m) for m in per_block]
        scale = {p: max(cumulant_scale(m, p) for m in per_block) for p in range(1, order + 1)}
        for p in range(1, order + 1):
            assert_close(ave_m[p], np.mean([m[p] for m in per_block], axis=0), m_scale[p])
            assert_close(ave_k[p], np.mean([k[p] for k in k_blocks], axis=0), scale[p])
        d = PysofiData(*src)
        bc = d.cumulants_images(order, bleach_correction=True, smooth_kernel=kernel, fbc=fbc)
        for p in range(1, order + 1):
            assert_close(bc[p], np.mean([k[p] for k in k_blocks], axis=0), scale[p])
        corrected = rec.correct_bleaching(*src, fbc, kernel, save_option=False, return_option=True)
        assert_close(corrected, ref_correct_bleaching(x, blocks))


@SETTINGS
@given(st.data(), INPUT_KINDS, st.integers(1, 6))
def test_signal_functions_take_lists_and_arrays(data, kind, order):
    n = data.draw(st.integers(1, 40))
    signal = np.asarray(data.draw(st.lists(st.integers(0, 500), min_size=n, max_size=n)))
    kernel = data.draw(st.sampled_from([k for k in (1, 3, 5, 7) if k <= n]))
    fbc = data.draw(st.sampled_from([0.1, 0.2, 0.25, 0.5]))
    smooth = cfilt.med_smooth(as_input(signal, kind), kernel)
    assert_close(smooth, ref_med_smooth(signal, kernel))
    bounds, frames = rec.cut_frames(as_input(ref_med_smooth(signal, kernel), kind), fbc)
    ref_bounds, ref_frames = ref_cut_frames(ref_med_smooth(signal, kernel), fbc)
    assert (bounds, frames) == (ref_bounds, ref_frames)
    # moments as pysofi hands them around: lists, tuples, any dtype, numpy scalars
    shape = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    dtype = data.draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    m = {p: rng.integers(0, 20, shape).astype(dtype) for p in range(1, order + 1)}
    ref = ref_cumulants({p: v.astype(np.float64) for p, v in m.items()})
    got = rec.calc_cumulants_from_moments({p: as_input(v, kind) for p, v in m.items()})
    got_blocks = rec.cumulants_all_blocks({7: {p: as_input(v, kind) for p, v in m.items()}})
    scalars = rec.calc_cumulants_from_moments({p: v.flat[0] for p, v in m.items()})
    for p in ref:
        scale = max(1.0, cumulant_scale({q: v.astype(np.float64) for q, v in m.items()}, p))
        assert_close(got[p], ref[p], scale)
        assert_close(got_blocks[7][p], ref[p], scale)
        assert_close(scalars[p], ref[p].flat[0], scale)


@SETTINGS
@given(movies(min_side=3), st.data())
def test_correlations_and_lags(movie_dtype, data):
    movie, _ = movie_dtype
    x = movie.astype(np.float64)
    n = x.shape[0]
    a = data.draw(st.integers(0, n - 1))
    b = data.draw(st.integers(a + 1, n))
    w = x[a:b]
    r = data.draw(st.integers(1, (min(x.shape[1:]) - 1) // 2))
    n_lags = data.draw(st.integers(2, 5))
    # pysofi requires tau[0] == 0; the other lags in any order, repeats allowed
    lag = st.integers(0, min(3, b - a - 1))
    tau = [0, *data.draw(st.lists(lag, min_size=n_lags - 1, max_size=n_lags - 1))]
    kind = data.draw(INPUT_KINDS)
    with tempfile.TemporaryDirectory() as tmp:
        src = write(tmp, movie)
        xc = rec.calc_xc_im(*src, r, [a, b])
        ref_xc_im = ref_xc(w, r)
        assert sorted(xc) == sorted(ref_xc_im)
        for key, image in ref_xc_im.items():
            assert_close(xc[key], image, float(np.abs(w - w.mean(axis=0)).max() ** 2))
        m = rec.calc_moments_with_lag(*src, as_input(np.asarray(tau), kind), [a, b])
        ref_m = ref_lag_moments(w, tau)
        assert {o: sorted(v) for o, v in m.items()} == {o: sorted(v) for o, v in ref_m.items()}
        for o in ref_m:
            for s, image in ref_m[o].items():
                assert_close(m[o][s], image, float(np.abs(w - w.mean(axis=0)).max() ** o))
        as_lists = {o: {s: as_input(v, kind) for s, v in ref_m[o].items()} for o in ref_m}
        k = rec.calc_cumulants_from_moments_with_lag(as_lists, tau)
        ref_k = ref_lag_cumulants(ref_m, n_lags)
        for o, image in ref_k.items():
            assert_close(k[o], image, lag_cumulant_scale(ref_m, o))
