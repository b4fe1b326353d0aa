"""The ``sofi-dask`` command line: one private module per sub-command."""

from __future__ import annotations

from sofi_dask.cli._main import (
    build_parser,
    main,
)

__all__ = [
    "build_parser",
    "main",
]
