"""The pipeline on a real local cluster under stress: a worker SIGKILLed mid-run; per-window
moment states that do not pile up; workers with a 1 GiB memory limit on a 2 GB store (slow)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from sofi_dask.cluster._health import memory_peaks, worker_health
from sofi_dask.io import ingest
from sofi_dask.pipeline import apply_overrides, run_pipeline
from sofi_dask.pipeline._config import parse_config
from sofi_dask.pipeline._run import client_for

ROOT = Path(__file__).resolve().parents[2]


def _simulate(path: Path, frames: int, shape: str) -> Path:
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    subprocess.run(
        [sys.executable, "-m", "sofi_dask.cli", "simulate", str(path), "--frames", str(frames),
         "--shape", shape, "--no-progress"],
        env=env, check=True, capture_output=True, timeout=1200,
    )  # fmt: skip
    return path


def _config(**compute):
    overrides = {"outputs.figures": False, "outputs.keep_stages": ["statistic", "ldrc"]}
    overrides.update({f"compute.{k}": v for k, v in compute.items()})
    return apply_overrides(parse_config(None), overrides)


def _arrays(out: Path) -> dict[str, np.ndarray]:
    group = zarr.open_group(out / "results.zarr", mode="r")
    return {n: np.asarray(a[...]) for n, a in group.members(max_depth=None) if hasattr(a, "dtype")}


def test_worker_killed_mid_run_gives_the_same_result(tmp_path):
    store = _simulate(tmp_path / "movie.zarr", 1000, "48x48")
    reference = run_pipeline(store, tmp_path / "ref", _config(), progress=False).output
    config = _config(scheduler="local", n_workers=2, threads_per_worker=1, memory_limit="2GiB")
    killed: list[int] = []
    with client_for(config) as client:
        before = worker_health(client)["pids"]
        done = threading.Event()

        def kill_a_busy_worker():
            while not done.is_set():
                busy = [w for w, keys in client.processing().items() if keys]
                if busy and len(client.who_has()) > 0:
                    pid = before[busy[0]]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
        killer.start()
        try:
            result = run_pipeline(store, tmp_path / "out", config, client=client, progress=False)
        finally:
            done.set()
            killer.join(5)
        client.wait_for_workers(2, timeout=60)
        after = worker_health(client)["pids"]
    assert killed, "no worker was killed"
    assert killed[0] not in after.values()  # that process is gone, the nanny started another
    got, want = _arrays(result.output), _arrays(reference)
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=0, err_msg=name)


def test_window_states_do_not_pile_up_on_a_cluster(tmp_path, dask_client):
    """The default run (quality on: whole movie, two halves, prefixes from per-window moment
    states) on 2 workers: each window's state is merged soon after it is made, so the states in
    memory at once stay few however many windows there are (before: every window's state was
    alive until the end, 64 here)."""
    import tifffile

    windows, frames = 64, 100
    rng = np.random.default_rng(3)
    movie = rng.poisson(40.0, (windows * frames, 32, 32)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "movie.tif", movie)
    store = ingest(tmp_path / "movie.tif", tmp_path / "movie.zarr", chunks=(frames, -1, -1))
    config = apply_overrides(_config(), {"quality.block_frames": frames})
    with memory_peaks(dask_client) as peaks:
        result = run_pipeline(store, tmp_path / "out", config, client=dask_client, progress=False)
    reference = run_pipeline(store, tmp_path / "ref", config, progress=False)
    window_states = peaks["keys"].get("moment-stack", 0)
    print(f"\npeak keys in memory: {peaks}")
    assert 1 <= window_states <= 16, peaks  # 64 made, merged 2 by 2 (before: all 64 alive)
    got, want = _arrays(result.output), _arrays(reference.output)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=0, err_msg=name)


@pytest.mark.slow
def test_two_1gib_workers_on_a_2gb_store_neither_pause_nor_spill(tmp_path):
    """sofi-dask run STORE --scheduler local --workers 2 --memory-limit 1GiB, as the API: no
    worker paused, killed or restarted, at most a few chunks spilled."""
    store = os.environ.get("SOFI_DASK_2GB_STORE")
    store = Path(store) if store else _simulate(tmp_path / "movie.zarr", 16384, "256x256")
    nbytes = zarr.open_group(store, mode="r")["movie"].nbytes
    assert nbytes >= 2 * 10**9, nbytes
    config = apply_overrides(
        parse_config(None),
        {"outputs.figures": False, "compute.scheduler": "local", "compute.n_workers": 2,
         "compute.memory_limit": "1GiB"},
    )  # fmt: skip
    with client_for(config) as client:
        before = worker_health(client)["pids"]
        with memory_peaks(client) as peaks:
            run_pipeline(store, tmp_path / "out", config, client=client, progress=False)
        health = worker_health(client)
    print(f"\n2 x 1 GiB workers on {nbytes / 1e9:.2f} GB: {health}; peak in memory: {peaks}")
    assert health["pids"] == before, "a worker was restarted"
    assert health["trouble"] == [], health["trouble"]
    assert health["spilled_chunks"] <= 4, health
    assert peaks["keys"].get("moment-stack", 0) <= 16, peaks  # 64 window states: no pile-up
