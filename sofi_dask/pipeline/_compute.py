"""Where a run's graph is computed: dask's local schedulers or a ``distributed`` client, one
compute of the whole graph, and the checks of the compute options before any work."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import dask.array as da

from sofi_dask._cpus import threaded_compute
from sofi_dask._schedulers import JOBQUEUE_SCHEDULERS, LOCAL_SCHEDULERS
from sofi_dask.errors import ConfigError

__all__ = ["check_report", "client_for", "compute", "local_workers", "parse"]

logger = logging.getLogger(__name__)


def parse(config: Any) -> Any:
    """The run configuration (``PipelineConfig``) from a config, a dict or None."""
    from sofi_dask.pipeline._config import parse_config

    return parse_config(config)


@contextlib.contextmanager
def _progress_ctx(progress: Any) -> Iterator[None]:
    if progress and hasattr(progress, "local"):  # e.g. cluster.LineProgress (batch logs)
        with progress.local():
            yield
        return
    if progress and not callable(progress):
        from dask.diagnostics import ProgressBar

        with ProgressBar(minimum=0.5, dt=0.2):
            yield
        return
    yield


def compute(
    targets: list[tuple[da.Array, Any]],
    *,
    client: Any,
    progress: Any,
    scheduler: str | None = None,
    num_workers: int | None = None,
    extras: list[Any] | None = None,
) -> list[Any]:
    """Store every kept output into its Zarr array: ONE graph, computed once. ``extras`` (small
    lazy arrays of the quality section) are computed in the same graph and returned.
    ``num_workers``: threads or processes of a local scheduler (None: the CPUs)."""
    sources = [src.rechunk(tgt.chunks) for src, tgt in targets]
    stored = da.store(sources, [t for _, t in targets], lock=False, compute=False)
    extras = list(extras or [])
    if client is None:  # local threads run one task per CPU: one BLAS thread per task
        with _progress_ctx(progress):
            workers = {} if num_workers is None else {"num_workers": num_workers}
            return list(threaded_compute(stored, *extras, scheduler=scheduler, **workers)[1:])
    futures = client.compute([stored, *extras])
    if progress:
        if callable(progress):
            progress(futures)
        else:
            from distributed import progress as dprogress

            dprogress(futures)
    return list(client.gather(futures)[1:])


def local_workers(cfg: Any, client: Any) -> int | None:
    """``compute.n_workers`` when the run computes on dask's local scheduler (no client, no
    cluster scheduler): its threads or processes; else None."""
    c = cfg.compute
    if client is None and c.scheduler in LOCAL_SCHEDULERS and c.scheduler_file is None:
        return c.n_workers
    return None


@contextlib.contextmanager
def client_for(config: Any, client: Any = None) -> Iterator[Any]:
    """The ``distributed`` client a run uses: ``client`` if given, else one made from
    ``config.compute`` for a cluster scheduler (``local``, ``slurm``, ``pbs``, an address,
    ``scheduler_file``), closed at the end (a scheduler connected to keeps running); None for
    the local schedulers (threads, synchronous, processes).
    """
    cfg = parse(config)
    c = cfg.compute
    if client is not None or (c.scheduler in LOCAL_SCHEDULERS and c.scheduler_file is None):
        yield client
        return
    from sofi_dask.cluster import _client as cluster

    if c.scheduler_file is not None:
        made = cluster.make_client(scheduler_file=c.scheduler_file)
    else:
        options = {"worker_timeout": c.worker_timeout} if c.scheduler in JOBQUEUE_SCHEDULERS else {}
        made = cluster.make_client(
            c.scheduler,
            n_workers=c.n_workers,
            threads_per_worker=c.threads_per_worker,
            memory_limit=c.memory_limit,
            **{**options, **c.cluster_options},
        )
    try:
        logger.info("dask dashboard: %s", cluster.dashboard_link(made))
        yield made
    finally:
        made.close()


def check_report(cfg: Any, client: Any) -> None:
    """A performance report needs a ``distributed`` scheduler: refuse one it cannot write."""
    c = cfg.compute
    if not c.performance_report or client is not None:
        return
    if c.scheduler in LOCAL_SCHEDULERS and c.scheduler_file is None:
        raise ConfigError(
            "compute.performance_report",
            f"expected a distributed scheduler to write the report to "
            f"{str(c.performance_report)!r} (compute.scheduler = 'local', a cluster, an "
            f"address, compute.scheduler_file or a client), got compute.scheduler = "
            f"{c.scheduler!r}, which has no report",
        )
