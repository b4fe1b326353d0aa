"""Benchmark: writing a run's files for big images (issue 16, item 4).

    .venv/bin/python bench/outputs.py                     # 2048 x 2048, 3 orders, 2 repeats
    .venv/bin/python bench/outputs.py --before /path/to/older/checkout   # alternate with it

Makes a short movie of 2048 x 2048 frames (``sofi-dask simulate``, 32 frames, once), then runs
``sofi-dask run`` on it with the image stages off (``--deconvolution off --ldrc off --quality
off --bleaching off``): three cumulant images and the average image of 2048 x 2048, each
written as Zarr, float32 TIFF, RGB TIFF and PNG, plus the figures. Printed per run: the
``write_files`` and ``figures`` phases of run.json, the wall time and user + system time of
the whole process. ``--before`` alternates runs of another checkout (its ``sofi_dask`` on
``PYTHONPATH``) with this one, same movie, same session.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bigframes import timed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STAGES_OFF = ["--deconvolution", "off", "--ldrc", "off", "--quality", "off", "--bleaching", "off"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/work/bench_data/outputs_bench"))
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--before", type=Path, default=None, help="checkout to compare with")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    movie = args.dir / f"movie{args.size}.zarr"
    cli = [sys.executable, "-m", "sofi_dask.cli"]
    if not movie.exists():
        subprocess.run(
            [*cli, "simulate", str(movie), "--frames", "32", "--shape", f"{args.size}x{args.size}"]
            + ["--filaments", "20", "--emitters-per-filament", "100", "--no-progress"],
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    log = args.dir / "logs"
    log.mkdir(exist_ok=True)
    trees = [("after", ROOT)] + ([("before", args.before)] if args.before else [])
    print(f"load average at start {os.getloadavg()}", flush=True)
    rows = []
    for rep in range(args.repeat):
        for label, tree in trees:
            out = args.dir / f"out_{label}"
            shutil.rmtree(out, ignore_errors=True)
            os.environ["PYTHONPATH"] = str(tree)
            cmd = [*cli, "run", str(movie), "-o", str(out), "--no-progress", *STAGES_OFF]
            rec = timed(f"{label}{rep}", cmd, log)
            phases = json.loads((out / "run.json").read_text())["timings"]["phases_s"]
            n_files = sum(
                1 for p in out.rglob("*") if p.is_file() and "results.zarr" not in p.parts
            )
            rows.append((label, rec, phases, n_files))
            print(
                f"   write_files {phases.get('write_files', 0):.2f} s, figures "
                f"{phases.get('figures', 0):.2f} s, {n_files} files besides the Zarr",
                flush=True,
            )
            shutil.rmtree(out, ignore_errors=True)
    for label, _ in trees:
        sel = [r for r in rows if r[0] == label]
        w = sorted(r[2].get("write_files", 0) for r in sel)[0]
        f = sorted(r[2].get("figures", 0) for r in sel)[0]
        print(f"{label}: best write_files {w:.2f} s, best figures {f:.2f} s")
    print(f"load average at end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
