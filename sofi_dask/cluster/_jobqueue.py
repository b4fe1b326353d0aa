"""SLURM / PBS clusters through dask-jobqueue: resources from our parameters and dask config.

dask-jobqueue reads defaults from dask's configuration (``~/.config/dask/jobqueue.yaml``, see
``cluster/jobqueue.yaml``); our parameters only fill what the caller gave. Workers are told to
start their processes with ``spawn`` (zarr 3 runs an asyncio loop on a thread, which ``fork``
would copy in a broken state).
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import dask
from dask.utils import format_bytes, parse_bytes

from sofi_dask._schedulers import JOBQUEUE_SCHEDULERS
from sofi_dask._validation import check_positive_int, fail
from sofi_dask.errors import ClusterError, InputError

__all__ = [
    "JOBQUEUE_KINDS",
    "SPAWN_PROLOGUE",
    "jobqueue_cluster",
    "WORKER_TIMEOUT",
    "require_submit_command",
    "start_jobs",
    "submit_command",
    "wait_for_workers",
]

#: Seconds :func:`wait_for_workers` waits for the first worker of a batch cluster by default.
WORKER_TIMEOUT = 300.0

_DETAILS = {"slurm": ("SLURMCluster", "slurm", "sbatch"), "pbs": ("PBSCluster", "pbs", "qsub")}
#: scheduler name -> (dask-jobqueue class name, config section, submit command), for the names
#: of :data:`sofi_dask._schedulers.JOBQUEUE_SCHEDULERS` (the one list of scheduler names)
JOBQUEUE_KINDS: dict[str, tuple[str, str, str]] = {k: _DETAILS[k] for k in JOBQUEUE_SCHEDULERS}

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


def _save_job_script(cluster: Any, kind: str) -> Path:
    """Keep the job script that was submitted (dask-jobqueue deletes its temporary file)."""
    fd, name = tempfile.mkstemp(prefix=f"sofi-dask-{kind}-worker-", suffix=".sh")
    with open(fd, "w", encoding="utf-8") as f:
        f.write(cluster.job_script())
    return Path(name)


def _submit_stderr(exc: BaseException) -> str:
    """The batch system's own words from dask-jobqueue's "Command exited ..." error."""
    text = str(exc)
    match = re.search(r"stderr:\n(.*)", text, re.S)
    lines = [ln.strip() for ln in (match.group(1) if match else text).splitlines() if ln.strip()]
    return "; ".join(lines) or text


def start_jobs(cluster: Any, kind: str, *, n_workers: int | None, jobs: int | None) -> None:
    """Submit the worker jobs now and fail fast if the batch system rejects them.

    ``cluster.scale`` only schedules the submission on the cluster's event loop, where an
    ``sbatch``/``qsub`` error is logged and forgotten (the computation then waits forever).
    Here the submission is awaited, so a rejection raises at once.

    Raises
    ------
    ClusterError
        With the submit command's error message and the path of a copy of the job script.
    """
    per_job = len(cluster.new_spec.get("group", [""]))  # worker processes per job
    if jobs is None:
        jobs = 1 if n_workers is None else math.ceil(n_workers / per_job)
    # what cluster.scale(jobs=...) does, but awaited here rather than scheduled on the loop
    while len(cluster.worker_spec) < jobs:
        cluster.worker_spec.update(cluster.new_worker_spec())
    try:
        cluster.sync(cluster._correct_state)
    except Exception as exc:
        from distributed.core import Status

        # a job whose submission failed never left Status.created, which cluster.close()
        # asserts against: it failed
        for job in list(cluster.workers.values()):
            if getattr(job, "job_id", None) is None:
                job.status = Status.failed
        script = _save_job_script(cluster, kind)
        raise ClusterError(
            f"{kind}: the worker job was rejected by {submit_command(kind)}: "
            f"{_submit_stderr(exc)}; job script: {script} (fix the request, e.g. queue/"
            f"partition, cores, memory, walltime, in ~/.config/dask/jobqueue.yaml or "
            f"[compute] cluster_options)"
        ) from exc


def _job_ids(cluster: Any) -> list[str]:
    return [str(j.job_id) for j in cluster.workers.values() if getattr(j, "job_id", None)]


def _squeue(job_ids: list[str]) -> dict[str, tuple[str, str]] | None:
    """job id -> (state, reason) of the jobs still known to ``squeue``; None if it failed."""
    cmd = ["squeue", "-h", "-j", ",".join(job_ids), "-o", "%i %T %r"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 and "Invalid job id" not in out.stderr:
        return None
    rows = (ln.split(None, 2) for ln in out.stdout.splitlines())
    return {r[0]: (r[1], r[2]) for r in rows if len(r) == 3 and r[1] not in _ENDED_STATES}


#: squeue states of a job that will not run (any more)
_ENDED_STATES = frozenset(
    "BOOT_FAIL CANCELLED COMPLETED COMPLETING DEADLINE FAILED NODE_FAIL OUT_OF_MEMORY "
    "PREEMPTED REVOKED SPECIAL_EXIT TIMEOUT".split()
)


_ENDED = (
    "no longer queued: they ended before their worker connected (see the job output, "
    "log-directory in jobqueue.yaml)"
)


def pending_report(kind: str, job_ids: list[str]) -> str:
    """What the batch system says about ``job_ids``: state and reason of each one."""
    if not job_ids:
        return "no job was submitted"
    if kind == "slurm":
        queued = _squeue(job_ids)
        if queued is None:
            return f"jobs {', '.join(job_ids)} (squeue did not answer)"
        text = [f"job {i} {st.lower()} (reason: {why})" for i, (st, why) in queued.items()]
        gone = [i for i in job_ids if i not in queued]
        if gone:
            text.append(f"jobs {', '.join(gone)} {_ENDED}")
        return "; ".join(text)
    try:
        out = subprocess.run(
            ["qstat", *job_ids], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"jobs {', '.join(job_ids)} (could not ask qstat: {exc})"
    return " | ".join(ln.strip() for ln in out.stdout.splitlines()[2:] if ln.strip()) or (
        out.stderr.strip() or f"jobs {', '.join(job_ids)}"
    )


def wait_for_workers(client: Any, cluster: Any, kind: str, timeout: float) -> None:
    """Wait until the first worker of ``cluster`` connects, at most ``timeout`` seconds.

    Queued jobs are normal on a busy cluster: the error says what is pending and why.

    Raises
    ------
    ClusterError
        No worker within ``timeout``: the jobs' states and reasons from ``squeue``/``qstat``.
    """
    deadline = time.monotonic() + timeout
    next_check = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        if client.scheduler_info(n_workers=-1).get("workers"):
            return
        if kind == "slurm" and time.monotonic() > next_check:
            # every job ended without a worker (e.g. it could not start Python): fail now
            next_check = time.monotonic() + 5.0
            ids = _job_ids(cluster)
            queued = _squeue(ids) if ids else None
            if queued == {} and not client.scheduler_info(n_workers=-1).get("workers"):
                raise ClusterError(f"{kind}: worker jobs {', '.join(ids)} {_ENDED}")
        time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
    raise ClusterError(
        f"{kind}: no worker connected within {timeout:g} s: "
        f"{pending_report(kind, _job_ids(cluster))}. Wait longer (compute.worker_timeout), ask "
        "for fewer resources or another queue, or check the workers' job output"
    )
