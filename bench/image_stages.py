"""Benchmarks of the image stages (section per stage).

Sections
--------
ldrc
    LDRC 25 x 25 on a 256 x 256 image against a direct loop over windows (pysofi's algorithm),
    speed-up in the same run; then LDRC 25 x 25 on large images (default 4096^2 and 8192^2)
    read from Zarr and written to Zarr tile by tile, with the wall time, the peak RSS of the
    process and the time of a plain Zarr copy of the same arrays (the I/O bound, same run).

Usage::

    .venv/bin/python bench/image_stages.py                      # every section
    .venv/bin/python bench/image_stages.py --sections ldrc --sizes 4096 8192

Large data go under ``bench_data/`` (git-ignored) and are deleted afterwards. Each large size
runs in a fresh subprocess so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BENCH_DATA = ROOT / "bench_data"


def _best_of(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


# -- LDRC -----------------------------------------------------------------------------------


def ldrc_direct_loop(image: np.ndarray, mask: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """The reference algorithm: one numpy step per window (as pysofi, flat windows -> 0)."""
    rows, cols = image.shape
    wr, wc = window
    acc = np.zeros(image.shape)
    hits = np.zeros(image.shape)
    for i in range(rows - wr + 1):
        for j in range(cols - wc + 1):
            win = image[i : i + wr, j : j + wc]
            lo, hi = win.min(), win.max()
            norm = (win - lo) / (hi - lo) if hi > lo else np.zeros_like(win)
            acc[i : i + wr, j : j + wc] += norm * mask[i : i + wr, j : j + wc].max()
            hits[i : i + wr, j : j + wc] += 1
    return acc / hits


def bench_ldrc_small(size: int = 256, window: int = 25, repeat: int = 5) -> dict:
    """LDRC vs the direct loop on one in-memory image, same run."""
    from sofi_dask.ldrc import ldrc

    rng = np.random.default_rng(0)
    image = rng.exponential(size=(size, size)) ** 4
    mask = rng.random((size, size))
    win = (window, window)
    t0 = time.perf_counter()
    reference = ldrc_direct_loop(image, mask, win)
    t_loop = time.perf_counter() - t0
    ours = ldrc(image, mask, window_size=win)
    t_ours = _best_of(lambda: ldrc(image, mask, window_size=win), repeat)
    return {
        "size": size,
        "window": window,
        "direct_loop_s": t_loop,
        "ldrc_s": t_ours,
        "speedup": t_loop / t_ours,
        "max_abs_diff": float(np.abs(ours - reference).max()),
    }


def bench_ldrc_large(size: int, window: int = 25, chunk: int = 1024) -> dict:
    """LDRC of a ``size``^2 image Zarr -> Zarr, tiled; run in its own process (peak RSS)."""
    import dask
    import dask.array as da

    from sofi_dask.ldrc import ldrc

    work = BENCH_DATA / f"ldrc_{size}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        with dask.config.set(scheduler="threads"):
            rs = da.random.default_rng(1)
            image = rs.exponential(size=(size, size), chunks=chunk) ** 4
            da.to_zarr(image, str(work / "image.zarr"))
            da.to_zarr(rs.random((size, size), chunks=chunk), str(work / "mask.zarr"))
            image = da.from_zarr(str(work / "image.zarr"))
            mask = da.from_zarr(str(work / "mask.zarr"))
            rss_before = _peak_rss_mib()

            t0 = time.perf_counter()  # the I/O bound: read both arrays, write one
            da.to_zarr(image + mask, str(work / "copy.zarr"))
            t_copy = time.perf_counter() - t0

            t0 = time.perf_counter()
            out = ldrc(image, mask, window_size=(window, window))
            da.to_zarr(out, str(work / "ldrc.zarr"))
            t_ldrc = time.perf_counter() - t0

            # spot check: one interior tile against the in-memory kernel on the same pixels
            r0 = size // 2
            sub = slice(r0 - 3 * window, r0 + 3 * window)
            stored = da.from_zarr(str(work / "ldrc.zarr"))[sub, sub].compute()
            check = ldrc(image[sub, sub].compute(), mask[sub, sub].compute(),
                         window_size=(window, window))
            inner = slice(window, -window)
            max_diff = float(np.abs(stored[inner, inner] - check[inner, inner]).max())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "size": size,
        "window": window,
        "chunk": chunk,
        "ldrc_s": t_ldrc,
        "copy_s": t_copy,
        "ratio_to_copy": t_ldrc / t_copy,
        "mpix_per_s": size * size / t_ldrc / 1e6,
        "peak_rss_mib": _peak_rss_mib(),
        "peak_rss_before_mib": rss_before,
        "array_mib": size * size * 8 / 2**20,
        "tile_check_max_abs_diff": max_diff,
    }


def _run_isolated(function: str, **kwargs: object) -> dict:
    """Run ``function(**kwargs)`` of this module in a fresh interpreter; return its dict."""
    here = str(Path(__file__).parent)
    code = (
        f"import json, sys; sys.path.insert(0, {here!r}); import image_stages as b; "
        f"print(json.dumps(b.{function}(**{kwargs!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def section_ldrc(args: argparse.Namespace) -> list[str]:
    small = bench_ldrc_small(size=args.small_size, window=args.window)
    lines = [
        f"- LDRC {small['window']}x{small['window']} on {small['size']}x{small['size']}: "
        f"direct loop {small['direct_loop_s']:.2f} s, sofi_dask {small['ldrc_s'] * 1e3:.1f} ms "
        f"-> **{small['speedup']:.0f}x** (max |diff| {small['max_abs_diff']:.1e})"
    ]
    for size in args.sizes:
        r = _run_isolated("bench_ldrc_large", size=size, window=args.window, chunk=args.chunk)
        lines.append(
            f"- LDRC {r['window']}x{r['window']} on {size}x{size} (Zarr -> Zarr, tiles "
            f"{r['chunk']}^2, threads): {r['ldrc_s']:.1f} s ({r['mpix_per_s']:.1f} Mpixel/s), "
            f"{r['ratio_to_copy']:.1f}x a Zarr read+write of the same arrays "
            f"({r['copy_s']:.1f} s); peak RSS {r['peak_rss_mib']:.0f} MiB "
            f"(one float64 image: {r['array_mib']:.0f} MiB); tile check max |diff| "
            f"{r['tile_check_max_abs_diff']:.1e}"
        )
    return lines


# -- main -----------------------------------------------------------------------------------

SECTIONS: dict[str, Callable[[argparse.Namespace], list[str]]] = {
    "ldrc": section_ldrc,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", nargs="+", choices=sorted(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--small-size", type=int, default=256)
    parser.add_argument("--window", type=int, default=25)
    parser.add_argument("--sizes", type=int, nargs="*", default=[4096, 8192],
                        help="large LDRC image sizes (none: skip)")
    parser.add_argument("--chunk", type=int, default=1024, help="tile size of the large images")
    args = parser.parse_args(argv)
    for name in args.sections:
        print(f"## {name}", flush=True)
        for line in SECTIONS[name](args):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
