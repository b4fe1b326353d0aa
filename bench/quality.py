"""Benchmark: extra cost of the quality section (FRC halves, decorrelation, error maps,
convergence) against the same run without it.

Both runs are ``run_pipeline`` on the same simulated Zarr store with the default configuration
(bleaching blocks, cumulants 2-4, deconvolution, LDRC, every output file and figure), threaded
scheduler, alternated (``--repeats`` rounds of: quality off, ``quality.outputs = "statistic"``
(the default: FRC of the average and statistic images), ``"all"`` (the halves also through
deconvolution and LDRC)). Reported per variant (best of the repeats): wall time of the whole run
and of its phases, and user + system CPU time of this process, each as the ratio to quality off;
a bound measured in the same run: one read of the store (``sum`` of every chunk); the drift
estimate (``drift.enabled``'s pass before the graph) against that read; the load average.

Usage::

    .venv/bin/python bench/quality.py                        # 3000 x 256 x 256 (0.39 GB)
    .venv/bin/python bench/quality.py --frames 1000 --size 128 --repeats 1   # quick
    .venv/bin/python bench/quality.py --store movie.zarr      # an existing store
    .venv/bin/python bench/quality.py --store movie.zarr --cli --repeats 7 --variants off,statistic

``--cli``: every run is a fresh ``sofi-dask run`` process, as a user runs it (start-up, imports,
numba's cache loads and first calls included; CPU = the child's user + system); without it the
runs share this process, so only the first pays those. Besides the best of the rounds, the
median over the rounds of each round's on/off ratio (the two ran back to back, under the same
load).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sofi_dask.io import open_movie
from sofi_dask.pipeline import PipelineConfig, apply_overrides, run_pipeline
from sofi_dask.simulate import SimulationConfig, write_simulated_zarr
from sofi_dask.stats import estimate_drift

ROOT = Path(__file__).resolve().parent.parent


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


VARIANTS = {
    "off": {"quality.enabled": False},
    "statistic": {"quality.enabled": True, "quality.outputs": "statistic"},
    "all": {"quality.enabled": True, "quality.outputs": "all"},
}


def _ratio(a: float, b: float) -> str:
    """``a / b`` to 2 decimals, or ``n/a`` when ``b`` is below the clock's resolution."""
    return f"{a / b:.2f}" if b > 0 else "n/a"


def _row(wall: float, user: float, system: float, timings: dict) -> dict[str, float]:
    """One run's figures: wall, CPU, and run.json's phases and stage task-seconds."""
    return {
        "wall": wall,
        "cpu": user + system,
        "user": user,
        "sys": system,
        **{f"phase_{k}": v for k, v in timings["phases_s"].items()},
        **{f"task_s_{k}": v["task_seconds"] for k, v in timings["stages"].items()},
    }


def _run(store: Path, out: Path, variant: str) -> dict[str, float]:
    cfg = apply_overrides(PipelineConfig(), {**VARIANTS[variant], "compute.progress": False})
    shutil.rmtree(out, ignore_errors=True)
    t0, times0 = time.perf_counter(), os.times()
    result = run_pipeline(store, out, cfg)
    wall, times1 = time.perf_counter() - t0, os.times()
    user, system = times1.user - times0.user, times1.system - times0.system
    return _row(wall, user, system, result.record["timings"])


CLI_FLAGS = {
    "off": ["--quality", "off"],
    "statistic": ["--quality", "on"],
    "all": ["--quality", "on", "--set", "quality.outputs=all"],
}


