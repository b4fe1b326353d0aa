"""SOFI video over adjacent and sliding windows against per-window numpy references."""

from __future__ import annotations

import threading

import dask
import dask.array as da
import numpy as np
import pytest

from sofi_dask.errors import InputError
from sofi_dask.stats import sofi_video, video_windows


def ref_window_stats(x, max_order, windows, statistic):
    out = {p: [] for p in range(1, max_order + 1)}
    for a, b in windows:
        w = x[a:b].astype(np.float64)
        mean = w.mean(axis=0)
        m = {p: ((w - mean) ** p).mean(axis=0) for p in range(2, max_order + 1)}
        m[1] = np.zeros_like(mean)
        if statistic == "cumulants":
            k = {1: mean}
            for n in range(2, max_order + 1):
                # direct closed forms up to order 4 (enough for these tests)
                k[n] = {2: m[2], 3: m[3], 4: m[4] - 3 * m[2] ** 2}[n]
            m = k
        for p in out:
            out[p].append(m[p])
    return {p: np.stack(v) for p, v in out.items()}


def movie(n=60, shape=(4, 5), seed=0):
    rng = np.random.default_rng(seed)
    on = rng.random((n,) + shape) < 0.3
    drift = 1 - 0.5 * np.arange(n)[:, None, None] / n
    return rng.poisson((800 + 500 * on) * drift).astype(np.uint16)


@pytest.mark.parametrize("statistic", ["cumulants", "moments"])
@pytest.mark.parametrize(
    ("window", "step"), [(10, None), (12, 5), (9, 6), (16, 8), (20, 12), (10, 15), (7, 1)]
)
def test_windows_match_reference(statistic, window, step):
    x = movie()
    d = da.from_array(x, chunks=(13, 2, 5))
    video = sofi_video(d, 4, window=window, step=step, statistic=statistic)
    windows = video_windows(60, window, step)
    got = dask.compute(video)[0]
    ref = ref_window_stats(x, 4, windows, statistic)
    for p in range(1, 5):
        assert got[p].shape == (len(windows), 4, 5)
        atol = 1e-9 * np.abs(ref[p]).max() + 1e-12
        np.testing.assert_allclose(got[p], ref[p], rtol=1e-9, atol=atol)


def test_windows_layout():
    assert video_windows(10, 10) == [(0, 10)]
    assert video_windows(11, 5) == [(0, 5), (5, 10)]  # the trailing partial window is dropped
    assert video_windows(7, 3, step=2) == [(0, 3), (2, 5), (4, 7)]


def test_numpy_in_numpy_out_and_single_read():
    x = movie(n=40)
    v = sofi_video(x, 2, window=10, step=4, statistic="moments")
    assert isinstance(v[2], np.ndarray) and v[2].shape == (8, 4, 5)
    reads = []
    lock = threading.Lock()

    class CountingSource:
        shape, dtype, ndim = x.shape, x.dtype, x.ndim

        def __getitem__(self, key):
            if all(k.stop > k.start for k in key):
                with lock:
                    reads.append(key)
            return x[key]

    d = da.from_array(CountingSource(), chunks=(8, 4, 5), asarray=True)
    for window, step in [(10, 4), (16, 8)]:  # direct windows, merged segments
        reads.clear()
        video = sofi_video(d, 3, window=window, step=step)
        dask.compute(video, scheduler="threads")
        assert len(reads) == d.npartitions


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window": 61}, "'window': expected at most the movie's 60 frames, got 61"),
        ({"window": 3}, "'window': expected at least 4 frames for order 4, got 3"),
        ({"window": 0}, "'window': expected an integer >= 1, got 0"),
        ({"window": 10, "step": 0}, "'step': expected an integer >= 1, got 0"),
        ({"window": 10, "statistic": "median"}, "'statistic': expected one of .*, got 'median'"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(InputError, match="parameter " + match):
        sofi_video(movie(), 4, **kwargs)
