"""The quality section's bleaching-block means (one packed stack per block, one sum tree)
against the statistic of every block and half computed by definition with numpy."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

from sofi_dask.pipeline import PipelineConfig, apply_overrides
from sofi_dask.pipeline._quality import _windows, split_statistic


def _cumulants(frames: np.ndarray) -> dict[int, np.ndarray]:
    """Orders 2-4 from the central moments of ``frames`` (t, y, x), by definition."""
    dev = frames - frames.mean(axis=0)
    m2, m3, m4 = (np.mean(dev**p, axis=0) for p in (2, 3, 4))
    return {2: m2, 3: m3, 4: m4 - 3 * m2**2}


@pytest.mark.parametrize("chunk", [10, 330])
def test_block_means_and_halves_by_definition(chunk):
    rng = np.random.default_rng(3)
    movie = rng.poisson(20.0, (330, 6, 5)).astype(np.uint16)
    work = da.from_array(movie, chunks=(chunk, 3, 5))  # two spatial tiles
    # a normal block, a block too short for either half to be kept (3 frames < order 4), a
    # one-window block and a long one
    blocks = [(0, 100), (100, 103), (103, 115), (115, 330)]
    cfg = apply_overrides(
        PipelineConfig(), {"statistic.orders": [2, 3, 4], "quality.block_frames": 20}
    )
    per_order, q = split_statistic(work, cfg, blocks)
    (stat, halves, average) = dask.compute(
        {k: per_order[k] for k in (2, 3, 4)}, q.halves, q.average
    )
    edges = np.cumsum((0, *work.chunks[0]))
    windows = _windows(blocks, 20, 4, edges)
    parity, j = [], 0
    for subs in windows:
        parity.append([(j + i) % 2 for i in range(len(subs))])
        j += len(subs)
    want = {k: np.zeros((6, 5)) for k in (2, 3, 4)}
    want_half = {h: {k: np.zeros((6, 5)) for k in (2, 3, 4)} for h in (0, 1)}
    kept = [0, 0]
    for (a, b), subs, par in zip(blocks, windows, parity, strict=True):
        for k, v in _cumulants(movie[a:b].astype(np.float64)).items():
            want[k] += v / len(blocks)
        for h in (0, 1):
            frames = [movie[s:e] for (s, e), p in zip(subs, par, strict=True) if p == h]
            n = sum(len(f) for f in frames)
            if n >= 4:  # a half of fewer frames than the highest order is not kept
                kept[h] += 1
                for k, v in _cumulants(np.concatenate(frames).astype(np.float64)).items():
                    want_half[h][k] += v
    assert kept[0] < len(blocks) and kept[1] < len(blocks)  # the short block keeps no half
    for k in (2, 3, 4):
        np.testing.assert_allclose(stat[k], want[k], rtol=1e-10, atol=1e-9)
        for h in (0, 1):
            got = halves[f"cumulants_order{k}"][h]  # magnitudes (statistic.absolute)
            np.testing.assert_allclose(got, np.abs(want_half[h][k] / kept[h]), rtol=1e-10)
    np.testing.assert_allclose(average, movie.mean(axis=0), rtol=1e-12)
