"""Benchmark: extra cost of the quality section (FRC halves, decorrelation, error maps,
convergence) against the same run without it.

Both runs are ``run_pipeline`` on the same simulated Zarr store with the default configuration
(bleaching blocks, cumulants 2-4, deconvolution, LDRC, every output file and figure), threaded
scheduler, alternated (``--repeats`` pairs). Reported: wall time of the whole run and of the
compute phase, and user + system CPU time of this process, each as the ratio quality-on /
quality-off; and a bound measured in the same run: one read of the store (``sum`` of every
chunk).

Usage::

    .venv/bin/python bench/quality.py                        # 3000 x 256 x 256 (0.39 GB)
    .venv/bin/python bench/quality.py --frames 1000 --size 128 --repeats 1   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from sofi_dask.io import open_movie
from sofi_dask.pipeline import PipelineConfig, apply_overrides, run_pipeline
from sofi_dask.simulate import SimulationConfig, write_simulated_zarr

ROOT = Path(__file__).resolve().parent.parent


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _run(store: Path, out: Path, quality: bool) -> dict[str, float]:
    cfg = apply_overrides(PipelineConfig(), {"quality.enabled": quality, "compute.progress": False})
    shutil.rmtree(out, ignore_errors=True)
    c0, t0 = _cpu(), time.perf_counter()
    result = run_pipeline(store, out, cfg)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    phases = result.record["timings"]["phases_s"]
    return {
        "wall": wall,
        "cpu": cpu,
        "compute": phases["compute"],
        **{f"phase_{k}": v for k, v in phases.items()},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=3000)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--data", type=Path, default=ROOT / "bench_data")
    args = p.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    store = args.data / f"quality_{args.frames}x{args.size}.zarr"
    if not store.exists():
        cfg = SimulationConfig(
            n_frames=args.frames,
            frame_shape=(args.size, args.size),
            n_filaments=8,
            emitters_per_filament=150,
            n_isolated=40,
            bleach_lifetime=4.0 * args.frames,
            seed=1,
        )
        write_simulated_zarr(store, cfg)
    movie = open_movie(store)
    t0 = time.perf_counter()
    float(movie.data.sum(dtype=np.float64).compute(scheduler="threads"))
    read = time.perf_counter() - t0
    rows = {True: [], False: []}
    with tempfile.TemporaryDirectory(dir=args.data) as tmp:
        for _ in range(args.repeats):
            for quality in (False, True):
                rows[quality].append(_run(store, Path(tmp) / f"q{int(quality)}", quality))
    best = {q: {k: min(r[k] for r in rs) for k in rs[0]} for q, rs in rows.items()}
    on, off = best[True], best[False]
    print(
        json.dumps({"shape": list(movie.shape), "one_read_s": read, "off": off, "on": on}, indent=1)
    )
    for key in ("wall", "compute", "cpu"):
        print(
            f"{key:>8}: off {off[key]:7.2f} s  on {on[key]:7.2f} s  ratio {on[key] / off[key]:.3f}"
        )
    print(f"quality phase (decorrelation, error maps, FRC): {on.get('phase_quality', 0):.2f} s")
    print(f"one read of the store: {read:.2f} s; run off / read = {off['wall'] / read:.1f}")


if __name__ == "__main__":
    main()
