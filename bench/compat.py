"""Benchmark: pysofi-style calls through ``sofi_dask.compat`` on a TIFF path vs one batched read.

Target (docs/architecture.md, brief): a pysofi-style call on a TIFF path costs <= 3x one batched
read of that TIFF. Each call starts from a fresh ``PysofiData(filepath, filename)`` (no cached
pass) and computes all orders to 6 in one streaming pass over the TIFF (read lazily in frame
batches by ``sofi_dask.io.open_movie``; no conversion to Zarr per call).

Bounds, measured in the same run, alternated with the calls, best of ``--repeats``:

* ``read_memmap``: ``tifffile.memmap`` of the file, summed in float64 in batches of frames
  (one read of every byte, numpy, one thread);
* ``read_dask``: ``sofi_dask.io.open_movie(path).data.sum()`` (the same batched reader the
  compat calls use, on the default threaded scheduler).

The movie is written once with ``sofi_dask.simulate.write_simulated_tiff`` under
``bench_data/`` (git-ignored); the page cache is warm for every measurement (the first read
is discarded).

Usage::

    .venv/bin/python bench/compat.py                         # 3000 x 256 x 256 uint16, 393 MB
    .venv/bin/python bench/compat.py --frames 300 --repeats 1   # quick
    .venv/bin/python bench/compat.py --cleanup               # delete the movie afterwards
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np
import tifffile

from sofi_dask.compat import PysofiData
from sofi_dask.compat import reconstruction as rec
from sofi_dask.io import open_movie
from sofi_dask.simulate import write_simulated_tiff

ROOT = Path(__file__).resolve().parent.parent


def read_memmap(path: Path, batch: int = 256) -> float:
    """One batched read of every frame: memmap + float64 sum per batch."""
    mm = tifffile.memmap(path, mode="r")
    total = 0.0
    for a in range(0, mm.shape[0], batch):
        total += float(mm[a : a + batch].sum(dtype=np.float64))
    del mm
    return total


def read_dask(path: Path) -> float:
    return float(open_movie(path).data.sum(dtype=np.float64).compute())


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--path", type=Path, default=ROOT / "bench_data" / "compat_movie.tif")
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cleanup", action="store_true", help="delete the movie at the end")
    args = ap.parse_args()

    path: Path = args.path
    shape = (args.frames, args.size, args.size)
    if not path.exists() or tifffile.TiffFile(path).series[0].shape != shape:
        path.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        write_simulated_tiff(
            path, n_frames=args.frames, frame_shape=(args.size, args.size), overwrite=True
        )
        print(
            f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s"
        )
    folder, name = str(path.parent), path.name
    size_mb = path.stat().st_size / 1e6

    calls = {
        "PysofiData.moment_image(6)": lambda: PysofiData(folder, name).moment_image(order=6),
        "PysofiData.cumulants_images(6)": lambda: PysofiData(folder, name).cumulants_images(6),
        "reconstruction.calc_moments(6)": lambda: rec.calc_moments(folder, name, 6),
    }
    bounds = {"read_memmap": lambda: read_memmap(path), "read_dask": lambda: read_dask(path)}
    read_memmap(path)  # warm the page cache; discarded
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for label, fn in {**bounds, **calls}.items():
            best[label] = min(best.get(label, np.inf), timed(fn))

    bound = min(best["read_memmap"], best["read_dask"])
    result = {
        "movie": {"path": str(path), "shape": list(shape), "dtype": "uint16", "MB": round(size_mb)},
        "cpus": os.cpu_count(),
        "load_average": [round(v, 1) for v in os.getloadavg()],
        "seconds": {k: round(v, 3) for k, v in best.items()},
        "ratio_to_best_read": {k: round(best[k] / bound, 2) for k in calls},
        "ratio_to_read_memmap": {k: round(best[k] / best["read_memmap"], 2) for k in calls},
        "peak_rss_MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(result, indent=2))
    for k in calls:
        print(
            f"{k:34s} {best[k]:7.2f} s  {result['ratio_to_best_read'][k]:5.2f}x the best read "
            f"({bound:.2f} s, {size_mb / bound:.0f} MB/s)"
        )
    if args.cleanup:
        path.unlink()
        for extra in path.parent.glob(path.stem + "*"):
            if extra.is_file():
                extra.unlink()


if __name__ == "__main__":
    main()
