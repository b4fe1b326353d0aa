"""Exponential-fit and IIR bleaching corrections: simulated bleaching with a known lifetime,
closed forms, scipy.signal.lfilter as the reference of the streaming filter, tiling and the
distributed scheduler."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from scipy import signal

from sofi_dask.errors import InputError
from sofi_dask.simulate import SimulationConfig, simulate_movie
from sofi_dask.stats import (
    exp_bleaching_correction,
    fit_bleaching,
    iir_bleaching_correction,
    total_signal,
)


@pytest.fixture(scope="module")
def bleaching_movie():
    cfg = SimulationConfig(
        n_frames=3000,
        frame_shape=(32, 32),
        n_filaments=10,
        emitters_per_filament=400,
        n_isolated=0,
        psf_sigma=1.2,
        bleach_lifetime=500.0,
        seed=1,
    )
    return cfg, simulate_movie(cfg)


def test_fitted_lifetime_within_5_percent(bleaching_movie):
    cfg, sim = bleaching_movie
    fit = fit_bleaching(total_signal(sim.data))
    assert abs(fit.lifetimes[0] / cfg.bleach_lifetime - 1) < 0.05
    # and against the lifetimes the simulator actually drew (4000 emitters)
    realised = sim.truth.bleach_frame.mean()
    assert abs(fit.lifetimes[0] / realised - 1) < 0.03
    # the offset is the camera baseline plus the background of every pixel
    assert abs(fit.offset / (1024 * (cfg.baseline + cfg.background)) - 1) < 0.01


def test_exp_correction_flattens_the_signal(bleaching_movie):
    cfg, sim = bleaching_movie
    x = da.from_array(sim.data, chunks=(500, 16, 32))
    corrected, fit = exp_bleaching_correction(x)
    assert isinstance(corrected, da.Array)
    total = total_signal(corrected).compute()
    above = total - fit.offset
    # the emitting part is flat within its blinking noise (it fell 400 % over the movie)
    first, last = above[:300].mean(), above[-300:].mean()
    assert abs(last / first - 1) < 0.1
    raw = total_signal(sim.data) - fit.offset
    assert raw[-300:].mean() / raw[:300].mean() < 0.01


def test_biexponential_closed_form():
    t = np.arange(2000.0)
    total = 500.0 + 300.0 * np.exp(-t / 80.0) + 700.0 * np.exp(-t / 900.0)
    fit = fit_bleaching(total, "bi")
    np.testing.assert_allclose(fit.lifetimes, [900.0, 80.0], rtol=1e-5)
    np.testing.assert_allclose(fit.amplitudes, [700.0, 300.0], rtol=1e-5)
    np.testing.assert_allclose(fit.curve, total, rtol=1e-9)
    np.testing.assert_allclose(fit.decay()[0], 1.0)


def test_exp_correction_closed_form_numpy():
    t = np.arange(400.0)
    decay = np.exp(-t / 150.0)[:, None, None]
    offset = 7.0
    rng = np.random.default_rng(0)
    signal_part = 50.0 + rng.random((400, 3, 4))
    movie = offset + signal_part * decay
    total = 12 * (offset + 50.5 * decay[:, 0, 0])  # 3 x 4 pixels
    corrected, fit = exp_bleaching_correction(movie, total=total)
    np.testing.assert_allclose(fit.lifetimes[0], 150.0, rtol=1e-6)
    np.testing.assert_allclose(corrected, offset + signal_part, rtol=1e-6)


@pytest.mark.parametrize("order", [1, 2])
def test_iir_streaming_equals_lfilter(order):
    rng = np.random.default_rng(3)
    t = np.arange(300.0)
    movie = (rng.poisson(80.0, (300, 7, 9)) * np.exp(-t / 200.0)[:, None, None]).astype(np.uint16)
    b, a = signal.butter(order, 0.03, btype="highpass")
    zi = signal.lfilter_zi(b, a)[:, None, None] * movie[0][None].astype(float)
    expected, _ = signal.lfilter(b, a, movie.astype(float), axis=0, zi=zi)
    whole = iir_bleaching_correction(movie, cutoff=0.03, order=order)
    np.testing.assert_allclose(whole, expected, rtol=1e-10, atol=1e-9)
    lazy = iir_bleaching_correction(
        da.from_array(movie, chunks=(37, 4, 5)), cutoff=0.03, order=order
    )
    assert isinstance(lazy, da.Array) and lazy.chunks[0][0] == 37
    np.testing.assert_allclose(lazy.compute(), expected, rtol=1e-10, atol=1e-9)


def test_iir_removes_the_bleaching_drift(bleaching_movie):
    _, sim = bleaching_movie
    out = iir_bleaching_correction(da.from_array(sim.data, chunks=(400, 32, 32)), cutoff=0.02)
    means = out.mean(axis=(1, 2)).compute()
    raw = sim.data.mean(axis=(1, 2))
    # the frame means stay near 0 (blinking noise, a lag of the steepest decay) instead of
    # falling by the ~230 ADU of the raw movie
    drop = raw[0] - raw[-1]
    assert drop > 200
    assert means[100:].std() < 0.03 * drop and abs(means[1500:].mean()) < 0.01 * drop


def test_iir_threaded_equals_distributed(dask_client):
    movie = np.random.default_rng(4).poisson(30.0, (90, 6, 8)).astype(np.uint16)
    lazy = iir_bleaching_correction(da.from_array(movie, chunks=(20, 3, 8)))
    threaded = dask.compute(lazy, scheduler="threads")[0]
    distributed = dask_client.compute(lazy).result()
    np.testing.assert_array_equal(threaded, distributed)


def test_errors():
    with pytest.raises(InputError, match="'model'"):
        fit_bleaching(np.ones(20), "tri")
    with pytest.raises(InputError, match="'total'"):
        fit_bleaching(np.ones(3))
    with pytest.raises(InputError, match="'total'"):
        fit_bleaching(np.linspace(1.0, 100.0, 50))  # rising: no decay
    with pytest.raises(InputError, match="lifetime"):  # a spike, no bleaching: decay 0 at t=1
        fit_bleaching(np.r_[1100.0, np.full(99, 1000.0)])
    with pytest.raises(InputError, match="'cutoff'"):
        iir_bleaching_correction(np.ones((5, 2, 2)), cutoff=1.0)
    with pytest.raises(InputError, match="'order'"):
        iir_bleaching_correction(np.ones((5, 2, 2)), order=0)
