"""Benchmark: the fixed cost of the command line (issue 16), against ``python -c pass``.

    .venv/bin/python bench/startup.py                    # median of 5 of each command
    .venv/bin/python bench/startup.py --repeat 9 --root /path/to/other/checkout

A tiny movie (64 frames of 32 x 32 uint16, ~130 kB) makes every run's data-proportional work
negligible, so what a run costs is the fixed cost: interpreter, imports, numba kernel loading,
scheduler set-up, figure machinery. After one warm-up run (ingests the TIFF and fills numba's
cache), each repeat runs, in a fresh process each and interleaved: ``python -c pass``, the
floor, ``sofi-dask --help``, ``sofi-dask run`` of the TIFF with and without figures (its
ingested store reused), ``sofi-dask run`` of the ingested store itself without figures, and a
first run of the TIFF (``--cache-dir`` empty: ingestion included). The floor is one process
loading what a default run loads, the way the command does (no cyclic garbage collection
while the libraries load, frozen at exit): numpy, dask.array, zarr, numba, pydantic's
BaseModel, matplotlib's colormaps, tifffile, scipy.ndimage, PIL's PNG plugin, and one numba
kernel called from numba's cache (numba builds its target context on the first call); plus
matplotlib's figure machinery for runs with figures. The same steps are also timed one by one
in one process (the floor's breakdown). Medians of wall, user and system seconds
(``getrusage`` of the children) and of run.json's ``timings.phases_s``; then
``-X importtime``'s largest imports of one run.

``--root`` measures another source tree (e.g. ``git archive`` of an older commit) with the same
interpreter: its ``sofi_dask`` comes first on ``PYTHONPATH``. The children may write bytecode
(``PYTHONDONTWRITEBYTECODE`` removed, as for an installed package, whose ``.pyc`` files pip
writes); ``--no-bytecode`` runs a copy of the tree without ``__pycache__`` and keeps it set:
every run then compiles sofi_dask's ~80 modules from source, as on a machine that sets it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CLI = [sys.executable, "-m", "sofi_dask.cli"]
FLOOR_KERNEL = """
import numba


@numba.njit(cache=True, nogil=True)
def total(a):
    s = 0.0
    for v in a.ravel():
        s += v
    return s
