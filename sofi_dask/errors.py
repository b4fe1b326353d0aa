"""The exception hierarchy of sofi_dask: catch a type, not a message.

Every error the package raises on purpose derives from :class:`SofiDaskError`. Each also derives
from the built-in type that code written before this hierarchy caught (``ValueError`` for bad
input, ``FileExistsError`` for an output that exists, ...), so ``except ValueError`` still works.

Examples
--------
>>> from sofi_dask.errors import InputError, SofiDaskError
>>> try:
...     raise InputError("parameter 'order': expected an integer >= 1, got 0")
... except SofiDaskError as exc:
...     print(type(exc).__name__, isinstance(exc, ValueError))
InputError True
"""

from __future__ import annotations

__all__ = [
    "ClusterError",
    "ConfigError",
    "DamagedStoreError",
    "IncompleteStoreError",
    "InputError",
    "OutputExistsError",
    "SofiDaskError",
    "StoreLockedError",
]


class SofiDaskError(Exception):
    """Base class of every error sofi_dask raises on purpose."""


class InputError(SofiDaskError, ValueError):
    """A parameter or an input (array, file, store) is not what the function needs.

    The message names the parameter or file, what was expected and what was given:
    ``parameter 'name': expected ..., got ...``.
    """


class ConfigError(InputError):
    """A configuration key or value is wrong; ``key`` is its dotted path (``""``: the root).

    ``source`` (optional) is the file the setting came from; the message then starts with it.

    Examples
    --------
    >>> str(ConfigError("deconvolution.lam", "expected a float > 1, got 'abc'"))
    "deconvolution.lam: expected a float > 1, got 'abc'"
    >>> ConfigError("deconvolution.lam", "bad").key
    'deconvolution.lam'
    >>> str(ConfigError("deconvolution.lam", "bad", source="run.toml"))
    'run.toml: deconvolution.lam: bad'
    """

    def __init__(self, key: str, message: str, *, source: str | None = None) -> None:
        self.key = key
        self.message = message
        self.source = source
        where = ": ".join(p for p in (source, key) if p)
        super().__init__(f"{where}: {message}" if where else message)

    def __reduce__(self):  # pickles with every argument (distributed sends errors back)
        return (_config_error, (type(self), self.key, self.message, self.source))


def _config_error(cls: type[ConfigError], key: str, message: str, source: str | None):
    return cls(key, message, source=source)


class IncompleteStoreError(InputError):
    """A movie store whose writing (ingest, simulation) did not finish: resume or rewrite it."""


class DamagedStoreError(InputError):
    """A movie store with a missing, truncated or corrupted chunk or metadata file."""


class OutputExistsError(SofiDaskError, FileExistsError):
    """An output exists already (pass ``overwrite``), or would replace an input."""


class StoreLockedError(SofiDaskError, RuntimeError):
    """Another process is writing the same store or output folder (it holds the lock)."""


class ClusterError(SofiDaskError, RuntimeError):
    """A cluster could not be started or reached, or no worker arrived in time."""
