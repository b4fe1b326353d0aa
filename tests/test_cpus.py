"""Thread-count defaults follow the CPUs this process may use (affinity, cgroups), and tasks on a
distributed worker start no threads of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sofi_dask._cpus import cpu_count, in_distributed_worker, task_threads

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import json, os, sys
os.sched_setaffinity(0, {int(sys.argv[1])})   # before dask is imported, as taskset would
from sofi_dask._cpus import cpu_count, task_threads
from sofi_dask.image._deconv import _default_block_frames
from sofi_dask.image._ldrc import _stack_block_images
from sofi_dask.simulate._engine import _default_threads
print(json.dumps({
    "machine": os.cpu_count(),
    "cpu_count": cpu_count(),
    "task_threads": task_threads(4),
    "deconv_block_frames": _default_block_frames(800),
    "ldrc_block_images": _stack_block_images((800, 4, 4)),
    "simulate_threads": _default_threads(),
}))
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_defaults_follow_cpu_affinity_not_the_machine():
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        pytest.skip("needs 2 CPUs to tell the affinity from the machine")
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(allowed[0])],
        capture_output=True, text=True, env=env, check=True, timeout=120,
    )  # fmt: skip
    got = json.loads(out.stdout)
    assert got["machine"] >= 2  # os.cpu_count() still counts the machine
    assert got["cpu_count"] == 1
    assert got["task_threads"] == 1
    assert got["simulate_threads"] == 1
    assert got["deconv_block_frames"] == 800 // 4  # 4 blocks per CPU, 1 CPU
    assert got["ldrc_block_images"] == 800 // 2  # 2 tasks per CPU


def test_no_module_counts_the_machine():
    """os.cpu_count() nowhere in the package (sofi_dask._cpus says why)."""
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "sofi_dask").rglob("*.py")
        if p.name != "_cpus.py" and "os.cpu_count(" in p.read_text()
    ]
    assert offenders == []


def _probe_in_task():
    return in_distributed_worker(), task_threads(4), task_threads()


def test_tasks_on_a_distributed_worker_start_no_threads(dask_client):
    assert dask_client.submit(_probe_in_task, pure=False).result() == (True, 1, 1)
    assert not in_distributed_worker()
    assert task_threads(4) == min(4, cpu_count())
    assert task_threads() == cpu_count()


def test_one_blas_thread_limits_every_blas_library_inside_the_block_only():
    import numpy as np
    from threadpoolctl import threadpool_info

    from sofi_dask._cpus import one_blas_thread

    np.ones((8, 8)) @ np.ones((8, 8))  # numpy's BLAS is loaded
    before = {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()}
    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert blas, "numpy links a BLAS library"
    with one_blas_thread():
        inside = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
        assert inside == [1] * len(blas)
    assert {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()} == before


def test_threaded_compute_runs_every_task_with_one_blas_thread():
    """The package's local computes go through threaded_compute: inside its tasks BLAS has one
    thread (a pool of task threads on every CPU, each with a BLAS pool, oversubscribed)."""
    import dask
    import numpy as np
    from threadpoolctl import threadpool_info

    from sofi_dask._cpus import threaded_compute

    def blas_threads(_: int) -> list[int]:
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    tasks = [dask.delayed(blas_threads)(i) for i in range(4)]
    seen = threaded_compute(*tasks)
    assert all(s == [1] * len(s) and s for s in seen)
    before = blas_threads(0)
    assert blas_threads(0) == before  # the limit ends with the compute
    (total,) = threaded_compute(dask.delayed(np.add)(1, 2), scheduler="sync")
    assert total == 3
