"""Balanced SOFI: closed forms, the simulator's ground truth (two on-time-ratio populations),
lazy/eager agreement and linearisation."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

from sofi_dask.errors import InputError
from sofi_dask.simulate import SimulationConfig, simulate_movie
from sofi_dask.stats import bsofi, cumulants, linearise, xc_cumulants


def _model(rho, eps, shape=(5, 6)):
    f2 = rho * (1 - rho)
    return {
        2: np.full(shape, eps**2 * f2),
        3: np.full(shape, eps**3 * f2 * (1 - 2 * rho)),
        4: np.full(shape, eps**4 * f2 * (1 - 6 * rho + 6 * rho**2)),
    }


@pytest.mark.parametrize("rho", [0.05, 0.2, 0.45, 0.6, 0.9])
def test_closed_form_inverts_the_blinking_cumulants(rho):
    k = _model(rho, 7.5)
    k = {n: v * 3.0 for n, v in k.items()}  # three identical emitters in every pixel
    out = bsofi(k)
    assert out.mask.all()
    np.testing.assert_allclose(out.ratio, rho, rtol=1e-12)
    np.testing.assert_allclose(out.brightness, 7.5, rtol=1e-12)
    np.testing.assert_allclose(out.balanced, 3.0, rtol=1e-12)


def test_undefined_pixels_are_masked_without_nan():
    k = _model(0.2, 10.0)
    k[2][0, 0] = 0.0  # no signal
    k[4][1, 1] = 1e9  # 3 K1^2 - 2 K2 < 0: no brightness
    k[2][2, 2] = -5.0
    out = bsofi(k)
    assert not out.mask[0, 0] and not out.mask[1, 1] and not out.mask[2, 2]
    assert out.mask.sum() == out.mask.size - 3
    for a in (out.ratio, out.brightness, out.balanced):
        assert np.all(np.isfinite(a)) and a[0, 0] == 0 and a[1, 1] == 0


def test_single_emitter_matched_resolution_keeps_the_ratio():
    # a point-sampled Gaussian emitter, blinking as a two-state Markov chain: the cumulant
    # ratios are exact at every pixel, with and without the resolution matching filter
    rng = np.random.default_rng(0)
    on = np.zeros(3000, bool)
    state = False
    for t in range(on.size):
        state = (rng.random() >= 0.5) if state else (rng.random() < 0.5 * 0.25 / 0.75)
        on[t] = state
    k = cumulants(on.astype(float)[:, None, None], 4)
    f2, f3, f4 = (float(k[n][0, 0]) for n in (2, 3, 4))
    rho = 0.5 - 0.5 * (f3 / f2) / np.sqrt(3 * (f3 / f2) ** 2 - 2 * f4 / f2)
    yy, xx = np.mgrid[0:20, 0:20]
    psf = np.exp(-((yy - 9.6) ** 2 + (xx - 10.2) ** 2) / (2 * 1.5**2))
    movie = 50.0 * on[:, None, None] * psf
    xc = xc_cumulants(movie, (2, 3, 4), psf_sigma=1.5)
    raw = bsofi(xc.images)
    matched = bsofi(xc, regularization=1e-6)
    window = (slice(8, 12), slice(9, 13))
    assert raw.mask[window].all() and matched.mask[9:11, 9:12].all()
    np.testing.assert_allclose(raw.ratio[window], rho, rtol=1e-9)
    np.testing.assert_allclose(matched.ratio[window][matched.mask[window]], rho, rtol=2e-3)
    # matched: the brightness is the emitter's peak signal (50) at its position
    assert abs(matched.brightness[10, 10] / 50.0 - 1) < 0.1


def test_two_populations_on_ratio_within_10_percent():
    cfg = SimulationConfig(
        n_frames=5000,
        frame_shape=(32, 32),
        n_filaments=0,
        n_isolated=10,
        psf_sigma=1.2,
        photons=2000,
        on_ratio=0.1,
        on_ratio_2=0.3,
        mean_on_frames=1.5,
        background=10,
        seed=12,
    )
    sim = simulate_movie(cfg)
    truth = sim.truth
    xc = xc_cumulants(sim.data, (2, 3, 4))
    maps = bsofi(xc)
    pos = np.stack([truth.x, truth.y], axis=1)
    dist = np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1)) + 99 * np.eye(len(pos))
    isolated = dist.min(axis=1) > 4 * cfg.psf_sigma
    rows, cols = np.rint(truth.y).astype(int), np.rint(truth.x).astype(int)
    population = np.arange(truth.n_emitters) % 2
    for pop, rho in ((0, 0.1), (1, 0.3)):
        sel = isolated & (population == pop)
        assert sel.sum() >= 3
        assert maps.mask[rows[sel], cols[sel]].all()
        estimate = np.median(maps.ratio[rows[sel], cols[sel]])
        assert abs(estimate / rho - 1) < 0.10, (pop, estimate)
    # the empirical on-time of the emitters matches the configured populations
    frac = truth.on_frames / cfg.n_frames
    assert abs(frac[population == 0].mean() / 0.1 - 1) < 0.05
    assert abs(frac[population == 1].mean() / 0.3 - 1) < 0.05


def test_lazy_equals_eager():
    rng = np.random.default_rng(3)
    base = _model(0.3, 4.0, shape=(40, 44))
    k = {n: v * (1 + 0.1 * rng.random(v.shape)) for n, v in base.items()}
    eager = bsofi(k, psf_sigma=1.3)
    lazy = bsofi({n: da.from_array(v, chunks=(20, 22)) for n, v in k.items()}, psf_sigma=1.3)
    assert isinstance(lazy.ratio, da.Array)
    ratio, mask = dask.compute(lazy.ratio, lazy.mask)
    np.testing.assert_array_equal(mask, eager.mask)
    np.testing.assert_allclose(ratio, eager.ratio, rtol=1e-12, atol=1e-15)


def test_linearise_and_errors():
    np.testing.assert_allclose(linearise(np.array([16.0, -81.0]), 4), [2.0, 3.0])
    with pytest.raises(InputError, match="'order'"):
        linearise(np.ones(2), 0)
    with pytest.raises(InputError, match="'cumulants'"):
        bsofi({2: np.ones((3, 3)), 3: np.ones((3, 3))})
    with pytest.raises(InputError, match="'cumulants'"):
        bsofi({2: np.ones((3, 3)), 3: np.ones((4, 3)), 4: np.ones((3, 3))})
    with pytest.raises(InputError, match="'cond'"):
        bsofi(_model(0.2, 1.0), cond=-1)
