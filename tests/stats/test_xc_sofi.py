"""Cross-cumulant SOFI with virtual pixels: closed forms, a direct numpy reference, tiling and
the distributed scheduler."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

from sofi_dask.errors import InputError
from sofi_dask.stats import cumulants, xc_combinations, xc_cumulants


def _emitter_movie(sigma: float, shape=(300, 9, 10), centre=(4.3, 4.6), seed=0):
    """One emitter with a point-sampled Gaussian PSF and a random (blinking) trace, no noise."""
    rng = np.random.default_rng(seed)
    trace = rng.poisson(3.0, shape[0]).astype(float) * (rng.random(shape[0]) < 0.4)
    yy, xx = np.mgrid[0 : shape[1], 0 : shape[2]]
    psf = np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * sigma**2))
    return trace, trace[:, None, None] * psf


def _reference(movie: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Direct numpy: per fine pixel, the mean over the combinations inside the frame of the
    joint cumulant of the pixel traces divided by the distance factor (sigma = 1.3)."""
    _, h, w = movie.shape
    d = movie - movie.mean(axis=0)
    fine = np.zeros((order * (h - 1) + 1, order * (w - 1) + 1))
    count = np.zeros_like(fine)
    for c in xc_combinations(order):
        a, b = c["phase"]
        for by in range(h):
            for bx in range(w):
                pix = [(by + oy, bx + ox) for oy, ox in c["offsets"]]
                if not all(0 <= y < h and 0 <= x < w for y, x in pix):
                    continue
                f = [d[:, y, x] for y, x in pix]
                if order == 4:
                    k = (f[0] * f[1] * f[2] * f[3]).mean()
                    for i, j, p, q in ((0, 1, 2, 3), (0, 2, 1, 3), (0, 3, 1, 2)):
                        k -= (f[i] * f[j]).mean() * (f[p] * f[q]).mean()
                else:
                    k = np.prod(f, axis=0).mean()
                fy, fx = order * by + a, order * bx + b
                fine[fy, fx] += k * np.exp(c["distance2"] / (2 * 1.3**2))
                count[fy, fx] += 1
    return np.divide(fine, count, out=np.zeros_like(fine), where=count > 0), count > 0


@pytest.mark.parametrize("given", [True, False])
def test_single_emitter_gives_u_to_the_n_on_the_fine_grid(given):
    sigma = 1.4
    trace, movie = _emitter_movie(sigma)
    res = xc_cumulants(movie, (2, 3, 4), psf_sigma=sigma if given else None)
    assert res.sigma_estimated is (not given)
    assert abs(res.psf_sigma - sigma) < 1e-9 * sigma
    k = cumulants(trace[:, None, None], 4)
    for n in (2, 3, 4):
        fy, fx = np.mgrid[0 : n * 8 + 1, 0 : n * 9 + 1] / n
        u_n = np.exp(-n * ((fy - 4.3) ** 2 + (fx - 4.6) ** 2) / (2 * sigma**2))
        expected = float(k[n][0, 0]) * u_n
        img, ok = res.images[n], res.defined[n]
        assert img.shape == (n * 8 + 1, n * 9 + 1)
        assert ok.sum() > 0.75 * ok.size and not ok[0, 0]
        sel = ok & (u_n > 1e-6)
        np.testing.assert_allclose(img[sel], expected[sel], rtol=1e-6)
        assert np.all(img[~ok] == 0.0) and np.all(np.isfinite(img))


def test_independent_pixels_give_zero_cross_cumulants():
    # Poisson noise, independent between pixels: every auto-cumulant is lambda, every joint
    # cumulant of distinct pixels is 0 (sampling error ~ lambda^(n/2) / sqrt(N))
    lam, n_frames = 2.0, 40000
    movie = np.random.default_rng(1).poisson(lam, (n_frames, 6, 6)).astype(np.uint16)
    res = xc_cumulants(movie, (2, 3, 4), psf_sigma=1e6)  # distance factor 1: the raw values
    auto = cumulants(movie, 4)
    for n in (2, 3, 4):
        np.testing.assert_allclose(auto[n].mean(), lam, rtol=0.1)
        values = res.images[n][res.defined[n]]
        bound = 6 * lam ** (n / 2) * np.sqrt(6.0) / np.sqrt(n_frames)
        assert np.abs(values).max() < bound < 0.15 * lam


def test_matches_direct_numpy_reference():
    rng = np.random.default_rng(2)
    movie = rng.poisson(5.0, (60, 6, 7)) + 3.0 * rng.random((60, 1, 1))
    res = xc_cumulants(movie, (2, 3, 4), psf_sigma=1.3)
    for n in (2, 3, 4):
        ref, ok = _reference(movie, n)
        np.testing.assert_array_equal(res.defined[n], ok)
        np.testing.assert_allclose(res.images[n], ref, rtol=1e-9, atol=1e-9)


