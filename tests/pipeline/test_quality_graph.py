"""The quality section's graph: the halves go through the image stages only when measured."""

from __future__ import annotations

import dask.array as da

from sofi_dask.io import open_movie
from sofi_dask.pipeline import PipelineConfig, apply_overrides
from sofi_dask.pipeline._graph import build_graph
from sofi_dask.pipeline._quality import QualityGraph, lazy_arrays
from sofi_dask.simulate import SimulationConfig, write_simulated_zarr

FAST = {
    "statistic.orders": [2, 3],
    "deconvolution.iterations": 2,
    "deconvolution.psf.size": 9,
    "ldrc.window_size": 7,
    "quality.block_frames": 50,
}


def test_halves_stop_after_the_last_measured_stage():
    calls = []

    def stage(image, half, order):
        calls.append((half, order))
        return image + 1

    one = da.zeros((4, 4))
    q = QualityGraph({}, [], all_outputs=False)
    q.current = {2: (one, one), 3: (one, one)}
    q.through("linearised", stage, record=True)  # measured: built and recorded
    assert len(calls) == 4 and set(q.halves) == {"linearised_order2", "linearised_order3"}
    q.through("deconvolution", stage)  # not measured, nor anything after it: not built
    q.through("ldrc", stage)
    assert len(calls) == 4 and q.current == {}
    q = QualityGraph({}, [], all_outputs=True)
    q.current = {2: (one, one)}
    q.through("deconvolution", stage)
    q.through("ldrc", stage)
    assert len(calls) == 8 and set(q.halves) == {"deconvolution_order2", "ldrc_order2"}


def test_graph_measures_the_halves_of_what_outputs_asks(tmp_path):
    store = tmp_path / "m.zarr"
    sim = SimulationConfig(n_frames=300, frame_shape=(32, 32), n_filaments=2, seed=2)
    write_simulated_zarr(store, sim)
    movie = open_movie(store)
    names = {}
    for outputs in ("statistic", "all"):
        cfg = apply_overrides(PipelineConfig(), {**FAST, "quality.outputs": outputs})
        q = build_graph(movie, cfg).quality
        names[outputs] = set(q.halves)
        assert len(lazy_arrays(q)) == 2 * len(q.halves) + 2  # the halves and the two norms
    stat = {"average", "cumulants_order2", "cumulants_order3"}
    assert names["statistic"] == stat
    assert names["all"] == stat | {
        f"{s}_order{k}" for s in ("deconvolution", "ldrc") for k in (2, 3)
    }
