"""Whole reads and writes of a file descriptor: the loops that ``os.preadv`` and ``os.write``
need (a call may move fewer bytes than asked, e.g. past 2 GiB or on a signal).

Examples
--------
>>> import tempfile
>>> fd, path = tempfile.mkstemp()
>>> write_full(fd, memoryview(b"0123456789"))
>>> buf = bytearray(4)
>>> pread_full(fd, memoryview(buf), 3), bytes(buf)
(4, b'3456')
>>> pread_full(fd, memoryview(buf), 8)  # the file ends first: 2 bytes
2
>>> os.close(fd); os.unlink(path)
"""

from __future__ import annotations

import os

__all__ = ["pread_full", "write_full"]


def pread_full(fd: int, view: memoryview, pos: int) -> int:
    """Fill ``view`` with the bytes of ``fd`` from ``pos`` on; the bytes read, fewer than
    ``len(view)`` only when the file ends first."""
    done = 0
    total = len(view)
    while done < total:
        n = os.preadv(fd, [view[done:]], pos + done)
        if n <= 0:
            break
        done += n
    return done


def write_full(fd: int, view: memoryview) -> None:
    """Write all of ``view`` at ``fd``'s position."""
    done = 0
    total = len(view)
    while done < total:
        done += os.write(fd, view[done:])
