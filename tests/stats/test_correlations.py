"""Cross-cumulants and time-lag moments/cumulants against direct numpy formulas."""

from __future__ import annotations

import itertools
import math

import dask
import dask.array as da
import numpy as np
import pytest

from sofi_dask.errors import InputError
from sofi_dask.stats._correlations import (
    cross_cumulant_image,
    cumulants_with_lag,
    lag_subsets,
    moments_with_lag,
    sorted_k_partitions,
    xc_offsets,
)


# --------------------------------------------------------------------------- references
def _drifting_movie(seed: int, shape: tuple[int, int, int], offset: float = 1000.0) -> np.ndarray:
    """Poisson blinking on a background, bleaching by 50 % over the movie."""
    rng = np.random.default_rng(seed)
    n = shape[0]
    decay = np.linspace(1.0, 0.5, n)[:, None, None]
    return rng.poisson(200.0, shape) * decay + offset


def _ref_lag(movie: np.ndarray, tau: list[int], frames=None) -> dict:
    """Direct two-pass formula in extended precision."""
    mov = np.asarray(movie, dtype=np.longdouble)
    if frames is not None:
        mov = mov[frames[0] : frames[1]]
    n = mov.shape[0]
    d = mov - mov.sum(axis=0) / n
    t = n - max(tau)
    out = {}
    for order, subsets in lag_subsets(len(tau)).items():
        out[order] = {}
        for s in subsets:
            prod = np.ones((t, *mov.shape[1:]), dtype=np.longdouble)
            for i in s:
                prod = prod * d[tau[i] : tau[i] + t]
            out[order][s] = np.asarray(prod.sum(axis=0) / t, dtype=np.float64)
    return out


def _ref_xc(movie: np.ndarray, r: int) -> dict:
    mov = np.asarray(movie, dtype=np.float64)
    _, h, w = mov.shape
    d = mov - mov.mean(axis=0)
    out = {}
    for i, j in xc_offsets(r):
        a = d[:, r + i : h - r + i, r + j : w - r + j]
        b = d[:, r - i : h - r - i, r - j : w - r - j]
        out[(i, j)] = (a * b).mean(axis=0)
    return out


def _set_partitions(items: list) -> list[list[tuple]]:
    """Every set partition, by brute force over label assignments (independent generator)."""
    n = len(items)
    seen = set()
    out = []
    for labels in itertools.product(range(n), repeat=n):
        parts = {}
        for item, lab in zip(items, labels, strict=True):
            parts.setdefault(lab, []).append(item)
        key = tuple(sorted(tuple(p) for p in parts.values()))
        if key not in seen:
            seen.add(key)
            out.append([tuple(p) for p in key])
    return out


def _close(got, want, rtol=1e-10):
    scale = max(float(np.max(np.abs(want))), 1e-300)
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=rtol * scale)


# --------------------------------------------------------------------------- partitions
def test_sorted_k_partitions_hand_case():
    assert sorted_k_partitions([0, 1, 2, 3], 2) == [
        [(0, 1), (2, 3)],
        [(0, 2), (1, 3)],
        [(0, 3), (1, 2)],
    ]
    assert sorted_k_partitions([0, 1, 2], 1) == [[(0, 1, 2)]]
    assert sorted_k_partitions([0, 1, 2], 2) == []  # a part of one element is dropped
    assert sorted_k_partitions([0, 1], 3) == []


@pytest.mark.parametrize("n", [4, 5, 6])
def test_sorted_k_partitions_brute_force(n):
    every = _set_partitions(list(range(n)))
    for k in range(1, n + 1):
        want = [p for p in every if len(p) == k and min(map(len, p)) >= 2]
        got = sorted_k_partitions(range(n), k)
        assert sorted(sorted(p) for p in got) == sorted(sorted(p) for p in want)
        for ps in got:  # parts sorted by (length, elements)
            assert ps == sorted(ps, key=lambda p: (len(p), p))
        keys = [(*map(len, ps), ps) for ps in got]
        assert keys == sorted(keys)
    # associated Stirling numbers: partitions of 6 into 2 / 3 parts of size >= 2
    if n == 6:
        assert len(sorted_k_partitions(range(6), 2)) == 25
        assert len(sorted_k_partitions(range(6), 3)) == 15


def test_sorted_k_partitions_bad_k():
    with pytest.raises(InputError, match=r"parameter 'k': expected an integer >= 1, got 0"):
        sorted_k_partitions([0, 1], 0)


# --------------------------------------------------------------------------- lag moments
def test_lag_subsets_follow_pysofi_rule():
    assert lag_subsets(2) == {2: [(0, 1)]}
    s = lag_subsets(4)
    assert s[2] == list(itertools.combinations(range(4), 2))
    assert s[3] == [(0, 1, 2)] and s[4] == [(0, 1, 2, 3)]
    s6 = lag_subsets(6)
    assert [len(s6[k]) for k in range(2, 7)] == [15, 20, 15, 1, 1]


