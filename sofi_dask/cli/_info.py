"""``sofi-dask info``: shape, dtype, chunks, compression, per-frame statistics, completeness."""

from __future__ import annotations

import argparse
import json
from typing import Any


def _size(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return str(n)


def _codecs(value: Any) -> str:
    if not isinstance(value, list):
        return str(value)
    if not value:
        return "none"
    parts = []
    for c in value:
        conf = c.get("configuration", {})
        extra = " ".join(
            f"{k}={conf[k]}" for k in ("cname", "clevel", "shuffle", "level") if k in conf
        )
        parts.append(f"{c.get('name')} {extra}".strip())
    return ", ".join(parts)


def format_info(info: dict[str, Any]) -> str:
    """Human-readable text of :func:`sofi_dask.io.movie_info`'s dictionary."""
    lines = [
        f"path:         {info['path']} ({info['format']})",
        "complete:     "
        + ("yes" if info["complete"] else f"NO ({100 * info.get('progress', 0):.0f}% written)"),
        f"shape:        {tuple(info['shape'])} (t, y, x)",
        f"dtype:        {info['dtype']}",
        f"chunks:       {tuple(info['chunks'])} ({info['n_chunks']} chunks)",
        f"compressor:   {_codecs(info['compressor'])}",
        f"size:         {_size(info['nbytes'])} raw, {_size(info['stored_bytes'])} stored"
        + (f" (ratio {info['compression_ratio']:.2f})" if info.get("compression_ratio") else ""),
        "pixel size:   "
        + (f"{info['pixel_size']:.4g} µm" if info.get("pixel_size") else "not recorded"),
    ]
    source = info.get("source") or []
    if source:
        first = source[0]
        if isinstance(first, dict) and first.get("simulated"):
            what = f"simulated by sofi_dask (seed {first.get('seed')})"
        elif isinstance(first, dict) and "path" in first:
            what = str(first["path"])
        else:
            what = json.dumps(first)
        lines.append(
            f"source:       {what}"
            + (f" (+{len(source) - 1} more files)" if len(source) > 1 else "")
        )
    if info["format"] == "zarr":
        lines.append(
            "checksums:    "
            + ("crc32c on every chunk" if info.get("checksums") else "none (older store)")
        )
    for text in info.get("damage") or []:
        lines.append(f"DAMAGED:      {text}")
    stats = info.get("frame_stats")
    if stats:
        lines.append("frame stats:  min / mean / max over frames")
        for name in ("total", "mean", "minimum", "maximum"):
            s = stats[name]
            lines.append(f"  {name:<10}  {s['min']:.6g} / {s['mean']:.6g} / {s['max']:.6g}")
        ratio = stats.get("last_first_total_ratio")
        if ratio is not None:
            lines.append(f"  total signal last/first frame: {ratio:.3f}")
    else:
        lines.append("frame stats:  not recorded (ingest the movie to compute them)")
    return "\n".join(lines)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``info``."""
    p = subparsers.add_parser(
        "info",
        help="describe a Zarr store or TIFF movie",
        description=(
            "Print shape, dtype, chunks, compression ratio, a summary of the per-frame "
            "statistics and whether the store is complete."
        ),
    )
    p.add_argument("path", help="Zarr store written by `sofi-dask ingest`, or a TIFF")
    p.add_argument("--channel", type=int, default=None, help="channel of a multi-channel TIFF")
    p.add_argument(
        "--axes", default=None, help="declared TIFF axes, e.g. TYX for an ImageJ 'CYX' stack"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument(
        "--verify",
        action="store_true",
        help="also read every chunk of a store: checksums and per-frame statistics "
        "(as `sofi-dask verify`)",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``info``; exit status 1 for an unfinished or damaged store."""
    from sofi_dask import io  # dask, zarr, numba: imported by the command that runs

    info = io.movie_info(args.path, channel=args.channel, axes=args.axes)
    status = 0 if info["complete"] and not info.get("damage") else 1
    if args.verify and info["format"] == "zarr":
        from sofi_dask.cli._verify import verify

        report = verify(args.path, quiet=args.json)
        info["verify"] = {"ok": report.ok, "damaged": [str(d) for d in report.damaged]}
        info["verify"]["problems"] = report.problems
        status = status or (0 if report.ok else 1)
        if not args.json:
            print(format_info(info))
            print(report.summary())
            return status
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return status
