"""``sofi-dask verify``: read every chunk of a store, check checksums and per-frame statistics."""

from __future__ import annotations

import argparse
import os
from typing import Any

from sofi_dask.cli._ingest import ProgressBar


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``verify``."""
    p = subparsers.add_parser(
        "verify",
        help="read every chunk of a Zarr store and report the damaged ones",
        description=(
            "Read every chunk of a movie store written by `sofi-dask ingest`: a missing chunk "
            "file, a checksum mismatch, a chunk that cannot be decoded or frames whose "
            "statistics differ from those recorded at ingestion are reported, one line per "
            "damaged chunk with the frames it holds (exit status 1). Repair with "
            "`sofi-dask ingest SOURCE STORE --repair`."
        ),
    )
    p.add_argument("path", help="Zarr store written by `sofi-dask ingest`")
    p.add_argument("--workers", type=int, default=None, help="reader threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def verify(path: str | os.PathLike[str], *, quiet: bool = False, workers: Any = None) -> Any:
    """Run :func:`sofi_dask.io._verify.verify_store` with a progress bar unless ``quiet``."""
    from sofi_dask.io._verify import verify_store

    return verify_store(path, workers=workers, progress=None if quiet else ProgressBar())


def run(args: argparse.Namespace) -> int:
    """Run ``verify``; exit status 1 when a chunk is damaged."""
    report = verify(args.path, quiet=args.no_progress, workers=args.workers)
    print(report.summary())
    return 0 if report.ok else 1
