"""Benchmark: TIFF -> Zarr ingestion against ``cp`` of the same file, measured in the same run.

    .venv/bin/python bench/ingest.py                      # ~2.1 GB simulated movie
    .venv/bin/python bench/ingest.py --gb 0.3 --keep      # quick run, keep the TIFF

Steps: simulate a uint16 movie of blinking emitters to ``bench_data/`` (reused with --keep),
read it once so that both contenders start from a warm page cache, then ``--repeat``
interleaved pairs: time ``cp`` of the file, then ``ingest`` in a child process (import time
excluded: the child reports the time of the ``ingest`` call). Medians are reported, and the
ratio of each pair. Peak RSS is the largest ``ru_maxrss`` of the children (whole ingest
process, all threads). Times are also given with the final ``sync`` (data on disk). The
store is checked against the TIFF (per-frame totals, one frame in ten) before printing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time
from sofi_dask.io import ingest
src, dest, compressor, clevel, workers = sys.argv[1:6]
t = time.perf_counter()
ingest(src, dest, compressor=compressor, clevel=int(clevel),
       workers=int(workers) if workers != "0" else None)
t_ingest = time.perf_counter() - t
import os
os.sync()
print(json.dumps({"ingest_s": t_ingest, "ingest_sync_s": time.perf_counter() - t}))
"""


def make_movie(path: Path, gb: float, frame: int) -> None:
    n_frames = int(gb * 1e9 / (frame * frame * 2))
    from sofi_dask.simulate import write_simulated_tiff

    t = time.perf_counter()
    write_simulated_tiff(
        path,
        n_frames=n_frames,
        frame_shape=(frame, frame),
        overwrite=True,
        bleach_lifetime=n_frames,
    )
    print(
        f"simulated {n_frames} frames of {frame}x{frame} uint16 in {time.perf_counter() - t:.1f} s"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=2.1, help="movie size in GB (default 2.1)")
    ap.add_argument("--frame", type=int, default=256, help="frame edge in pixels (default 256)")
    ap.add_argument("--dir", default="bench_data", help="scratch folder (default bench_data)")
    ap.add_argument("--compressor", default="lz4")
    ap.add_argument("--clevel", type=int, default=5)
    ap.add_argument("--workers", type=int, default=0, help="ingest threads (0 = default)")
    ap.add_argument("--tiff", default=None, help="use this existing TIFF (kept) instead")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved cp/ingest pairs")
    ap.add_argument("--keep", action="store_true", help="keep (and reuse) the TIFF")
    args = ap.parse_args()

    scratch = Path(args.dir)
    scratch.mkdir(parents=True, exist_ok=True)
    tif = Path(args.tiff) if args.tiff else scratch / f"bench_ingest_{args.gb:g}GB_{args.frame}.tif"
    if args.tiff:
        args.keep = True
    copy = scratch / "bench_ingest_copy.tif"
    store = scratch / "bench_ingest.zarr"
    if not tif.exists():
        make_movie(tif, args.gb, args.frame)
    size = tif.stat().st_size
    copy.unlink(missing_ok=True)
    shutil.rmtree(store, ignore_errors=True)
    os.sync()
    # warm the page cache so that cp and ingest both read from memory
    subprocess.run(["dd", f"if={tif}", "of=/dev/null", "bs=16M", "status=none"], check=True)

    runs = []  # interleaved pairs: a busy machine slows both contenders alike
    for _ in range(args.repeat):
        t = time.perf_counter()
        subprocess.run(["cp", str(tif), str(copy)], check=True)
        t_cp = time.perf_counter() - t
        os.sync()
        t_cp_sync = time.perf_counter() - t
        copy.unlink()
        shutil.rmtree(store, ignore_errors=True)
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(tif),
                str(store),
                args.compressor,
                str(args.clevel),
                str(args.workers),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        child = json.loads(out.stdout.strip().splitlines()[-1])
        runs.append((t_cp, t_cp_sync, child["ingest_s"], child["ingest_sync_s"]))
    peak_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
    cp_s, cp_sync_s, ing_s, ing_sync_s = (float(np.median(col)) for col in zip(*runs, strict=True))

    # correctness check against the TIFF itself
    import tifffile

    from sofi_dask.io import movie_info, open_movie

    movie = open_movie(store)
    src = tifffile.memmap(tif, mode="r")
    sample = slice(0, src.shape[0], 10)
    ref = src[sample].sum(axis=(1, 2), dtype=np.int64).astype(np.float64)
    assert np.array_equal(movie.frame_stats.total[sample], ref), "per-frame totals differ"
    assert np.array_equal(movie.data[-3:].compute(), src[-3:]), "last frames differ"
    info = movie_info(store)

    ratio = ing_s / cp_s
    ratio_sync = ing_sync_s / cp_sync_s
    ratios = [r[2] / r[0] for r in runs]
    print(
        f"movie        {tuple(movie.shape)} {movie.dtype}, {size / 1e9:.2f} GB, "
        f"chunks {info['chunks']}, {args.compressor} clevel {args.clevel}"
    )
    print(f"runs         {args.repeat} interleaved (cp, ingest) pairs; medians below")
    print(f"cp           {cp_s:6.2f} s   (+sync {cp_sync_s:6.2f} s)  {size / cp_s / 1e9:.2f} GB/s")
    print(
        f"ingest       {ing_s:6.2f} s   (+sync {ing_sync_s:6.2f} s)  {size / ing_s / 1e9:.2f} GB/s"
    )
    print(
        f"ratio        {ratio:.2f} x cp   ({ratio_sync:.2f} x with sync)   target <= 1.5"
        f"   per pair: {', '.join(f'{r:.2f}' for r in ratios)}"
    )
    print(f"peak RSS     {peak_rss / 2**20:.0f} MiB (ingest process)   target < 1024 MiB")
    print(f"compression  {info['compression_ratio']:.2f} ({info['stored_bytes'] / 1e9:.2f} GB)")
    shutil.rmtree(store, ignore_errors=True)
    if not args.keep:
        tif.unlink()
        for extra in scratch.glob(tif.name + ".*"):
            extra.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
