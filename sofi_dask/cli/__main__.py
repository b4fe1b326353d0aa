"""``python -m sofi_dask.cli``: the ``sofi-dask`` command."""

import sys

from sofi_dask.cli._main import main

sys.exit(main())
