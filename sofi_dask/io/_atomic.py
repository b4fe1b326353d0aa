"""Atomic file output: write to a hidden temporary name in the target folder, then rename.

A reader never sees a half-written file under the final name: the data go to
``.<name>.partial-<random><suffix>`` in the same folder (same file system, so the final rename is
atomic), and the temporary file is removed if the writer raises.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def check_output_path(
    path: PathLike, *, overwrite: bool = False, protected: Iterable[PathLike] = ()
) -> Path:
    """Validate an output file path before anything is written.

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
    FileExistsError
        The file exists and ``overwrite`` is false.
    ValueError
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
    out = Path(os.path.abspath(os.fspath(path)))
    real_out = Path(os.path.realpath(out))
    for item in protected:
        real_in = Path(os.path.realpath(os.fspath(item)))
        if real_out == real_in or real_in in real_out.parents:
            raise ValueError(f"output {str(out)!r} would write over the input {str(item)!r}")
    if out.is_dir():
        raise ValueError(f"output {str(out)!r} is an existing folder, expected a file path")
    if out.exists() and not overwrite:
        raise FileExistsError(
            f"output {str(out)!r} already exists; pass overwrite=True (--overwrite) to replace it"
        )
    if not out.parent.is_dir():
        raise FileNotFoundError(f"output folder {str(out.parent)!r} does not exist")
    return out


@contextlib.contextmanager
def atomic_output(
    path: PathLike, *, overwrite: bool = False, protected: Iterable[PathLike] = ()
) -> Iterator[Path]:
    """Context manager yielding a temporary path that replaces ``path`` on success.

    The temporary name keeps the suffix of ``path`` (writers that choose the format from the
    suffix keep working). On error the temporary file is removed and ``path`` is untouched.
    Without ``overwrite`` the final step is a hard link, so a file created under the final name
    by someone else in the meantime is not clobbered either.

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
        if overwrite:
            os.replace(tmp, out)
        else:
            try:
                os.link(tmp, out)
            except FileExistsError:
                raise FileExistsError(
                    f"output {str(out)!r} appeared while it was being written; not replaced"
                ) from None
            except OSError:  # file system without hard links
                if out.exists():
                    raise FileExistsError(f"output {str(out)!r} already exists") from None
                os.replace(tmp, out)
        logger.debug("wrote %s", out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
