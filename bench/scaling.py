"""Scaling of the default pipeline: threads vs a local cluster of 1 and 2 worker processes.

On one >= 2 GB store (``sofi-dask simulate``, 16384 x 256 x 256 uint16 by default) the default
pipeline (cumulants 2-4, deconvolution, LDRC; no figures) runs with

- ``threads``: dask's threaded scheduler in this process (run first, so this process's peak
  RSS is the run's);
- ``local`` 1 worker (all CPUs as its threads) and ``local`` 2 workers (CPUs split);
- ``local`` 2 workers with a 1 GiB memory limit each (pauses, restarts, spilling reported).

For each: wall time, its ratio to one threaded read of the whole store measured in the same run
(the bound: every configuration must read every chunk once), speed-up over ``threads``, user +
system CPU time (this process and the workers), peak RSS per process (``ru_maxrss`` for
threads, the workers' own 0.5 s RSS samples for the clusters), bytes moved between workers (the
workers' own transfer counters) and, for the clusters, spill and trouble from
:func:`sofi_dask.cluster._health.worker_health` and the most per-window moment states and bytes
in memory at once on the cluster (:func:`sofi_dask.cluster._health.memory_peaks`); the 1-minute
load average after each run. Every run's arrays are compared with the threaded run's.

    python bench/scaling.py                          # simulates bench_data/scaling_2gb.zarr once
    python bench/scaling.py --store /work/bench_data/hpc/movie_2gb.zarr
    python bench/scaling.py --store ... --runs local2m     # only 2 workers x 1 GiB
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dask.array as da
import numpy as np
import zarr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sofi_dask.cluster._health import memory_peaks, worker_health  # noqa: E402
from sofi_dask.pipeline import apply_overrides, run_pipeline  # noqa: E402
from sofi_dask.pipeline._config import parse_config  # noqa: E402
from sofi_dask.pipeline._run import client_for  # noqa: E402


def _cpu_s(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def _worker_stats(dask_worker) -> dict:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # ru_maxrss survives exec (a spawned worker inherits its parent's): use the worker's own
    # RSS samples (every 0.5 s) instead
    samples = dask_worker.monitor.quantities["memory"]
    return {
        "rss_mib": max(samples, default=0) / 2**20,
        "cpu_s": _cpu_s(usage),
        "sent_bytes": dask_worker.transfer_outgoing_bytes_total,
    }


def _arrays(out: Path) -> dict[str, np.ndarray]:
    group = zarr.open_group(out / "results.zarr", mode="r")
    return {n: np.asarray(a[...]) for n, a in group.members(max_depth=None) if hasattr(a, "dtype")}


def _config(**compute):
    overrides = {"outputs.figures": False}
    overrides.update({f"compute.{k}": v for k, v in compute.items()})
    return apply_overrides(parse_config(None), overrides)


def read_bound(store: Path) -> float:
    """Seconds for one threaded read of every chunk of the movie (decompressed, summed)."""
    movie = da.from_zarr(zarr.open_group(store, mode="r")["movie"])
    t0 = time.perf_counter()
    movie.sum(dtype=np.uint64).compute(scheduler="threads")
    return time.perf_counter() - t0


def run_one(store: Path, out: Path, name: str, **compute) -> dict:
    config = _config(**compute)
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    with client_for(config) as client:
        if client is None:
            run_pipeline(store, out, config, progress=False)
            wall = time.perf_counter() - t0
            usage = resource.getrusage(resource.RUSAGE_SELF)
            return {
                "name": name,
                "wall_s": wall,
                "cpu_s": _cpu_s(usage) - _cpu_s(before),
                "rss_mib": [usage.ru_maxrss / 1024],
                "moved_bytes": 0,
                "health": None,
                "peaks": None,
                "load": os.getloadavg()[0],
            }
        start = worker_health(client)["pids"]
        t0 = time.perf_counter()
        with memory_peaks(client) as peaks:
            run_pipeline(store, out, config, client=client, progress=False)
        wall = time.perf_counter() - t0
        stats = client.run(_worker_stats)
        health = worker_health(client)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    health["restarted"] = health.pop("pids") != start
    return {
        "name": name,
        "wall_s": wall,
        "cpu_s": _cpu_s(usage) - _cpu_s(before) + sum(s["cpu_s"] for s in stats.values()),
        "rss_mib": [s["rss_mib"] for s in stats.values()],
        "moved_bytes": sum(s["sent_bytes"] for s in stats.values()),
        "health": health,
        "peaks": peaks,
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=ROOT / "bench_data" / "scaling_2gb.zarr")
    parser.add_argument("--frames", type=int, default=16384)
    parser.add_argument(
        "--runs",
        default="threads,local1,local2,local2m",
        help="configurations, comma-separated (speed-up and differences need threads)",
    )
    args = parser.parse_args()
    wanted = args.runs.split(",")
    unknown = sorted(set(wanted) - {"threads", "local1", "local2", "local2m"})
    if unknown:
        parser.error(f"--runs: unknown {unknown}; expected threads, local1, local2, local2m")
    if not args.store.exists():
        subprocess.run(
            [sys.executable, "-m", "sofi_dask.cli", "simulate", str(args.store),
             "--frames", str(args.frames), "--shape", "256x256", "--seed", "7", "--no-progress"],
            check=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )  # fmt: skip
    movie = zarr.open_group(args.store, mode="r")["movie"]
    print(
        f"store {args.store}: {movie.shape} {movie.dtype}, {movie.nbytes / 1e9:.2f} GB, "
        f"chunks {movie.chunks}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    bound = read_bound(args.store)
    print(f"bound: one threaded read of the store {bound:.1f} s")
    cpus = len(os.sched_getaffinity(0))
    tmp = Path(tempfile.mkdtemp(prefix="sofi-scaling-"))
    try:
        configs = {
            "threads": ("threads", {}),
            "local1": ("local, 1 worker",
                       dict(scheduler="local", n_workers=1, threads_per_worker=cpus)),
            "local2": ("local, 2 workers",
                       dict(scheduler="local", n_workers=2, threads_per_worker=max(1, cpus // 2))),
            "local2m": ("local, 2 workers, 1 GiB each",
                        dict(scheduler="local", n_workers=2, threads_per_worker=max(1, cpus // 2),
                             memory_limit="1GiB")),
        }  # fmt: skip
        runs = []
        for key in configs:
            if key in wanted:
                name, compute = configs[key]
                runs.append(run_one(args.store, tmp / key, name, **compute))
                runs[-1]["folder"] = key
        if "threads" in wanted:
            reference = _arrays(tmp / "threads")
            runs[0]["max_rel_diff"] = 0.0
            for run in runs[1:]:
                got = _arrays(tmp / run["folder"])
                run["max_rel_diff"] = max(
                    float(np.max(np.abs(got[k] - v)) / (np.max(np.abs(v)) or 1))
                    for k, v in reference.items()
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = runs[0]["wall_s"] if "threads" in wanted else None
    print("\n| run | wall | / read bound | speed-up | user+sys | peak RSS per process | "
          "moved between workers | spilled | paused/restarted | window states in memory "
          "(most at once) | all keys in memory (most at once) | max rel. diff | "
          "load |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        h = r["health"]
        spilled = (
            "-"
            if h is None
            else f"{h['spilled_chunks']:.0f} ({h['spilled_bytes'] / 2**20:.0f} MiB)"
        )
        trouble = "-" if h is None else ("yes" if h["trouble"] or h["restarted"] else "no")
        rss = ", ".join(f"{x:.0f}" for x in r["rss_mib"])
        p = r["peaks"]
        states = "-" if p is None else f"{p['keys'].get('moment-stack', 0)}"
        held = "-" if p is None else f"{p['bytes'] / 2**20:.0f} MiB"
        diff = f"{r['max_rel_diff']:.1g}" if "max_rel_diff" in r else "-"
        speed = "-" if base is None else f"{base / r['wall_s']:.2f}x"
        print(
            f"| {r['name']} | {r['wall_s']:.1f} s | {r['wall_s'] / bound:.1f}x | "
            f"{speed} | "
            f"{r['cpu_s']:.0f} s | {rss} MiB | "
            f"{r['moved_bytes'] / 2**20:.1f} MiB | {spilled} | {trouble} | {states} | {held} | "
            f"{diff} | {r['load']:.1f} |"
        )
        if h and h["trouble"]:
            print("    " + "\n    ".join(h["trouble"][:5]))


if __name__ == "__main__":
    main()
