"""Atomic output, the one mechanism: write under a hidden temporary name, then rename.

A reader never sees a half-written file or folder under the final name. The data go to a
hidden temporary beside the target (same file system, so the rename is atomic); on success
the temporary is flushed to disk (``fsync`` of every file and folder in it), renamed into
place, and the parent folder is flushed so that the rename itself survives a crash. On an
error the temporary is removed and the target is untouched.

- :func:`atomic_output`: one file (figures, PNG/TIFF/GIF/MP4, TOML, the simulator's TIFF and
  its sidecars, the Fourier-interpolated TIFF);
- :class:`AtomicOutputDir`: one folder (a run's output folder, a simulated or interpolated
  Zarr store), holding the target's :func:`~sofi_dask.io._lock.write_lock` while it is
  written; ``replaceable`` says which existing folders ``overwrite`` may replace and
  ``on_commit`` finishes the folder once it is in place (the pipeline renames its run record
  there, so a partial folder never holds it).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sofi_dask._validation import fail, shown
from sofi_dask.errors import OutputExistsError
from sofi_dask.io._lock import write_lock

__all__ = [
    "AtomicOutputDir",
    "PathLike",
    "atomic_output",
    "check_output_dir",
    "check_output_path",
    "fsync_tree",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

PARTIAL_TAG = ".sofi-dask-partial-"  # .<name>.sofi-dask-partial-<pid>-<hex>: a folder in work
OLD_TAG = ".sofi-dask-old-"  # .<name>.sofi-dask-old-<pid>-<hex>: a replaced folder


def _real(path: PathLike) -> Path:
    return Path(os.path.realpath(os.fspath(path)))


def check_output_path(
    path: PathLike, *, overwrite: bool = False, protected: Iterable[PathLike] = ()
) -> Path:
    """Validate an output *file* path before anything is written.

    Parameters
    ----------
    path : str or PathLike
        The file to be written. Its folder must exist.
    overwrite : bool
        Allow replacing an existing file (never an input, never a folder).
    protected : iterable of str or PathLike
        Paths that must never be written over (the inputs of the run); a protected folder
        protects everything inside it.

    Returns
    -------
    pathlib.Path
        The absolute output path.

    Raises
    ------
    OutputExistsError
        The file exists and ``overwrite`` is false (a ``FileExistsError``).
    InputError
        The path is an input (or inside an input folder), or is an existing folder.
    FileNotFoundError
        The parent folder does not exist.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> check_output_path(os.path.join(folder, "a.png")).name
    'a.png'
    """
    out = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
    real_out = _real(out)
    for item in protected:
        real_in = _real(item)
        if real_out == real_in or real_in in real_out.parents:
            raise fail("output", f"a path apart from the input {str(item)!r}", str(out))
    if out.is_dir():
        raise fail("output", "a file path", shown(f"{str(out)!r}, an existing folder"))
    if out.exists() and not overwrite:
        raise OutputExistsError(
            f"output {str(out)!r} already exists; pass overwrite=True (--overwrite) to replace it"
        )
    if not out.parent.is_dir():
        raise FileNotFoundError(f"output folder {str(out.parent)!r} does not exist")
    return out


def check_output_dir(
    path: PathLike,
    *,
    overwrite: bool = False,
    protected: Iterable[PathLike] = (),
    replaceable: Callable[[Path], bool] | None = None,
    name: str = "output",
) -> Path:
    """Validate an output *folder* before anything is written.

    Parameters
    ----------
    path : str or PathLike
        The folder to be written. Its parent must exist.
    overwrite : bool
        Allow replacing an existing folder (an empty one, or one ``replaceable`` accepts).
    protected : iterable of str or PathLike
        Inputs: the output may not be, contain or lie inside any of them.
    replaceable : callable, optional
        ``replaceable(path)`` is true for an existing non-empty folder that ``overwrite`` may
        delete (e.g. "has a run.json", "is a movie store written by sofi_dask"); default none.
    name : str
        The parameter named in errors.

    Returns
    -------
    pathlib.Path
        The absolute, resolved output path.

    Raises
    ------
    OutputExistsError
        The folder exists and ``overwrite`` is false.
    InputError
        The output is, contains or lies inside an input; it is a file; or it is a non-empty
        folder that ``replaceable`` does not accept (``overwrite`` never deletes those).
    FileNotFoundError
        The parent folder does not exist.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> check_output_dir(os.path.join(folder, "out")).name
    'out'
    """
    out = Path(os.fspath(path)).expanduser().resolve()
    for item in protected:
        inp = Path(os.fspath(item)).expanduser().resolve()
        if out == inp:
            relation = "is the input"
        elif inp in out.parents:
            relation = "lies inside the input"
        elif out in inp.parents:
            relation = "contains the input"
        else:
            continue
        raise fail(name, f"a folder apart from the input {inp}", shown(f"{out}, {relation}"))
    if out.exists() or out.is_symlink():
        if not overwrite:
            raise OutputExistsError(
                f"{name}: {out} already exists; pass --overwrite (overwrite=True) to replace it"
            )
        if not out.is_dir() or out.is_symlink():
            raise fail(name, "a folder (files and links are never replaced)", str(out))
        if any(out.iterdir()) and not (replaceable is not None and replaceable(out)):
            raise fail(
                name,
                "a new or empty folder, or one written by sofi_dask (others are never replaced)",
                shown(f"{out}, a non-empty folder of something else"),
            )
    if not out.parent.is_dir():
        raise FileNotFoundError(f"{name}: parent folder {out.parent} does not exist")
    return out


def _fsync(path: Path, *, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # pragma: no cover - a platform that cannot open folders (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - a file system without fsync of folders
        logger.debug("fsync of %s not supported", path)
    finally:
        os.close(fd)


def fsync_tree(path: PathLike, *, recursive: bool = True) -> None:
    """Flush a file, or every file and folder under a folder, to disk (``fsync``).

    The files and folders are flushed together on up to 8 threads: the disk gets their writes
    queued at once (the file system commits them in a few journal transactions, not one per
    call), and the order does not matter since nothing is renamed into place before every
    flush has returned. ``recursive=False`` flushes a folder's own entries (names) only, e.g.
    after a rename inside an already flushed folder.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.txt").write_text("x")
    >>> fsync_tree(folder)
    >>> fsync_tree(folder, recursive=False)
    """
    root = Path(os.fspath(path))
    if not root.is_dir():
        _fsync(root)
        return
    if not recursive:
        _fsync(root, directory=True)
        return
    items: list[tuple[Path, bool]] = []
    for parent, _dirs, names in os.walk(root):
        items.append((Path(parent), True))
        items.extend((p, False) for f in names if not (p := Path(parent, f)).is_symlink())
    # 106 fsyncs of a tiny run's folder: 63 ms with the 44 folders one after the other after
    # the files, 13 ms all together (ext4, 2 Dec 2026)
    with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
        list(pool.map(lambda item: _fsync(item[0], directory=item[1]), items))


# the temporary folders of the AtomicOutputDir objects open in this context: their commit
# flushes every file in them. A context variable, not process state: another thread or task
# sees them only when given this context (contextvars.copy_context, as a run's writers are).
_OPEN_FOLDERS: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar(
    "sofi_dask_open_output_folders", default=()
)


def _flushed_by_open_folder(path: Path) -> bool:
    folders = _OPEN_FOLDERS.get()
    return bool(folders) and any(_real(path.parent).is_relative_to(d) for d in folders)


@contextlib.contextmanager
def atomic_output(
    path: PathLike, *, overwrite: bool = False, protected: Iterable[PathLike] = ()
) -> Iterator[Path]:
    """Context manager yielding a temporary file path that replaces ``path`` on success.

    The temporary name (``.<stem>.partial-<hex><suffix>``) keeps the suffix of ``path``
    (writers that choose the format from the suffix keep working). On success the file is
    flushed (``fsync``), renamed into place and the folder flushed; on error it is removed
    and ``path`` is untouched. Inside a folder that :class:`AtomicOutputDir` is writing the
    two flushes are left to its commit, which flushes the whole folder once (a run's files):
    the folder declares itself on entry (any thread of this process sees it).
    Without ``overwrite`` the final step is a hard link, so a file created under the final
    name by someone else in the meantime is not clobbered either.

    Parameters
    ----------
    path, overwrite, protected
        As in :func:`check_output_path`.

    Yields
    ------
    pathlib.Path
        The temporary path to write to (it does not exist yet).

    Examples
    --------
    >>> import tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "x.txt")
    >>> with atomic_output(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> open(target).read()
    'done'
    """
    out = check_output_path(path, overwrite=overwrite, protected=protected)
    tmp = out.with_name(f".{out.stem}.partial-{secrets.token_hex(4)}{out.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"writer produced no file for {str(out)!r}")
        durable = not _flushed_by_open_folder(out)  # else the folder's commit flushes it
        if durable:
            _fsync(tmp)
        if overwrite:
            os.replace(tmp, out)
        else:
            try:
                os.link(tmp, out)
            except FileExistsError:
                raise OutputExistsError(
                    f"output {str(out)!r} appeared while it was being written; not replaced"
                ) from None
            except OSError:  # file system without hard links
                if out.exists():
                    raise OutputExistsError(f"output {str(out)!r} already exists") from None
                os.replace(tmp, out)
        if durable:
            _fsync(out.parent, directory=True)
        logger.debug("wrote %s", out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _pid_alive(pid: int) -> bool:
    import psutil

    return bool(psutil.pid_exists(pid))


def _remove_stale(final: Path, locked: bool = False) -> None:
    """Remove temporary folders left by killed writers of the same output (all of them when
    this process holds the output's write lock: no other writer can be alive)."""
    prefix = f".{final.name}"
    for entry in final.parent.glob(f"{prefix}*"):
        rest = entry.name[len(prefix) :]
        for tag in (PARTIAL_TAG, OLD_TAG):
            if rest.startswith(tag):
                pid_text = rest[len(tag) :].split("-", 1)[0]
                if locked or (pid_text.isdigit() and not _pid_alive(int(pid_text))):
                    logger.info("removing %s left by an interrupted run", entry)
                    shutil.rmtree(entry, ignore_errors=True)


class AtomicOutputDir:
    """Context manager giving a temporary folder that becomes ``final`` only on success.

    On entry it takes the write lock of ``final`` (:func:`~sofi_dask.io._lock.write_lock`),
    checks ``final`` again under it (:func:`check_output_dir`), removes temporaries left by
    killed writers and creates ``.<name>.sofi-dask-partial-<pid>-<hex>`` beside ``final``. On
    normal exit everything in it is flushed (:func:`fsync_tree`), an allowed existing
    ``final`` is moved aside, the temporary folder is renamed to ``final``, the parent folder
    flushed, ``on_commit(final)`` called, and the old folder deleted. On an exception the
    temporary folder is deleted. The lock is released last.

    Parameters
    ----------
    final : path
        The output folder.
    protected : iterable of paths
        Inputs, see :func:`check_output_dir`.
    overwrite : bool
        Replace an existing folder (one ``replaceable`` accepts, or an empty one).
    replaceable : callable, optional
        See :func:`check_output_dir`.
    on_commit : callable, optional
        Called with ``final`` once the folder is in place (before the lock is released).
    wait : bool
        Wait for another process writing the same output instead of raising
        ``StoreLockedError``.
    what : str
        What ``final`` is, for messages ("output folder", "store").
    name : str
        The parameter named in errors.

    Examples
    --------
    >>> import tempfile
    >>> final = Path(tempfile.mkdtemp()) / "out"
    >>> with AtomicOutputDir(final) as tmp:
    ...     _ = (tmp / "a.txt").write_text("x")
    ...     final.exists()
    False
    >>> (final / "a.txt").read_text()
    'x'
    """

    def __init__(
        self,
        final: PathLike,
        *,
        protected: Iterable[PathLike] = (),
        overwrite: bool = False,
        replaceable: Callable[[Path], bool] | None = None,
        on_commit: Callable[[Path], None] | None = None,
        wait: bool = False,
        what: str = "output folder",
        name: str = "output",
    ) -> None:
        self.protected = list(protected)
        self.overwrite = overwrite
        self.replaceable = replaceable
        self.on_commit = on_commit
        self.wait = wait
        self.what = what
        self.name = name
        self.final = self._check(final)
        self.tmp: Path | None = None
        self._lock = contextlib.ExitStack()

    def _check(self, path: PathLike) -> Path:
        return check_output_dir(
            path,
            overwrite=self.overwrite,
            protected=self.protected,
            replaceable=self.replaceable,
            name=self.name,
        )

    def __enter__(self) -> Path:
        self._lock.enter_context(write_lock(self.final, wait=self.wait, what=self.what))
        try:
            self._check(self.final)  # again, under the lock
            _remove_stale(self.final, locked=True)
            tag = f"{PARTIAL_TAG}{os.getpid()}-{secrets.token_hex(4)}"
            self.tmp = self.final.parent / f".{self.final.name}{tag}"
            self.tmp.mkdir()
            # files written in it by atomic_output leave their flush to the commit
            token = _OPEN_FOLDERS.set((*_OPEN_FOLDERS.get(), _real(self.tmp)))
            self._lock.callback(_OPEN_FOLDERS.reset, token)
        except BaseException:
            self._lock.close()
            raise
        return self.tmp

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        assert self.tmp is not None
        with self._lock:  # released last
            if exc_type is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
                return
            try:
                self.commit()
            except BaseException:
                shutil.rmtree(self.tmp, ignore_errors=True)
                raise

    def commit(self) -> None:
        """Flush the temporary folder and rename it into place (replacing an allowed output)."""
        assert self.tmp is not None
        final = self.final
        fsync_tree(self.tmp)
        old: Path | None = None
        if final.exists() or final.is_symlink():
            self._check(final)  # re-check: the folder may have appeared meanwhile
            old = final.parent / f".{final.name}{OLD_TAG}{os.getpid()}-{secrets.token_hex(4)}"
            os.replace(final, old)
        os.replace(self.tmp, final)
        _fsync(final.parent, directory=True)
        if self.on_commit is not None:
            self.on_commit(final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        logger.debug("wrote %s", final)
