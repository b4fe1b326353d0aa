"""Lazy public names of a package (PEP 562): each name's module is imported on its first use.

``import sofi_dask.io`` (or any of its private modules) then costs nothing until a name is used,
so a command imports only the modules it runs: no ``distributed`` without a cluster, no
matplotlib without figures, no ``scipy.interpolate`` without the stage that needs it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` of ``package`` exporting ``exports`` lazily.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping
        Module name relative to ``package`` (e.g. ``"_moments"``) -> the public names it defines.

    Returns
    -------
    (callable, callable)
        The module-level ``__getattr__`` and ``__dir__`` of the package.

    Examples
    --------
    >>> import sofi_dask.errors
    >>> getattr_, _ = lazy_exports("sofi_dask", {"errors": ("InputError",)})
    >>> getattr_("InputError") is sofi_dask.errors.InputError
    True
    """
    owner = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = owner.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # the next lookup is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(owner))

    return __getattr__, __dir__
