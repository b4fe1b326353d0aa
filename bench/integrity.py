"""Cost of the crc32c chunk checksums (ingest and read throughput) and of `verify`.

Writes a camera-like uint16 TIFF (Poisson noise on a background), then, in this one run:
ingest with the package's codecs (Blosc lz4 + crc32c) and with Blosc alone; read each store
once through ``open_movie(...).data.sum()`` (the checked chunk reader); time ``verify_store``;
and `cat` the TIFF as the bound. Wall, user and system seconds of each step.

    python bench/integrity.py [--frames 2000] [--size 256] [--dir /work/bench_data/integrity]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import tifffile

from sofi_dask.io import _store, ingest, open_movie
from sofi_dask.io._verify import verify_store


def timed(label: str, fn) -> float:
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    user = r1.ru_utime - r0.ru_utime + c1.ru_utime - c0.ru_utime
    sys_ = r1.ru_stime - r0.ru_stime + c1.ru_stime - c0.ru_stime
    print(f"{label:<34} wall {wall:6.2f} s  user {user:6.2f} s  sys {sys_:5.2f} s")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--dir", default="/work/bench_data/integrity")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    tif = root / f"movie-{args.frames}x{args.size}.tif"
    if not tif.exists():
        rng = np.random.default_rng(0)
        with tifffile.TiffWriter(tif, bigtiff=True) as w:
            for a in range(0, args.frames, 200):
                n = min(200, args.frames - a)
                w.write(
                    rng.poisson(100.0, (n, args.size, args.size)).astype(np.uint16), contiguous=True
                )
    mb = tif.stat().st_size / 1e6
    print(f"TIFF {tif} {mb:.0f} MB, {args.frames} frames {args.size}x{args.size} uint16")
    make = _store.make_codecs

    def no_crc(*a, **k):
        return [c for c in make(*a, **k) if c.to_dict().get("name") != "crc32c"]

    stores = {"crc32c": root / "crc.zarr", "no checksum": root / "plain.zarr"}
    res: dict[str, list[float]] = {}
    for rep in range(args.repeat):
        res.setdefault("cat", []).append(
            timed(
                "cat TIFF > /dev/null",
                lambda: subprocess.run(["cat", str(tif)], stdout=subprocess.DEVNULL, check=True),
            )
        )
        order = list(stores.items())
        for name, dest in order[::-1] if rep % 2 else order:  # alternate: no order bias
            shutil.rmtree(dest, ignore_errors=True)
            _store.make_codecs = make if name == "crc32c" else no_crc
            try:
                res.setdefault(f"ingest {name}", []).append(
                    timed(f"ingest ({name})", lambda d=dest: ingest(tif, d))
                )
            finally:
                _store.make_codecs = make
            res.setdefault(f"read {name}", []).append(
                timed(
                    f"read+sum ({name})",
                    lambda d=dest: open_movie(d).data.sum().compute(scheduler="threads"),
                )
            )
        res.setdefault("verify", []).append(
            timed("verify_store (crc32c)", lambda: verify_store(stores["crc32c"]))
        )
        os.sync()
    print("\nbest of", args.repeat, "(MB/s of raw movie data):")
    raw = args.frames * args.size * args.size * 2 / 1e6
    for k, v in res.items():
        print(f"  {k:<22} {min(v):6.2f} s  {raw / min(v):7.0f} MB/s")


if __name__ == "__main__":
    main()
