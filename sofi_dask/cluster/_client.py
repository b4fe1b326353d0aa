"""Where the Dask graphs run: local schedulers, a local cluster, a running scheduler, SLURM, PBS.

:func:`make_client` turns one word (or a scheduler address) into something to compute on:

- ``"threads"``, ``"processes"``, ``"synchronous"``: dask's local schedulers, set through
  dask's configuration by a :class:`LocalScheduler` (no ``distributed`` client).
- ``"local"``: a ``distributed.LocalCluster`` of worker processes on this machine (on
  127.0.0.1), with its dashboard.
- ``"tcp://host:port"`` (or ``tls://``, ``ucx://``, ``host:port``): connect to a running
  scheduler, e.g. one started with ``dask scheduler --scheduler-file``; or pass
  ``scheduler_file=``.
- ``"slurm"``, ``"pbs"``: dask-jobqueue ``SLURMCluster`` / ``PBSCluster`` (scheduler here,
  workers in batch jobs; defaults from ``~/.config/dask/jobqueue.yaml``).

Worker processes are always started with ``spawn`` (zarr 3 runs an asyncio loop on a thread,
which a ``fork`` would copy in a broken state).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
from dask.utils import parse_bytes
from distributed import Client

from sofi_dask._schedulers import LOCAL_SCHEDULERS, SCHEDULERS, parse_scheduler, unused_by_local
from sofi_dask._validation import check_positive_int, fail, shown
from sofi_dask.cluster._jobqueue import (
    JOBQUEUE_KINDS,
    SPAWN_PROLOGUE,
    WORKER_TIMEOUT,
    jobqueue_cluster,
    require_submit_command,
    start_jobs,
    wait_for_workers,
)
from sofi_dask.cluster._local import LocalScheduler
from sofi_dask.cluster._progress import progress, progress_context
from sofi_dask.errors import ClusterError, InputError

__all__ = [
    "LOCAL_SCHEDULERS",
    "SCHEDULERS",
    "SPAWN_PROLOGUE",
    "ClusterClient",
    "LocalScheduler",
    "dashboard_link",
    "make_client",
    "make_jobqueue_cluster",
    "parse_scheduler",
    "progress",
    "progress_context",
]

logger = logging.getLogger(__name__)


def _memory(value: object) -> str | int | None:
    if value is None or value == "auto":
        return value  # type: ignore[return-value]
    try:
        ok = isinstance(value, int | str) and not isinstance(value, bool)
        ok = ok and parse_bytes(value) > 0  # type: ignore[arg-type]
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise fail("memory_limit", "a size such as '4GiB' (per worker), 'auto' or None", value)
    return value  # type: ignore[return-value]


class ClusterClient(Client):
    """A ``distributed.Client`` that also closes the cluster :func:`make_client` started.

    Parameters
    ----------
    *args, **kwargs
        As for ``distributed.Client``.
    owned_cluster : distributed.deploy.Cluster, optional
        Closed after the client when the client is closed (or its ``with`` block ends).

    Examples
    --------
    >>> from distributed import LocalCluster
    >>> cluster = LocalCluster(processes=False)  # doctest: +SKIP
    >>> with ClusterClient(cluster, owned_cluster=cluster) as client:  # doctest: +SKIP
    ...     pass  # the cluster is closed here too
    """

    def __init__(self, *args: Any, owned_cluster: Any = None, **kwargs: Any) -> None:
        self._owned_cluster = owned_cluster
        super().__init__(*args, **kwargs)

    def close(self, *args: Any, **kwargs: Any) -> Any:
        """Close the client, then the cluster it owns (if any)."""
        try:
            return super().close(*args, **kwargs)
        finally:
            cluster, self._owned_cluster = getattr(self, "_owned_cluster", None), None
            if cluster is not None:
                try:
                    cluster.close()
                except Exception:  # pragma: no cover - best effort
                    logger.debug("closing the cluster failed", exc_info=True)


def make_jobqueue_cluster(
    scheduler: str,
    *,
    threads_per_worker: int | None = None,
    memory_limit: str | int | None = None,
    **jobqueue_kwargs: Any,
) -> Any:
    """Build a ``SLURMCluster`` or ``PBSCluster`` without submitting any job.

    Use it to inspect ``cluster.job_script()`` before :func:`make_client` submits jobs, or to
    manage scaling yourself (``cluster.scale(jobs=4)``, ``cluster.adapt(...)``).

    Parameters
    ----------
    scheduler : {"slurm", "pbs"}
        The batch system.
    threads_per_worker : int, optional
        Threads of each worker process (job ``cores`` = this x ``processes``).
    memory_limit : str or int, optional
        Memory of each worker process, e.g. ``"16GiB"`` (job ``memory`` = this x ``processes``).
    **jobqueue_kwargs
        dask-jobqueue options: ``processes`` (worker processes per job), ``cores``,
        ``memory``, ``queue``, ``account``, ``walltime``, ``interface``, ``local_directory``,
        ``job_extra_directives``, ``scheduler_options``, ... Missing ones come from dask's
        ``jobqueue.<slurm|pbs>`` configuration.

    Returns
    -------
    dask_jobqueue.SLURMCluster or dask_jobqueue.PBSCluster
        With no workers yet. Every job script exports
        ``DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD=spawn``.

    Raises
    ------
    ValueError
        Unknown batch system, missing cores/memory, or an invalid option.

    Examples
    --------
    >>> cluster = make_jobqueue_cluster("slurm", threads_per_worker=8, memory_limit="32GiB",
    ...                                 queue="normal", walltime="02:00:00")  # doctest: +SKIP
    >>> print(cluster.job_script())  # doctest: +SKIP
    """
    name = parse_scheduler(scheduler)
    if name not in JOBQUEUE_KINDS:
        raise fail("scheduler", f"one of {tuple(JOBQUEUE_KINDS)}", scheduler)
    return jobqueue_cluster(
        name,
        threads_per_worker=check_positive_int(
            threads_per_worker, "threads_per_worker", allow_none=True
        ),
        memory_limit=_memory(memory_limit),
        **jobqueue_kwargs,
    )


def make_client(
    scheduler: str = "threads",
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: str | int | None = None,
    *,
    scheduler_file: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    timeout: float = 30.0,
    worker_timeout: float = WORKER_TIMEOUT,
    **jobqueue_kwargs: Any,
) -> Any:
    """Something to compute on, from a scheduler name or address; use it as a context manager.

    Parameters
    ----------
    scheduler : str
        ``"threads"`` (default), ``"processes"``, ``"synchronous"``, ``"local"``
        (``distributed.LocalCluster`` of worker processes on 127.0.0.1), ``"slurm"``,
        ``"pbs"``, or the address of a running scheduler (``"tcp://host:8786"``).
    n_workers : int, optional
        Threads (``threads``) or processes (``processes``) of a local scheduler; worker
        processes of a ``local`` cluster; for ``slurm``/``pbs``, workers to start (jobs =
        workers / processes per job). Ignored for an address.
    threads_per_worker : int, optional
        Threads of each worker process (``local``, ``slurm``, ``pbs``; refused for a local
        scheduler, as are ``memory_limit``, ``jobs`` and jobqueue options).
    memory_limit : str or int, optional
        Memory of each worker process, e.g. ``"4GiB"`` (``local``, ``slurm``, ``pbs``).
    scheduler_file : path-like, optional
        Connect to the scheduler described by this file (written by
        ``dask scheduler --scheduler-file``); ``scheduler`` must then be left at its default.
    jobs : int, optional
        ``slurm``/``pbs``: batch jobs to submit (default: enough for ``n_workers``, else 1).
    timeout : float
        Seconds to wait for a scheduler to answer.
    worker_timeout : float
        ``slurm``/``pbs``: seconds to wait for the first worker (its job may queue); then a
        :class:`~sofi_dask.errors.ClusterError` says what is pending and why.
    **jobqueue_kwargs
        ``slurm``/``pbs``: dask-jobqueue options (``queue``, ``account``, ``walltime``,
        ``processes``, ``cores``, ``memory``, ``job_extra_directives``, ...). ``local``: extra
        ``LocalCluster`` options (e.g. ``dashboard_address``, ``host``).

    Returns
    -------
    LocalScheduler or distributed.Client
        A :class:`LocalScheduler` for the local schedulers (no client: dask's configuration
        selects the scheduler until it is closed), else a ``distributed.Client`` (closing it
        also closes a cluster that ``make_client`` started; never a scheduler it connected to).

    Raises
    ------
    ValueError
        A bad scheduler name or address, a bad ``n_workers`` / ``threads_per_worker`` /
        ``memory_limit``, or options that do not apply to the scheduler.
    FileNotFoundError
        ``slurm``/``pbs`` without ``sbatch``/``qsub`` on PATH, or a missing scheduler file.
    sofi_dask.errors.ClusterError
        The cluster could not be started or its scheduler not reached within ``timeout``;
        ``slurm``/``pbs``: the batch system rejected the worker jobs (its message and the job
        script's path), or no worker connected within ``worker_timeout`` seconds.

    Examples
    --------
    >>> import dask.array as da
    >>> with make_client("threads", n_workers=2):
    ...     float(da.ones(10, chunks=5).sum().compute())
    10.0
    >>> with make_client("local", n_workers=2) as client:  # doctest: +SKIP
    ...     print(dashboard_link(client))
    """
    n_workers = check_positive_int(n_workers, "n_workers", allow_none=True)
    threads_per_worker = check_positive_int(
        threads_per_worker, "threads_per_worker", allow_none=True
    )
    memory_limit = _memory(memory_limit)
    jobs = check_positive_int(jobs, "jobs", allow_none=True)
    if scheduler_file is not None:
        if scheduler != "threads":
            raise fail(
                "scheduler_file",
                "either scheduler_file or scheduler",
                shown(f"scheduler={scheduler!r} too"),
            )
        path = Path(scheduler_file).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"scheduler file {str(path)!r} does not exist")
        _no_extra("a scheduler file", jobqueue_kwargs)
        with _cluster_errors(f"the scheduler of {str(path)!r}", timeout):
            return ClusterClient(scheduler_file=str(path), timeout=timeout)
    name = parse_scheduler(scheduler)
    if name in LOCAL_SCHEDULERS:
        options = {"threads_per_worker": threads_per_worker, "memory_limit": memory_limit}
        unused = unused_by_local(name, {**options, "jobs": jobs, **jobqueue_kwargs})
        if unused is not None:
            raise fail(*unused)
        return LocalScheduler(name, n_workers)
    if name == "local":
        return _local_cluster_client(n_workers, threads_per_worker, memory_limit, jobqueue_kwargs)
    if name in JOBQUEUE_KINDS:
        require_submit_command(name)
        cluster = make_jobqueue_cluster(
            name,
            threads_per_worker=threads_per_worker,
            memory_limit=memory_limit,
            **jobqueue_kwargs,
        )
        try:
            with _cluster_errors(f"the {name} cluster", timeout):
                start_jobs(cluster, name, n_workers=n_workers, jobs=jobs)
                client = ClusterClient(cluster, owned_cluster=cluster, timeout=timeout)
        except BaseException:
            cluster.close()
            raise
        try:
            wait_for_workers(client, cluster, name, worker_timeout)
        except BaseException:
            client.close()  # cancels the jobs
            raise
        return client
    _no_extra(f"scheduler address {name!r}", jobqueue_kwargs)
    with _cluster_errors(f"the scheduler at {name!r}", timeout):
        return ClusterClient(name, timeout=timeout)


@contextlib.contextmanager
def _cluster_errors(what: str, timeout: float | None) -> Iterator[None]:
    """A cluster that cannot be started or reached: :class:`ClusterError` naming it."""
    try:
        yield
    except (OSError, TimeoutError, RuntimeError) as exc:
        if isinstance(exc, ClusterError | FileNotFoundError):
            raise
        wait = "" if timeout is None else f" (waited up to {timeout:g} s)"
        raise ClusterError(f"could not start or reach {what}{wait}: {exc}") from exc


def _no_extra(what: str, kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise fail(
            sorted(kwargs)[0],
            f"no cluster option for {what} (they apply to 'local', 'slurm' and 'pbs')",
            shown(f"options {sorted(kwargs)}"),
        )


def _local_cluster_client(
    n_workers: int | None,
    threads_per_worker: int | None,
    memory_limit: str | int | None,
    options: dict[str, Any],
) -> Any:
    from distributed import LocalCluster

    kwargs: dict[str, Any] = {
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": "127.0.0.1:8787",
        **options,
    }
    if n_workers is not None:
        kwargs["n_workers"] = n_workers
    if threads_per_worker is not None:
        kwargs["threads_per_worker"] = threads_per_worker
    if memory_limit is not None:
        kwargs["memory_limit"] = memory_limit
    try:
        with (
            _cluster_errors("a local cluster", None),
            dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}),
        ):
            cluster = LocalCluster(**kwargs)
    except TypeError as exc:
        raise InputError(f"local cluster: invalid option ({exc})") from exc
    try:
        with _cluster_errors("a local cluster", None):
            return ClusterClient(cluster, owned_cluster=cluster)
    except BaseException:
        cluster.close()
        raise


def dashboard_link(client: Any) -> str | None:
    """The dashboard URL of a client (or cluster), None for a local scheduler or no dashboard.

    Examples
    --------
    >>> dashboard_link(make_client("threads")) is None
    True
    """
    if client is None or isinstance(client, LocalScheduler):
        return None
    try:
        link = client.dashboard_link
    except (AttributeError, KeyError):
        return None
    return str(link) if link else None
