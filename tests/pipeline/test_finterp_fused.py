"""With --finterp the pipeline's statistic, its quality halves and prefixes come from the fused
interpolation-and-moments states and equal those of the interpolated movie reduced as before."""

from __future__ import annotations

from functools import partial

import dask
import dask.array as da
import numpy as np
import pytest

from sofi_dask.image import interpolate_movie
from sofi_dask.image._finterp_moments import finterp_moment_stacks
from sofi_dask.pipeline import PipelineConfig, apply_overrides
from sofi_dask.pipeline._quality import split_statistic


@pytest.mark.parametrize("blocks", [None, [(0, 70), (70, 130), (130, 157)]])
def test_split_statistic_from_fused_states_equals_the_interpolated_movie(blocks):
    rng = np.random.default_rng(3)
    raw = da.from_array(rng.poisson(30.0, (157, 7, 6)).astype(np.uint16), chunks=(16, -1, -1))
    cfg = apply_overrides(
        PipelineConfig(), {"statistic.orders": [2, 3, 4], "quality.block_frames": 20}
    )
    fused, qf = split_statistic(
        raw, cfg, blocks, stacks_of=partial(finterp_moment_stacks, raw, factor=2)
    )
    interp = interpolate_movie(raw, 2).rechunk({0: 16})  # the same sub-windows
    plain, qp = split_statistic(interp, cfg, blocks)
    assert qf.frames == qp.frames and len(qf.frames) >= 3
    got, expected = dask.compute(
        ([fused[k] for k in (2, 3, 4)], qf.layers, qf.changes),
        ([plain[k] for k in (2, 3, 4)], qp.layers, qp.changes),
    )
    for g, e in zip(got[0], expected[0], strict=True):
        assert g.shape == (13, 11)
        np.testing.assert_allclose(g, e, rtol=1e-8, atol=1e-8 * np.abs(e).max())
    for half_g, half_e in zip(got[1], expected[1], strict=True):  # the two halves
        np.testing.assert_allclose(half_g, half_e, rtol=1e-8, atol=1e-8 * np.abs(half_e).max())
    for c_g, c_e in zip(got[2], expected[2], strict=True):  # convergence from the prefixes
        np.testing.assert_allclose(c_g, c_e, rtol=1e-7)
