"""Shared fixtures: a real distributed cluster on 127.0.0.1 (worker processes, spawn)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def dask_cluster():
    """A real ``distributed`` scheduler with two worker processes on 127.0.0.1.

    Session-scoped: starting worker processes costs seconds; tests connect clients to it.
    """
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        memory_limit="4GiB",
    )
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def dask_client(dask_cluster):
    """A client of :func:`dask_cluster`, the default scheduler only for the test that asks.

    Closing it at the end of the test restores the local schedulers, so later tests do not
    silently run on the cluster.
    """
    from distributed import Client

    with Client(dask_cluster) as client:
        yield client


@pytest.fixture
def ngff_validate():
    """Validate a written Zarr group against OME-NGFF 0.5 (metadata and structure: axes, the
    dataset path exists, its dimensions match the axes) with yaozarrs, a maintained validator;
    returns the validated group, raises on any deviation."""
    yaozarrs = pytest.importorskip("yaozarrs")

    def validate(path):
        group = yaozarrs.validate_zarr_store(str(path))
        assert group.attrs["ome"]["version"] == "0.5"
        assert "multiscales" not in group.attrs  # the 0.5 place only: no top-level copy
        return group

    return validate


class CountingSource:
    """An array-like data source that counts the non-empty reads made of it (``reads``)."""

    def __init__(self, data):
        self.data = data
        self.shape, self.dtype, self.ndim = data.shape, data.dtype, data.ndim
        self.reads = 0

    def __getitem__(self, key):
        out = self.data[key]
        self.reads += int(out.size > 0)
        return out


@pytest.fixture
def counting_source():
    """The :class:`CountingSource` class: wrap an array, read it through dask, count reads."""
    return CountingSource