"""
# the libraries a default run uses, as the command loads them: no cyclic garbage collection
# while they load, frozen at exit (sofi_dask.cli); pydantic's BaseModel (``import pydantic``
# alone loads little), scipy.ndimage (the bleaching blocks' median filter), PIL's PNG plugin
FLOOR_STEPS = (
    ("numpy", "import numpy as np"),
    ("dask", "import dask"),
    ("dask.array (scipy.sparse, scipy.fft)", "import dask.array"),
    ("zarr", "import zarr"),
    ("numba", "import numba"),
    ("pydantic.BaseModel", "from pydantic import BaseModel"),
    ("matplotlib colormaps", "import matplotlib; matplotlib.colormaps['pink']"),
    ("tifffile", "import tifffile"),
    ("scipy.ndimage", "import scipy.ndimage"),
    ("PIL PNG", "import PIL.PngImagePlugin"),
    (
        "numba target context + 1 cached kernel",
        "import floor_kernel; floor_kernel.total(np.ones((4, 4, 4), np.uint16))",
    ),
)
FLOOR = "import atexit, gc; gc.disable(); atexit.register(gc.freeze); " + "; ".join(
    code for _, code in FLOOR_STEPS
)
# the same steps timed one by one in one process (wall and CPU seconds of each)
BREAKDOWN = (
    "import atexit, gc, json, time; gc.disable(); atexit.register(gc.freeze); out = []\n"
    f"for name, code in {FLOOR_STEPS!r}:\n"
    "    t, c = time.perf_counter(), time.process_time(); exec(code)\n"
    "    out.append((name, time.perf_counter() - t, time.process_time() - c))\n"
    "print(json.dumps(out))"
)
AGG = "matplotlib.backends.backend_agg"


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return {
        "wall": wall,
        "user": after.ru_utime - before.ru_utime,
        "sys": after.ru_stime - before.ru_stime,
    }


def _phases(out: Path) -> dict[str, float]:
    return json.loads((out / "run.json").read_text())["timings"]["phases_s"]


def _median(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for r in rows for k in r}
    return {k: statistics.median(r.get(k, 0.0) for r in rows) for k in sorted(keys)}


def _importtime(env: dict[str, str], cwd: Path, args: list[str], top: int) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *CLI[1:], *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m.group(3)) <= 3:  # imported by sofi_dask itself or one level below
            rows.append((int(m.group(2)), int(m.group(1)), m.group(4)))
    rows.sort(reverse=True)
    return [
        f"{cum / 1e6:6.3f} s cumulative {own / 1e6:6.3f} s own  {name}"
        for cum, own, name in rows[:top]
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--top", type=int, default=12, help="importtime entries shown")
    parser.add_argument("--json", type=Path, default=None, help="write the medians here")
    parser.add_argument(
        "--no-bytecode", action="store_true", help="children compile sofi_dask from source"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sofi-startup-"))
    env = {**os.environ, "PYTHONPATH": str(args.root.resolve())}
    if args.no_bytecode:  # a copy without the tree's __pycache__, none written
        shutil.copytree(
            args.root / "sofi_dask",
            work / "src" / "sofi_dask",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        env.update(PYTHONPATH=str(work / "src"), PYTHONDONTWRITEBYTECODE="1")
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        movie = work / "t.tif"
        import tifffile

        rng = np.random.default_rng(0)
        tifffile.imwrite(movie, rng.poisson(100, size=(64, 32, 32)).astype(np.uint16))
        warm = work / "warm"
        _run([*CLI, "run", str(movie), "-o", str(warm), "--no-progress"], env, work)
        store = work / "t.tif.zarr"  # the ingested store, beside the TIFF

        # the bound: what any run must load, in one process: the libraries it uses and one
        # numba kernel from numba's cache (numba builds its target context on the first call)
        (work / "floor_kernel.py").write_text(FLOOR_KERNEL)
        floor = [sys.executable, "-c", FLOOR]
        floor_fig = [sys.executable, "-c", FLOOR + "; import matplotlib.figure, " + AGG]
        _run(floor, env, work)  # fills the kernel's cache
        cases = {
            "python -c pass": lambda i: ([sys.executable, "-c", "pass"], None),
            "floor: libraries + 1 cached kernel": lambda i: (floor, None),
            "floor + matplotlib.figure": lambda i: (floor_fig, None),
            "sofi-dask --help": lambda i: ([*CLI, "--help"], None),
            "sofi-dask run": lambda i: (
                [*CLI, "run", str(movie), "-o", str(work / f"fig{i}"), "--no-progress"],
                work / f"fig{i}",
            ),
            "sofi-dask run --no-figures": lambda i: (
                [*CLI, "run", str(movie), "-o", str(work / f"nofig{i}"), "--no-progress"]
                + ["--no-figures"],
                work / f"nofig{i}",
            ),
            "sofi-dask run STORE --no-figures": lambda i: (
                [*CLI, "run", str(store), "-o", str(work / f"store{i}"), "--no-progress"]
                + ["--no-figures"],
                work / f"store{i}",
            ),
            "sofi-dask run (first: ingests)": lambda i: (
                [*CLI, "run", str(movie), "-o", str(work / f"first{i}"), "--no-progress"]
                + ["--cache-dir", str(work / f"cache{i}")],
                work / f"first{i}",
            ),
        }
        times: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
        phases: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
        steps: list[list[tuple[str, float, float]]] = []
        for i in range(args.repeat):
            proc = subprocess.run(
                [sys.executable, "-c", BREAKDOWN],
                env=env,
                cwd=work,
                capture_output=True,
                text=True,
                check=True,
            )
            steps.append(json.loads(proc.stdout))
            for name, make in cases.items():
                cmd, out = make(i)
                times[name].append(_run(cmd, env, work))
                if out is not None:
                    phases[name].append(_phases(out))
                    shutil.rmtree(out)

        print(
            f"root: {args.root}  python: {sys.version.split()[0]}  repeats: {args.repeat}  "
            f"bytecode: {'off' if args.no_bytecode else 'on'}"
        )
        print(f"load: {os.getloadavg()}")
        print(f"\n{'command':34s} {'wall':>6s} {'user':>6s} {'sys':>6s}  run.json phases_s")
        result = {}
        for name in cases:
            t = _median(times[name])
            p = _median(phases[name]) if phases[name] else {}
            result[name] = {"times": t, "phases_s": p}
            shown = ", ".join(f"{k} {v:.2f}" for k, v in p.items())
            print(f"{name:34s} {t['wall']:6.2f} {t['user']:6.2f} {t['sys']:6.2f}  {shown}")
        print("\nthe floor step by step (one process, medians; wall and CPU seconds):")
        result["floor steps"] = {}
        for k, (name, _, _) in enumerate(steps[0]):
            wall = statistics.median(row[k][1] for row in steps)
            cpu = statistics.median(row[k][2] for row in steps)
            result["floor steps"][name] = {"wall": wall, "cpu": cpu}
            print(f"  {name:40s} {wall:6.3f} {cpu:6.3f}")
        total = [sum(r[1] for r in row) for row in steps]
        print(f"  {'sum':40s} {statistics.median(total):6.3f}")
        bound = result["floor: libraries + 1 cached kernel"]["times"]["wall"]
        bound_fig = result["floor + matplotlib.figure"]["times"]["wall"]
        run_nofig = result["sofi-dask run STORE --no-figures"]["times"]["wall"]
        run_fig = result["sofi-dask run"]["times"]["wall"]
        print(
            f"\nrun STORE --no-figures / floor: {run_nofig / bound:.2f}x   "
            f"run / (floor + matplotlib.figure): {run_fig / bound_fig:.2f}x"
        )
        print("\n-X importtime of `sofi-dask run` (store reused), largest top-level imports:")
        lines = _importtime(env, work, ["run", str(movie), "-o", str(work / "imp")], args.top)
        print("\n".join(lines))
        result["importtime"] = lines
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
