"""The end-to-end SOFI pipeline as one lazy Dask graph, computed once, written atomically.

Chain (pysofi's order; every stage can be switched off): bleaching correction -> Fourier
interpolation -> moments or cumulants of the chosen orders (whole movie or SOFI video) ->
noise filter 1 (video) -> shrinking-kernel deconvolution -> noise filter 2 (video) -> LDRC.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np

from sofi_dask._outputs_record import base_record, input_identity
from sofi_dask._pipeline_graph import StageGraph, build_graph
from sofi_dask._pipeline_input import InputLike, resolve_input
from sofi_dask._pipeline_plan import Plan
from sofi_dask._pipeline_timing import PhaseTimer, StageTimes, task_timer
from sofi_dask.outputs import (
    RUN_RECORD_NAME,
    AtomicOutputDir,
    ImageSpec,
    create_image_array,
    write_image_files,
    write_run_record,
)

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
        Image name -> :class:`~sofi_dask.outputs.ImageSpec` of every stored result.
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
        import zarr

        if name not in self.images:
            raise KeyError(f"name: expected one of {sorted(self.images)}, got {name!r}")
        return np.asarray(zarr.open_array(self.zarr_path / name / "0", mode="r")[...])

    def final_images(self) -> dict[int, str]:
        """Order -> name of the last stage's image of that order."""
        return {int(k): v for k, v in self.record["final_images"].items()}


def _plan(config: Any) -> Plan:
    if config is None:
        return Plan()
    if isinstance(config, Plan):
        return config
    from sofi_dask._pipeline_config import plan_from_config

    return plan_from_config(config)