def _run_cli(store: Path, out: Path, variant: str) -> dict[str, float]:
    """One ``sofi-dask run`` in a fresh process, as a user runs it (start-up, imports, numba's
    cache loads and first calls included): wall, and the child's user and system seconds."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "sofi_dask.cli", "run", str(store), "-o", str(out)]
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run([*cmd, "--no-progress", *CLI_FLAGS[variant]], check=True, capture_output=True)
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    timings = json.loads((out / "run.json").read_text())["timings"]
    return _row(wall, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime, timings)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=3000)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--data", type=Path, default=ROOT / "bench_data")
    p.add_argument("--store", type=Path, default=None, help="an existing store (no simulation)")
    p.add_argument("--drift-repeats", type=int, default=1, help="reads and drift estimates")
    p.add_argument(
        "--variants", default="off,statistic,all", help="comma-separated, from off,statistic,all"
    )
    p.add_argument(
        "--cli",
        action="store_true",
        help="each run a fresh `sofi-dask run` process (as users run it) instead of run_pipeline",
    )
    args = p.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    store = args.store or args.data / f"quality_{args.frames}x{args.size}.zarr"
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
    load = [os.getloadavg()[0]]
    estimate_drift(movie.data[: 4 * 100], segment_frames=100)  # numba's shift kernel loaded
    reads, drifts = [], []
    for _ in range(args.drift_repeats):
        c0, t0 = _cpu(), time.perf_counter()
        float(movie.data.sum(dtype=np.float64).compute(scheduler="threads"))
        reads.append((time.perf_counter() - t0, _cpu() - c0))
        # drift.enabled: the estimate is a pass of its own before the graph (the correction
        # must precede every statistic); its cost against one read of the store
        c0, t0 = _cpu(), time.perf_counter()
        estimate_drift(movie.data, segment_frames=100)
        drifts.append((time.perf_counter() - t0, _cpu() - c0))
    (read, read_cpu), (drift, drift_cpu) = min(reads), min(drifts)
    chosen = [v for v in VARIANTS if v in args.variants.split(",")]
    rows: dict[str, list[dict[str, float]]] = {v: [] for v in chosen}
    with tempfile.TemporaryDirectory(dir=args.data) as tmp:
        for _ in range(args.repeats):
            for variant in chosen:
                run = _run_cli if args.cli else _run
                rows[variant].append(run(store, Path(tmp) / variant, variant))
    keys = sorted({k for rs in rows.values() for r in rs for k in r})
    best = {v: {k: min(r.get(k, 0.0) for r in rs) for k in keys} for v, rs in rows.items()}
    off = best.get("off")
    load.append(os.getloadavg()[0])
    print(
        json.dumps(
            {
                "shape": list(movie.shape),
                "one_read_s": read,
                "one_read_cpu_s": read_cpu,
                "drift_s": drift,
                "drift_cpu_s": drift_cpu,
                "load_average_1min": load,
                **best,
            },
            indent=1,
        )
    )
    for v in chosen[1:] if off is not None else ():
        on = best[v]
        print(f"quality.outputs = {v!r} against quality off:")
        for key in (
            "wall",
            "cpu",
            "user",
            "sys",
            *(k for k in keys if k.startswith(("phase_", "task_s_"))),
        ):
            ratio = on[key] / off[key] if off[key] > 0 else float("nan")
            print(f"  {key:>20}: off {off[key]:7.2f} s  on {on[key]:7.2f} s  ratio {ratio:.3f}")
        for key in ("cpu", "wall"):  # rounds ran back to back: their ratios share the load
            paired = [b[key] / a[key] for a, b in zip(rows["off"], rows[v], strict=True)]
            print(
                f"  {key} ratio per round: median {statistics.median(paired):.3f}"
                f" (min {min(paired):.3f}, max {max(paired):.3f}, {len(paired)} rounds)"
            )
    if off is not None:
        print(f"one read of the store: {read:.2f} s; run off / read = {off['wall'] / read:.1f}")
    print(
        f"drift estimate (segments of 100 frames, best of {args.drift_repeats}): wall {drift:.2f} s"
        f" = {drift / read:.2f} reads, CPU {drift_cpu:.2f} s = {_ratio(drift_cpu, read_cpu)} reads"
        f" (one read: {read:.2f} s wall, {read_cpu:.2f} s CPU)"
    )
    print(f"load average (1 min) before / after: {load[0]:.2f} / {load[1]:.2f}")


if __name__ == "__main__":
    main()
