"""The ``sofi-dask`` command line: a thin dispatcher over ``sofi_dask.cli._<command>`` modules.

Each command module defines ``add_parser(subparsers)`` (registers its sub-parser and sets
``func`` to its ``run(args) -> int``).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Sequence

from sofi_dask import __version__
from sofi_dask._memory import limit_allocator_retention
from sofi_dask.errors import SofiDaskError

_COMMANDS: tuple[str, ...] = ("simulate", "ingest", "info", "verify", "run", "quality", "config")


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with one sub-command per ``sofi_dask.cli._<command>`` module."""
    parser = argparse.ArgumentParser(
        prog="sofi-dask",
        description="Out-of-core, distributed SOFI analysis on Dask and Zarr.",
    )
    parser.add_argument("--version", action="version", version=f"sofi-dask {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMANDS:
        importlib.import_module(f"sofi_dask.cli._{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sofi-dask`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.program = argv is None  # the program itself, not main([...]) called from Python
    if argv is None:  # the program itself (console script, python -m), not a call from Python
        # at exit, the interpreter's last garbage collections walk every object of ~1500 modules
        # (0.3-0.5 s after a run); frozen objects are skipped. Outputs are complete and synced
        # by then, and the handlers registered before (zarr's loop, logging) still run.
        atexit.register(gc.freeze)
    limit_allocator_retention()  # peak RSS flat in the number of chunks (see _memory)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # distributed sets its loggers to INFO and they propagate here: filter at the handler, so
    # a cluster's start-up chatter shows only with -v
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # e.g. `sofi-dask info movie.zarr | head`
        # stop writing into the closed pipe, and let the interpreter's final flush go nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        # zarr's event loop may hold tasks the interrupt cut short: asyncio would log each one
        # ("Task exception was never retrieved") at exit; the one line below says it all
        logging.getLogger("asyncio").setLevel(logging.CRITICAL + 1)
        # ... and its coroutines that never started warn when collected at interpreter exit
        warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
        print(f"sofi-dask {args.command}: interrupted; run it again to resume", file=sys.stderr)
        return 130
    except (SofiDaskError, ValueError, FileNotFoundError, FileExistsError, OSError) as exc:
        print(f"sofi-dask {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
