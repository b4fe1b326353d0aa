"""Decorrelation analysis on images of known blur."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from sofi_dask.errors import InputError
from sofi_dask.quality import decorrelation_resolution


def _scene(seed=0, shape=(256, 256), n=400):
    rng = np.random.default_rng(seed)
    img = np.zeros(shape)
    img[rng.integers(10, shape[0] - 10, n), rng.integers(10, shape[1] - 10, n)] = 1.0
    return img, rng


def test_resolution_follows_the_blur_width():
    pts, rng = _scene()
    res = []
    for sigma in (1.0, 1.5, 2.0, 3.0, 4.0):
        img = gaussian_filter(pts, sigma) + 1e-3 * rng.standard_normal(pts.shape)
        r = decorrelation_resolution(img)
        res.append(r.resolution)
        # about the FWHM of the blur (2.355 sigma) for a noise-free, dense point scene
        assert 0.8 * 2.355 * sigma < r.resolution < 1.4 * 2.355 * sigma
        assert r.amplitude > 0.5
    assert res == sorted(res)


def test_pixel_size_and_white_noise():
    pts, rng = _scene(1, (128, 128), 150)
    img = gaussian_filter(pts, 2.0) + 1e-3 * rng.standard_normal(pts.shape)
    a, b = decorrelation_resolution(img), decorrelation_resolution(img, pixel_size=0.05)
    assert b.resolution == pytest.approx(0.05 * a.resolution)
    assert b.resolution_pixels == pytest.approx(a.resolution)
    # white noise has no local maximum: no resolution (the authors' getDcorrMax returns 0)
    noise = decorrelation_resolution(rng.standard_normal((128, 128)))
    assert noise.resolution is None and noise.cutoff == 0.0


def test_bad_input_is_refused():
    with pytest.raises(InputError, match="image"):
        decorrelation_resolution(np.zeros((8, 8)))
    with pytest.raises(InputError, match="apodization"):
        decorrelation_resolution(np.zeros((32, 32)), apodization=-1)


def test_large_images_are_measured_on_their_central_crop():
    rng = np.random.default_rng(3)
    points = np.zeros((300, 260))
    points[rng.integers(5, 295, 400), rng.integers(5, 255, 400)] = 1.0
    image = gaussian_filter(points, 1.5) + 1e-3 * rng.standard_normal(points.shape)
    cropped = decorrelation_resolution(image, max_size=128)
    direct = decorrelation_resolution(image[86:214, 66:194], max_size=None)
    assert cropped.resolution_pixels is not None
    assert cropped.resolution_pixels == direct.resolution_pixels
    np.testing.assert_array_equal(cropped.curve, direct.curve)


def test_curves_match_the_authors_disc_mask_sums():
    """Every curve against getDcorr.m's direct sums: the full transform, a disc mask per radius,
    Fourier Gaussian high-pass ``1 - exp(-2 g^2 R^2)``, ``getCorrcoef`` floored to 1e-3."""
    from sofi_dask.quality._decorrelation import _Spectrum

    rng = np.random.default_rng(4)
    pts, _ = _scene(4, (33, 41), 40)
    img = gaussian_filter(pts, 1.5) + 1e-2 * rng.standard_normal(pts.shape)
    img = (img - img.mean()) / img.std()
    spectrum = _Spectrum(img)
    ny, nx = img.shape
    y, x = np.meshgrid(np.linspace(-1, 1, ny), np.linspace(-1, 1, nx), indexing="ij")
    r2 = x**2 + y**2
    ik = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(img))) * (r2 < 1)
    ik[ny // 2, nx // 2] = 0.0  # DC excluded
    with np.errstate(invalid="ignore", divide="ignore"):
        phase = np.nan_to_num(ik / np.abs(ik))
    radii = np.linspace(0.0513, 0.9013, 31)  # no radius on a grid point (ties)
    for g in (0.0, 0.4, 3.0):
        ir = ik * (1 - np.exp(-2 * g * g * r2)) if g else ik
        c = np.sqrt(np.sum(np.abs(ir) ** 2))
        direct = []
        for r in radii:
            mask = r2 < r * r
            cc = np.sum((ir[mask] * np.conj(phase[mask])).real) / (
                c * np.sqrt(np.sum(np.abs(phase[mask]) ** 2))
            )
            direct.append(np.floor(1000 * np.nan_to_num(cc)) / 1000)
        fast = spectrum.curve(g, radii)
        # equal but for the floor of values within rounding of a multiple of 1e-3
        assert np.max(np.abs(fast - np.array(direct))) <= 1e-3 + 1e-12
        assert np.mean(fast == np.array(direct)) > 0.9
