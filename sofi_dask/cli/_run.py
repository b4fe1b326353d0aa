"""``sofi-dask run``: the whole SOFI pipeline on a movie, with progress, figures and outputs."""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import time
from pathlib import Path
from typing import Any


def _onoff(key: str, what: str) -> tuple[str, str, dict[str, Any]]:
    return (
        f"--{key.split('.')[0].replace('_', '-')}",
        key,
        {"type": _bool, "metavar": "on|off", "help": f"{what} (config {key})"},
    )


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")


def _ints(text: str) -> list[int]:
    try:
        return [int(p) for p in text.replace(":", ",").split(",") if p.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from exc


def _size(text: str) -> int | list[int]:
    values = _ints(text)
    return values[0] if len(values) == 1 else values


# (flag, config key, argparse kwargs): every pipeline option on the command line; each one
# becomes an override applied after --config FILE and before --set.
STAGE_OPTIONS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "--axes",
        "input.axes",
        {"metavar": "AXES", "help": "declare the TIFF's axes, e.g. TYX for an ImageJ CYX stack"},
    ),
    (
        "--pixel-size",
        "input.pixel_size_um",
        {"type": float, "metavar": "UM", "help": "pixel size in µm, in place of the file's"},
    ),
    _onoff("drift.enabled", "drift correction (one extra pass over the movie)"),
    _onoff("bleaching.enabled", "bleaching correction"),
    (
        "--bleaching-method",
        "bleaching.method",
        {"choices": ("blocks", "correct", "exp", "biexp", "iir")},
    ),
    ("--iir-cutoff", "bleaching.iir_cutoff", {"type": float, "help": "IIR cut-off (Nyquist = 1)"}),
    ("--fbc", "bleaching.fbc", {"type": float, "help": "bleaching block fraction"}),
    (
        "--finterp",
        "finterp.factor",
        {"type": int, "metavar": "F", "help": "Fourier interpolation factor (>= 2; turns it on)"},
    ),
    ("--statistic", "statistic.kind", {"choices": ("cumulants", "moments", "xc_cumulants")}),
    (
        "--bsofi",
        "statistic.bsofi",
        {"type": _bool, "metavar": "on|off", "help": "balanced SOFI maps (statistic.bsofi)"},
    ),
    (
        "--linearise",
        "statistic.linearise",
        {"type": _bool, "metavar": "on|off", "help": "|image|^(1/n) (statistic.linearise)"},
    ),
    (
        "--orders",
        "statistic.orders",
        {"type": _ints, "metavar": "2,3,4", "help": "orders to compute"},
    ),
    (
        "--frames",
        "statistic.frames",
        {"type": _ints, "metavar": "START,END", "help": "frame window [START, END)"},
    ),
    (
        "--video",
        "video.window",
        {
            "type": int,
            "metavar": "WINDOW",
            "help": "SOFI video with WINDOW frames per window (turns it on)",
        },
    ),
    ("--step", "video.step", {"type": int, "help": "frames between video windows"}),
    _onoff("noise_filter_1.enabled", "noise filter 1 (video)"),
    _onoff("deconvolution.enabled", "shrinking-kernel deconvolution"),
    ("--psf-sigma", "deconvolution.psf.sigma_px", {"type": float, "help": "PSF sigma, pixels"}),
    ("--psf-file", "deconvolution.psf.path", {"metavar": "PATH", "help": "PSF image (.npy/.tif)"}),
    ("--lam", "deconvolution.lam", {"type": float, "help": "shrinking-kernel lambda (> 1)"}),
    ("--iterations", "deconvolution.iterations", {"type": int, "help": "RL iterations"}),
    _onoff("noise_filter_2.enabled", "noise filter 2 (video)"),
    _onoff("ldrc.enabled", "local dynamic range compression"),
    ("--ldrc-window", "ldrc.window_size", {"type": _size, "metavar": "N|ROWS,COLS"}),
    (
        "--ldrc-mask",
        "ldrc.mask",
        {"metavar": "MASK", "help": "order<k> (default order2) or average"},
    ),
    _onoff("quality.enabled", "image quality section: FRC, decorrelation, error maps"),
    (
        "--keep",
        "outputs.keep_stages",
        {
            "type": lambda t: [s for s in t.split(",") if s],
            "metavar": "STAGE,...",
            "help": "stages written",
        },
    ),
    (
        "--cmap",
        "outputs.cmap",
        {"metavar": "NAME", "help": "colormap of RGB outputs (default pink)"},
    ),
    (
        "--scheduler",
        "compute.scheduler",
        {
            "metavar": "NAME|ADDRESS",
            "help": "threads (default), synchronous, processes, local (distributed cluster on "
            "this machine), slurm, pbs, or a scheduler address tcp://host:port",
        },
    ),
    (
        "--scheduler-file",
        "compute.scheduler_file",
        {
            "metavar": "PATH",
            "help": "connect to the scheduler this file describes (dask scheduler "
            "--scheduler-file); instead of --scheduler",
        },
    ),
    (
        "--workers",
        "compute.n_workers",
        {
            "type": int,
            "metavar": "N",
            "help": "worker processes of a cluster; threads (threads) or processes (processes) "
            "of a local scheduler (default: the CPUs)",
        },
    ),
    (
        "--threads-per-worker",
        "compute.threads_per_worker",
        {"type": int, "metavar": "N", "help": "threads of each worker (local, slurm, pbs)"},
    ),
    (
        "--memory-limit",
        "compute.memory_limit",
        {"metavar": "SIZE", "help": "memory of each worker (local, slurm, pbs), e.g. 4GiB"},
    ),
    (
        "--performance-report",
        "compute.performance_report",
        {
            "metavar": "FILE.html",
            "help": "write a Dask performance report (needs a distributed scheduler: with "
            "threads, synchronous or processes, a local cluster is started instead)",
        },
    ),
)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``run``."""
    p = subparsers.add_parser(
        "run",
        help="run the SOFI pipeline on a movie (TIFF, TIFF sequence or Zarr store)",
        description=(
            "Run the SOFI pipeline (bleaching correction, Fourier interpolation, moments or "
            "cumulants, noise filters, shrinking-kernel deconvolution, LDRC) as one Dask graph "
            "and write the results into OUTDIR: results.zarr (OME-NGFF), ImageJ TIFFs, PNG "
            "previews, figures and run.json. TIFF input is ingested into INPUT.zarr (or "
            "--cache-dir) on the first run and reused afterwards. Options apply in this order: "
            "defaults, --config FILE, the per-stage options, --set KEY=VALUE."
        ),
    )
    p.add_argument(
        "input",
        nargs="*",
        help="TIFF file(s), folder or quoted glob, or Zarr store "
        "(default: input.path of the config)",
    )
    p.add_argument("-o", "--output", default=None, help="output folder (must not exist)")
    p.add_argument("--config", default=None, help="configuration file (TOML or YAML)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one configuration key (repeatable), e.g. --set deconvolution.iterations=10",
    )
    g = p.add_argument_group("pipeline stages (each overrides one configuration key)")
    for flag, key, kwargs in STAGE_OPTIONS:
        if "metavar" not in kwargs and "choices" not in kwargs and "type" not in kwargs:
            kwargs = {**kwargs, "metavar": "VALUE"}
        elif "metavar" not in kwargs and "choices" not in kwargs:
            kwargs = {**kwargs, "metavar": kwargs["type"].__name__.upper()}
        g.add_argument(flag, dest=f"opt:{key}", default=None, **kwargs)
    p.add_argument("--cache-dir", default=None, help="folder of ingested TIFF stores")
    p.add_argument("--no-ingest", action="store_true", help="read TIFF input directly")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTDIR")
    p.add_argument(
        "--wait",
        action="store_true",
        help="if another process is writing OUTDIR or the ingested store, wait for it "
        "(default: exit at once)",
    )
    p.add_argument("--no-figures", action="store_true", help="skip the matplotlib figures")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)

    return p


def build_config(args: argparse.Namespace) -> Any:
    """Defaults, then ``--config FILE``, then the per-stage options, then ``--set``."""
    from sofi_dask._schedulers import LOCAL_SCHEDULERS, parse_scheduler
    from sofi_dask.errors import InputError
    from sofi_dask.pipeline import _config as cfgmod

    config = cfgmod.load_config(args.config) if args.config else cfgmod.PipelineConfig()
    overrides: dict[str, Any] = {}
    for _flag, key, _kwargs in STAGE_OPTIONS:
        value = getattr(args, f"opt:{key}")
        if value is None:
            continue
        overrides[key] = value
        if key == "finterp.factor":
            overrides["finterp.enabled"] = True
        if key == "deconvolution.psf.path":  # --psf-file selects the file PSF
            overrides["deconvolution.psf.kind"] = "file"
        if key == "video.window":
            overrides["video.enabled"] = True
    if args.no_figures:
        overrides["outputs.figures"] = False
    if args.no_progress:
        overrides["compute.progress"] = False
    for text in args.overrides:
        key, value = cfgmod.parse_override(text)
        overrides[key] = value
    c = config.compute
    report = overrides.get("compute.performance_report", c.performance_report)
    scheduler = overrides.get("compute.scheduler", c.scheduler)
    with contextlib.suppress(InputError):  # a bad name: the configuration says so below
        scheduler = parse_scheduler(scheduler)
    if report and scheduler in LOCAL_SCHEDULERS:
        if overrides.get("compute.scheduler_file", c.scheduler_file) is None:
            # dask's local schedulers have no report: a local cluster writes it (and takes
            # the cluster options given with it)
            overrides["compute.scheduler"] = "local"
    return cfgmod.apply_overrides(config, overrides)


def _load_libraries(figures: bool) -> None:
    """Import what a run uses and build numba's target context: the command's fixed start-up.

    Loaded here, before the pipeline starts, rather than by the first stage that needs each one,
    so the start-up the command reports (``timings.phases_s.startup``, the final line) is the
    whole fixed cost (imports, kernel loading) and the libraries' objects are frozen with the
    rest (no garbage collection walks them during the run).
    """
    import numpy as np
    import PIL.PngImagePlugin  # noqa: F401 - the PNG outputs
    import scipy.ndimage  # noqa: F401 - the bleaching blocks' median filter
    import tifffile  # noqa: F401 - the TIFF outputs (and TIFF inputs)
    import zarr  # noqa: F401 - the store and results.zarr

    from sofi_dask.stats._cumulant_kernels import cumulant_layers

    # numba builds its target context on the first call of any compiled kernel (~0.13 s); a
    # cumulants run calls this one with this signature (2-D float64), so it is in numba's cache
    cumulant_layers(np.zeros((2, 1, 1)))
    if figures:
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.figure  # noqa: F401


def _written(result: Any, name: str, zarr: bool) -> str:
    """``  (results.zarr/<name>, tiff/<name>.tif)``: the data files of an image that the run
    wrote (outputs.zarr, outputs.tiff_float32), else its other files, else nothing."""
    files = [p.relative_to(result.output).as_posix() for p in result.files.get(name, [])]
    data = [f"results.zarr/{name}"] if zarr and (result.zarr_path / name).is_dir() else []
    data += [f for f in files if f == f"tiff/{name}.tif"]
    shown = data or files
    return f"  ({', '.join(shown)})" if shown else ""


def run(args: argparse.Namespace) -> int:
    """Run the pipeline; print the dashboard link, progress and where the outputs are."""
    program = getattr(args, "program", False)
    if program:
        # no cyclic garbage collection while the libraries load: each one walks the objects
        # imported so far (~10^6 by the end; a run on a tiny store: 459 collections, 0.08 s);
        # collections resume once those objects are frozen, before the pipeline starts (below)
        gc.disable()
    import dask
    import dask.threaded

    from sofi_dask.cli._ingest import ProgressBar
    from sofi_dask.pipeline._run import client_for, run_pipeline
    from sofi_dask.pipeline._timing import process_age

    config = build_config(args)
    if program:
        _load_libraries(config.outputs.figures)
    source = (args.input[0] if len(args.input) == 1 else args.input) or None
    progress: Any = config.compute.progress
    if progress and not _is_terminal(sys.stderr):
        # a batch job's log: whole lines every tenth or 30 s, no \r bars
        from sofi_dask.cluster._progress import LineProgress

        progress = LineProgress("compute", stream=sys.stderr)
    if getattr(args, "opt:compute.scheduler_file") and getattr(args, "opt:compute.scheduler"):
        raise ValueError("give either --scheduler-file or --scheduler, not both")
    with client_for(config) as client:
        if client is not None:  # distributed is imported only for a cluster scheduler
            from sofi_dask.cluster._client import dashboard_link

            print(f"Dask dashboard: {dashboard_link(client)}", file=sys.stderr, flush=True)
        # without a client, dask's scheduler lookup imports distributed (~0.3 s) only to look
        # for one, unless the scheduler is a function: name the threads it would fall back to
        with contextlib.ExitStack() as local:
            if client is None:  # dask.config.set applies when made: only then
                local.enter_context(dask.config.set(scheduler=dask.threaded.get))
            if program:
                # the ~10^6 objects of the imported libraries live to the end: frozen, the full
                # collections a run's allocations trigger skip them (0.15-0.2 s each, measured)
                gc.freeze()
                gc.enable()
            started = time.perf_counter()  # + the start-up: the run's time, commit included
            result = run_pipeline(
                source,
                args.output,
                config,
                client=client,
                progress=progress,
                overwrite=args.overwrite,
                cache_dir=args.cache_dir,
                ingest=not args.no_ingest,
                ingest_progress=ProgressBar() if progress else None,
                wait=args.wait,
                startup_s=process_age(),  # interpreter, imports, cluster: timings.phases_s
            )
    startup = result.timings["phases_s"]["startup"]
    total = startup + time.perf_counter() - started
    print(f"wrote {result.output} in {total:.1f} s (start-up {startup:.2f} s)")
    for order, name in sorted(result.final_images().items()):
        if name in result.images:
            print(f"  order {order}: {name}{_written(result, name, config.outputs.zarr)}")
    report = config.compute.performance_report
    if report and Path(report).is_file():
        print(f"performance report: {report}")
    return 0
