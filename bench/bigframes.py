"""Benchmark: big sCMOS frames (2048 x 2048 uint16), a movie larger than the page cache.

    .venv/bin/python bench/bigframes.py                  # ~21 GB movie, then deleted
    .venv/bin/python bench/bigframes.py --gb 2 --keep    # quick look, keep the files

Steps, one after the other in child processes (each timed by ``/usr/bin/time``: wall, user
and system time, peak RSS, minor and major page faults):

1. write the movie (sCMOS-like noise: a pool of Poisson(100) + offset frames, each frame a
   pool frame shifted by a frame-dependent number of rows, so no two neighbours are equal);
2. ``cat movie.tif > /dev/null`` (the disk / page-cache read bound of the TIFF);
3. ``sofi-dask ingest movie.tif movie.zarr``;
4. one dask read-and-sum of the store (``open_movie(store).data.sum().compute()``, threads):
   the read bound of the store;
5. the default ``sofi-dask run`` on the store (figures included);
6. the default ``sofi-dask run`` on the TIFF with an empty ``--cache-dir`` (ingest + run);
7. the statistics alone on the store (``--deconvolution off --set ldrc.enabled=false
   --quality off --no-figures``): the pass every run makes, the floor of step 5 on this
   machine (``--skip-floor`` skips it).

Ratios: run on store / read of store (target <= 1.5), run from TIFF / (ingest + 1.5 x read)
(target <= 1), peak RSS (target < 2 GB), system time below user time. The load average
before and after each step is printed (other jobs share the machine). ``--chunks`` ingests
with another chunk shape (the chunk-shape comparison in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

FRAME = 2048
TIME_FMT = "%e %U %S %M %R %F"
SUM = (
    "import dask, sys; from sofi_dask.io import open_movie; "
    "m = open_movie(sys.argv[1]); "
    "print(float(m.data.sum(dtype='float64').compute(scheduler='threads')))"
)


def write_movie(path: Path, gb: float, frame: int = FRAME) -> int:
    """Stream a uint16 movie of ``gb`` GB to ``path`` (contiguous, uncompressed)."""
    import tifffile

    n = max(2, int(gb * 1e9 / (frame * frame * 2)))
    rng = np.random.default_rng(1)
    pool = (rng.poisson(100.0, (16, frame, frame)) + 90).astype(np.uint16)

    def frames():
        for i in range(n):
            yield np.roll(pool[(i * 7) % len(pool)], (i * 37) % frame, axis=0)

    tifffile.imwrite(
        path,
        frames(),
        shape=(n, frame, frame),
        dtype=np.uint16,
        photometric="minisblack",
        bigtiff=n * frame * frame * 2 > 2**32 - 2**25,
    )
    return n


def timed(name: str, cmd: list[str], log: Path) -> dict[str, float]:
    """Run ``cmd`` under /usr/bin/time; wall, user, sys (s), peak RSS (MiB), faults."""
    load0 = os.getloadavg()[0]
    tfile = log / f"{name}.time"
    with open(log / f"{name}.out", "w") as out:
        subprocess.run(
            ["/usr/bin/time", "-o", str(tfile), "-f", TIME_FMT, *cmd],
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wall, user, sys_, rss, minor, major = tfile.read_text().split()[-6:]
    rec = {
        "wall_s": float(wall),
        "user_s": float(user),
        "sys_s": float(sys_),
        "rss_mib": int(rss) / 1024,
        "minor_faults": int(minor),
        "major_faults": int(major),
        "load_before": round(load0, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }
    print(
        f"{name:16s} wall {rec['wall_s']:7.1f} s  user {rec['user_s']:7.1f}  "
        f"sys {rec['sys_s']:6.1f}  RSS {rec['rss_mib']:6.0f} MiB  "
        f"minor faults {rec['minor_faults'] / 1e6:6.2f} M  major {rec['major_faults']}  "
        f"load {rec['load_before']:.1f} -> {rec['load_after']:.1f}",
        flush=True,
    )
    return rec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=21.0, help="movie size in GB (default 21)")
    ap.add_argument("--dir", default="/work/bench_data", help="scratch folder")
    ap.add_argument("--chunks", default=None, help="ingest chunk shape T,Y,X (default: auto)")
    ap.add_argument("--keep", action="store_true", help="keep (and reuse) the files")
    ap.add_argument("--skip-tiff-run", action="store_true", help="skip step 6")
    ap.add_argument("--skip-floor", action="store_true", help="skip step 7")
    args = ap.parse_args()

    scratch = Path(args.dir)
    scratch.mkdir(parents=True, exist_ok=True)
    tif = scratch / f"bigframes_{args.gb:g}GB.tif"
    store = scratch / "bigframes.zarr"
    outs = [scratch / f"bigframes_run_{k}" for k in ("store", "tiff", "stats")]
    cache = scratch / "bigframes_cache"
    log = scratch / "bigframes_logs"
    for p in (store, cache, log, *outs):
        shutil.rmtree(p, ignore_errors=True)
    log.mkdir()
    sofi = [sys.executable, "-m", "sofi_dask.cli"]
    results: dict[str, dict[str, float]] = {}
    print(f"load average at start {os.getloadavg()}, {os.cpu_count()} CPUs", flush=True)
    if not tif.exists():
        t = time.perf_counter()
        n = write_movie(tif, args.gb)
        print(f"wrote {n} frames of {FRAME}x{FRAME} uint16 in {time.perf_counter() - t:.0f} s")
    size = tif.stat().st_size
    print(f"movie {tif} {size / 1e9:.1f} GB", flush=True)
    try:
        results["cat"] = timed("cat", ["sh", "-c", f"cat '{tif}' > /dev/null"], log)
        chunks = ["--chunks", args.chunks] if args.chunks else []
        ing = [*sofi, "ingest", str(tif), str(store), "--no-progress", *chunks]
        results["ingest"] = timed("ingest", ing, log)
        results["read_sum"] = timed("read_sum", [sys.executable, "-c", SUM, str(store)], log)
        run = [*sofi, "run", "--no-progress"]
        results["run_store"] = timed("run_store", [*run, str(store), "-o", str(outs[0])], log)
        if not args.skip_tiff_run:
            tiff_run = [*run, str(tif), "-o", str(outs[1]), "--cache-dir", str(cache)]
            results["run_tiff"] = timed("run_tiff", tiff_run, log)
        if not args.skip_floor:
            off = ["--deconvolution", "off", "--set", "ldrc.enabled=false", "--quality", "off"]
            stats = [*run, str(store), "-o", str(outs[2]), *off, "--no-figures"]
            results["run_store_stats_only"] = timed("stats_only", stats, log)
            results["stats_only_phases"] = json.loads((outs[2] / "run.json").read_text())[
                "timings"
            ].get("phases_s", {})
        phases = json.loads((outs[0] / "run.json").read_text())["timings"]
        results["run_store_phases"] = phases.get("phases_s", {})
        print("run on the store, phases (s):", json.dumps(results["run_store_phases"]))
        stages = phases.get("stages", {})
        print(
            "task-seconds per stage:",
            json.dumps({k: (v["task_seconds"], v["tasks"]) for k, v in stages.items()}),
        )
    finally:
        (scratch / "bigframes_results.json").write_text(json.dumps(results, indent=1))
        if not args.keep:
            tif.unlink(missing_ok=True)
            for p in (store, cache, *outs):
                shutil.rmtree(p, ignore_errors=True)
    read = results["read_sum"]["wall_s"]
    rs = results["run_store"]
    print(f"run on store / read of store: {rs['wall_s'] / read:.2f}   target <= 1.5")
    if "run_store_stats_only" in results:
        floor = results["run_store_stats_only"]["wall_s"]
        compute = results["stats_only_phases"].get("compute", float("nan"))
        print(
            f"statistics alone / read of store: {floor / read:.2f} "
            f"(its compute phase {compute / read:.2f})"
        )
    if "run_tiff" in results:
        bound = results["ingest"]["wall_s"] + 1.5 * read
        print(f"run from TIFF / (ingest + 1.5 x read): {results['run_tiff']['wall_s'] / bound:.2f}")
    peak = max(r["rss_mib"] for k, r in results.items() if isinstance(r, dict) and "rss_mib" in r)
    print(f"peak RSS {peak:.0f} MiB   target < 2048")
    print(f"load average at end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
