"""The run record (``run.json``): parameters, package versions, input identity, timings."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

RUN_RECORD_NAME = "run.json"

_PACKAGES = (
    "sofi_dask",
    "dask",
    "distributed",
    "zarr",
    "numcodecs",
    "numpy",
    "scipy",
    "numba",
    "tifffile",
    "matplotlib",
)


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages a run depends on.

    Examples
    --------
    >>> "numpy" in package_versions()
    True
    """
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _path_size_mtime(path: Path) -> tuple[int, float]:
    if path.is_dir():
        size, mtime = 0, path.stat().st_mtime
        for root, _dirs, files in os.walk(path):
            for name in files:
                st = (Path(root) / name).stat()
                size += st.st_size
                mtime = max(mtime, st.st_mtime)
        return size, mtime
    st = path.stat()
    return st.st_size, st.st_mtime


def input_identity(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    shape: Sequence[int] | None = None,
    dtype: Any = None,
) -> dict[str, Any]:
    """Identity of an input: absolute path(s), size in bytes, modification time, shape, dtype.

    Parameters
    ----------
    path : path or sequence of paths
        A file, a folder (Zarr store: sizes summed over its files) or several files.
    shape, dtype : optional
        Shape and dtype of the movie read from it.

    Examples
    --------
    >>> input_identity(__file__)["size"] > 0
    True
    """
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    entries = []
    for p in paths:
        pp = Path(p).expanduser().resolve()
        size, mtime = _path_size_mtime(pp)
        entries.append(
            {
                "path": str(pp),
                "size": int(size),
                "mtime": _dt.datetime.fromtimestamp(mtime, tz=_dt.UTC).isoformat(),
            }
        )
    record: dict[str, Any] = dict(entries[0]) if len(entries) == 1 else {"files": entries}
    if len(entries) > 1:
        record["size"] = sum(e["size"] for e in entries)
    if shape is not None:
        record["shape"] = [int(n) for n in shape]
    if dtype is not None:
        record["dtype"] = str(np.dtype(dtype))
    return record


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, tuple | set | frozenset):
        return list(obj)
    if isinstance(obj, _dt.datetime):
        return obj.isoformat()
    raise TypeError(f"run record: cannot store {type(obj).__name__} value {obj!r} in JSON")


def write_run_record(path: str | os.PathLike[str], record: Mapping[str, Any]) -> Path:
    """Write a run record as indented JSON (numpy scalars, paths and tuples converted).

    Examples
    --------
    >>> write_run_record("/tmp/run-example.json", {"a": np.float64(1.5)})  # doctest: +SKIP
    PosixPath('/tmp/run-example.json')
    """
    out = Path(path)
    text = json.dumps(dict(record), indent=2, sort_keys=False, default=_json_default)
    out.write_text(text + "\n", encoding="utf-8")
    return out


def base_record() -> dict[str, Any]:
    """Fields every run record starts with (tool, versions, command line, host, start time)."""
    return {
        "tool": "sofi-dask",
        "versions": package_versions(),
        "command": list(sys.argv),
        "host": platform.node(),
        "started": _dt.datetime.now(tz=_dt.UTC).isoformat(),
    }


def run_parameters(config: Any, input: Any, output: Any) -> dict[str, Any]:  # noqa: A002
    """``run.json``'s ``parameters``: ``config`` with the movie and output folder the run used
    (``input.path``: None for a list of several files, listed in the record's ``input``), so
    that a run from them reproduces it.

    Examples
    --------
    >>> from sofi_dask.pipeline import PipelineConfig
    >>> params = run_parameters(PipelineConfig(), "/data/m.tif", "/data/out")
    >>> params["input"]["path"], params["outputs"]["path"]
    ('/data/m.tif', '/data/out')
    """
    paths = [input] if isinstance(input, str | os.PathLike) else list(input)
    source = os.path.abspath(os.path.expanduser(paths[0])) if len(paths) == 1 else None
    params = config.to_dict()
    params["input"]["path"] = source
    params["outputs"]["path"] = os.path.abspath(os.path.expanduser(output))
    return params