def test_moments_with_lag_hand_case():
    # one pixel, values 1 3 2 6: mean 3, d = -2 0 -1 3
    movie = np.array([1.0, 3.0, 2.0, 6.0]).reshape(4, 1, 1)
    m = moments_with_lag(movie, [0, 1])
    assert m[2][(0, 1)][0, 0] == pytest.approx(((-2) * 0 + 0 * (-1) + (-1) * 3) / 3)
    m = moments_with_lag(movie, [0, 2])
    assert m[2][(0, 1)][0, 0] == pytest.approx(((-2) * (-1) + 0 * 3) / 2)
    m = moments_with_lag(movie, [0, 1, 2])  # t in {0, 1}
    assert m[2][(0, 1)][0, 0] == pytest.approx(((-2) * 0 + 0 * (-1)) / 2)
    assert m[3][(0, 1, 2)][0, 0] == pytest.approx(((-2) * 0 * (-1) + 0 * (-1) * 3) / 2)


def test_moments_with_lag_two_by_two_hand_case():
    # 2x2 pixels, 3 frames; lag 1: products over t = 0, 1
    movie = np.array([[[1, 2], [3, 4]], [[3, 2], [3, 0]], [[5, 8], [3, 2]]], dtype=np.uint16)
    m = moments_with_lag(movie, [0, 1])[2][(0, 1)]
    # pixel (0,0): mean 3, d = -2 0 2 -> (-2*0 + 0*2) / 2 = 0
    # pixel (0,1): mean 4, d = -2 -2 4 -> (4 - 8) / 2 = -2
    # pixel (1,0): constant -> 0; pixel (1,1): mean 2, d = 2 -2 0 -> (-4 + 0) / 2 = -2
    np.testing.assert_allclose(m, [[0.0, -2.0], [0.0, -2.0]])


@pytest.mark.parametrize(
    ("tau", "chunks"),
    [
        ([0, 1], (7, 4, 5)),
        ([0, 1, 2, 3], (5, 9, 11)),
        ([0, 0, 1, 1, 2, 2], (13, 3, 11)),
        ([0, 9, 2], (4, 9, 6)),  # the halo spans three following chunks
        ([0, 1, 2, 3, 4], ((1, 30, 2, 24), 9, 11)),  # uneven chunks, one of a single frame
    ],
)
def test_moments_with_lag_matches_direct_formula(tau, chunks):
    movie = _drifting_movie(1, (57, 9, 11))
    x = da.from_array(movie, chunks=chunks)
    m = moments_with_lag(x, tau, split_every=2)
    assert isinstance(m[2][(0, 1)], da.Array)
    (got,) = dask.compute(m)
    want = _ref_lag(movie, tau)
    assert {k: list(v) for k, v in got.items()} == {k: list(v) for k, v in want.items()}
    for order in want:
        for s in want[order]:
            assert got[order][s].shape == (9, 11) and got[order][s].dtype == np.float64
            _close(got[order][s], want[order][s])


def test_moments_with_lag_frame_window_and_uint16():
    movie = _drifting_movie(2, (40, 6, 7), offset=3000).astype(np.uint16)
    x = da.from_array(movie, chunks=(6, 6, 4))
    (got,) = dask.compute(moments_with_lag(x, [0, 2, 3], frames=(5, 31)))
    want = _ref_lag(movie, [0, 2, 3], frames=(5, 31))
    for order in want:
        for s in want[order]:
            _close(got[order][s], want[order][s])


def test_moments_with_lag_accuracy_under_large_offset():
    # mean 1e7 with a 50 % drift: raw power sums would lose everything at order 4
    movie = _drifting_movie(3, (64, 4, 5), offset=1e7)
    x = da.from_array(movie, chunks=(8, 4, 5))
    (got,) = dask.compute(moments_with_lag(x, [0, 1, 2, 3]))
    want = _ref_lag(movie, [0, 1, 2, 3])
    for order in want:
        for s in want[order]:
            _close(got[order][s], want[order][s], rtol=1e-9)


def test_moments_with_lag_numpy_in_numpy_out_and_chunking_invariance():
    movie = _drifting_movie(4, (33, 5, 6))
    a = moments_with_lag(movie, [0, 1, 3])
    assert isinstance(a[3][(0, 1, 2)], np.ndarray)
    (b,) = dask.compute(moments_with_lag(da.from_array(movie, chunks=(3, 2, 5)), [0, 1, 3]))
    for order in a:
        for s in a[order]:
            _close(b[order][s], a[order][s], rtol=1e-12)


