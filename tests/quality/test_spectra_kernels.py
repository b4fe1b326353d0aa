"""The one-pass spectrum sums against the numpy expressions they replaced (bitwise where the
order of the additions is the same, to rounding for the sequential totals)."""

import numpy as np
import pytest
from scipy import fft

from sofi_dask.quality._common import rfft_weights
from sofi_dask.quality._frc import _rings
from sofi_dask.quality._spectra_kernels import filtered_sums, folded_spectra, ring_sums


@pytest.mark.parametrize("shape", [(8, 8), (33, 20), (64, 97), (128, 128)])
def test_ring_sums_equal_gather_and_bincount(shape):
    rng = np.random.default_rng(shape[0])
    fa, fb = (fft.rfft2(rng.standard_normal(shape)) for _ in range(2))
    keep, ring, weight, counts = _rings(shape)
    length = counts.size + 1
    got = ring_sums(fa, fb, keep, ring, weight, length)
    a, b = fa.ravel()[keep], fb.ravel()[keep]
    want = (
        np.bincount(ring, weights=weight * (a.real * b.real + a.imag * b.imag), minlength=length),
        np.bincount(ring, weights=weight * (a.real**2 + a.imag**2), minlength=length),
        np.bincount(ring, weights=weight * (b.real**2 + b.imag**2), minlength=length),
    )
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def _fold_rows(m):
    """Row -f added to row f (fftfreq order), rows 0 .. n // 2 kept."""
    n = m.shape[0]
    out = m[: n // 2 + 1].copy()
    out[1 : (n + 1) // 2] += m[n - 1 : n // 2 : -1]
    return out


@pytest.mark.parametrize("shape", [(1, 4), (2, 5), (7, 8), (64, 33), (65, 64)])
def test_folded_spectra_equal_the_numpy_fold(shape):
    rng = np.random.default_rng(sum(shape))
    fs, fr = (fft.rfft2(rng.standard_normal(shape)) for _ in range(2))
    col = rfft_weights(shape[1])
    power, cross, ref_power = folded_spectra(fs, fr, col)
    np.testing.assert_array_equal(power, _fold_rows((fs.real**2 + fs.imag**2) * col))
    np.testing.assert_array_equal(cross, _fold_rows((fs.real * fr.real + fs.imag * fr.imag) * col))
    # a sequential sum against numpy's pairwise one: equal to rounding
    assert ref_power == pytest.approx(float(((fr.real**2 + fr.imag**2) * col).sum()), rel=1e-13)
    # Parseval: the weighted half plane holds the full plane's power
    full = np.abs(np.fft.fft2(np.fft.irfft2(fr, s=shape))) ** 2
    assert ref_power == pytest.approx(full.sum(), rel=1e-10)


@pytest.mark.parametrize("g", [0.0, 0.3, 2.5])
def test_filtered_sums_equal_the_numpy_filter(g):
    """The high-pass filtered magnitudes' total power and per-bin sums, against numpy's
    ``mag * -expm1(-2 g^2 r^2)``, ``sum(w a^2)`` and ``bincount``."""
    rng = np.random.default_rng(7)
    n, length = 5000, 40
    mag, radius2, weight = rng.random(n) * 50.0, rng.random(n) * 0.25, rng.random(n) + 0.5
    first = rng.integers(0, length, n)
    total, bins = filtered_sums(mag, radius2, weight, first, g, length)
    a = mag if g == 0.0 else mag * -np.expm1(-2.0 * g * g * radius2)
    assert total == pytest.approx(float(np.sum(weight * a * a)), rel=1e-12)
    np.testing.assert_allclose(
        bins, np.bincount(first, weights=weight * a, minlength=length), rtol=1e-12
    )
