"""The end-to-end SOFI pipeline as one lazy Dask graph, computed once, written atomically.

Chain (pysofi's order; every stage can be switched off): bleaching correction -> Fourier
interpolation -> moments or cumulants of the chosen orders (whole movie or SOFI video) ->
noise filter 1 (video) -> shrinking-kernel deconvolution -> noise filter 2 (video) -> LDRC.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as _dt
import logging
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import dask.local
import dask.threaded
import numpy as np

from sofi_dask._cpus import cpu_count
from sofi_dask._validation import check_real
from sofi_dask.errors import ConfigError, InputError
from sofi_dask.io._space import explain_disk_full, human_bytes
from sofi_dask.pipeline._compute import check_report, client_for, compute, local_workers, parse
from sofi_dask.pipeline._config_checks import check_programs, warn_moot_settings
from sofi_dask.pipeline._figures import make_figures
from sofi_dask.pipeline._graph import StageGraph, build_graph
from sofi_dask.pipeline._input import (
    InputLike,
    cache_store_path,
    is_zarr_store,
    resolve_input,
    source_paths,
    with_pixel_size,
)
from sofi_dask.pipeline._outputs import (
    RUN_RECORD_PENDING,
    ImageSpec,
    create_image_array,
    run_output_dir,
    write_image_files,
    write_run_record,
)
from sofi_dask.pipeline._quality import drift_record, lazy_arrays, start_quality_section
from sofi_dask.pipeline._record import base_record, input_identity, run_parameters
from sofi_dask.pipeline._result_images import ResultImages, read_image
from sofi_dask.pipeline._timing import PhaseTimer, StageTimes, task_timer

__all__ = ["PipelineResult", "run_pipeline"]

logger = logging.getLogger(__name__)

RESULTS_ZARR = "results.zarr"


@dataclass(frozen=True)
class PipelineResult:
    """What a run produced.

    Attributes
    ----------
    output : pathlib.Path
        The output folder.
    zarr_path : pathlib.Path
        The results group (``output/results.zarr``).
    images : dict
        Image name -> :class:`~sofi_dask.pipeline._outputs.ImageSpec` of every stored result.
    files : dict
        Image or figure name -> list of files written for it.
    record : dict
        The run record (also in ``output/run.json``).
    figures : dict
        Figure name -> matplotlib ``Figure`` (closed; still savable), when figures were made.
    """

    output: Path
    zarr_path: Path
    images: dict[str, ImageSpec]
    files: dict[str, list[Path]]
    record: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def timings(self) -> dict[str, Any]:
        """Per-phase wall seconds and per-stage task seconds of the run."""
        return self.record["timings"]

    def load(self, name: str) -> np.ndarray:
        """Read one stored result (e.g. ``"ldrc_order4"``) as a float64 numpy array."""
        if name not in self.images:
            raise KeyError(f"name: expected one of {sorted(self.images)}, got {name!r}")
        return read_image(self.zarr_path, name)

    def final_images(self) -> dict[int, str]:
        """Order -> name of the last stage's image of that order."""
        return {int(k): v for k, v in self.record["final_images"].items()}


