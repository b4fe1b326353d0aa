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
    "JOBQUEUE_SCHEDULERS",
    "LOCAL_SCHEDULERS",
    "SCHEDULERS",
    "SCHEDULERS_WORDS",
    "parse_scheduler",
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
