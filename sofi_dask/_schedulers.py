"""The scheduler names and addresses sofi_dask accepts, defined once (config and cluster alike).

Light on purpose (no dask, no distributed): the configuration validates ``compute.scheduler``
with :func:`parse_scheduler` without importing the cluster machinery.

Examples
--------
>>> parse_scheduler("Threads"), parse_scheduler("tcp://10.0.0.5:8786")
('threads', 'tcp://10.0.0.5:8786')
>>> parse_scheduler("gpu")
Traceback (most recent call last):
...
sofi_dask.errors.InputError: parameter 'scheduler': expected one of 'threads', 'processes', \
'synchronous', 'local', 'slurm', 'pbs' or a scheduler address such as 'tcp://host:8786', got 'gpu'
"""

from __future__ import annotations

import re

from sofi_dask._validation import fail

__all__ = [
    "CLUSTER_ONLY",
    "JOBQUEUE_SCHEDULERS",
    "LOCAL_SCHEDULERS",
    "SCHEDULERS",
    "SCHEDULERS_WORDS",
    "parse_scheduler",
    "unused_by_local",
]

#: dask's own schedulers (no distributed client).
LOCAL_SCHEDULERS: tuple[str, ...] = ("threads", "processes", "synchronous")
#: Batch systems reached through dask-jobqueue.
JOBQUEUE_SCHEDULERS: tuple[str, ...] = ("slurm", "pbs")
#: Every scheduler name accepted besides an address (``local``: a LocalCluster).
SCHEDULERS: tuple[str, ...] = (*LOCAL_SCHEDULERS, "local", *JOBQUEUE_SCHEDULERS)
#: What :func:`parse_scheduler` accepts, in words.
SCHEDULERS_WORDS = (
    "one of "
    + ", ".join(map(repr, SCHEDULERS))
    + " or a scheduler address such as 'tcp://host:8786'"
)
#: Options that only a ``distributed`` cluster takes; dask's local schedulers have no use for them.
CLUSTER_ONLY: tuple[str, ...] = ("threads_per_worker", "memory_limit", "jobs", "cluster_options")
_ALIASES = {
    "sync": "synchronous",
    "single-threaded": "synchronous",
    "threading": "threads",
    "multiprocessing": "processes",
}
_ADDRESS = re.compile(r"(?:(?:tcp|tls|ucx|ws|wss|inproc)://)?\[?[\w.\-:]+\]?:\d{1,5}/?")


def parse_scheduler(value: object) -> str:
    """Validate a scheduler: one of :data:`SCHEDULERS` (any case, dask's aliases such as
    ``sync``) or an address like ``tcp://host:8786``; returns the canonical name or the address.

    Raises
    ------
    InputError
        Naming the parameter ``scheduler``, what is accepted and the value given.
    """
    if isinstance(value, str):
        name = _ALIASES.get(value.strip().lower(), value.strip().lower())
        if name in SCHEDULERS:
            return name
        if _ADDRESS.fullmatch(value.strip()):
            return value.strip()
    raise fail("scheduler", SCHEDULERS_WORDS, value)


def unused_by_local(scheduler: str, options: dict[str, object]) -> tuple[str, str, object] | None:
    """The first of ``options`` (name -> value; None or empty: not given) that the local
    ``scheduler`` (threads, processes, synchronous) would ignore, as ``(name, expected,
    value)`` for :func:`~sofi_dask._validation.fail`; None when every one applies.

    Any name but ``n_workers`` (the threads or processes of a local scheduler) is refused.

    Examples
    --------
    >>> unused_by_local("threads", {"n_workers": 2, "memory_limit": None}) is None
    True
    >>> unused_by_local("threads", {"memory_limit": "4GiB"})[0]
    'memory_limit'
    >>> unused_by_local("local", {"memory_limit": "4GiB"}) is None
    True
    """
    if scheduler not in LOCAL_SCHEDULERS:
        return None
    for name, value in options.items():
        if name != "n_workers" and value not in (None, {}):
            expected = (
                f"no {name} with the {scheduler!r} scheduler (dask's local schedulers take "
                "only n_workers; the others apply to 'local', 'slurm', 'pbs')"
            )
            return name, expected, value
    return None
