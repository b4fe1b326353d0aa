"""``sofi-dask quality``: the quality section again from a finished run's outputs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``quality``."""
    p = subparsers.add_parser(
        "quality",
        help="recompute the image-quality section of a run from its outputs",
        description=(
            "Recompute FRC resolution (from the two half images the run kept), decorrelation "
            "resolution and SQUIRREL error maps (RSE, RSP) of a finished run's average and "
            "final images, without reading the movie. Prints a table and writes "
            "RESULT_DIR/quality.json (run.json is left as it is)."
        ),
    )
    p.add_argument("result_dir", help="output folder of `sofi-dask run`")
    p.add_argument("--threshold", choices=("1/7", "half-bit"), default=None, help="FRC threshold")
    p.add_argument("--no-decorrelation", action="store_true", help="skip decorrelation")
    p.add_argument("--no-error-maps", action="store_true", help="skip error maps")
    p.add_argument("--json", action="store_true", help="print the section as JSON")
    p.set_defaults(func=run)
    return p


def _fmt(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def format_section(section: dict[str, Any]) -> str:
    """A table: one row per image (resolutions in pixels and µm, RSE, RSP).

    Examples
    --------
    >>> print(format_section({"pixel_size": None, "images": {"average": {}}}))
    image                     FRC px   FRC µm  decorr px decorr µm        RSE      RSP
    average                        -        -          -         -          -        -
    """
    head = f"{'image':<24}{'FRC px':>8}{'FRC µm':>9}{'decorr px':>11}{'decorr µm':>10}"
    head += f"{'RSE':>11}{'RSP':>9}"
    lines = [head]
    for name, e in section.get("images", {}).items():
        lines.append(
            f"{name:<24}{_fmt(e.get('frc_resolution_pixels')):>8}"
            f"{_fmt(e.get('frc_resolution') if section.get('pixel_size') else None):>9}"
            f"{_fmt(e.get('decorrelation_resolution_pixels')):>11}"
            f"{_fmt(e.get('decorrelation_resolution') if section.get('pixel_size') else None):>10}"
            f"{_fmt(e.get('rse'), 4):>11}{_fmt(e.get('rsp')):>9}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``quality``."""
    from sofi_dask.io._atomic import atomic_output
    from sofi_dask.pipeline._quality_files import recompute_quality

    section = recompute_quality(
        args.result_dir,
        threshold=args.threshold,
        decorrelation=not args.no_decorrelation,
        error_maps=not args.no_error_maps,
    )
    text = json.dumps(section, indent=2)
    with atomic_output(Path(args.result_dir) / "quality.json", overwrite=True) as tmp:
        tmp.write_text(text + "\n")
    print(text if args.json else format_section(section))
    return 0
