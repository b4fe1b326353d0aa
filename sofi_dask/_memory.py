"""Process-level memory settings for the application layers (CLI, demo, benchmarks).

glibc's ``malloc`` keeps freed memory in its arenas and raises its trim threshold as large
blocks come and go, so a long streaming computation that allocates and frees ~32 MB chunks on
several threads holds on to more and more freed memory: peak RSS then creeps up with the number
of chunks although the live data does not. ``distributed`` avoids this in its worker processes
by starting them with ``MALLOC_TRIM_THRESHOLD_=65536``; :func:`limit_allocator_retention` does
the same for the current process, at run time (``mallopt``). It changes process-wide state, so
only entry points call it, never library functions.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

__all__ = ["limit_allocator_retention"]

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter number
TRIM_THRESHOLD = 65536  # bytes; distributed's value for its workers


def limit_allocator_retention(threshold: int = TRIM_THRESHOLD) -> bool:
    """Make glibc return freed memory above ``threshold`` bytes to the system.

    Returns
    -------
    bool
        True when applied; False where the C library is not glibc (nothing is changed).

    Examples
    --------
    At the start of an entry point (it changes the whole process)::

        limit_allocator_retention()
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        logger.debug("no glibc mallopt here; allocator settings left as they are")
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_TRIM_THRESHOLD, int(threshold)))
