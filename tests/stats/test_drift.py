"""Drift estimation and correction against the simulator's known trajectory."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from sofi_dask.errors import InputError
from sofi_dask.simulate import SimulationConfig, simulate_movie
from sofi_dask.stats import correct_drift, cumulants, estimate_drift
from sofi_dask.stats._drift_kernels import shift_frames

CFG = SimulationConfig(n_frames=2000, frame_shape=(64, 64), drift=(1.5, -2.5), seed=3)


@pytest.fixture(scope="module")
def drifting():
    return simulate_movie(CFG)


def _rms(err):
    return float(np.sqrt(np.mean(np.sum(err**2, axis=1))))


def test_estimated_trace_matches_the_known_trajectory(drifting):
    movie = da.from_array(drifting.data, chunks=(128, -1, -1))
    result = estimate_drift(movie, segment_frames=100)
    truth = CFG.drift_trajectory()
    assert result.trace.shape == (2000, 2)
    assert _rms(result.trace - truth) < 0.1  # pixels, anchored at frame 0 as the truth
    assert result.pairs_used == result.pairs_total == 145
    assert result.residual_rms < 0.05


def test_estimate_reads_every_chunk_once_whatever_the_segments(drifting, counting_source):
    """Segments of 100 frames across chunks of 128 (and spatial tiles): the estimate's one pass
    reads each chunk of the crop once (a segment's slice of a chunk is not a second read), and
    the trace is the same as from the numpy movie."""
    source = counting_source(drifting.data[:1000])
    movie = da.from_array(source, chunks=(128, 16, 64), asarray=True)
    source.reads = 0
    lazy = estimate_drift(movie, segment_frames=100, crop=32)
    assert source.reads == movie.numblocks[0] * 2  # the 32 x 32 crop touches 2 of 4 tiles
    direct = estimate_drift(drifting.data[:1000], segment_frames=100, crop=32)
    np.testing.assert_allclose(lazy.trace, direct.trace, atol=1e-9)
    np.testing.assert_allclose(lazy.segment_positions, direct.segment_positions, atol=1e-9)


def test_one_bad_segment_does_not_derail_the_trace(drifting):
    movie = drifting.data.copy()
    rng = np.random.default_rng(0)
    movie[700:800] = rng.poisson(120.0, movie[700:800].shape)  # a segment of pure noise
    result = estimate_drift(movie, segment_frames=100)
    assert result.pairs_used < result.pairs_total  # the bad pairs were dropped
    good = np.r_[0:700, 800:2000]
    assert _rms((result.trace - CFG.drift_trajectory())[good]) < 0.15


def _gauss(coords, amp, base, y0, x0, sigma):
    y, x = coords
    return (amp * np.exp(-((y - y0) ** 2 + (x - x0) ** 2) / (2 * sigma**2)) + base).ravel()


def _widths(image, ys, xs, half=5):
    """Gaussian width fitted to each emitter of ``image`` near ``(ys, xs)``."""
    from scipy.optimize import curve_fit

    out = []
    for y, x in zip(ys, xs, strict=True):
        cy, cx = int(round(y)), int(round(x))
        if not (half <= cy < image.shape[0] - half and half <= cx < image.shape[1] - half):
            continue
        patch = image[cy - half : cy + half + 1, cx - half : cx + half + 1]
        yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
        p0 = (patch.max() - np.median(patch), np.median(patch), y - cy, x - cx, 1.2)
        popt, _ = curve_fit(_gauss, (yy, xx), patch.ravel(), p0=p0, maxfev=5000)
        out.append(abs(popt[4]))
    return np.array(out)


def test_corrected_order_two_image_is_sharper():
    """Isolated emitters: the order-2 image of the corrected movie is narrower than without
    correction and as narrow as the same movie simulated without drift (sigma / sqrt(2))."""
    cfg = CFG.replace(n_filaments=0, n_isolated=25, drift=(2.0, -4.0))
    sim = simulate_movie(cfg)
    movie = da.from_array(sim.data, chunks=(128, -1, -1))
    result = estimate_drift(movie, segment_frames=100)
    before = np.asarray(cumulants(movie, 2)[2])
    after = np.asarray(cumulants(correct_drift(movie, result), 2)[2])
    still = np.asarray(cumulants(simulate_movie(cfg.replace(drift=(0.0, 0.0))).data, 2)[2])
    y, x = sim.truth.y, sim.truth.x
    mean_drift = cfg.drift_trajectory().mean(axis=0)
    w_before = np.median(_widths(before, y + mean_drift[0], x + mean_drift[1]))
    w_after = np.median(_widths(after, y, x))
    w_still = np.median(_widths(still, y, x))
    assert w_after < 0.9 * w_before
    assert w_after == pytest.approx(w_still, rel=0.05)
    assert w_still == pytest.approx(cfg.psf_sigma / np.sqrt(2), rel=0.1)


def test_correction_is_the_same_on_tiles_and_whole_frames():
    rng = np.random.default_rng(1)
    movie = rng.random((30, 40, 36)) * 100
    trace = np.cumsum(rng.normal(0, 0.3, (30, 2)), axis=0)
    whole = correct_drift(movie, trace)
    tiled = correct_drift(da.from_array(movie, chunks=(7, 13, 11)), trace).compute()
    np.testing.assert_allclose(tiled, whole, rtol=1e-6)
    assert whole.dtype == np.float32
    # integer shifts move pixels exactly; the kernel against a direct formula
    np.testing.assert_array_equal(
        shift_frames(movie[:1], np.array([[2.0, -3.0]]), np.float64)[0, 5:30, 5:30],
        movie[0, 7:32, 2:27],
    )


def test_bad_input_is_refused(drifting):
    with pytest.raises(InputError, match="segment_frames"):
        estimate_drift(drifting.data[:100], segment_frames=60)
    with pytest.raises(InputError, match="drift"):
        correct_drift(drifting.data[:10], np.zeros((9, 2)))
    with pytest.raises(InputError, match="dtype"):
        correct_drift(drifting.data[:2], np.zeros((2, 2)), dtype=np.uint16)
    with pytest.raises(ValueError, match="drift"):
        SimulationConfig(drift=(1.0, float("nan")))


def test_simulator_drift_moves_the_emitters():
    cfg = SimulationConfig(
        n_frames=50,
        frame_shape=(32, 32),
        n_filaments=0,
        n_isolated=1,
        on_ratio=0.5,
        photons=5000.0,
        poisson_noise=False,
        read_noise=0.0,
        background=0.0,
        drift=(0.0, 4.0),
    )
    movie = simulate_movie(cfg)
    x0 = movie.truth.x[0]
    frames = movie.data.astype(float) - cfg.baseline
    lit = frames.sum(axis=(1, 2)) > 1000
    xx = np.arange(32)
    cx = (frames.sum(axis=1) * xx).sum(axis=1)[lit] / frames.sum(axis=(1, 2))[lit]
    np.testing.assert_allclose(cx, x0 + cfg.drift_trajectory()[lit, 1], atol=0.05)
    assert SimulationConfig.from_dict(cfg.to_dict()) == cfg


def _shifted_pairs(rng, shape, shifts):
    """An image of Gaussian spots and copies moved by ``shifts`` (Fourier shift, periodic)."""
    from scipy.ndimage import fourier_shift, gaussian_filter

    scene = np.zeros(shape)
    scene[rng.integers(4, shape[0] - 4, 40), rng.integers(4, shape[1] - 4, 40)] = 100.0
    scene = gaussian_filter(scene, 1.5)
    moved = [np.fft.ifft2(fourier_shift(np.fft.fft2(scene), s)).real for s in shifts]
    return scene, np.stack(moved)


@pytest.mark.parametrize("shape", [(64, 64), (63, 50)])
def test_batched_registration_is_the_direct_formula(shape):
    """register_many against the cross-correlation written out with numpy's full complex FFT,
    its argmax and the 3 x 3 log-quadratic fit of the kernel's docstring; refine_near (5 x 5
    correlation near zero) against register_many for small shifts and its fallback for far
    ones."""
    from sofi_dask.stats._drift_kernels import _FIT, refine_near, register_many, spectra
    from sofi_dask.stats._fourier import tukey_window

    rng = np.random.default_rng(5)
    shifts = np.array([[0.3, -0.6], [1.4, 0.2], [-0.8, -1.7], [4.6, -3.2]])
    scene, moved = _shifted_pairs(rng, shape, shifts)
    specs = spectra(np.concatenate([scene[None], moved]))
    got, peaks = register_many(specs[0], specs[1:], shape)
    window = tukey_window(shape)
    a = np.fft.fft2((scene - scene.mean()) * window)
    ny, nx = shape
    for k, m in enumerate(moved):
        b = np.fft.fft2((m - m.mean()) * window)
        corr = np.fft.ifft2(np.conj(a) * b).real
        iy, ix = np.unravel_index(np.argmax(corr), corr.shape)
        patch = corr[np.ix_([(iy - 1) % ny, iy, (iy + 1) % ny], [(ix - 1) % nx, ix, (ix + 1) % nx])]
        c = _FIT @ np.log(patch.ravel())
        hess = np.array([[2 * c[3], c[5]], [c[5], 2 * c[4]]])
        frac = np.linalg.solve(hess, -c[1:3])
        expected = [
            (iy + ny // 2) % ny - ny // 2 + frac[0],
            (ix + nx // 2) % nx - nx // 2 + frac[1],
        ]
        np.testing.assert_allclose(got[k], expected, atol=1e-9)
        # the peak's norm: the stored half planes' power, as the kernel's docstring has it
        half = nx // 2 + 1
        norm = np.sqrt((np.abs(a[:, :half]) ** 2).sum() * (np.abs(b[:, :half]) ** 2).sum())
        assert peaks[k] == pytest.approx(corr.max() * corr.size / norm, rel=1e-9)
    np.testing.assert_allclose(got, shifts, atol=0.3)  # the registration itself
    near = refine_near(specs[0], specs[1:], shape)
    np.testing.assert_allclose(near, got, atol=1e-9)  # within 2 px, or the fallback (4.6, -3.2)


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.float32])
def test_segment_means_are_numpy_means(dtype):
    """The estimate's one-pass segment means (a task per chunk summing its pieces of segments,
    integer sums for 16-bit frames) against numpy's mean of each segment's crop; segments cross
    chunk edges, the last one longer (a short tail joined)."""
    from sofi_dask.stats._drift import _segment_means

    rng = np.random.default_rng(2)
    movie = (rng.random((230, 40, 36)) * 3000 - (1000 if dtype == np.int16 else 0)).astype(dtype)
    bounds = [(0, 50), (50, 100), (100, 150), (150, 230)]
    ys, xs = slice(4, 36), slice(2, 34)
    expected = np.stack([movie[a:b, ys, xs].mean(axis=0, dtype=np.float64) for a, b in bounds])
    lazy = da.from_array(movie, chunks=(37, 16, 20))
    for arr, is_lazy in ((lazy, True), (movie, False)):
        got = _segment_means(arr, bounds, ys, xs, is_lazy)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, expected, rtol=1e-12)
