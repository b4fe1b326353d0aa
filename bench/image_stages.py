"""Benchmarks of the image stages (section per stage).

Sections
--------
ldrc
    LDRC 25 x 25 on a 256 x 256 image against a direct loop over windows (pysofi's algorithm),
    speed-up in the same run; then LDRC 25 x 25 on large images (default 4096^2 and 8192^2)
    read from Zarr and written to Zarr tile by tile, with the wall time, the peak RSS of the
    process and the time of a plain Zarr copy of the same arrays (the I/O bound, same run).
deconvsk
    Shrinking-kernel deconvolution (20 kernels, lambda 1.5, Gaussian PSF) of a 100-image SOFI
    video (default 100 x 128 x 128) as a dask stack: images per second with 1 and 2 threads, for
    a symmetric PSF (DCT plan) and an off-centre one (FFT plan), against a direct per-image
    implementation of pysofi's algorithm (complex FFTs of the 2H x 2W mirror extension, kernel
    and OTF rebuilt for every image, PSF update computed and dropped) in the same run.

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
    from sofi_dask.image import ldrc

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

    from sofi_dask.image import ldrc

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
            check = ldrc(
                image[sub, sub].compute(), mask[sub, sub].compute(), window_size=(window, window)
            )
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
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
    )
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


# -- deconvsk -------------------------------------------------------------------------------


def _gauss_psf(half: int, sigma: float, shift: float = 0.0) -> np.ndarray:
    y, x = np.mgrid[-half : half + 1, -half : half + 1]
    return np.exp(-((x - shift) ** 2 + y**2) / (2 * sigma**2))


def deconvsk_direct(image: np.ndarray, psf: np.ndarray, lam: float, iterations: int) -> np.ndarray:
    """pysofi's algorithm, one image at a time: complex FFTs, kernels rebuilt per image."""
    eps = np.finfo(float).eps
    h, w = image.shape
    x = np.block([[image, image[:, ::-1]], [image[::-1], image[::-1, ::-1]]]).astype(float)
    p0 = psf / psf.max()
    ph, pw = psf.shape
    for i in range(iterations):
        k = p0 ** (lam ** (i + 1) / (lam - 1))
        k[k <= 0] = eps
        k /= k.sum()
        x[x <= 0] = eps
        grid = np.zeros(x.shape)
        grid[:ph, :pw] = k
        otf = np.fft.fft2(np.roll(grid, (-(ph // 2), -(pw // 2)), axis=(0, 1)))
        reblur = np.real(np.fft.ifft2(otf * np.fft.fft2(x)))
        reblur[reblur <= 0] = eps
        core = np.fft.fft2(x / reblur)
        scale = np.real(np.fft.ifft2(otf.conj() * np.fft.fft2(np.ones(x.shape)))) + np.sqrt(eps)
        new = np.maximum(x * np.real(np.fft.ifft2(otf.conj() * core)) / scale, 0)
        # the PSF update pysofi computes and deconvsk drops
        spec = np.fft.fft2(x)
        np.real(np.fft.ifft2(spec.conj() * core))
        np.real(np.fft.ifft2(spec.conj() * np.fft.fft2(np.ones(x.shape))))
        x = new
    return x[:h, :w]


def bench_deconvsk(
    n: int = 100,
    size: int = 128,
    iterations: int = 20,
    direct_images: int = 10,
    repeat: int = 2,
) -> dict:
    """Images per second of deconvsk on an (n, size, size) stack with 1 and 2 threads."""
    import dask
    import dask.array as da

    from sofi_dask.image import deconvsk

    rng = np.random.default_rng(3)
    video = rng.gamma(2.0, 50.0, size=(n, size, size)) + 10.0
    stack = da.from_array(video, chunks=(max(1, n // 20), -1, -1))
    out: dict = {"n": n, "size": size, "iterations": iterations, "lam": 1.5}
    for label, psf in (("dct", _gauss_psf(4, 1.5)), ("fft", _gauss_psf(4, 1.5, shift=0.5))):
        lazy = deconvsk(stack, psf, lam=1.5, iterations=iterations)
        for threads in (1, 2):
            with dask.config.set(scheduler="threads", num_workers=threads):
                t = _best_of(lazy.compute, repeat)
            out[f"{label}_{threads}t_images_per_s"] = n / t
        sample = lazy[:direct_images].compute(scheduler="threads")
        t0 = time.perf_counter()
        ref = np.stack([deconvsk_direct(im, psf, 1.5, iterations) for im in video[:direct_images]])
        out[f"{label}_direct_images_per_s"] = direct_images / (time.perf_counter() - t0)
        ref[ref <= 0] = np.finfo(float).eps
        out[f"{label}_max_rel_diff"] = float(np.abs(sample - ref).max() / np.abs(ref).max())
    return out


def section_deconvsk(args: argparse.Namespace) -> list[str]:
    r = bench_deconvsk(n=args.deconv_images, size=args.deconv_size)
    lines = []
    for label, what in (
        ("dct", "symmetric Gaussian PSF, DCT plan"),
        ("fft", "off-centre Gaussian PSF, FFT plan"),
    ):
        one, two = r[f"{label}_1t_images_per_s"], r[f"{label}_2t_images_per_s"]
        direct = r[f"{label}_direct_images_per_s"]
        lines.append(
            f"- deconvsk ({what}, 9x9, {r['iterations']} kernels) on {r['n']} x {r['size']}^2: "
            f"{one:.1f} images/s with 1 thread, {two:.1f} with 2 ({two / one:.2f}x); direct "
            f"per-image pysofi algorithm {direct:.2f} images/s -> **{one / direct:.0f}x** "
            f"(1 thread) (max rel diff {r[f'{label}_max_rel_diff']:.1e})"
        )
    return lines


# -- main -----------------------------------------------------------------------------------

SECTIONS: dict[str, Callable[[argparse.Namespace], list[str]]] = {
    "ldrc": section_ldrc,
    "deconvsk": section_deconvsk,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", nargs="+", choices=sorted(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--small-size", type=int, default=256)
    parser.add_argument("--window", type=int, default=25)
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="*",
        default=[4096, 8192],
        help="large LDRC image sizes (none: skip)",
    )
    parser.add_argument("--chunk", type=int, default=1024, help="tile size of the large images")
    parser.add_argument("--deconv-images", type=int, default=100)
    parser.add_argument("--deconv-size", type=int, default=128)
    args = parser.parse_args(argv)
    for name in args.sections:
        print(f"## {name}", flush=True)
        for line in SECTIONS[name](args):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
