"""``sofi-dask simulate``: write a simulated blinking-emitter movie (TIFF or Zarr)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from sofi_dask.cli._ingest import ProgressBar

if TYPE_CHECKING:
    from sofi_dask.simulate._simulate import SimulationConfig

# (config field, option, type, help)
_OPTIONS: tuple[tuple[str, str, type, str], ...] = (
    ("n_frames", "--frames", int, "number of frames (default: 1000)"),
    ("n_filaments", "--filaments", int, "curved filaments (default: 3)"),
    ("emitters_per_filament", "--emitters-per-filament", int, "emitters on each (default: 40)"),
    ("n_isolated", "--isolated", int, "isolated emitters (default: 10)"),
    ("filament_bend", "--bend", float, "filament curvature, fraction of length (default: 0.3)"),
    ("psf_sigma", "--psf-sigma", float, "Gaussian PSF sigma in pixels (default: 1.5)"),
    ("photons", "--photons", float, "photons per emitter per on frame (default: 300)"),
    ("on_ratio", "--on-ratio", float, "fraction of frames an emitter is on (default: 0.2)"),
    ("on_ratio_2", "--on-ratio-2", float, "on-ratio of the odd-numbered emitters (default: none)"),
    ("mean_on_frames", "--mean-on", float, "mean on-period in frames (default: 3)"),
    ("bleach_lifetime", "--bleach-lifetime", float, "mean frames before bleaching (default: none)"),
    ("background", "--background", float, "background photons per pixel (default: 20)"),
    ("baseline", "--baseline", float, "camera offset in ADU (default: 100)"),
    ("gain", "--gain", float, "ADU per photon (default: 1)"),
    ("read_noise", "--read-noise", float, "Gaussian read noise in ADU (default: 1.5)"),
    ("pixel_size", "--pixel-size", float, "pixel size in micrometres (default: 0.1)"),
    ("seed", "--seed", int, "random seed (default: 0)"),
)


def _shape(text: str) -> tuple[int, int]:
    parts = [p for p in text.lower().replace("x", ",").split(",") if p]
    try:
        values = [int(p) for p in parts]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH, got {text!r}") from exc
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH, got {text!r}")
    return values[0], values[1]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``simulate``."""
    p = subparsers.add_parser(
        "simulate",
        help="write a simulated movie of blinking emitters (TIFF or Zarr) with ground truth",
        description=(
            "Simulate blinking emitters along curved filaments plus isolated ones (two-state "
            "blinking, optional bleaching, Gaussian PSF, background, Poisson and read noise) "
            "and write a uint16 movie in frame batches. OUTPUT ending in .zarr gives a Zarr "
            "store (as written by 'sofi-dask ingest'), anything else a contiguous TIFF. The "
            "ground truth goes beside it (OUTPUT.truth.csv, OUTPUT.simulation.json). The same "
            "parameters and seed give the same bytes."
        ),
    )
    p.add_argument("output", help="output movie: *.tif / *.tiff or *.zarr")
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="JSON file of SimulationConfig parameters (options below override it)",
    )
    p.add_argument(
        "--shape", type=_shape, default=None, metavar="HxW", help="frame size (default: 64x64)"
    )
    for field, option, kind, text in _OPTIONS:
        metavar = "N" if kind is int else "X"
        p.add_argument(option, dest=field, type=kind, default=None, metavar=metavar, help=text)
    p.add_argument(
        "--no-poisson",
        dest="poisson_noise",
        action="store_false",
        default=None,
        help="no shot noise (expected photon counts)",
    )
    p.add_argument(
        "--format",
        choices=("auto", "tiff", "zarr"),
        default="auto",
        help="output format (default: from the OUTPUT suffix)",
    )
    p.add_argument("--batch-frames", type=int, default=None, help="frames per rendered batch")
    p.add_argument("--threads", type=int, default=None, help="rendering threads (default: CPUs)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def config_from_args(args: argparse.Namespace) -> SimulationConfig:
    """The :class:`SimulationConfig` of the parsed options (over ``--config`` if given)."""
    from sofi_dask.simulate._simulate import SimulationConfig  # numba: only when it runs

    values: dict[str, object] = {}
    if args.config is not None:
        try:
            values = json.loads(Path(args.config).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"--config {str(args.config)!r}: not valid JSON ({exc})") from exc
        if isinstance(values, dict) and isinstance(values.get("config"), dict):
            values = values["config"]  # a .simulation.json written beside a movie
    config = SimulationConfig.from_dict(values)
    changes = {f: getattr(args, f) for f, *_ in _OPTIONS if getattr(args, f) is not None}
    if args.shape is not None:
        changes["frame_shape"] = args.shape
    if args.poisson_noise is not None:
        changes["poisson_noise"] = args.poisson_noise
    return config.replace(**changes) if changes else config


def run(args: argparse.Namespace) -> int:
    """Run ``simulate``; prints the output path."""
    from sofi_dask.simulate._simulate import write_simulated_tiff, write_simulated_zarr

    config = config_from_args(args)
    fmt = args.format
    if fmt == "auto":
        fmt = "zarr" if str(args.output).rstrip("/").endswith(".zarr") else "tiff"
    progress = None if args.no_progress else ProgressBar()
    writer = write_simulated_zarr if fmt == "zarr" else write_simulated_tiff
    path = writer(
        args.output,
        config,
        batch_frames=args.batch_frames,
        threads=args.threads,
        overwrite=args.overwrite,
        progress=progress,
    )
    print(path)
    return 0
