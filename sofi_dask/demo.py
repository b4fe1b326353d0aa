"""The demo behind ``make demo``: simulate a bleaching movie, run the whole pipeline, list files.

Run ``python -m sofi_dask.demo --output demo_output``. It writes::

    demo_output/movie.tif           simulated blinking movie (uint16, with bleaching)
    demo_output/movie.tif.zarr      the movie ingested into Zarr (reused by later runs)
    demo_output/results/            pipeline outputs (Zarr, TIFF, PNG, figures, run.json)

and prints what each file is. Running it again reuses the movie and the ingested store and
replaces ``results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

DEMO_MOVIE = {
    "n_frames": 2000,
    "frame_shape": (128, 128),
    "bleach_lifetime": 1500.0,
    "photons": 600.0,
    "n_filaments": 4,
    "emitters_per_filament": 60,
    "n_isolated": 20,
    "seed": 2024,
}

_KIND_WORDS = {
    "tiff.tif": "float32 TIFF",
    "rgb_tif": "RGB TIFF",
    "png.png": "PNG",
    "video.gif": "GIF video",
    "video.tif": "TIFF video",
    "video.mp4": "MP4 video",
}
_FIGURES = {
    "total_signal": "total signal per frame with the bleaching-correction blocks",
    "orders": "montage of the moment/cumulant images of every order",
    "final_orders": "montage of the final (LDRC) images of every order",
    "video": "frames of the SOFI video",
}


def _simulate(movie: Path, overrides: dict[str, Any], out: TextIO) -> None:
    from sofi_dask.simulate._simulate import SimulationConfig, write_simulated_tiff

    cfg = SimulationConfig(**overrides)
    sidecar = movie.with_name(movie.name + ".simulation.json")
    if movie.is_file() and sidecar.is_file():
        try:
            same = SimulationConfig.from_dict(json.loads(sidecar.read_text())["config"]) == cfg
        except (ValueError, TypeError, KeyError):
            same = False
        if same:
            print(f"reusing the simulated movie {movie}", file=out)
            return
    print(
        f"simulating {cfg.n_frames} frames of {cfg.frame_shape[0]}x{cfg.frame_shape[1]} "
        f"with bleaching -> {movie}",
        file=out,
    )
    write_simulated_tiff(movie, cfg, overwrite=True)


def _describe(result: Any, base: Path) -> list[tuple[str, str]]:
    """(files, description) rows: one per result image (its TIFFs/PNG/video), per figure."""
    rows: list[tuple[str, str]] = []
    out = result.output

    def rel(p: Path) -> str:
        return os.path.relpath(p, base)

    rows.append((rel(out / "run.json"), "run record: parameters, versions, input, timings"))
    if result.zarr_path.exists():
        rows.append((rel(result.zarr_path), "Zarr v3 group, one OME-NGFF image per result"))
    for name, spec in result.images.items():
        paths = result.files.get(name, [])
        if paths:
            kinds = ", ".join(_KIND_WORDS.get(_kind(p), p.suffix) for p in paths)
            rows.append((rel(out) + f"/*/{name}.*", f"{spec.description} ({kinds})"))
    for key, paths in result.files.items():
        if key.startswith("figure:"):
            fig = key.split(":", 1)[1]
            what = _FIGURES.get(fig) or fig.replace("_before_after", ": before/after the stage")
            rows.extend((rel(p), f"figure: {what}") for p in paths)
    return rows


def _kind(path: Path) -> str:
    return "rgb_tif" if path.name.endswith("_rgb.tif") else path.parent.name + path.suffix


def run_demo(
    output: str | os.PathLike[str] = "demo_output",
    *,
    movie_overrides: dict[str, Any] | None = None,
    config: Any = None,
    stream: TextIO | None = None,
    progress: bool = True,
) -> Any:
    """Simulate a movie into ``output``, run the pipeline with defaults, print the file list.

    Parameters
    ----------
    output : path
        Demo folder (created if needed).
    movie_overrides : dict, optional
        Simulation parameters replacing the demo's (e.g. fewer frames for a quick test).
    config : PipelineConfig, optional
        Pipeline parameters (default: ``PipelineConfig()``).
    stream : file, optional
        Where to print (default: stdout).
    progress : bool
        Show progress bars.

    Returns
    -------
    sofi_dask.PipelineResult

    Examples
    --------
    >>> result = run_demo("demo_output")  # doctest: +SKIP
    """
    from sofi_dask.pipeline._config import PipelineConfig
    from sofi_dask.pipeline._run import run_pipeline

    out = stream if stream is not None else sys.stdout
    base = Path(output).expanduser().resolve()
    base.mkdir(parents=True, exist_ok=True)
    movie = base / "movie.tif"
    start = time.perf_counter()
    _simulate(movie, {**DEMO_MOVIE, **(movie_overrides or {})}, out)
    cfg = PipelineConfig() if config is None else config
    print("running the SOFI pipeline (defaults)...", file=out, flush=True)
    ingest_bar = None
    if progress:
        from sofi_dask.cli._ingest import ProgressBar

        ingest_bar = ProgressBar()
    result = run_pipeline(
        movie,
        base / "results",
        cfg,
        overwrite=True,
        progress=progress,
        ingest_progress=ingest_bar,
    )
    elapsed = time.perf_counter() - start
    rows = _describe(result, base)
    width = max(len(p) for p, _ in rows)
    print(f"\ndone in {elapsed:.1f} s. Outputs under {base}:", file=out)
    print(f"  {'movie.tif':<{width}}  simulated input movie (uint16 TIFF)", file=out)
    how = {"reused": "reused from an earlier run", "ingested": "reused by later runs"}
    state = how.get(result.record["input"].get("ingestion"), "")
    print(f"  {'movie.tif.zarr':<{width}}  the movie ingested into Zarr ({state})", file=out)
    for path, desc in rows:
        print(f"  {path:<{width}}  {desc}", file=out)
    print(
        "\n'*' is tiff/ (float32 ImageJ TIFF with the pixel size, and <name>_rgb.tif "
        "colour-mapped), png/ (preview) or video/.\nOpen the TIFFs in Fiji, "
        "results/results.zarr in napari (napari-ome-zarr), or look at results/figures/*.png.",
        file=out,
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sofi_dask.demo --output demo_output``."""
    parser = argparse.ArgumentParser(prog="python -m sofi_dask.demo", description=__doc__)
    parser.add_argument("--output", default="demo_output", help="demo folder")
    parser.add_argument("--frames", type=int, default=None, help="frames to simulate")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    from sofi_dask._memory import limit_allocator_retention

    limit_allocator_retention()
    overrides = {"n_frames": args.frames} if args.frames else None
    run_demo(args.output, movie_overrides=overrides, progress=not args.no_progress)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
