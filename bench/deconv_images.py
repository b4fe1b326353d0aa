"""Benchmark: the default run's deconvolution of its result images, alone.

The default ``sofi-dask run`` deconvolves one image per order (2, 3, 4) after the statistics
pass: shrinking-kernel Richardson-Lucy, 20 kernels, lambda 1.5, a 51 px Gaussian PSF of sigma
2 / sqrt(order) px (the run's per-order PSF), one dask task per image on the threaded scheduler,
as the pipeline builds it (``deconvsk`` of a dask stack, one image per chunk). Reported: wall,
user and system time and minor page faults of the compute, with the entry points' allocator
setting (``limit_allocator_retention``). This is work no read of the movie can hide: it starts
when the pass has merged its last chunk.

Usage::

    .venv/bin/python bench/deconv_images.py                 # three 2048 x 2048 images
    .venv/bin/python bench/deconv_images.py --size 1024 --repeats 3
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import dask.array as da
import numpy as np

from sofi_dask._memory import limit_allocator_retention
from sofi_dask.image import deconvsk

ORDERS = (2, 3, 4)


def gaussian_psf(sigma: float, size: int = 51) -> np.ndarray:
    half = size // 2
    y, x = np.mgrid[-half : half + 1, -half : half + 1]
    return np.exp(-(x**2 + y**2) / (2.0 * sigma * sigma))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048, help="image side (default 2048)")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    limit_allocator_retention()
    rng = np.random.default_rng(0)
    images = rng.gamma(2.0, 50.0, (len(ORDERS), args.size, args.size))
    stack = da.from_array(images, chunks=(1, -1, -1))
    # one PSF per order, as the run's per-order PSF: each image its own deconvsk graph
    parts = [
        deconvsk(stack[i : i + 1], gaussian_psf(2.0 / np.sqrt(k)), lam=1.5, iterations=20)
        for i, k in enumerate(ORDERS)
    ]
    graph = da.concatenate(parts)
    for r in range(args.repeats):
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        graph.compute(scheduler="threads")
        r1, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - t0
        user, sys_ = r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime
        print(
            f"{len(ORDERS)} images of {args.size}^2, run {r + 1}: wall {wall:.2f} s, "
            f"user {user:.2f} s, sys {sys_:.2f} s, CPU {user + sys_:.2f} s, "
            f"minor faults {r1.ru_minflt - r0.ru_minflt}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
