"""How the workers of a ``distributed`` cluster fared: restarts, pauses, spilling.

Read from the workers themselves (their process ids, the spill counters of their memory
manager, their and their nannies' logs) and, for what a graph keeps in memory, from the
scheduler's own task transitions (:func:`memory_peaks`): used by the memory-limit tests and
bench/scaling.py.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dask.utils import key_split
from distributed.diagnostics.plugin import SchedulerPlugin

__all__ = ["WORKER_TROUBLE", "KeyPeaks", "memory_peaks", "worker_health"]

#: Log messages of distributed that mean a worker was paused, restarted or killed.
WORKER_TROUBLE: tuple[str, ...] = (
    "Pausing worker",
    "Restarting worker",
    "was killed",
    "exceeded 95% memory budget",
    "Worker exceeded",
)


def _spilled(dask_worker: Any) -> tuple[float, float]:
    """(chunks, bytes) this worker has written to disk since it started."""
    count = size = 0.0
    for key, value in dask_worker.digests_total.items():
        if isinstance(key, tuple) and "disk-write" in key:
            if key[-1] == "count":
                count += value
            elif key[-1] == "bytes":
                size += value
    return count, size


def worker_health(client: Any) -> dict[str, Any]:
    """Process ids, spilling and trouble messages of every worker of ``client``'s cluster.

    Returns
    -------
    dict
        ``pids`` (address -> pid; compare before and after a run to see restarts),
        ``spilled_chunks`` and ``spilled_bytes`` (totals written to disk), ``trouble``
        (log lines of paused, restarted or killed workers, from workers and nannies).

    Examples
    --------
    >>> from sofi_dask.cluster import make_client
    >>> with make_client("local", n_workers=1, dashboard_address=None) as c:  # doctest: +SKIP
    ...     worker_health(c)["spilled_chunks"]
    0.0
    """
    pids = client.run(os.getpid)
    spilled = client.run(_spilled)
    trouble = []
    for nanny in (False, True):
        try:
            logs = client.get_worker_logs(nanny=nanny)
        except Exception:  # noqa: BLE001 - workers without nannies have no nanny logs
            continue
        for address, lines in logs.items():
            for _level, message in lines:
                if any(word in message for word in WORKER_TROUBLE):
                    trouble.append(f"{address}: {message}")
    return {
        "pids": pids,
        "spilled_chunks": sum(c for c, _ in spilled.values()),
        "spilled_bytes": sum(b for _, b in spilled.values()),
        "trouble": trouble,
    }


class KeyPeaks(SchedulerPlugin):
    """Scheduler plugin: the most keys (per key name, dask's ``key_split``) and bytes that were
    in memory on the cluster at once, counted at every transition into or out of memory.

    A key held by several workers counts once, with the size the scheduler knows.
    """

    def __init__(self) -> None:
        self.name = f"sofi-dask-key-peaks-{uuid.uuid4().hex}"
        self._scheduler: Any = None
        self._held: dict[Any, tuple[str, int]] = {}
        self._count: Counter[str] = Counter()
        self.peak_count: Counter[str] = Counter()
        self._bytes = 0
        self.peak_bytes = 0

    async def start(self, scheduler: Any) -> None:  # noqa: D102 - SchedulerPlugin hook
        self._scheduler = scheduler

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        if finish == "memory" and start != "memory" and key not in self._held:
            ts = self._scheduler.tasks.get(key) if self._scheduler is not None else None
            nbytes = max(int(ts.nbytes), 0) if ts is not None else 0
            group = key_split(key)
            self._held[key] = (group, nbytes)
            self._count[group] += 1
            self._bytes += nbytes
            self.peak_count[group] = max(self.peak_count[group], self._count[group])
            self.peak_bytes = max(self.peak_bytes, self._bytes)
        elif start == "memory" and finish != "memory" and key in self._held:
            group, nbytes = self._held.pop(key)
            self._count[group] -= 1
            self._bytes -= nbytes


def _read_peaks(dask_scheduler: Any, name: str) -> dict[str, Any]:
    plugin = dask_scheduler.plugins[name]
    dask_scheduler.remove_plugin(name=name)
    return {"keys": dict(plugin.peak_count), "bytes": plugin.peak_bytes}


@contextmanager
def memory_peaks(client: Any) -> Iterator[dict[str, Any]]:
    """Record what the cluster of ``client`` holds in memory while the block runs.

    Yields a dict filled on exit: ``keys`` (key name -> the most keys of that name in memory
    at once) and ``bytes`` (the most bytes of all keys in memory at once).

    Examples
    --------
    >>> from sofi_dask.cluster import make_client
    >>> with make_client("local", n_workers=1, dashboard_address=None) as c:  # doctest: +SKIP
    ...     with memory_peaks(c) as peaks:
    ...         c.submit(sum, [1, 2], key="total-1").result()
    ...     peaks["keys"]["total"]
    1
    """
    plugin = KeyPeaks()
    client.register_plugin(plugin)
    out: dict[str, Any] = {}
    try:
        yield out
    finally:
        out.update(client.run_on_scheduler(_read_peaks, name=plugin.name))
