"""How the workers of a ``distributed`` cluster fared: restarts, pauses, spilling.

Read from the workers themselves (their process ids, the spill counters of their memory
manager, their and their nannies' logs): used by the memory-limit test and bench/scaling.py.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["WORKER_TROUBLE", "worker_health"]

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
