"""Benchmark: ingest of compressed TIFFs and of one-file-per-frame folders, each against its
own bound measured in the same run.

    .venv/bin/python bench/ingest_formats.py compressed  # 64 frames 2048x2048, three codecs
    .venv/bin/python bench/ingest_formats.py frames       # 5000 single-frame 256x256 files

``compressed``: for each codec, a uint16 movie of sCMOS-like noise (Poisson, mean 100) is
written with tifffile; the bound is decoding every page once with tifffile
(``TiffFile.asarray()``, tifffile's own threads), the contender ``sofi_dask.io.ingest`` of the
same file. Target: ingest <= 3x the decode. ``frames``: a folder of single-frame TIFFs; the
bound is ``tifffile.imread`` of every file once, target ingest <= 1.5x (``--size 2048
--files 200`` for big frames); the ingest of the same frames written as one multi-page TIFF
is timed too (what one file per frame costs). Both contenders
run in this process one after the other (``--repeat`` interleaved pairs, medians; the page
cache is warm for both). User and system CPU time of each are recorded (``os.times``).
Files go to ``--dir`` (default /work/bench_data) and are deleted at the end.
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import tifffile

from sofi_dask.io import ingest, open_movie

CODECS = {
    "zlib": {"compression": "zlib"},
    "lzw": {"compression": "lzw"},
    "deflate+predictor": {"compression": "adobe_deflate", "predictor": True},
}


def _timed(fn) -> tuple[float, float, float]:
    t0, c0 = time.perf_counter(), os.times()
    fn()
    c1 = os.times()
    return time.perf_counter() - t0, c1.user - c0.user, c1.system - c0.system


def _pairs(bound, contender, repeat: int) -> tuple[list, list]:
    b, c = [], []
    for _ in range(repeat):
        b.append(_timed(bound))
        c.append(_timed(contender))
    return b, c


def _report(name: str, b: list, c: list, target: float, what: str) -> None:
    bm, cm = (np.median(np.array(x), axis=0) for x in (b, c))
    ratios = [ci[0] / bi[0] for bi, ci in zip(b, c, strict=True)]
    print(
        f"{name:18s} {what} {bm[0]:6.2f} s (user {bm[1]:5.1f} sys {bm[2]:4.1f})  "
        f"ingest {cm[0]:6.2f} s (user {cm[1]:5.1f} sys {cm[2]:4.1f})  "
        f"ratio {cm[0] / bm[0]:.2f} (pairs {', '.join(f'{r:.2f}' for r in ratios)})  "
        f"target <= {target}",
        flush=True,
    )


def compressed(args: argparse.Namespace, scratch: Path) -> None:
    rng = np.random.default_rng(0)
    frames = rng.poisson(100, (args.frames, args.size, args.size)).astype(np.uint16)
    store = scratch / "bench_fmt.zarr"
    for name, kwargs in CODECS.items():
        src = scratch / f"bench_fmt_{name}.tif"
        tifffile.imwrite(src, frames, photometric="minisblack", **kwargs)

        def decode(src=src):
            with tifffile.TiffFile(src) as tif:
                tif.asarray()

        def run(src=src):
            shutil.rmtree(store, ignore_errors=True)
            ingest(src, store)

        b, c = _pairs(decode, run, args.repeat)
        assert np.array_equal(open_movie(store).data[-2:].compute(), frames[-2:])
        size = src.stat().st_size / 1e6
        _report(f"{name} {size:.0f}MB", b, c, 3.0, "decode")
        src.unlink()
        shutil.rmtree(store, ignore_errors=True)


def frame_files(args: argparse.Namespace, scratch: Path) -> None:
    folder = scratch / "bench_fmt_frames"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(args.files):
        frame = rng.poisson(100, (args.size, args.size)).astype(np.uint16)
        tifffile.imwrite(folder / f"img_{i:09d}.tif", frame)
    files = sorted(glob.glob(str(folder / "*.tif")))
    store = scratch / "bench_fmt.zarr"

    def read():
        for f in files:
            tifffile.imread(f)

    def run():
        shutil.rmtree(store, ignore_errors=True)
        ingest(folder, store)

    b, c = _pairs(read, run, args.repeat)
    assert np.array_equal(open_movie(store).data[-1].compute(), tifffile.imread(files[-1]))
    _report(f"{args.files} files", b, c, 1.5, "imread")
    # the same frames as one multi-page TIFF: what the file-per-frame layout itself costs
    stack = scratch / "bench_fmt_stack.tif"
    shape = (len(files), args.size, args.size)
    tifffile.imwrite(stack, (tifffile.imread(f) for f in files), shape=shape, dtype=np.uint16)

    def run_stack():
        shutil.rmtree(store, ignore_errors=True)
        ingest(stack, store)

    s = [_timed(run_stack) for _ in range(args.repeat)]
    sm = np.median(np.array(s), axis=0)
    print(
        f"{'one TIFF':18s} same frames in one file: ingest {sm[0]:6.2f} s "
        f"(user {sm[1]:5.1f} sys {sm[2]:4.1f})",
        flush=True,
    )
    stack.unlink()
    shutil.rmtree(folder)
    shutil.rmtree(store, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=["compressed", "frames"])
    ap.add_argument("--dir", default="/work/bench_data")
    ap.add_argument("--frames", type=int, default=64, help="frames of the compressed movies")
    ap.add_argument("--files", type=int, default=5000, help="files of the frames folder")
    ap.add_argument("--size", type=int, default=0, help="frame edge (2048 / 256 by default)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    scratch = Path(args.dir)
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs", flush=True)
    if args.kind == "compressed":
        args.size = args.size or 2048
        compressed(args, scratch)
    else:
        args.size = args.size or 256
        frame_files(args, scratch)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process {rss:.0f} MiB (includes the frames it wrote)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
