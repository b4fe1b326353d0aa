"""Benchmark: the runs users make besides the default one, as ratios to one read of the store.

    .venv/bin/python bench/user_runs.py STORE                       # every variant
    .venv/bin/python bench/user_runs.py STORE --variants finterp video

``STORE`` is an ingested movie (``sofi-dask ingest`` or ``sofi-dask simulate x.zarr``; issue 16
used 20000 frames of 256 x 256, 2.6 GB). In one session, each step a child process under
``/usr/bin/time`` (wall, user, system time, peak RSS, page faults):

1. one dask read-and-sum of the store (the bound);
2. the default ``sofi-dask run STORE --no-figures``;
3. each variant: ``--finterp 2``, ``--video 1000 --step 500``, ...

Printed: wall / read, wall / default run, RSS, and the phases and per-stage task-seconds of
each run's ``run.json``. Targets (issue 16): finterp <= 8x one read; video <= 3x the default
run with peak RSS < 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bigframes import SUM, timed  # noqa: E402

VARIANTS = {
    "default": [],
    "finterp": ["--finterp", "2"],
    "finterp32": ["--finterp", "2", "--set", "finterp.precision=float32"],
    "video": ["--video", "1000", "--step", "500"],
    "stats_only": [
        "--orders",
        "2,3,4,5,6",
        "--bleaching",
        "off",
        "--deconvolution",
        "off",
        "--ldrc",
        "off",
    ],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", type=Path)
    ap.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--dir", type=Path, default=Path("/work/bench_data/user_runs"))
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="options for every run")
    args = ap.parse_args()
    scratch = args.dir
    shutil.rmtree(scratch, ignore_errors=True)
    (scratch / "logs").mkdir(parents=True)
    log = scratch / "logs"
    sofi = [sys.executable, "-m", "sofi_dask.cli", "run", "--no-progress", "--no-figures"]
    print(f"load average at start {os.getloadavg()}", flush=True)
    res = {"read_sum": timed("read_sum", [sys.executable, "-c", SUM, str(args.store)], log)}
    names = ["default"] + [v for v in args.variants if v != "default"]
    for name in names:
        out = scratch / name
        res[name] = timed(
            name, [*sofi, str(args.store), "-o", str(out), *VARIANTS[name], *args.extra], log
        )
        timings = json.loads((out / "run.json").read_text())["timings"]
        res[name]["phases"] = timings.get("phases_s", {})
        res[name]["stages"] = {
            k: (round(v["task_seconds"], 1), v["tasks"])
            for k, v in timings.get("stages", {}).items()
        }
        print("   phases:", json.dumps({k: round(v, 2) for k, v in res[name]["phases"].items()}))
        print("   task-s:", json.dumps(res[name]["stages"]), flush=True)
        shutil.rmtree(out, ignore_errors=True)
    read, base = res["read_sum"]["wall_s"], res["default"]["wall_s"]
    print(f"\nread-and-sum {read:.2f} s; default run {base:.2f} s ({base / read:.2f}x read)")
    for name in names[1:]:
        r = res[name]
        print(
            f"{name:10s} {r['wall_s']:7.2f} s = {r['wall_s'] / read:5.2f}x read = "
            f"{r['wall_s'] / base:5.2f}x default; user {r['user_s']:.1f} sys {r['sys_s']:.1f}; "
            f"RSS {r['rss_mib']:.0f} MiB"
        )
    (scratch / "results.json").write_text(json.dumps(res, indent=1))
    print(f"load average at end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