def _config_dict(config: Any, plan: Plan) -> dict[str, Any]:
    to_dict = getattr(config, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    from dataclasses import asdict

    return asdict(plan)


@contextlib.contextmanager
def _progress_ctx(progress: Any, client: Any) -> Iterator[None]:
    if progress and client is None and not callable(progress):
        from dask.diagnostics import ProgressBar

        with ProgressBar(minimum=1.0):
            yield
        return
    yield


def _compute(
    targets: list[tuple[da.Array, Any]],
    extras: list[Any],
    *,
    client: Any,
    progress: Any,
    scheduler: str | None = None,
) -> list[Any]:
    """Store every kept output into its Zarr array and compute ``extras`` in ONE graph."""
    sources = [src.rechunk(tgt.chunks) for src, tgt in targets]
    stored = da.store(sources, [t for _, t in targets], lock=False, compute=False)
    if client is None:
        with _progress_ctx(progress, client):
            _, *values = dask.compute(stored, *extras, scheduler=scheduler)
        return values
    futures = client.compute([stored, *extras])
    if progress:
        if callable(progress):
            progress(futures)
        else:
            from distributed import progress as dprogress

            dprogress(futures)
    _, *values = client.gather(futures)
    return values


def run_pipeline(
    input: InputLike,  # noqa: A002 - the contract's name
    output: str | os.PathLike[str],
    config: Any = None,
    *,
    client: Any = None,
    scheduler: str | None = None,
    progress: Any = None,
    overwrite: bool = False,
    ingest_progress: Callable[[int, int], None] | None = None,
    figures: bool | None = None,
) -> PipelineResult:
    """Run the whole SOFI pipeline on a movie and write every kept result.

    The statistics of all orders and every image stage form ONE lazy Dask graph that is
    computed once (``dask.compute`` locally, ``client.compute`` with a ``distributed`` client)
    while the results stream into ``output/results.zarr``. Everything is written into a hidden
    temporary folder beside ``output`` and renamed into place at the end, so an interrupted
    run leaves no folder that looks complete; running it again gives the same result.

    Parameters
    ----------
    input : path, glob or list of paths
        A Zarr store from ``sofi_dask.io.ingest``, a TIFF, a folder/glob/list of TIFFs. TIFF
        input is ingested into ``<input>.zarr`` (or ``cache_dir``) on the first run and that
        store is reused by the next runs.
    output : path
        Output folder (must not exist unless ``overwrite``; never an input or inside one).
    config : PipelineConfig, optional
        Pipeline parameters (``sofi_dask.config``); defaults when None.
    client : distributed.Client, optional
        Compute on this cluster instead of the local scheduler.
    scheduler : {"threads", "processes", "synchronous"}, optional
        Local dask scheduler when there is no ``client`` (default: dask's configured one).
    progress : bool or callable, optional
        True: dask's ``ProgressBar`` locally, ``distributed.progress`` with a client. A callable
        receives the list of futures (distributed) instead. None/False: silent.
    overwrite : bool
        Replace an existing output folder written by sofi-dask.
    ingest_progress : callable, optional
        ``ingest_progress(done_frames, total_frames)`` while TIFF input is ingested.
    figures : bool, optional
        Make the figures (default: the config's setting).

    Returns
    -------
    PipelineResult

    Raises
    ------
    FileExistsError
        ``output`` exists and ``overwrite`` is False.
    ValueError
        Bad parameters (naming them), or an output that would touch the input.

    Examples
    --------
    >>> from sofi_dask.config import PipelineConfig  # doctest: +SKIP
    >>> result = run_pipeline("movie.tif", "out", PipelineConfig())  # doctest: +SKIP
    >>> result.load("ldrc_order4").shape  # doctest: +SKIP
    (128, 128)
    """
    plan = _plan(config)
    timer = PhaseTimer()
    record = base_record()
    # refuse a bad output before any work (ingestion included)
    from sofi_dask._pipeline_input import cache_store_path, source_paths

    inputs = source_paths(input)
    protected = list(inputs)
    if plan.ingest:
        with contextlib.suppress(FileNotFoundError):
            protected.append(cache_store_path(input, plan.cache_dir))
    atomic = AtomicOutputDir(output, inputs=protected, overwrite=overwrite)

    with timer("ingest"):
        resolved = resolve_input(
            input,
            ingest=plan.ingest,
            cache_dir=plan.cache_dir,
            channel=plan.channel,
            chunks=plan.chunks,
            progress=ingest_progress,
        )
    movie = resolved.movie
    with timer("build_graph"):
        graph = build_graph(movie, plan)

    make_figures = plan.figures if figures is None else figures
    files: dict[str, list[Path]] = {}
    figs: dict[str, Any] = {}
    with atomic as tmp:
        import zarr

        root = zarr.open_group(tmp / RESULTS_ZARR, mode="w-", zarr_format=3)
        root.attrs["sofi_dask"] = {"images": list(graph.specs), "complete": False}
        targets = []
        for name, arr in graph.arrays.items():
            target = create_image_array(root, graph.specs[name], arr.shape, np.float64)
            targets.append((arr.astype(np.float64), target))
        times = StageTimes(graph.stage_of_layer)
        with timer("compute"), task_timer(times, client):
            _compute(targets, [], client=client, progress=progress, scheduler=scheduler)
        root.attrs["sofi_dask"] = {"images": list(graph.specs), "complete": True}

        with timer("write_files"):
            for name, spec in graph.specs.items():
                arr = da.from_zarr(zarr.open_array(tmp / RESULTS_ZARR / name / "0", mode="r"))
                written = write_image_files(
                    arr, spec, tmp, colormap=plan.colormap, contrast=plan.contrast,
                    tiff=plan.tiff, rgb=plan.rgb, png=plan.png, protected=protected,
                )  # fmt: skip
                files[name] = [p.relative_to(tmp) for p in written.values()]
        if make_figures:
            with timer("figures"):
                from sofi_dask._pipeline_figures import make_figures as _make

                figs, fig_files = _make(tmp, graph, plan, movie)
                files.update({k: [p.relative_to(tmp) for p in v] for k, v in fig_files.items()})

        used = "distributed" if client is not None else scheduler or "default (threads)"
        record.update(_record(resolved, plan, config, graph, times, timer, files, used))
        write_run_record(tmp / RUN_RECORD_NAME, record)
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
    plan: Plan,
    config: Any,
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
        "parameters": _config_dict(config, plan),
        "input": inp,
        "pixel_size_um": movie.pixel_size,
        "scheduler": scheduler,
        "bleaching_blocks": [list(b) for b in graph.blocks] if graph.blocks else None,
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