@pytest.mark.parametrize(
    ("tau", "match"),
    [
        ([0], r"parameter 'tau': expected 2 to 10 lags, got 1 lags"),
        ([1, 2], r"parameter 'tau\[0\]': expected 0 \(as in pysofi\), got 1"),
        ([0, -1], r"parameter 'tau': expected non-negative lags, got \[0, -1\]"),
        ([0, 20], r"parameter 'tau': expected lags smaller than .* \(20\), got max\(tau\)=20"),
        ([0, 1.5], r"parameter 'tau': expected integer lags, got \[0, 1.5\]"),
        (5, r"parameter 'tau': expected a sequence of integer lags, got 5"),
        (list(range(12)), r"parameter 'tau': expected 2 to 10 lags, got 12 lags"),
    ],
)
def test_moments_with_lag_bad_tau(tau, match):
    movie = np.zeros((20, 2, 2))
    with pytest.raises(InputError, match=match):
        moments_with_lag(movie, tau)


def test_moments_with_lag_bad_frames():
    movie = np.zeros((20, 2, 2))
    with pytest.raises(InputError, match=r"parameter 'frames': .* <= 20 .*, got \(5, 30\)"):
        moments_with_lag(movie, [0, 1], frames=(5, 30))
    with pytest.raises(InputError, match=r"parameter 'tau': .*\(5\), got max\(tau\)=6"):
        moments_with_lag(movie, [0, 6], frames=(5, 10))


# --------------------------------------------------------------------------- lag cumulants
def _ref_joint_cumulant(m: dict, order: int) -> np.ndarray:
    """Sum over all set partitions with parts >= 2 of (-1)^(k-1) (k-1)! prod m_B."""
    total = 0.0
    for p in _set_partitions(list(range(order))):
        if min(map(len, p)) < 2:
            continue
        k = len(p)
        term = (-1) ** (k - 1) * math.factorial(k - 1)
        for part in p:
            term = term * m[len(part)][tuple(sorted(part))]
        total = total + term
    return total


def test_cumulants_with_lag_order_four_formula():
    movie = _drifting_movie(5, (50, 3, 4))
    tau = [0, 1, 2, 3]
    m = moments_with_lag(movie, tau)
    k = cumulants_with_lag(m, tau)
    assert sorted(k) == [2, 3, 4]
    np.testing.assert_array_equal(k[2], m[2][(0, 1)])
    np.testing.assert_array_equal(k[3], m[3][(0, 1, 2)])
    want = (
        m[4][(0, 1, 2, 3)]
        - m[2][(0, 1)] * m[2][(2, 3)]
        - m[2][(0, 2)] * m[2][(1, 3)]
        - m[2][(0, 3)] * m[2][(1, 2)]
    )
    _close(k[4], want, rtol=1e-12)


def test_cumulants_with_lag_order_six_against_all_partitions():
    movie = _drifting_movie(6, (60, 3, 3))
    tau = [0, 0, 1, 1, 2, 2]
    m = moments_with_lag(da.from_array(movie, chunks=(11, 3, 3)), tau)
    k = cumulants_with_lag(m, tau)
    assert isinstance(k[6], da.Array)
    (m, k) = dask.compute(m, k)
    for order in (4, 5, 6):
        _close(k[order], _ref_joint_cumulant(m, order), rtol=1e-12)


def test_cumulants_with_lag_gaussian_noise_vanishes():
    # independent Gaussian frames: every lag cumulant of order >= 3 is ~0, order 2 with lag 0
    rng = np.random.default_rng(7)
    movie = rng.normal(100.0, 2.0, (40000, 1, 2))
    tau = [0, 0, 0, 0]
    k = cumulants_with_lag(moments_with_lag(movie, tau), tau)
    np.testing.assert_allclose(k[2], 4.0, rtol=0.03)
    np.testing.assert_allclose(k[4], 0.0, atol=0.05 * 3 * 16)


def test_cumulants_with_lag_missing_subset():
    with pytest.raises(InputError, match=r"parameter 'moments': .*, got no image for index subset"):
        cumulants_with_lag({2: {(0, 1): np.ones(1)}}, [0, 1, 2, 3])


# --------------------------------------------------------------------------- cross-cumulants
def test_xc_offsets_follow_pysofi_order():
    assert xc_offsets(1) == [(-1, -1), (-1, 0), (-1, 1), (0, -1)]
    off = xc_offsets(2)
    assert len(off) == ((2 * 2 + 1) ** 2 - 1) // 2
    assert off[:5] == [(-2, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2)] and off[-2:] == [
        (0, -2),
        (0, -1),
    ]