def test_tiled_equals_untiled_and_lazy():
    rng = np.random.default_rng(3)
    movie = (rng.poisson(50.0, (70, 11, 13)) + 500).astype(np.uint16)
    whole = xc_cumulants(movie, (2, 3, 4), psf_sigma=1.2)
    x = da.from_array(movie, chunks=(9, 4, 5))  # tiles narrower than the halo are merged
    lazy = xc_cumulants(x, (2, 3, 4), psf_sigma=1.2, split_every=3)
    assert isinstance(lazy.images[3], da.Array)
    images, defined = dask.compute(lazy.images, lazy.defined)
    x2 = da.from_array(movie, chunks=(16, 6, 7))
    tiled = xc_cumulants(x2, (2, 3, 4), psf_sigma=1.2)
    images2, _ = dask.compute(tiled.images, tiled.defined)
    for n in (2, 3, 4):
        np.testing.assert_allclose(images[n], whole.images[n], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(images2[n], whole.images[n], rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(defined[n], whole.defined[n])


def test_frames_window():
    movie = np.random.default_rng(4).poisson(9.0, (50, 5, 5)).astype(float)
    a = xc_cumulants(movie, 2, psf_sigma=1.0, frames=(10, 40))
    b = xc_cumulants(movie[10:40], 2, psf_sigma=1.0)
    np.testing.assert_allclose(a.images[2], b.images[2], rtol=1e-12)


def test_threaded_equals_distributed(dask_client):
    _, movie = _emitter_movie(1.3, shape=(120, 12, 12))
    movie = movie + np.random.default_rng(5).poisson(4.0, movie.shape)
    x = da.from_array(movie, chunks=(40, 6, 12))
    res = xc_cumulants(x, (2, 3, 4))
    threaded = dask.compute(res.images, res.psf_sigma, scheduler="threads")
    distributed = dask_client.gather(dask_client.compute([res.images, res.psf_sigma]))
    for n in (2, 3, 4):
        np.testing.assert_array_equal(threaded[0][n], distributed[0][n])
    assert float(threaded[1]) == float(distributed[1])


def test_errors():
    movie = np.random.default_rng(6).poisson(5.0, (20, 6, 6))
    with pytest.raises(InputError, match="'order'"):
        xc_cumulants(movie, 5)
    with pytest.raises(InputError, match="'order'"):
        xc_cumulants(movie, [])
    with pytest.raises(InputError, match="'psf_sigma'"):
        xc_cumulants(movie, 2, psf_sigma=0.0)
    with pytest.raises(InputError, match="'neighbourhood'"):
        xc_cumulants(movie, 2, neighbourhood=-1)
    with pytest.raises(InputError, match="'data'"):
        xc_cumulants(movie[:, :2], 2, psf_sigma=1.0)
    with pytest.raises(InputError, match="'frames'"):
        xc_cumulants(movie[:3], 4, psf_sigma=1.0)
    # pure noise: the pair sums at distance 1 and sqrt(2) do not determine a sigma
    with pytest.raises(InputError, match="psf_sigma"):
        xc_cumulants(np.ones((10, 6, 6)), 2)


def test_combinations_are_distinct_pixels_about_their_centroid():
    for n in (2, 3, 4):
        combos = xc_combinations(n)
        phases = {c["phase"] for c in combos}
        assert phases == {(a, b) for a in range(n) for b in range(n)}
        for c in combos:
            off = np.asarray(c["offsets"])
            assert len({tuple(o) for o in off}) == n
            assert tuple(off.sum(axis=0)) == c["phase"]
            d2 = ((off - np.asarray(c["phase"]) / n) ** 2).sum()
            assert abs(d2 - c["distance2"]) < 1e-9


def test_video_is_xc_per_window():
    from sofi_dask.stats import xc_video

    movie = np.random.default_rng(8).poisson(6.0, (90, 6, 7)).astype(np.uint16)
    x = da.from_array(movie, chunks=(25, 6, 7))
    video = xc_video(x, (2, 3), window=30, step=20, psf_sigma=1.1)
    (video,) = dask.compute(video)
    starts = [0, 20, 40, 60]
    for n in (2, 3):
        assert video[n].shape == (4, n * 5 + 1, n * 6 + 1)
        for w, a in enumerate(starts):
            one = xc_cumulants(movie[a : a + 30], n, psf_sigma=1.1)
            np.testing.assert_allclose(video[n][w], one.images[n], rtol=1e-9, atol=1e-12)


def test_wide_frames_are_tiled_and_agree():
    rng = np.random.default_rng(9)
    movie = rng.poisson(5.0, (12, 4, 1100)).astype(np.uint16)
    lazy = xc_cumulants(da.from_array(movie, chunks=(6, 4, 1100)), (2, 3), psf_sigma=1.0)
    assert lazy.images[2].numblocks[1] >= 3  # the 1100-pixel rows became tiles of <= 512
    whole = xc_cumulants(movie, (2, 3), psf_sigma=1.0)
    for n in (2, 3):
        np.testing.assert_allclose(lazy.images[n].compute(), whole.images[n], rtol=1e-9, atol=1e-12)
