"""SLURM / PBS clusters through dask-jobqueue: resources from our parameters and dask config.

dask-jobqueue reads defaults from dask's configuration (``~/.config/dask/jobqueue.yaml``, see
``cluster/jobqueue.yaml``); our parameters only fill what the caller gave. Workers are told to
start their processes with ``spawn`` (zarr 3 runs an asyncio loop on a thread, which ``fork``
would copy in a broken state).
"""

from __future__ import annotations

import shutil
from typing import Any

import dask
from dask.utils import format_bytes, parse_bytes

from sofi_dask._validation import check_positive_int, fail
from sofi_dask.errors import InputError

__all__ = [
    "JOBQUEUE_KINDS",
    "SPAWN_PROLOGUE",
    "jobqueue_cluster",
    "require_submit_command",
    "submit_command",
]

#: scheduler name -> (dask-jobqueue class name, config section, submit command)
JOBQUEUE_KINDS: dict[str, tuple[str, str, str]] = {
    "slurm": ("SLURMCluster", "slurm", "sbatch"),
    "pbs": ("PBSCluster", "pbs", "qsub"),
}

#: Added to every job script: worker processes started with spawn, never fork.
SPAWN_PROLOGUE = "export DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD=spawn"


def submit_command(kind: str) -> str:
    """The batch submission command of ``kind`` (``sbatch`` or ``qsub``)."""
    return JOBQUEUE_KINDS[kind][2]


def _config(kind: str, key: str) -> Any:
    return dask.config.get(f"jobqueue.{JOBQUEUE_KINDS[kind][1]}.{key}", default=None)


def jobqueue_cluster(
    kind: str,
    *,
    threads_per_worker: int | None = None,
    memory_limit: str | int | None = None,
    **kwargs: Any,
) -> Any:
    """Build (without submitting any job) a dask-jobqueue cluster of ``kind``.

    ``threads_per_worker`` and ``memory_limit`` are per worker process: the job gets
    ``cores = threads_per_worker * processes`` and ``memory = memory_limit * processes`` unless
    ``cores`` / ``memory`` are given. Other keyword arguments go to the dask-jobqueue class.
    """
    import dask_jobqueue

    cls = getattr(dask_jobqueue, JOBQUEUE_KINDS[kind][0])
    processes = kwargs.get("processes", _config(kind, "processes"))
    if processes is not None:
        kwargs["processes"] = processes = check_positive_int(processes, "processes")
    per_job = processes or 1
    if threads_per_worker is not None and "cores" not in kwargs:
        kwargs["cores"] = threads_per_worker * per_job
    if memory_limit is not None and "memory" not in kwargs:
        kwargs["memory"] = format_bytes(parse_bytes(memory_limit) * per_job).replace(" ", "")
    if kwargs.get("cores", _config(kind, "cores")) is None:
        raise fail(
            "threads_per_worker",
            f"the core count of a {kind} job: threads_per_worker= (or cores=), or "
            f"jobqueue.{kind}.cores in ~/.config/dask/jobqueue.yaml (see cluster/jobqueue.yaml)",
            None,
        )
    if kwargs.get("memory", _config(kind, "memory")) is None:
        raise fail(
            "memory_limit",
            f"the memory of a {kind} job: memory_limit= (per worker, or memory= per job), or "
            f"jobqueue.{kind}.memory in ~/.config/dask/jobqueue.yaml",
            None,
        )
    prologue = kwargs.get("job_script_prologue", _config(kind, "job-script-prologue")) or []
    kwargs["job_script_prologue"] = [*prologue, SPAWN_PROLOGUE]
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise InputError(f"{kind} cluster: invalid option ({exc})") from exc


def require_submit_command(kind: str) -> None:
    """Raise ``FileNotFoundError`` if ``sbatch``/``qsub`` is not on PATH."""
    command = submit_command(kind)
    if shutil.which(command) is None:
        raise FileNotFoundError(
            f"scheduler {kind!r} submits jobs with {command!r}, which is not on PATH: run this "
            f"on a login node of the {kind.upper()} cluster (see cluster/README.md)"
        )
