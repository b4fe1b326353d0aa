"""Out of disk space: an error that names the path, what was being written and the bytes."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["explain_disk_full", "human_bytes"]


def human_bytes(n: float) -> str:
    """``1234567`` -> ``'1.2 MB'``.

    Examples
    --------
    >>> human_bytes(1234567)
    '1.2 MB'
    """
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} TB"  # pragma: no cover


def _free(path: Path) -> tuple[Path, int]:
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    return p, shutil.disk_usage(p).free


#: numpy's ``ndarray.tofile`` (tifffile writes arrays with it) reports a short write, as on a
#: full disk, as an OSError with this message and no errno
_SHORT_WRITE = re.compile(r"(\d+) requested and (\d+) written")


def _disk_full(exc: OSError, path: Path) -> bool:
    """``exc`` says the device is full: ENOSPC, or a short write of ``n`` bytes without an
    errno (numpy's ``tofile``) where less than the unwritten rest is free."""
    if exc.errno == errno.ENOSPC:
        return True
    short = _SHORT_WRITE.fullmatch(str(exc)) if exc.errno is None else None
    if short is None:
        return False
    requested, written = (int(g) for g in short.groups())
    return written < requested and _free(path)[1] < requested - written


@contextlib.contextmanager
def explain_disk_full(
    path: str | os.PathLike[str],
    what: str,
    needed: Callable[[], str] | None = None,
    *,
    resumes: bool = True,
) -> Iterator[None]:
    """Turn "No space left on device" inside the block (ENOSPC, or a writer's short write with
    no errno when the device has no room left) into an ``OSError(ENOSPC)`` naming
    ``path``, ``what`` was written, the space still free there and ``needed()`` (a phrase
    estimating what the write needs), so that the user knows where and how much to free;
    ``resumes``: a rerun keeps what was written (an ingest), else it starts over (a run).

    Examples
    --------
    >>> try:
    ...     with explain_disk_full("/tmp/x.zarr", "the movie store", lambda: "about 2 GB"):
    ...         raise OSError(errno.ENOSPC, "No space left on device")
    ... except OSError as exc:
    ...     print(exc.strerror[:74])
    /tmp/x.zarr: no space left on the device writing the movie store; it needs
    """
    try:
        yield
    except OSError as exc:
        if not _disk_full(exc, Path(path)):
            raise
        where, free = _free(Path(path))
        try:
            need = needed() if needed is not None else ""
        except Exception:  # noqa: BLE001 - the estimate must never hide the error
            need = ""
        raise OSError(
            errno.ENOSPC,
            f"{path}: no space left on the device writing {what}"
            + (f"; it needs {need}" if need else "")
            + f"; {human_bytes(free)} free in {where}. Free some space (or write elsewhere) "
            + ("and run again: finished parts are kept" if resumes else "and run again"),
        ) from exc
