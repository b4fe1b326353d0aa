"""``sofi-dask config``: the run configuration as a commented TOML template, or its JSON schema.

Both come from the same field definitions (:mod:`sofi_dask.pipeline._config_models`): every key
with its default, help line and expected value.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``config``."""
    p = subparsers.add_parser(
        "config",
        help="print the default pipeline configuration (a template for --config) or its schema",
        description="Print the default pipeline configuration as commented TOML, to edit and "
        "pass to `sofi-dask run --config FILE`; with --schema, the JSON schema of the "
        "configuration (every key with its type, default, bounds and description).",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("--template", action="store_true", help="(default) print the template")
    what.add_argument("--schema", action="store_true", help="print the JSON schema instead")
    p.add_argument("-o", "--output", default=None, help="write to this file instead of stdout")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Print (or write atomically) the template or the schema."""
    from sofi_dask.pipeline import _config as cfgmod

    if args.schema:
        text = json.dumps(cfgmod.pipeline_schema(), indent=2) + "\n"
    else:
        text = cfgmod.default_config_toml()
    if args.output:
        from sofi_dask.io._atomic import atomic_output

        with atomic_output(args.output, overwrite=args.overwrite) as tmp:
            tmp.write_text(text, encoding="utf-8")
        print(args.output)
    else:
        sys.stdout.write(text)
    return 0