def run_pipeline(
    input: InputLike | None = None,  # noqa: A002 - the contract's name
    output: str | os.PathLike[str] | None = None,
    config: Any = None,
    *,
    client: Any = None,
    progress: Any = None,
    overwrite: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    ingest: bool = True,
    ingest_progress: Callable[[int, int], None] | None = None,
    wait: bool = False,
    startup_s: float | None = None,
) -> PipelineResult:
    """Run the whole SOFI pipeline on a movie and write every kept result.

    The statistics of all orders and every image stage form ONE lazy Dask graph that is
    computed once (``dask.compute`` locally, ``client.compute`` with a ``distributed`` client)
    while the results stream into ``output/results.zarr``. Everything is written into a hidden
    temporary folder beside ``output`` and renamed into place at the end, so an interrupted
    run leaves no folder that looks complete; running it again gives the same result.

    Parameters
    ----------
    input : path, glob or list of paths, optional
        A Zarr store from ``sofi_dask.io.ingest``, a TIFF, a folder/glob/list of TIFFs
        (default: ``config.input.path``). TIFF input is ingested into ``<input>.zarr`` (or
        ``cache_dir``) on the first run and that store is reused by the next runs.
    output : path, optional
        Output folder (default: ``config.outputs.path``); must not exist unless
        ``overwrite``; never an input or inside one.
    config : PipelineConfig or dict, optional
        Pipeline parameters (``sofi_dask.config``); defaults when None.
    client : distributed.Client, optional
        Compute on this cluster. Without it, ``config.compute.scheduler`` decides: a local
        scheduler (threads, synchronous, processes) or a cluster made for the run.
    progress : bool or callable, optional
        True: dask's ``ProgressBar`` locally, ``distributed.progress`` with a client; a
        callable receives the list of futures (distributed). Default:
        ``config.compute.progress``.
    overwrite : bool
        Replace an existing output folder written by sofi-dask.
    cache_dir : path, optional
        Folder of the ingested store of TIFF input (default: beside the input).
    ingest : bool
        Ingest TIFF input into Zarr (reused next time); False reads the TIFF lazily.
    ingest_progress : callable, optional
        ``ingest_progress(done_frames, total_frames)`` while TIFF input is ingested.
    wait : bool
        Another process is writing ``output`` or the ingested store: wait for it (default:
        raise :class:`~sofi_dask.errors.StoreLockedError` at once).
    startup_s : float, optional
        Seconds the calling process took to get here (interpreter, imports, cluster set-up),
        recorded as ``timings.phases_s.startup`` in ``run.json``; the command line passes it.
        The command line loads every library a run uses, and numba's target context, before
        it calls this; from Python, what is first loaded here counts in the phase that needs it.

    Returns
    -------
    PipelineResult

    Raises
    ------
    FileExistsError
        ``output`` exists and ``overwrite`` is False.
    ValueError
        Bad parameters (naming them), or an output that would touch the input;
        :class:`~sofi_dask.errors.ConfigError` for ``compute.performance_report`` with a
        local scheduler (threads, synchronous, processes), which cannot write one, and for
        ``outputs.video_format = 'mp4'`` of a SOFI video without the ffmpeg program.

    Examples
    --------
    >>> from sofi_dask.pipeline._config import PipelineConfig  # doctest: +SKIP
    >>> result = run_pipeline("movie.tif", "out", PipelineConfig())  # doctest: +SKIP
    >>> result.load("ldrc_order4").shape  # doctest: +SKIP
    (128, 128)
    """
    cfg = parse(config)
    warn_moot_settings(cfg)  # settings given that have no effect: named, the run goes on
    wanted = cfg.outputs
    input = input if input is not None else cfg.input.path  # noqa: A001
    output = output if output is not None else cfg.outputs.path
    if input is None:
        raise InputError(
            "parameter 'input': expected a movie path (argument or input.path), got None"
        )
    if output is None:
        raise InputError(
            "parameter 'output': expected an output folder (argument or outputs.path), got None"
        )
    if progress is None:
        progress = cfg.compute.progress
    timer = PhaseTimer()
    if startup_s is not None:
        timer.seconds["startup"] = round(check_real(startup_s, "startup_s", minimum=0), 4)
    record = base_record()
    check_report(cfg, client)
    check_programs(cfg)
    # refuse a bad output before any work (ingestion included)
    inputs = source_paths(input)
    protected = list(inputs)
    if ingest and not (len(inputs) == 1 and is_zarr_store(inputs[0])):  # a folder of TIFFs too
        with contextlib.suppress(FileNotFoundError):
            protected.append(cache_store_path(input, cache_dir))
    atomic = run_output_dir(output, inputs=protected, overwrite=overwrite, wait=wait)

    with timer("ingest"):
        resolved = resolve_input(
            input,
            ingest=ingest,
            cache_dir=cache_dir,
            channel=cfg.input.channel,
            axes=cfg.input.axes,
            progress=ingest_progress,
            wait=wait,
        )
    if cfg.input.pixel_size_um is not None:  # the user's calibration, over the file's
        movie = with_pixel_size(resolved.movie, cfg.input.pixel_size_um)
        resolved = dataclasses.replace(resolved, movie=movie)
    movie = resolved.movie
    workers = local_workers(cfg, client)  # compute.n_workers of a local scheduler: every
    # local compute of the run (drift, statistics, files) uses at most that many threads
    cpus = workers or cpu_count()

    def limit() -> Any:
        return dask.config.set(num_workers=workers) if workers else contextlib.nullcontext()

    with timer("build_graph"), limit():
        graph = build_graph(movie, cfg)
    if not graph.arrays:
        raise ConfigError(
            "outputs.keep_stages",
            f"none of {list(wanted.keep_stages)} is computed by this run; nothing would be written",
        )

    files: dict[str, list[Path]] = {}
    figs: dict[str, Any] = {}
    report = contextlib.nullcontext()
    images = sum(int(np.prod(a.shape)) * 8 for a in graph.arrays.values())
    full = explain_disk_full(
        atomic.final,
        "the results",
        lambda: f"{human_bytes(images)} for the images in Zarr alone",
        resumes=False,
    )
    with (
        atomic as tmp,
        client_for(cfg, client) as active,
        full,
        contextlib.ExitStack() as local_stack,
        limit(),
    ):
        import zarr

        root = zarr.open_group(tmp / RESULTS_ZARR, mode="w-", zarr_format=3)
        info = {"images": list(graph.specs), "complete": False}
        root.attrs["sofi_dask"] = info
        targets = []
        for name, arr in graph.arrays.items():
            target = create_image_array(root, graph.specs[name], arr.shape, np.float64)
            targets.append((arr.astype(np.float64), target))
        extras = lazy_arrays(graph.quality) if graph.quality is not None else []
        graph.claim("quality", *extras)  # the halves' layers the images do not use
        times = StageTimes(graph.stage_of_layer)
        if cfg.compute.performance_report:  # check_report: there is a client
            from distributed import performance_report

            report = performance_report(filename=str(cfg.compute.performance_report))
        local = None if active is not None else cfg.compute.scheduler
        with timer("compute"), report, task_timer(times, active):
            computed = compute(
                targets,
                client=active,
                progress=progress,
                scheduler=local,
                num_workers=workers,
                extras=extras,
            )
        root.attrs["sofi_dask"] = {**info, "complete": True}
        if graph.drift is not None:
            record["drift"] = drift_record(graph.drift, movie.pixel_size)

        # the files are written by this process from the finished store: read it with local
        # threads (a distributed round trip per frame or display range costs ~0.1 s each); each
        # image read once for the files, the figures and the quality section
        images = ResultImages(tmp / RESULTS_ZARR)

        def write(name: str) -> list[Path]:
            group = zarr.open_group(tmp / RESULTS_ZARR / name, mode="r+")
            written = write_image_files(
                images.for_files(name),
                graph.specs[name],
                tmp,
                colormap=wanted.cmap,
                percentiles=wanted.percentiles,
                stretch=wanted.signed_stretch,
                tiff=wanted.tiff_float32,
                rgb=wanted.tiff_rgb,
                png=wanted.png,
                video_format=wanted.video_format,
                protected=protected,
                group=group,
            )
            return [p.relative_to(tmp) for p in written.values()]

        # images on parallel threads (encoders and numpy release the GIL); a result's own dask
        # reads get the CPUs the pool leaves (no pool of cpu_count threads inside each of them)
        n_pool = max(1, min(cpus, len(graph.specs)))
        # schedulers by function: dask imports distributed (~0.3 s) to resolve a name
        inner = {"scheduler": dask.threaded.get, "num_workers": max(1, cpus // n_pool)}
        with (
            timer("write_files"),
            dask.config.set(inner if n_pool < cpus else {"scheduler": dask.local.get_sync}),
        ):
            with ThreadPoolExecutor(max_workers=n_pool) as pool:  # in this context: the
                # output folder's commit flushes the files (io._atomic's context variable)
                jobs = [pool.submit(contextvars.copy_context().run, write, s) for s in graph.specs]
                files.update(zip(graph.specs, (j.result() for j in jobs), strict=True))
        # beside the other figures (matplotlib holds one core); joined before the quality figures
        quality_job = None
        if graph.quality_skipped is not None:
            record["quality"] = {"skipped": graph.quality_skipped}
        if graph.quality is not None:
            quality_job = start_quality_section(
                local_stack, timer, graph, computed, images, cfg, movie.pixel_size
            )

        def quality_done() -> None:
            if quality_job is not None and "quality" not in record:
                record["quality"] = quality_job.result()

        if wanted.figures:
            with timer("figures"):
                figs, fig_files = make_figures(images, graph, cfg, movie, quality_done)
                files.update({k: [p.relative_to(tmp) for p in v] for k, v in fig_files.items()})
        quality_done()
        if not wanted.zarr:
            shutil.rmtree(tmp / RESULTS_ZARR)
        scheduler = "distributed" if active is not None else cfg.compute.scheduler
        params = run_parameters(cfg, input, output)  # the paths of the call, not the config's
        record.update(_record(resolved, params, graph, times, timer, files, scheduler))
        write_run_record(tmp / RUN_RECORD_PENDING, record)  # run.json once in place
    out = atomic.final
    return PipelineResult(
        output=out,
        zarr_path=out / RESULTS_ZARR,
        images=dict(graph.specs),
        files={k: [out / p for p in v] for k, v in files.items()},
        record=record,
        figures=figs,
    )


def _record(
    resolved: Any,
    params: dict[str, Any],
    graph: StageGraph,
    times: StageTimes,
    timer: PhaseTimer,
    files: dict[str, list[Path]],
    scheduler: str,
) -> dict[str, Any]:
    movie = resolved.movie
    sources = resolved.sources
    identity = input_identity(
        sources[0] if len(sources) == 1 else sources, shape=movie.shape, dtype=movie.dtype
    )
    inp: dict[str, Any] = {**identity, "ingestion": resolved.ingestion}
    if resolved.store is not None:
        inp["store"] = str(resolved.store)
    return {
        "finished": _dt.datetime.now(tz=_dt.UTC).isoformat(),
        "parameters": params,
        "input": inp,
        "pixel_size_um": movie.pixel_size,
        "scheduler": scheduler,
        "bleaching_blocks": [list(b) for b in graph.blocks] if graph.blocks else None,
        "bleaching_fit": _fit_record(graph.bleaching_fit),
        "images": {
            name: {
                "stage": spec.stage,
                "order": spec.order,
                "axes": list(spec.axes),
                "scale": list(spec.scale),
                "unit": spec.unit,
                "shape": list(graph.arrays[name].shape),
                "description": spec.description,
                "files": [str(p) for p in files.get(name, [])],
            }
            for name, spec in graph.specs.items()
        },
        "final_images": {str(k): v for k, v in graph.finals.items()},
        "figures": {k: [str(p) for p in v] for k, v in files.items() if k not in graph.specs},
        "timings": {"phases_s": dict(timer.seconds), "stages": times.as_dict()},
    }


def _fit_record(fit: Any) -> dict[str, Any] | None:
    """The exponential bleaching fit's parameters for run.json (exp/biexp; else None)."""
    if fit is None:
        return None
    return {
        "model": fit.model,
        "offset": fit.offset,
        "amplitudes": list(fit.amplitudes),
        "lifetimes_frames": list(fit.lifetimes),
    }
