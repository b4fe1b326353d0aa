"""Shared fixtures: a real distributed cluster on 127.0.0.1 (worker processes, spawn)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def dask_client():
    """A real ``distributed`` scheduler with two worker processes on 127.0.0.1.

    Session-scoped: starting worker processes costs seconds, and the tests only submit graphs.
    """
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        memory_limit="4GiB",
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
