"""FRC against its defining properties: independent noise, identical images, known blur."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from sofi_dask.errors import InputError
from sofi_dask.quality import frc, frc_threshold


def _points(rng, shape=(256, 256), n=600):
    img = np.zeros(shape)
    img[rng.integers(8, shape[0] - 8, n), rng.integers(8, shape[1] - 8, n)] = 1.0
    return img


@pytest.mark.parametrize("seed", range(8))
def test_independent_noise_is_below_half_bit_at_every_frequency(seed):
    rng = np.random.default_rng(seed)
    a = 5.0 + rng.standard_normal((256, 256))
    b = 5.0 + rng.standard_normal((256, 256))
    result = frc(a, b, threshold="half-bit", smooth=False)
    assert np.all(result.raw_curve < result.threshold_curve)
    assert result.resolution is None  # starts below the threshold: no resolution to report


def test_independent_noise_is_below_one_seventh_beyond_the_lowest_rings():
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((2, 512, 512))
    result = frc(a, b)
    # ring k holds ~2 pi k pixels: the curve's noise is ~1/sqrt(pi k), below 1/7 from k ~ 16 on
    assert np.all(np.abs(result.curve[16:]) < 1 / 7)


def test_identical_images_correlate_perfectly():
    rng = np.random.default_rng(0)
    img = gaussian_filter(_points(rng), 2.0)
    result = frc(img, img)
    np.testing.assert_allclose(result.raw_curve, 1.0, atol=1e-12)
    np.testing.assert_allclose(result.curve, 1.0, atol=1e-9)
    assert result.resolution is None


def test_curve_matches_a_direct_ring_sum():
    """The ring sums against a loop over Fourier pixels (no window, no smoothing in the check)."""
    rng = np.random.default_rng(3)
    a, b = rng.random((2, 32, 32))
    result = frc(a, b, smooth=False)
    from scipy.signal.windows import tukey

    w = np.outer(tukey(32, 0.25), tukey(32, 0.25))
    fa, fb = np.fft.fft2((a - a.mean()) * w), np.fft.fft2((b - b.mean()) * w)
    num, pa, pb = np.zeros(17), np.zeros(17), np.zeros(17)
    for i in range(32):
        for j in range(32):
            qy, qx = (i if i < 16 else i - 32) / 32, (j if j < 16 else j - 32) / 32
            k = int(round(np.hypot(qy, qx) * 32))
            if 1 <= k <= 16:
                num[k] += (fa[i, j] * np.conj(fb[i, j])).real
                pa[k] += abs(fa[i, j]) ** 2
                pb[k] += abs(fb[i, j]) ** 2
    np.testing.assert_allclose(result.raw_curve, num[1:] / np.sqrt(pa[1:] * pb[1:]), atol=1e-12)
    np.testing.assert_allclose(result.frequencies, np.arange(1, 17) / 32)


def test_blurrier_object_gives_coarser_resolution_and_pixel_size_scales():
    rng = np.random.default_rng(1)
    pts = _points(rng)
    res = []
    for sigma in (1.0, 2.0, 4.0):
        obj = gaussian_filter(pts, sigma)
        noise = 0.02 * obj.max()
        a = obj + noise * rng.standard_normal(obj.shape)
        b = obj + noise * rng.standard_normal(obj.shape)
        res.append(frc(a, b).resolution)
    assert res[0] < res[1] < res[2]
    obj = gaussian_filter(pts, 2.0)
    a = obj + 0.002 * rng.standard_normal(obj.shape)
    b = obj + 0.002 * rng.standard_normal(obj.shape)
    px, um = frc(a, b), frc(a, b, pixel_size=0.1)
    assert um.resolution == pytest.approx(0.1 * px.resolution)
    assert um.resolution_pixels == pytest.approx(px.resolution)
    np.testing.assert_allclose(um.frequencies, px.frequencies / 0.1)


def test_half_bit_threshold_formula():
    n = np.array([1.0, 4.0, 100.0])
    expected = (0.2071 + 1.9102 / np.sqrt(n)) / (1.2071 + 0.9102 / np.sqrt(n))
    np.testing.assert_allclose(frc_threshold("half-bit", n), expected)


def test_bad_input_is_refused():
    a = np.zeros((16, 16))
    with pytest.raises(InputError, match="image_b"):
        frc(a, np.zeros((16, 18)))
    with pytest.raises(InputError, match="threshold"):
        frc(a, a, threshold="1/2")
    with pytest.raises(InputError, match="image_a"):
        frc(np.zeros((4, 4)), np.zeros((4, 4)))
    with pytest.raises(InputError, match="pixel_size"):
        frc(a, a, pixel_size=-1)
    with pytest.raises(InputError, match="finite"):
        frc(np.full((16, 16), np.nan), a)


def test_window_and_smoothing_match_scipy_signal():
    """The numpy Tukey window and Savitzky-Golay smoothing (scipy.signal is not imported by the
    quality measures: its import costs more than the measures) against scipy.signal's."""
    from scipy.signal import savgol_filter
    from scipy.signal.windows import tukey as scipy_tukey

    from sofi_dask.quality._common import savgol_smooth, tukey

    for n in (1, 2, 5, 32, 33, 1024):
        for alpha in (0.25, 0.5, 1.0):
            np.testing.assert_allclose(tukey(n, alpha), scipy_tukey(n, alpha), atol=1e-14)
    rng = np.random.default_rng(5)
    for n, window in ((5, 5), (9, 7), (128, 9), (1024, 73)):
        y = rng.random(n)
        np.testing.assert_allclose(
            savgol_smooth(y, window, 3), savgol_filter(y, window, 3), atol=1e-12
        )


@pytest.mark.parametrize("shape", [(32, 32), (33, 40), (40, 31), (31, 31)])
def test_half_plane_ring_sums_match_the_full_plane(shape):
    """Odd and even sides: the rfft2 sums (mirrored pixels counted twice) against fft2's."""
    from scipy.signal.windows import tukey

    rng = np.random.default_rng(6)
    a, b = rng.random((2, *shape))
    result = frc(a, b, smooth=False)
    w = np.outer(tukey(shape[0], 0.25), tukey(shape[1], 0.25))
    fa, fb = np.fft.fft2((a - a.mean()) * w), np.fft.fft2((b - b.mean()) * w)
    size = min(shape)
    qy, qx = np.meshgrid(np.fft.fftfreq(shape[0]), np.fft.fftfreq(shape[1]), indexing="ij")
    ring = np.rint(np.hypot(qy, qx) * size).astype(int)
    for k in range(1, size // 2 + 1):
        m = ring == k
        num = (fa[m] * np.conj(fb[m])).real.sum()
        den = np.sqrt((np.abs(fa[m]) ** 2).sum() * (np.abs(fb[m]) ** 2).sum())
        assert result.raw_curve[k - 1] == pytest.approx(num / den, abs=1e-12)
        assert result.ring_counts[k - 1] == m.sum()
