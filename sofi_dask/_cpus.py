"""How many threads sofi_dask may use: the CPUs this process is allowed, never the machine's.

``os.cpu_count()`` counts the machine: on a 128-core node where a batch job holds 8 cores it
says 128. Every thread-count and in-flight default of the package comes from here instead:

- :func:`cpu_count` is ``dask.system.CPU_COUNT``, which honours the process's CPU affinity
  (``taskset``, SLURM's task binding) and a cgroup CPU quota (containers, SLURM cgroups).
- :func:`task_threads` is for code running inside a Dask task: inside a ``distributed``
  worker each of its threads already runs one task, so a task starts no threads of its own.
- :func:`threaded_compute` is ``dask.compute`` on the threaded scheduler inside
  :func:`one_blas_thread`: every local compute of the package goes through it.
- :func:`one_blas_thread`: while a pool of task threads computes (the threaded scheduler),
  each BLAS call (numpy's matrix products) runs on one thread. OpenBLAS would otherwise start
  a thread per CPU for every product of every task: on 2 CPUs the Fourier interpolation of a
  movie took 5.8x the wall time and 3.9x the CPU time (spinning BLAS threads), measured.
  ``distributed`` workers already get ``OPENBLAS_NUM_THREADS=1`` from their nanny.

Examples
--------
>>> cpu_count() >= 1 and task_threads(4) <= cpu_count()
True
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterator
from typing import Any

from dask.system import CPU_COUNT

__all__ = [
    "cpu_count",
    "in_distributed_worker",
    "one_blas_thread",
    "task_threads",
    "threaded_compute",
]


def cpu_count() -> int:
    """CPUs this process may use (affinity and cgroup quota): ``dask.system.CPU_COUNT``.

    Examples
    --------
    >>> import os
    >>> cpu_count() <= (os.cpu_count() or 1)
    True
    """
    return max(1, int(CPU_COUNT))


def in_distributed_worker() -> bool:
    """True when called from a task running on a ``distributed`` worker.

    Examples
    --------
    >>> in_distributed_worker()
    False
    """
    if "distributed" not in sys.modules:  # never imported: not a worker process
        return False
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def task_threads(cap: int | None = None) -> int:
    """Threads a task may start for itself: 1 on a ``distributed`` worker (no pool on top of
    the worker's threads), else :func:`cpu_count`, at most ``cap``.

    Examples
    --------
    >>> task_threads(1)
    1
    """
    if in_distributed_worker():
        return 1
    n = cpu_count()
    return n if cap is None else max(1, min(int(cap), n))


@functools.cache
def _blas_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries (found once: ~4 ms per lookup)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS calls (OpenBLAS, MKL, ...) run on one thread inside the block (threadpoolctl).

    The limit is process-wide while the block runs; use it around a threaded computation,
    whose tasks already occupy every CPU.

    Examples
    --------
    >>> import numpy as np
    >>> with one_blas_thread():
    ...     _ = np.ones((64, 64)) @ np.ones((64, 64))
    """
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield


def threaded_compute(*collections: Any, scheduler: str | None = "threads", **kwargs: Any) -> tuple:
    """``dask.compute`` of ``collections`` (threaded scheduler by default) with one BLAS thread.

    The one way the package computes locally: the threaded scheduler runs one task per CPU,
    so each task's matrix products get one BLAS thread (:func:`one_blas_thread`). Pass
    ``scheduler=None`` for dask's default (a ``distributed`` client when one is active).

    Examples
    --------
    >>> import dask.array as da
    >>> (total,) = threaded_compute(da.ones((4, 4), chunks=2).sum())
    >>> float(total)
    16.0
    """
    import dask
    from dask.base import named_schedulers

    # by function: dask imports distributed (~0.3 s) to resolve a scheduler given by name
    get = named_schedulers.get(scheduler, scheduler) if isinstance(scheduler, str) else scheduler
    with one_blas_thread():
        return dask.compute(*collections, scheduler=get, **kwargs)
