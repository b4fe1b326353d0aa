"""Benchmark: moments + cumulants to order 6 in one pass, as a ratio to one read of the Zarr.

Three figures, each against a bound measured in the same run:

1. ``ratio`` = time(moment stack + cumulant stack to order 6) / time(one dask read-and-sum of
   the same Zarr array), same scheduler, alternated and repeated (best of ``--repeats``);
2. ``speed-up`` over a straightforward per-order numpy loop in pysofi's style (mean image, then
   one loop over the frames per order, then the recursion) on an in-memory subset;
3. peak RSS of a fresh process computing all orders on the first 2 000 vs 20 000 frames.

The movie is a uint16 Zarr v3 array of blinking emitters with Poisson noise and bleaching,
compressed as ``ingest`` writes stores (Blosc lz4 5 + shuffle; ``--compressor``), written once
under ``bench_data/`` (git-ignored) in frame batches.

Usage::

    .venv/bin/python bench/moments.py                      # full run (20000x256x256, 2.6 GB)
    .venv/bin/python bench/moments.py --frames 2048 --rss-frames 256 2048   # quick
    .venv/bin/python bench/moments.py --cleanup            # delete the movie afterwards
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from math import comb
from pathlib import Path

import dask
import dask.array as da
import numpy as np
from _movies import ensure_movie, peak_rss_mb

from sofi_dask._memory import limit_allocator_retention
from sofi_dask.io._store import make_codecs
from sofi_dask.stats import cumulant_stack, moment_stack

ROOT = Path(__file__).resolve().parent.parent
MAX_ORDER = 6


def read_and_sum(d: da.Array) -> float:
    return float(d.sum(dtype=np.float64).compute())


def moments_and_cumulants(d: da.Array) -> tuple[np.ndarray, np.ndarray]:
    stack = moment_stack(d, MAX_ORDER)
    return dask.compute(stack, cumulant_stack(stack))


def pysofi_style(x: np.ndarray, max_order: int) -> dict[int, np.ndarray]:
    """What pysofi does per order, minus its per-frame file re-opening: a loop per order."""
    mean = np.zeros(x.shape[1:])
    for im in x:
        mean = mean + im
    mean = mean / x.shape[0]
    m = {}
    for order in range(1, max_order + 1):
        acc = np.zeros(x.shape[1:])
        for im in x:
            acc = acc + np.power(im - mean, order)
        m[order] = acc / x.shape[0]
    k: dict[int, np.ndarray] = {}
    for n in range(1, max_order + 1):
        k[n] = m[n] - np.sum([comb(n - 1, i) * k[n - i] * m[i] for i in range(1, n)], axis=0)
    return k


def rss_child(path: Path, frames: int) -> None:
    # as the CLI does (and distributed for its workers): freed chunks go back to the system
    limit_allocator_retention()
    d = da.from_zarr(str(path))[:frames]
    with dask.config.set(scheduler="threads"):
        moments_and_cumulants(d)
    print(json.dumps({"frames": frames, "peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--path", type=Path, default=ROOT / "bench_data" / "moments_movie.zarr")
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--chunks", type=int, nargs=3, default=(256, 256, 256))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--compressor", default="lz4", help="codec of the store (ingest's default)")
    ap.add_argument("--clevel", type=int, default=5)
    ap.add_argument("--subset", type=int, default=500, help="frames for the pysofi-style loop")
    ap.add_argument("--rss-frames", type=int, nargs=2, default=(2000, 20000))
    ap.add_argument("--cleanup", action="store_true", help="delete the movie at the end")
    ap.add_argument("--rss-child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.rss_child is not None:
        rss_child(args.path, args.rss_child)
        return

    ensure_movie(
        args.path,
        args.frames,
        args.size,
        tuple(args.chunks),
        seed=2024,
        compressors=make_codecs(args.compressor, args.clevel, np.dtype(np.uint16)),
    )
    d = da.from_zarr(str(args.path))
    nbytes = d.nbytes
    on_disk = sum(f.stat().st_size for f in args.path.rglob("*") if f.is_file())

    # 1. ratio to one read-and-sum, alternated, best of N, threaded scheduler
    t_read, t_mom = [], []
    with dask.config.set(scheduler="threads"):
        read_and_sum(d)  # warm the page cache and numba's compiled kernel
        moments_and_cumulants(d[: args.chunks[0]])
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            read_and_sum(d)
            t_read.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            moments_and_cumulants(d)
            t_mom.append(time.perf_counter() - t0)

    # 2. pysofi-style per-order loop on an in-memory subset, same subset through our engine
    x = np.asarray(d[: args.subset])
    t0 = time.perf_counter()
    ref = pysofi_style(x, MAX_ORDER)
    t_loop = time.perf_counter() - t0
    best = np.inf
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ours = moments_and_cumulants(da.from_array(x, chunks=(64, -1, -1)))
        best = min(best, time.perf_counter() - t0)
    err = max(
        float(np.abs(ours[1][p] - ref[p]).max() / np.abs(ref[p]).max())
        for p in range(2, MAX_ORDER + 1)
    )

    # 3. peak RSS of fresh processes over few vs many frames
    rss = {}
    for n in args.rss_frames:
        out = subprocess.run(
            [sys.executable, __file__, "--path", str(args.path), "--rss-child", str(n)],
            check=True,
            capture_output=True,
            text=True,
        )
        rss[n] = json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"]
    small, large = args.rss_frames

    result = {
        "movie": {
            "shape": list(d.shape),
            "chunks": list(args.chunks),
            "dtype": "uint16",
            "gb": round(nbytes / 1e9, 2),
            "on_disk_gb": round(on_disk / 1e9, 2),
        },
        "read_and_sum_s": [round(t, 2) for t in t_read],
        "moments_cumulants_order6_s": [round(t, 2) for t in t_mom],
        "ratio_best": round(min(t_mom) / min(t_read), 3),
        "ratio_median_of_pairs": round(float(np.median(np.divide(t_mom, t_read))), 3),
        "read_gb_per_s": round(nbytes / 1e9 / min(t_read), 2),
        "pysofi_style_loop_s": round(t_loop, 3),
        "ours_same_subset_s": round(best, 3),
        "speed_up": round(t_loop / best, 1),
        "subset_frames": args.subset,
        "max_rel_err_vs_loop": err,
        "peak_rss_mb": {str(k): round(v, 1) for k, v in rss.items()},
        "rss_ratio": round(rss[large] / rss[small], 3),
    }
    print(json.dumps(result, indent=2))
    if args.cleanup:
        shutil.rmtree(args.path)


if __name__ == "__main__":
    main()
