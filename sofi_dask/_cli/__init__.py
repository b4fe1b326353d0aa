"""One module per ``sofi-dask`` sub-command (see :mod:`sofi_dask.cli`)."""
