"""SQUIRREL error map: recovery of a known RSF and intensity map; SOFI orders' RSF widths."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from sofi_dask.errors import InputError
from sofi_dask.quality import error_map


def test_known_rsf_and_intensity_map_are_recovered():
    rng = np.random.default_rng(0)
    pts = np.zeros((96, 96))
    pts[rng.integers(8, 88, 80), rng.integers(8, 88, 80)] = 1.0
    sharp = gaussian_filter(pts, 1.0)
    ref = 4.0 * gaussian_filter(pts, np.hypot(1.0, 1.5)) + 2.0  # RSF sigma 1.5
    result = error_map(ref, sharp)
    assert result.sigma == pytest.approx(1.5, abs=0.02)
    assert result.alpha == pytest.approx(4.0, rel=0.02)
    assert result.beta == pytest.approx(2.0, abs=0.01)
    assert result.rsp > 0.999 and result.rse < 1e-3 * ref.max()
    # an artefact (a missing emitter) shows up in the map where it is
    broken = sharp.copy()
    y, x = np.unravel_index(np.argmax(pts), pts.shape)
    broken[y - 4 : y + 5, x - 4 : x + 5] = 0.0
    bad = error_map(ref, broken, sigma=1.5)
    assert bad.rse > result.rse and bad.rsp < result.rsp
    assert np.unravel_index(np.argmax(bad.error_map), pts.shape) == pytest.approx((y, x), abs=2)


def test_finer_grid_and_direct_scores():
    rng = np.random.default_rng(2)
    ref = gaussian_filter(rng.random((32, 32)), 2.0)
    img = rng.random((64, 64))
    result = error_map(ref, img, sigma=1.0)
    assert result.error_map.shape == (64, 64)
    from scipy.ndimage import zoom

    up = zoom(ref, 2, order=3, mode="nearest", grid_mode=True)
    blurred = gaussian_filter(img, 1.0, mode="nearest")
    alpha, beta = np.polyfit(blurred.ravel(), up.ravel(), 1)
    scaled = alpha * blurred + beta
    assert result.rse == pytest.approx(np.sqrt(np.mean((up - scaled) ** 2)))
    assert result.rsp == pytest.approx(np.corrcoef(up.ravel(), scaled.ravel())[0, 1])
    with pytest.raises(InputError, match="integer factor"):
        error_map(ref, np.zeros((48, 40)))


def test_sofi_orders_have_the_expected_rsf_width():
    """Order-n cumulants of a Gaussian PSF have width sigma / sqrt(n): the RSF from the order-n
    image to the average image is sigma * sqrt(1 - 1/n) (checked for n = 2, 3)."""
    from sofi_dask.quality import split_moment_stacks
    from sofi_dask.simulate import SimulationConfig, simulate_movie
    from sofi_dask.stats import cumulant_stack

    cfg = SimulationConfig(
        n_frames=1500, frame_shape=(96, 96), n_filaments=4, emitters_per_filament=60, seed=5
    )
    stack = cumulant_stack(split_moment_stacks(simulate_movie(cfg).data, 3, block_frames=100).full)
    for n in (2, 3):
        result = error_map(stack[0], np.abs(stack[n]))
        assert result.sigma == pytest.approx(cfg.psf_sigma * np.sqrt(1 - 1 / n), rel=0.08)
        assert result.rsp > 0.99


def test_fourier_side_residual_is_the_periodic_blur_fit():
    """The width search's residual (half-plane transforms, the blur kernel's transfer function)
    against the direct least-squares fit of a periodic blur, odd and even sides, widths 0-5."""
    from sofi_dask.quality._error_map import _FourierFit

    rng = np.random.default_rng(7)
    for shape in ((40, 36), (33, 45)):
        ref = gaussian_filter(rng.random(shape), 2.0)
        img = rng.random(shape)
        sigmas = np.array([0.0, 0.1, 0.37, 1.0, 2.3, 5.0])
        fast = _FourierFit(ref - ref.mean(), img).residual(sigmas) / ref.size**2
        for s, value in zip(sigmas, fast, strict=True):
            blurred = gaussian_filter(img, s, mode="wrap") if s > 0 else img
            alpha, beta = np.polyfit(blurred.ravel(), ref.ravel(), 1)
            direct = np.mean((alpha * blurred + beta - ref) ** 2)
            assert value == pytest.approx(direct, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_scores_for_a_fixed_width_equal_the_direct_fit_either_sign(sign):
    """RSE, RSP, alpha, beta and the map from the fit by definition (polyfit, corrcoef), also
    for an image anti-correlated with the reference (alpha < 0)."""
    rng = np.random.default_rng(11)
    ref = gaussian_filter(rng.random((48, 40)), 2.0) + 0.2
    img = sign * gaussian_filter(ref, 0.5) + 0.05 * rng.random(ref.shape)
    result = error_map(ref, img, sigma=1.3)
    blurred = gaussian_filter(img, 1.3, mode="nearest")
    alpha, beta = np.polyfit(blurred.ravel(), ref.ravel(), 1)
    scaled = alpha * blurred + beta
    assert np.sign(result.alpha) == sign
    assert result.alpha == pytest.approx(alpha, rel=1e-10)
    assert result.beta == pytest.approx(beta, rel=1e-10, abs=1e-12)
    assert result.rse == pytest.approx(np.sqrt(np.mean((ref - scaled) ** 2)), rel=1e-10)
    assert result.rsp == pytest.approx(np.corrcoef(ref.ravel(), scaled.ravel())[0, 1], rel=1e-10)
    np.testing.assert_allclose(result.error_map, np.abs(ref - scaled), rtol=1e-9, atol=1e-12)
