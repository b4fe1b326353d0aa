"""Blinking-emitter movie simulator with ground truth, for tests, demos and benchmarks."""

from __future__ import annotations

from sofi_dask.simulate._simulate import (
    GroundTruth,
    SimulatedMovie,
    SimulationConfig,
    emitter_states,
    ground_truth,
    iter_simulated_batches,
    read_ground_truth,
    simulate_movie,
    write_simulated_tiff,
    write_simulated_zarr,
)

__all__ = [
    "GroundTruth",
    "SimulatedMovie",
    "SimulationConfig",
    "emitter_states",
    "ground_truth",
    "iter_simulated_batches",
    "read_ground_truth",
    "simulate_movie",
    "write_simulated_tiff",
    "write_simulated_zarr",
]