def test_cross_cumulant_hand_case():
    # 3x3 frames, 2 frames: values differ only at the centre column pair
    f0 = np.array([[0, 0, 0], [1, 5, 2], [0, 0, 0]], dtype=float)
    f1 = np.array([[0, 0, 0], [3, 5, 0], [0, 0, 0]], dtype=float)
    xc = cross_cumulant_image(np.stack([f0, f1]), 1)
    # offset (0, -1): pair (1, 0) and (1, 2): d = (-1, +1) and (1, -1): mean(-1, -1) = -1
    assert xc[(0, -1)].shape == (1, 1)
    assert xc[(0, -1)][0, 0] == pytest.approx(-1.0)
    for o in [(-1, -1), (-1, 0), (-1, 1)]:
        assert xc[o][0, 0] == 0.0


@pytest.mark.parametrize(
    ("r", "chunks"),
    [(1, (7, 4, 5)), (2, (5, (3, 6, 4), (2, 9, 3))), (3, (64, -1, -1)), (1, (9, 2, 3))],
)
def test_cross_cumulant_matches_direct_formula(r, chunks):
    movie = _drifting_movie(8, (41, 13, 14)).astype(np.uint16)
    x = da.from_array(movie, chunks=chunks)
    xc = cross_cumulant_image(x, r, split_every=3)
    assert list(xc) == xc_offsets(r)
    assert all(isinstance(v, da.Array) for v in xc.values())
    (got,) = dask.compute(xc)
    want = _ref_xc(movie, r)
    for o in want:
        assert got[o].shape == (13 - 2 * r, 14 - 2 * r)
        _close(got[o], want[o], rtol=1e-12)


def test_cross_cumulant_frame_window_numpy():
    movie = _drifting_movie(9, (30, 7, 8), offset=1e6)
    xc = cross_cumulant_image(movie, 1, frames=(4, 22))
    assert isinstance(xc[(0, -1)], np.ndarray)
    want = _ref_xc(movie[4:22], 1)
    for o in want:
        _close(xc[o], want[o], rtol=1e-9)


@pytest.mark.parametrize(
    ("r", "match"),
    [
        (0, "expected an integer >= 1, got 0"),
        (4, r"expected an integer <= 3 for 8x9 frames .*, got 4"),
        (2.0, "expected an integer >= 1, got 2.0"),
    ],
)
def test_cross_cumulant_bad_ri_range(r, match):
    with pytest.raises(InputError, match=f"parameter 'ri_range': {match}"):
        cross_cumulant_image(np.zeros((5, 8, 9)), r)


def test_cross_cumulant_bad_frames():
    with pytest.raises(InputError, match=r"parameter 'frames': .*, got \(3, 3\)"):
        cross_cumulant_image(np.zeros((5, 8, 9)), 1, frames=(3, 3))


# --------------------------------------------------------------------------- schedulers
def test_threaded_and_distributed_agree(dask_client):
    movie = _drifting_movie(10, (45, 10, 9)).astype(np.uint16)
    x = da.from_array(movie, chunks=(8, 5, 9))
    tau = [0, 1, 2, 3]
    m = moments_with_lag(x, tau)
    k = cumulants_with_lag(m, tau)
    xc = cross_cumulant_image(x, 2)
    threaded = dask.compute(m, k, xc, scheduler="threads")
    distributed = dask_client.gather(dask_client.compute([m, k, xc]))
    (m1, k1, xc1), (m2, k2, xc2) = threaded, distributed
    for order in m1:
        for s in m1[order]:
            np.testing.assert_array_equal(m1[order][s], m2[order][s])
    for order in k1:
        np.testing.assert_array_equal(k1[order], k2[order])
    for o in xc1:
        np.testing.assert_array_equal(xc1[o], xc2[o])


def test_moments_with_lag_never_holds_raw_chunks():
    # each source chunk is read and reduced in one fused task: whole chunks do not pile up in
    # the scheduler's cache waiting for a neighbour's halo (that made peak memory grow with the
    # frame count); at most one stray unfused chunk is allowed
    from dask.callbacks import Callback

    movie = _drifting_movie(9, (192, 6, 7)).astype(np.uint16)
    x = da.from_array(movie, chunks=(8, 6, 7))
    held = []

    class Watch(Callback):
        def _posttask(self, key, result, dsk, state, id):
            held.append(sum(isinstance(k, tuple) and k[0] == x.name for k in state["cache"]))

    with Watch():
        (got,) = dask.compute(moments_with_lag(x, [0, 1, 2, 3]), scheduler="threads")
    assert held and max(held) <= 1
    want = _ref_lag(movie, [0, 1, 2, 3])
    _close(got[4][(0, 1, 2, 3)], want[4][(0, 1, 2, 3)])
