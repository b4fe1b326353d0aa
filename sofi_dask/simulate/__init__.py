"""Blinking-emitter movie simulator with ground truth, for tests, demos and benchmarks."""

from __future__ import annotations

from sofi_dask._lazy import lazy_exports

# public name -> its module, imported on first use (sofi_dask._lazy)
_EXPORTS: dict[str, tuple[str, ...]] = {
    "_simulate": (
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
    ),
}

__all__ = sorted(name for names in _EXPORTS.values() for name in names)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
