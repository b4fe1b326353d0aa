"""Decoding compressed (or scattered) TIFF pages: each strip decoded once, pages on threads.

Compressed TIFFs (zlib, LZW, deflate with predictor, ...; codecs from ``imagecodecs``) are
stored as strips of rows (tifffile writes ~64-row strips, libtiff ~8 KB strips, some tools one
strip per page). A read of frames ``start..stop`` restricted to a band of rows needs only the
strips that hold those rows, so this module reads the raw bytes of just those strips with
``os.pread`` and decodes them with the page's own tifffile decoder, straight into the output
rows: a band costs (rows of its strips) / (rows of the page) of a page decode, and a task
that reads a whole time chunk decodes every page exactly once. Pages are independent, so
they are decoded on threads (the codecs release the GIL).

Tiled pages, planar multi-sample pages and volumes fall back to tifffile's ``asarray`` of
whole pages (same result, decoded whole).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from sofi_dask.errors import InputError

__all__ = ["PageStrips", "decode_page_rows", "page_strips", "strip_rows"]


@dataclass(frozen=True)
class PageStrips:
    """Where one page's strips are: its file, byte ranges and decoder."""

    path: str
    offsets: tuple[int, ...]
    counts: tuple[int, ...]
    rows_per_strip: int
    decode: Callable[..., Any]


def strip_rows(keyframe: Any) -> int | None:
    """Rows per strip when the page is decodable strip by strip, else None.

    Strip-wise decoding needs untiled, 2-D (depth 1) pages with interleaved samples.
    """
    if keyframe.is_tiled or getattr(keyframe, "imagedepth", 1) != 1:
        return None
    if keyframe.samplesperpixel > 1 and keyframe.planarconfig != 1:
        return None
    rps = int(keyframe.rowsperstrip or keyframe.imagelength)
    return max(1, min(rps, int(keyframe.imagelength)))


def page_strips(page: Any) -> PageStrips | None:
    """Describe a ``TiffPage`` / ``TiffFrame`` for :func:`decode_page_rows` (None: not
    strip-decodable, or a page without data)."""
    if page is None:
        return None
    key = page.keyframe
    rps = strip_rows(key)
    if rps is None or not page.dataoffsets:
        return None
    n_strips = -(-int(key.imagelength) // rps)
    if len(page.dataoffsets) != n_strips:
        return None
    return PageStrips(
        path=str(page.parent.filehandle.path),
        offsets=tuple(int(o) for o in page.dataoffsets),
        counts=tuple(int(c) for c in page.databytecounts),
        rows_per_strip=rps,
        decode=key.decode,
    )


def _pread(fd: int, offset: int, count: int) -> bytes:
    data = os.pread(fd, count, offset)
    while len(data) < count:
        more = os.pread(fd, count - len(data), offset + len(data))
        if not more:
            raise InputError(f"unexpected end of file at byte {offset + len(data)}")
        data += more
    return data


def decode_page_rows(
    strips: PageStrips,
    fd: int,
    rows: tuple[int, int],
    cols: tuple[int, int],
    sample: int | None,
    out: np.ndarray,
) -> None:
    """Decode the strips of one page that hold ``rows`` and copy rows x cols into ``out``.

    ``out`` is a (rows, cols) array; ``sample`` picks one interleaved sample (RGB channel).
    The strips are read with one ``pread`` when they are consecutive in the file.
    """
    y0, y1 = rows
    x0, x1 = cols
    rps = strips.rows_per_strip
    first, last = y0 // rps, (y1 - 1) // rps
    offs = strips.offsets[first : last + 1]
    counts = strips.counts[first : last + 1]
    consecutive = all(offs[k] + counts[k] == offs[k + 1] for k in range(len(offs) - 1))
    if consecutive and offs:
        blob = memoryview(_pread(fd, offs[0], offs[-1] + counts[-1] - offs[0]))
        pieces = [
            blob[o - offs[0] : o - offs[0] + c] if c else None
            for o, c in zip(offs, counts, strict=True)
        ]
    else:
        pieces = [_pread(fd, o, c) if c else None for o, c in zip(offs, counts, strict=True)]
    for k, data in enumerate(pieces):
        index = first + k
        s0 = index * rps
        a0, a1 = max(y0, s0), min(y1, s0 + rps)
        if data is None:  # an empty strip reads as zeros (TIFF's fill)
            out[a0 - y0 : a1 - y0] = 0
            continue
        seg, _, _ = strips.decode(bytes(data) if isinstance(data, memoryview) else data, index)
        seg = seg.reshape(seg.shape[-3:])  # (length, width, samples)
        block = seg[a0 - s0 : a1 - s0, x0:x1]
        out[a0 - y0 : a1 - y0] = block[..., sample if sample is not None else 0]


def decode_pages(
    jobs: list[tuple[PageStrips, np.ndarray]],
    rows: tuple[int, int],
    cols: tuple[int, int],
    sample: int | None,
    threads: int,
) -> None:
    """Decode ``(page, out)`` jobs on up to ``threads`` threads (one file descriptor per file)."""
    fds: dict[str, int] = {}
    try:
        for strips, _ in jobs:
            if strips.path not in fds:
                fds[strips.path] = os.open(strips.path, os.O_RDONLY)

        def one(job: tuple[PageStrips, np.ndarray]) -> None:
            strips, out = job
            decode_page_rows(strips, fds[strips.path], rows, cols, sample, out)

        if threads <= 1 or len(jobs) <= 1:
            for job in jobs:
                one(job)
        else:
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sofi-decode") as ex:
                for _ in ex.map(one, jobs):
                    pass
    finally:
        for fd in fds.values():
            os.close(fd)
