"""Benchmark: which chunk shape for 2048 x 2048 frames (issue 16, item 5).

    .venv/bin/python bench/chunks.py                       # 512 frames (4.3 GB), 4 shapes
    .venv/bin/python bench/chunks.py --frames 400 --shapes 256,32,2048 64,128,2048

One movie of sCMOS-like noise (``bench/bigframes.py``'s writer: Poisson(100) + offset frames,
each shifted by a frame-dependent number of rows) is written once as an uncompressed TIFF.
For every candidate chunk shape, one after the other in child processes, each timed by
``/usr/bin/time`` (wall, user, system time) with the peak RSS of the whole process tree
(psutil, sampled every 0.2 s: ``distributed`` workers are separate processes):

1. ``sofi-dask ingest --chunks T,Y,X`` of the TIFF;
2. one dask read-and-sum of the store (the read bound);
3. the default ``sofi-dask run`` on the store with ``--quality off --deconvolution off
   --no-figures``: the quality section, the deconvolution of whole 2048 x 2048 images (one
   task per image) and the figures work on the final images, cost the same whatever the
   movie's chunks and would dominate the differences (``--full`` keeps the deconvolution);
4. the SOFI video, ``--video W --step W`` (same options);
5. ``--scheduler local --workers 2`` (a local ``distributed`` cluster; same options).

The compute phase of each run (run.json) is printed next to its wall time. Files go to
``--dir`` (default /work/bench_data) and are deleted at the end (``--keep`` keeps the TIFF).
Run it alone (``flock /work/.bench.lock``): every step is a multi-GB pass.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from bigframes import SUM, write_movie  # same folder (bench/ is on sys.path)

TIME_FMT = "%e %U %S"
SHAPES = ("256,32,2048", "128,64,2048", "64,128,2048", "32,256,2048")


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in (proc, *proc.children(recursive=True)):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def timed(cmd: list[str], log: Path) -> dict[str, float]:
    """Run ``cmd`` under /usr/bin/time: wall, user, sys (s), peak RSS of the tree (MiB)."""
    tfile = log.with_suffix(".time")
    load = os.getloadavg()[0]
    with open(log, "w") as out:
        child = subprocess.Popen(
            ["/usr/bin/time", "-o", str(tfile), "-f", TIME_FMT, *cmd],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        peak = 0
        proc = psutil.Process(child.pid)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.2):
                try:
                    peak = max(peak, _tree_rss(proc))
                except psutil.Error:
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        rc = child.wait()
        done.set()
        sampler.join()
    if rc != 0:
        raise RuntimeError(f"{cmd} failed ({rc}); see {log}")
    wall, user, sys_ = (float(v) for v in tfile.read_text().split()[-3:])
    return {
        "wall_s": wall,
        "user_s": user,
        "sys_s": sys_,
        "rss_mib": round(peak / 2**20),
        "load": round(load, 2),
    }


def _compute_phase(outdir: Path) -> tuple[float | None, str]:
    """The compute phase of a run (run.json) and its stages' task-seconds."""
    try:
        timings = json.loads((outdir / "run.json").read_text())["timings"]
    except (OSError, ValueError, KeyError):
        return None, ""
    stages = sorted(
        ((k, v.get("task_seconds", 0.0)) for k, v in timings.get("stages", {}).items()),
        key=lambda kv: -kv[1],
    )
    text = ", ".join(f"{k} {v:.1f}" for k, v in stages[:6])
    return timings.get("phases_s", {}).get("compute"), text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=512, help="frames of 2048 x 2048 (512)")
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), help="chunk shapes T,Y,X")
    ap.add_argument("--window", type=int, default=128, help="video window and step (128)")
    ap.add_argument("--dir", default="/work/bench_data")
    ap.add_argument("--keep", action="store_true", help="keep the TIFF for another run")
    ap.add_argument("--full", action="store_true", help="keep the deconvolution on")
    ap.add_argument("--skip", nargs="*", default=[], help="steps to skip (video, distributed)")
    args = ap.parse_args()
    scratch = Path(args.dir) / "chunks_bench"
    scratch.mkdir(parents=True, exist_ok=True)
    tif = scratch / f"movie_{args.frames}.tif"
    if not tif.exists():
        t = time.perf_counter()
        write_movie(tif, args.frames * 2048 * 2048 * 2 / 1e9)
        print(f"wrote {tif} in {time.perf_counter() - t:.0f} s", flush=True)
    print(
        f"movie {args.frames} x 2048 x 2048 uint16, {tif.stat().st_size / 1e9:.2f} GB; "
        f"load average {os.getloadavg()}, {os.cpu_count()} CPUs",
        flush=True,
    )
    sofi = [sys.executable, "-m", "sofi_dask.cli"]
    opts = ["--no-progress", "--quality", "off", "--no-figures"]
    if not args.full:
        opts += ["--deconvolution", "off"]
    w = str(args.window)
    steps = {
        "run": [],
        "video": ["--video", w, "--step", w],
        "distributed": ["--scheduler", "local", "--workers", "2"],
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        for shape in args.shapes:
            store = scratch / "movie.zarr"
            shutil.rmtree(store, ignore_errors=True)
            res: dict[str, dict[str, float]] = {}
            tag = shape.replace(",", "x")
            res["ingest"] = timed(
                [*sofi, "ingest", str(tif), str(store), "--no-progress", "--chunks", shape],
                scratch / f"{tag}_ingest.log",
            )
            res["read"] = timed(
                [sys.executable, "-c", SUM, str(store)], scratch / f"{tag}_read.log"
            )
            for name, extra in steps.items():
                if name in args.skip:
                    continue
                out = scratch / f"out_{name}"
                shutil.rmtree(out, ignore_errors=True)
                res[name] = timed(
                    [*sofi, "run", str(store), "-o", str(out), *opts, *extra],
                    scratch / f"{tag}_{name}.log",
                )
                res[name]["compute_s"], stages = _compute_phase(out)
                print(f"({shape}) {name}: task-seconds {stages}", flush=True)
                shutil.rmtree(out, ignore_errors=True)
            results[shape] = res
            for name, r in res.items():
                comp = f" (compute {r['compute_s']:.1f} s)" if r.get("compute_s") else ""
                print(
                    f"({shape:>12s}) {name:11s} wall {r['wall_s']:6.1f} s{comp}  user "
                    f"{r['user_s']:6.1f}  sys {r['sys_s']:5.1f}  peak RSS {r['rss_mib']:5d} MiB  "
                    f"load {r['load']:.1f}",
                    flush=True,
                )
            shutil.rmtree(store, ignore_errors=True)
    finally:
        (scratch.parent / "chunks_results.json").write_text(json.dumps(results, indent=1))
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"load average at end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
