"""``sofi-dask ingest``: convert a TIFF movie (or sequence) into a Zarr v3 store."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO


class ProgressBar:
    """A stderr progress bar: frames done, percentage, throughput and ETA.

    On a terminal one line is redrawn (at most 5 times a second); otherwise (a batch job's
    log file) a new line is written at every tenth of the work, so logs stay short.
    """

    def __init__(self, bytes_per_frame: int = 0, stream: TextIO | None = None, width: int = 30):
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.bytes_per_frame = bytes_per_frame
        self.start = time.perf_counter()
        self.first: int | None = None
        self.last_draw = 0.0
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False
        self._last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = done
        if self.tty:
            if done < total and now - self.last_draw < 0.2:
                return
        else:
            tenth = int(10 * done / total) if total else 10
            if done < total and tenth <= self._last_tenth:
                return
            self._last_tenth = tenth
        self.last_draw = now
        frac = done / total if total else 1.0
        filled = int(self.width * frac)
        elapsed = now - self.start
        rate = (done - self.first) / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else float("nan")
        speed = f" {rate * self.bytes_per_frame / 1e6:7.1f} MB/s" if self.bytes_per_frame else ""
        line = (
            ("\r" if self.tty else "")
            + f"[{'#' * filled}{'.' * (self.width - filled)}] {100 * frac:5.1f}% "
            f"{done}/{total} frames{speed} "
            + ("" if self.tty else f"elapsed {elapsed:.0f} s, ")
            + (f"ETA {eta:5.0f} s" if done < total and eta == eta else f"{elapsed:6.1f} s")
        )
        self.stream.write(line)
        if done >= total or not self.tty:
            self.stream.write("\n")
        self.stream.flush()


def _chunks(text: str) -> tuple[int, int, int] | int:
    parts = [p for p in text.replace("x", ",").split(",") if p]
    try:
        values = [int(p) for p in parts]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected T or T,Y,X integers, got {text!r}") from exc
    if len(values) == 1:
        return values[0]
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected T or T,Y,X integers, got {text!r}")
    return (values[0], values[1], values[2])


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``ingest``."""
    p = subparsers.add_parser(
        "ingest",
        help="convert a TIFF movie (or a sequence of TIFFs) into a Zarr v3 store",
        description=(
            "Convert a TIFF movie into a compressed, chunked Zarr v3 store with per-frame "
            "statistics. SOURCE may be a TIFF, a folder or glob of TIFFs (natural sort order, "
            "taken as one movie) or several paths. Re-running after an interruption resumes."
        ),
    )
    p.add_argument("source", nargs="+", help="TIFF file(s), folder or quoted glob pattern")
    p.add_argument("dest", help="output Zarr store (directory, e.g. movie.zarr)")
    p.add_argument(
        "--chunks",
        type=_chunks,
        default=None,
        help="chunk shape: T (frames per chunk) or T,Y,X (-1 = full axis); default: automatic",
    )
    p.add_argument(
        "--compressor",
        default="lz4",
        choices=("lz4", "zstd", "blosclz", "zlib", "none"),
        help="Blosc compressor (default: lz4)",
    )
    p.add_argument("--clevel", type=int, default=5, help="compression level 0..9 (default: 5)")
    p.add_argument("--channel", type=int, default=None, help="channel of a multi-channel TIFF")
    p.add_argument(
        "--axes",
        default=None,
        metavar="AXES",
        help="declare the TIFF's axes, e.g. TYX for an ImageJ stack whose metadata calls its "
        "frames channels (CYX)",
    )
    p.add_argument("--workers", type=int, default=None, help="writer threads (default: CPUs)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store")
    p.add_argument(
        "--repair",
        action="store_true",
        help="DEST is a complete store of SOURCE: rewrite only its damaged chunks "
        "(see `sofi-dask verify`) from SOURCE",
    )
    p.add_argument(
        "--wait",
        action="store_true",
        help="if another process is writing DEST, wait for it (default: exit at once)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``ingest``; prints the store path."""
    from sofi_dask import io  # dask, zarr, numba: imported by the command that runs
    from sofi_dask.io._open import complete_info

    source = args.source[0] if len(args.source) == 1 else args.source
    # complete before: an ingest that then succeeds without --overwrite/--repair kept it as it
    # is (a complete store of another source or with other parameters is refused)
    kept = not (args.overwrite or args.repair) and complete_info(Path(args.dest).expanduser())
    progress = None
    if not args.no_progress:
        progress = ProgressBar()
    path = io.ingest(
        source,
        args.dest,
        chunks=args.chunks,
        compressor=args.compressor,
        clevel=args.clevel,
        overwrite=args.overwrite,
        channel=args.channel,
        progress=progress,
        workers=args.workers,
        repair=args.repair,
        wait=args.wait,
        axes=args.axes,
    )
    if kept:  # the note on stderr: stdout stays the store's path, as scripts capture it
        named = source if isinstance(source, str) else f"{len(source)} files"
        print(f"{args.dest}: already complete from {named}; nothing to do", file=sys.stderr)
    print(path)
    return 0
