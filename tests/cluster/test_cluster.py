"""Tests of sofi_dask.cluster with real schedulers and worker processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import socket

import dask
import dask.array as da
import numpy as np
import pytest
from dask.array.utils import assert_eq

from sofi_dask.cluster import _client as cluster
from sofi_dask.cluster._client import (
    SPAWN_PROLOGUE,
    LocalScheduler,
    dashboard_link,
    make_client,
    make_jobqueue_cluster,
    parse_scheduler,
    progress,
)
from sofi_dask.errors import ClusterError, InputError

# dask-jobqueue registers its config defaults on import: do it before any dask.config.set
pytest.importorskip("dask_jobqueue")

HERE = {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}


def _movie_like():
    rng = np.random.default_rng(0)
    x = rng.poisson(100.0, size=(40, 24, 24)).astype(np.uint16)
    return x, da.from_array(x, chunks=(8, 12, 12))


def _pid_and_canary():
    import json as _json  # noqa: PLC0415 - evaluated in the worker process

    return os.getpid(), hasattr(_json, "_sofi_dask_fork_canary")


def test_local_cluster_processes_compute_real_result(monkeypatch):
    x, dx = _movie_like()
    # a module attribute set here survives a fork but not a spawn
    monkeypatch.setattr(json, "_sofi_dask_fork_canary", True, raising=False)
    with make_client(
        "local", n_workers=2, threads_per_worker=1, memory_limit="1GiB", dashboard_address=None
    ) as client:
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        info = client.run(_pid_and_canary)
        assert len(info) == 2
        for pid, canary in info.values():
            assert pid != os.getpid()  # real worker processes
            assert not canary  # started with spawn, not fork
        mean = (dx.astype(np.float64) ** 2).mean(axis=0)
        assert_eq(mean, (x.astype(np.float64) ** 2).mean(axis=0))
        owned = client._owned_cluster
    assert client.status == "closed"
    assert owned.status.name == "closed"  # the cluster make_client started is closed too


def test_address_mode_connects_without_owning(dask_client):
    x, dx = _movie_like()
    address = dask_client.scheduler.address
    assert parse_scheduler(address) == address
    with make_client(address) as client:
        assert set(client.scheduler_info()["workers"]) == set(
            dask_client.scheduler_info()["workers"]
        )
        assert_eq(dx.std(axis=0), x.std(axis=0))
    # closing our client left the shared scheduler running
    assert dask_client.submit(sum, [1, 2, 3]).result() == 6


def test_scheduler_file_mode(dask_client, tmp_path):
    sched = tmp_path / "scheduler.json"
    sched.write_text(json.dumps({"address": dask_client.scheduler.address}))
    with make_client(scheduler_file=sched) as client:
        assert client.submit(lambda: 41 + 1).result() == 42
    with pytest.raises(FileNotFoundError, match="scheduler file"):
        make_client(scheduler_file=tmp_path / "missing.json")
    with pytest.raises(ValueError, match="scheduler_file"):
        make_client("local", scheduler_file=sched)


def test_unreachable_scheduler_is_a_cluster_error(tmp_path):
    """Nothing listens on the port: ClusterError names the address, within the timeout."""
    with socket.socket() as s:  # a port that was free a moment ago, closed again
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    with pytest.raises(
        ClusterError, match=f"could not start or reach the scheduler at '{address}'"
    ):
        make_client(address, timeout=2)
    sched = tmp_path / "scheduler.json"
    sched.write_text(json.dumps({"address": address}))
    with pytest.raises(ClusterError, match="scheduler.json"):
        make_client(scheduler_file=sched, timeout=2)


def test_threads_scheduler_sets_and_restores_config():
    x, dx = _movie_like()
    before = dask.config.get("scheduler", None)
    with make_client("threads", n_workers=3) as sched:
        assert isinstance(sched, LocalScheduler)
        assert dask.config.get("scheduler") == "threads"
        assert dask.config.get("num_workers") == 3
        assert dashboard_link(sched) is None
        assert_eq(dx.max(axis=0), x.max(axis=0))
    assert dask.config.get("scheduler", None) == before
    sync = make_client("sync")
    assert sync.scheduler == "synchronous"
    sync.close()
    sync.close()  # idempotent
    assert dask.config.get("scheduler", None) == before


def test_processes_scheduler_uses_spawn():
    x, dx = _movie_like()
    with make_client("processes", n_workers=2) as sched:
        assert sched.compute_kwargs == {"scheduler": "processes", "num_workers": 2}
        assert dask.config.get("multiprocessing.context") == "spawn"
        assert_eq(dx.sum(axis=(1, 2)), x.sum(axis=(1, 2)))


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "slurm",
            [
                "#SBATCH -p short",
                "#SBATCH -A lab",
                "#SBATCH -t 01:30:00",
                "#SBATCH --cpus-per-task=8",
                "#SBATCH --mem=16G",
            ],
        ),
        (
            "pbs",
            [
                "#PBS -q short",
                "#PBS -A lab",
                "#PBS -l walltime=01:30:00",
                "#PBS -l select=1:ncpus=8:mem=16GB",
            ],
        ),
    ],
)
def test_jobqueue_job_script_has_requested_resources(kind, expected):
    jc = make_jobqueue_cluster(
        kind,
        threads_per_worker=4,
        memory_limit="8GiB",
        processes=2,
        queue="short",
        account="lab",
        walltime="01:30:00",
        scheduler_options=HERE,
    )
    try:
        script = jc.job_script()
        assert jc.scheduler_address.startswith("tcp://127.0.0.1:")
        assert len(jc.workers) == 0  # nothing submitted
    finally:
        jc.close()
    for line in expected:
        assert line in script
    assert SPAWN_PROLOGUE in script
    assert "--nthreads 4" in script
    assert "--nworkers 2" in script
    assert "--memory-limit 8.00GiB" in script


def test_jobqueue_reads_dask_config_and_needs_resources():
    with dask.config.set(
        {
            "jobqueue.slurm.cores": 6,
            "jobqueue.slurm.memory": "12GB",
            "jobqueue.slurm.queue": "batch",
        }
    ):
        jc = make_jobqueue_cluster("slurm", scheduler_options=HERE)
        try:
            script = jc.job_script()
        finally:
            jc.close()
    assert "#SBATCH -p batch" in script and "--cpus-per-task=6" in script
    with pytest.raises(ValueError, match="threads_per_worker"):
        make_jobqueue_cluster("pbs", memory_limit="1GiB", scheduler_options=HERE)
    with pytest.raises(ValueError, match="memory_limit"):
        make_jobqueue_cluster("pbs", threads_per_worker=2, scheduler_options=HERE)
    with pytest.raises(ValueError, match="scheduler"):
        make_jobqueue_cluster("local")


@pytest.mark.skipif(shutil.which("sbatch") is not None, reason="a real SLURM is here")
def test_slurm_without_sbatch_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="sbatch"):
        make_client("slurm", threads_per_worker=2, memory_limit="1GiB")


@pytest.mark.parametrize(
    "bad", ["", "bogus", "tcp://", "slurm://x", "localhost", "tcp://host:port", None, 8786]
)
def test_bad_scheduler_names_the_parameter(bad):
    with pytest.raises(ValueError, match="scheduler"):
        make_client(bad)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_workers": 0}, "n_workers"),
        ({"n_workers": 1.5}, "n_workers"),
        ({"threads_per_worker": -1}, "threads_per_worker"),
        ({"memory_limit": "lots"}, "memory_limit"),
        ({"memory_limit": -5}, "memory_limit"),
        ({"jobs": 0}, "jobs"),
        ({"queue": "short"}, "queue"),  # a jobqueue option for the threads scheduler
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, name):
    with pytest.raises(InputError, match=f"parameter '{name}': expected .*, got"):
        make_client("threads", **kwargs)


def test_scheduler_names_and_aliases():
    assert parse_scheduler("Threads") == "threads"
    assert parse_scheduler("sync") == "synchronous"
    assert parse_scheduler("10.1.2.3:8786") == "10.1.2.3:8786"
    assert parse_scheduler("tls://node-7.cluster:8786") == "tls://node-7.cluster:8786"
    assert set(cluster.SCHEDULERS) >= {"threads", "processes", "local", "slurm", "pbs"}


def test_progress_local_and_distributed(dask_client, capsys):
    x, dx = _movie_like()
    from sofi_dask.cluster._progress import _default_distributed_client

    with make_client("threads", n_workers=2):  # local scheduler over the default client
        assert _default_distributed_client() is None
        value = progress(dx.sum(), minimum=0.0)
    assert value == x.sum(dtype=np.uint64)
    assert "100% Completed" in capsys.readouterr().out
    # client=None follows dask: the session's default distributed client here, whose text
    # progress bar (distributed.progress) prints too
    assert _default_distributed_client() is dask_client
    assert progress(dx.sum()) == x.sum(dtype=np.uint64)
    assert "100% Completed" in capsys.readouterr().out
    a, b = progress(dx.min(), dx.max(), client=dask_client)
    assert (a, b) == (x.min(), x.max())
    fut = dask_client.compute(dx.mean())
    assert progress(fut) == pytest.approx(x.mean())
    assert dashboard_link(dask_client) is None or dashboard_link(dask_client).startswith("http")


def _example_config():
    yaml = pytest.importorskip("yaml")
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "cluster" / "jobqueue.yaml"
    flat = {}

    def walk(prefix, node):  # dotted keys: merged into dask's config like a YAML file is
        for key, value in node.items():
            if isinstance(value, dict) and value:
                walk(f"{prefix}{key}.", value)
            else:
                flat[f"{prefix}{key}"] = value

    walk("", yaml.safe_load(path.read_text()))
    return flat


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("slurm", ["#SBATCH --cpus-per-task=16", "#SBATCH --mem=64G"]),
        ("pbs", ["#PBS -l select=1:ncpus=16:mem=64GB"]),
    ],
)
def test_example_jobqueue_yaml_is_valid_dask_config(kind, expected):
    config = _example_config()
    with dask.config.set(config):
        jc = make_jobqueue_cluster(kind, scheduler_options=HERE)
        try:
            script = jc.job_script()
        finally:
            jc.close()
    for line in expected:
        assert line in script
    assert "--nworkers 4" in script and "--nthreads 4" in script
    assert "--local-directory ${TMPDIR:-/tmp}" in script  # expanded by the job's shell
    # no partition/queue line: the example leaves the site's default (a wrong one is refused)
    assert "#SBATCH -p" not in script and "#PBS -q" not in script
    assert SPAWN_PROLOGUE in script


def test_scheduler_started_from_command_line_with_scheduler_file(tmp_path):
    """The workflow of cluster/*-scheduler-file.*: `dask scheduler/worker --scheduler-file`."""
    import subprocess
    import sys
    import time

    sched_file = tmp_path / "scheduler.json"
    env = dict(os.environ, DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD="spawn")
    scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--scheduler-file",
            str(sched_file),
            "--host",
            "127.0.0.1",
            "--no-dashboard",
            "--no-show",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not (sched_file.exists() and sched_file.stat().st_size):
            assert time.monotonic() < deadline, "scheduler did not write its file"
            time.sleep(0.2)
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                "--scheduler-file",
                str(sched_file),
                "--host",
                "127.0.0.1",
                "--nworkers",
                "1",
                "--nthreads",
                "1",
                "--no-dashboard",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        x, dx = _movie_like()
        with make_client(scheduler_file=sched_file) as client:
            client.wait_for_workers(1, timeout=60)
            assert_eq(dx.var(axis=0), x.var(axis=0))
            address = json.loads(sched_file.read_text())["address"]
        # the scripts pass that address on: `sofi-dask run ... --scheduler "$ADDRESS"`
        with make_client(address) as client:
            assert len(client.scheduler_info()["workers"]) == 1
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                proc.terminate()
        for proc in (worker, scheduler):
            if proc is not None:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def test_config_scheduler_file_and_worker_timeout(dask_client, tmp_path):
    """compute.scheduler_file (sofi-dask run --scheduler-file) connects without owning;
    compute.worker_timeout is a positive number of seconds."""
    from sofi_dask.errors import ConfigError
    from sofi_dask.pipeline._config import apply_overrides, parse_config
    from sofi_dask.pipeline._run import client_for

    sched = tmp_path / "scheduler.json"
    sched.write_text(json.dumps({"address": dask_client.scheduler.address}))
    config = apply_overrides(parse_config(None), {"compute.scheduler_file": str(sched)})
    with client_for(config) as client:
        assert client.scheduler.address == dask_client.scheduler.address
        assert client.submit(sum, [1, 2]).result() == 3
    assert dask_client.submit(sum, [3, 4]).result() == 7  # still running
    assert parse_config(None).compute.worker_timeout == 300.0
    with pytest.raises(ConfigError, match="worker_timeout"):
        apply_overrides(parse_config(None), {"compute.worker_timeout": 0})
