"""One writer at a time: an advisory lock beside a store or output folder.

:func:`write_lock` takes ``fcntl.flock`` on ``.<name>.lock`` in the folder that holds
``<name>`` (the store or output folder itself may not exist yet, and may be deleted and
re-created while locked), and writes who holds it (pid, host, start time) into the file. A
second writer waits (``wait=True``) or gets :class:`~sofi_dask.errors.StoreLockedError`
naming the holder. The kernel releases the lock when the holder exits, even on SIGKILL, so a
killed writer never leaves a stale lock (its lock file stays, unlocked, and is reused). The
holder deletes the lock file before releasing it; a writer that locked a file which was
deleted meanwhile (its inode is no longer the one at the path) starts over, so two writers
never hold locks on two different files.

File systems: local disks and tmpfs support ``flock``; NFS (v3 with lockd, v4) maps it to
byte-range locks that hold across clients; GPFS supports it across nodes; Lustre only when
mounted with ``-o flock`` (``localflock`` locks within one node only). Where ``flock`` fails
with "not supported" (Lustre ``noflock``, some FUSE mounts), the write goes on unlocked after a
warning: then only the user can keep two jobs from writing the same path.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from sofi_dask.errors import StoreLockedError

logger = logging.getLogger(__name__)

__all__ = ["lock_path", "write_lock"]

_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


def lock_path(target: str | os.PathLike[str]) -> Path:
    """The lock file of ``target``: ``.<name>.lock`` beside it.

    Examples
    --------
    >>> lock_path("/data/movie.zarr").as_posix()
    '/data/.movie.zarr.lock'
    """
    p = Path(os.path.abspath(os.fspath(Path(target).expanduser())))
    return p.parent / f".{p.name}.lock"


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {info['pid']} on host {info['host']} since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (which has not yet written its name)"


@contextlib.contextmanager
def write_lock(
    target: str | os.PathLike[str], *, wait: bool = False, what: str = "store"
) -> Iterator[Path]:
    """Hold the advisory write lock of ``target`` for the duration of the block.

    Parameters
    ----------
    target : path
        The store or output folder to be written (its parent folder must exist).
    wait : bool
        Wait for another writer to finish instead of raising.
    what : str
        What ``target`` is, for messages ("store", "output folder").

    Yields
    ------
    pathlib.Path
        The lock file.

    Raises
    ------
    StoreLockedError
        Another process holds the lock and ``wait`` is false: "<target> is being written by
        pid N on host H since T".

    Examples
    --------
    >>> import tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "movie.zarr")
    >>> with write_lock(target) as lock:
    ...     with write_lock(target):
    ...         pass
    Traceback (most recent call last):
    ...
    sofi_dask.errors.StoreLockedError: ...movie.zarr is being written by pid ...
    """
    path = lock_path(target)
    name = path.parent / path.name[1 : -len(".lock")]
    fd, locked = _acquire(path, name, wait, what)
    try:
        if locked:
            since = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
            record = {"pid": os.getpid(), "host": socket.gethostname(), "since": since}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
        yield path
    finally:
        if locked:
            with contextlib.suppress(OSError):
                path.unlink()  # still locked: a waiter sees its inode is gone and starts over
        os.close(fd)  # releases the lock


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (own.st_dev, own.st_ino) == (st.st_dev, st.st_ino)


def _acquire(path: Path, name: Path, wait: bool, what: str) -> tuple[int, bool]:
    """Open and lock ``path``; (fd, False) where the file system has no flock."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{name}: folder {path.parent} does not exist") from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                if not wait:
                    raise StoreLockedError(
                        f"{name} is being written by {holder}; wait for it to finish "
                        f"(or pass --wait / wait=True), or write another {what}"
                    ) from None
                logger.warning("%s is being written by %s; waiting", name, holder)
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                os.close(fd)
                raise
            logger.warning(
                "%s: the file system does not support flock (%s); writing without a lock, "
                "so make sure no other process writes the same %s",
                path,
                exc.strerror,
                what,
            )
            return fd, False
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, path):
            return fd, True
        os.close(fd)  # the holder deleted it while we waited: lock the current file
