"""Benchmark: the methods beyond pysofi, as ratios to one read of the same Zarr store.

Timed in one process, same threaded scheduler, each against ``read`` (one dask read-and-sum of
the store, the bound), best of ``--repeats``:

* ``xc_cumulants``: cross-cumulants of orders 2, 3, 4 with virtual pixels, PSF sigma estimated
  (one pass, 54 pixel combinations + 4 for the sigma);
* ``bsofi``: balanced SOFI maps from the computed cross-cumulants (2-D only);
* ``iir``: IIR high-pass bleaching correction, consumed by a sum (one chained pass);
* ``exp``: exponential fit of the total signal (one read) + lazy division, consumed by a sum.

Wall, user and system CPU time are reported (``os.times`` of this process).

Usage::

    .venv/bin/python bench/methods.py                      # 4096 x 256 x 256 (0.54 GB)
    .venv/bin/python bench/methods.py --frames 1024        # quick
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import dask
import dask.array as da
import numpy as np
from _movies import ensure_movie, peak_rss_mb

from sofi_dask.io._store import make_codecs
from sofi_dask.stats import (
    bsofi,
    exp_bleaching_correction,
    iir_bleaching_correction,
    xc_cumulants,
)

ROOT = Path(__file__).resolve().parent.parent


def timed(fn) -> tuple[float, float, float]:
    t0, c0 = time.perf_counter(), os.times()
    fn()
    c1 = os.times()
    return time.perf_counter() - t0, c1.user - c0.user, c1.system - c0.system


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=4096)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--chunk-frames", type=int, default=256)
    ap.add_argument("--tile", type=int, default=128, help="spatial chunk side")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--path", type=Path, default=ROOT / "bench_data" / "methods.zarr")
    args = ap.parse_args()
    chunks = (args.chunk_frames, args.tile, args.tile)
    ensure_movie(
        args.path,
        args.frames,
        args.size,
        chunks,
        compressors=make_codecs("lz4", 5, np.dtype(np.uint16)),
        seed=3,
    )
    d = da.from_zarr(str(args.path))
    gb = d.nbytes / 1e9
    xc_holder: dict = {}

    def run_xc() -> None:
        res = xc_cumulants(d, (2, 3, 4))
        images, sigma = dask.compute(res.images, res.psf_sigma)
        xc_holder["xc"] = (images, float(sigma))

    cases = {
        "read": lambda: float(d.sum(dtype=np.float64).compute()),
        "xc_cumulants": run_xc,
        "iir": lambda: float(iir_bleaching_correction(d).sum().compute()),
        "exp": lambda: float(exp_bleaching_correction(d)[0].sum().compute()),
    }
    best: dict[str, tuple[float, float, float]] = {}
    with dask.config.set(scheduler="threads"):
        for _ in range(args.repeats):
            for name, fn in cases.items():
                t = timed(fn)
                if name not in best or t[0] < best[name][0]:
                    best[name] = t
        images, sigma = xc_holder["xc"]
        best["bsofi"] = timed(lambda: bsofi(images, psf_sigma=sigma))
    read = best["read"][0]
    print(f"movie {d.shape} uint16, {gb:.3f} GB, chunks {chunks}; estimated PSF sigma {sigma:.3f}")
    print("| step | wall | s/GB | x read | user | sys |")
    print("|---|---|---|---|---|---|")
    for name, (wall, user, sys_) in best.items():
        row = f"| {name} | {wall:.2f} s | {wall / gb:.1f} | {wall / read:.1f}x"
        print(f"{row} | {user:.1f} s | {sys_:.1f} s |")
    print(f"peak RSS {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
