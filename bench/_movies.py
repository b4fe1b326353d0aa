"""Helpers shared by the benchmarks: a synthetic blinking movie on disk and peak RSS."""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import zarr


def write_movie(
    path: Path,
    frames: int,
    size: int,
    chunks: tuple[int, int, int],
    *,
    compressors: Any,
    seed: int,
) -> None:
    """Blinking emitters on a background, Poisson noise, exponential bleaching; uint16 Zarr."""
    rng = np.random.default_rng(seed)
    n_em = 200
    yy, xx = np.mgrid[0:size, 0:size]
    cy, cx = rng.uniform(0, size, n_em), rng.uniform(0, size, n_em)
    psf = np.exp(-((yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2) / 8.0)
    psf = (psf * rng.uniform(300, 900, n_em)[:, None, None]).reshape(n_em, -1)
    z = zarr.create_array(
        store=str(path),
        shape=(frames, size, size),
        chunks=chunks,
        dtype=np.uint16,
        compressors=compressors,
        overwrite=True,
    )
    for a in range(0, frames, chunks[0]):
        b = min(frames, a + chunks[0])
        on = (rng.random((b - a, n_em)) < 0.15).astype(np.float64)
        bleach = np.exp(-np.arange(a, b) / (frames / 1.5))[:, None]
        lam = 100.0 + (on @ psf) * bleach
        z[a:b] = rng.poisson(lam).reshape(b - a, size, size).astype(np.uint16)


def ensure_movie(
    path: Path,
    frames: int,
    size: int,
    chunks: tuple[int, int, int],
    *,
    compressors: Any,
    seed: int,
) -> None:
    """Write the movie unless a store of that shape and chunking is already there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = zarr.open_array(str(path), mode="r") if path.exists() else None
    if existing is None or existing.shape != (frames, size, size) or existing.chunks != chunks:
        t0 = time.perf_counter()
        write_movie(path, frames, size, chunks, compressors=compressors, seed=seed)
        print(f"wrote {path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM belongs to the process image (reset by exec), whereas
    ``ru_maxrss`` of a child started by fork+exec inherits the parent's high-water mark."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
