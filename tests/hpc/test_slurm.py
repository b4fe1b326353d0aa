"""The cluster/ recipes and ``--scheduler slurm`` on a real single-node SLURM (``make test-hpc``).

tests/hpc/run.sh starts SLURM (cluster/slurm-single-node.sh) and sets SOFI_DASK_TEST_SLURM;
without it every test here is skipped. Each run must give the arrays of the local threaded run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def slurm_dir() -> Path:
    """The folder of the running single-node SLURM (set by tests/hpc/run.sh)."""
    path = os.environ.get("SOFI_DASK_TEST_SLURM")
    if not path or not (Path(path) / "slurm.conf").is_file():
        pytest.skip("no single-node SLURM: run `make test-hpc` (tests/hpc/run.sh starts one)")
    return Path(path)


@pytest.fixture(scope="session")
def work(tmp_path_factory, slurm_dir) -> Path:
    """A folder the SLURM jobs (root, same node) can read and write."""
    path = tmp_path_factory.mktemp("hpc")
    path.chmod(0o755)
    return path


def _env_prefix(work: Path) -> Path | None:
    """None when this interpreter is the checkout's .venv (the scripts' default, as in CI),
    else a small prefix whose bin/ runs this interpreter (SOFI_DASK_ENV for the scripts)."""
    if Path(sys.prefix).resolve() == (ROOT / ".venv").resolve():
        return None
    prefix = work / "env"
    (prefix / "bin").mkdir(parents=True, exist_ok=True)
    for name, args in {
        "python": "",
        "sofi-dask": " -m sofi_dask.cli",
        "dask": " -m dask",
    }.items():
        script = prefix / "bin" / name
        script.write_text(f'#!/bin/sh\nexec {sys.executable}{args} "$@"\n')
        script.chmod(0o755)
    return prefix


@pytest.fixture(scope="session")
def env(work, slurm_dir) -> dict[str, str]:
    """The environment of every command: this checkout importable, SLURM_CONF, and dask-jobqueue
    defaults from cluster/jobqueue.yaml sized for this node (in DASK_CONFIG)."""
    config = yaml.safe_load((ROOT / "cluster" / "jobqueue.yaml").read_text())
    slurm = config["jobqueue"]["slurm"]
    logs = work / "worker-logs"
    logs.mkdir()
    slurm.update(
        {
            "name": "sofi-test-worker",
            "cores": 1,
            "memory": "1GiB",
            "processes": 1,
            "queue": None,
            "walltime": "00:20:00",
            "log-directory": str(logs),
        }
    )
    folder = work / "dask-config"
    folder.mkdir()
    (folder / "jobqueue.yaml").write_text(yaml.safe_dump(config))
    out = dict(os.environ)
    out.update(
        {
            "SLURM_CONF": str(slurm_dir / "slurm.conf"),
            "DASK_CONFIG": str(folder),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
    )
    prefix = _env_prefix(work)
    if prefix is not None:
        out["SOFI_DASK_ENV"] = str(prefix)
    return out


def sofi_dask(*args: str, env: dict[str, str], cwd: Path, timeout: float = 240):
    """``sofi-dask ARGS`` in a subprocess; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "sofi_dask.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture(scope="session")
def movie(work, env) -> Path:
    """A small simulated movie as a Zarr store."""
    path = work / "movie.zarr"
    done = sofi_dask(
        "simulate", str(path), "--frames", "300", "--shape", "48x48", "--no-progress",
        env=env, cwd=work,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture(scope="session")
def reference(work, env, movie) -> Path:
    """The pipeline's result with the local threaded scheduler."""
    out = work / "ref"
    done = sofi_dask("run", str(movie), "-o", str(out), "--no-figures", env=env, cwd=work)
    assert done.returncode == 0, done.stderr
    return out


def arrays(folder: Path) -> dict[str, np.ndarray]:
    """Every array of ``folder/results.zarr`` by path."""
    group = zarr.open_group(folder / "results.zarr", mode="r")
    return {
        name: np.asarray(member[...])
        for name, member in group.members(max_depth=None)
        if isinstance(member, zarr.Array)
    }


def assert_same_result(out: Path, ref: Path, what: str) -> None:
    """Every array equal to the reference within 1e-12 relative; the max difference printed."""
    got, want = arrays(out), arrays(ref)
    assert sorted(got) == sorted(want), f"{what}: arrays differ: {sorted(got)} vs {sorted(want)}"
    worst = 0.0
    for name, expected in want.items():
        actual = got[name]
        assert actual.shape == expected.shape, name
        scale = float(np.max(np.abs(expected.astype(np.float64)))) or 1.0
        diff = float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64))))
        worst = max(worst, diff / scale)
        assert diff <= 1e-12 * scale, f"{what}: {name}: max |difference| {diff:g} (scale {scale})"
    print(f"\n{what}: {len(want)} arrays, max |difference| / max |reference| = {worst:.3g}")


def wait_for_jobs(job_ids: list[str], env: dict[str, str], timeout: float = 300) -> None:
    """Wait until none of ``job_ids`` is pending or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["squeue", "-h", "-j", ",".join(job_ids), "-o", "%i %T"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if not out.stdout.strip():
            return
        time.sleep(2)
    pytest.fail(f"SLURM jobs {job_ids} still queued or running after {timeout} s")


def job_records(slurm_dir: Path) -> dict[str, dict[str, str]]:
    """Finished jobs from the job completion log: id -> fields (JobState, ExitCode, Name...)."""
    path = slurm_dir / "log" / "jobcomp.log"
    records = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if "JobId" in fields:
            records[fields["JobId"]] = fields
    return records


pytestmark = pytest.mark.hpc


def _sbatch(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """``sbatch ARGS`` as a user types it; returns the job id."""
    done = subprocess.run(
        ["sbatch", *args], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[-1]  # "Submitted batch job 12"


def _job_ok(slurm_dir: Path, job_id: str, log: Path) -> None:
    record = job_records(slurm_dir).get(job_id, {})
    text = log.read_text() if log.exists() else "(no output file)"
    assert record.get("JobState") == "COMPLETED", f"job {job_id}: {record}\n{text[-3000:]}"
    assert record.get("ExitCode") == "0:0", f"job {job_id}: {record}\n{text[-3000:]}"


def test_scheduler_slurm_workers_are_slurm_jobs(work, env, movie, reference, slurm_dir):
    """(a) sofi-dask run --scheduler slurm --workers 2: dask-jobqueue submits two worker jobs."""
    before = set(job_records(slurm_dir))
    out = work / "out-jobqueue-cli"
    t0 = time.monotonic()
    done = sofi_dask(
        "run", str(movie), "-o", str(out), "--scheduler", "slurm", "--workers", "2",
        "--no-figures", env=env, cwd=work,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"\n(a) sofi-dask run --scheduler slurm --workers 2: {time.monotonic() - t0:.1f} s")
    assert "Dask dashboard: http" in done.stderr
    workers = {
        i: r
        for i, r in job_records(slurm_dir).items()
        if i not in before and r.get("Name") == "sofi-test-worker"
    }
    assert len(workers) == 2, job_records(slurm_dir)
    for job_id in workers:
        # the worker's own log (log-directory of jobqueue.yaml): it ran and served the scheduler
        log = (work / "worker-logs" / f"sofi-test-worker-{job_id}.err").read_text()
        assert "Start worker at" in log and "Registered to" in log, log[-2000:]
    assert_same_result(out, reference, "(a) --scheduler slurm")


def test_scheduler_file_recipe_twice_at_once(work, env, movie, reference, slurm_dir):
    """(b) the README's command for cluster/slurm-scheduler-file.sbatch, two jobs on one node."""
    script = ROOT / "cluster" / "slurm-scheduler-file.sbatch"
    t0 = time.monotonic()
    ids = [
        _sbatch(
            [
                "--nodes=1",
                "--cpus-per-task=1",
                "--mem=2G",
                str(script),
                str(movie),
                str(work / f"out-sf{k}"),
                "--no-figures",
            ],
            env,
            work,
        )  # fmt: skip
        for k in (1, 2)
    ]
    # both jobs are running at the same time, on the same node
    deadline = time.monotonic() + 60
    running: set[str] = set()
    while time.monotonic() < deadline and running != set(ids):
        out = subprocess.run(
            ["squeue", "-h", "-j", ",".join(ids), "-t", "RUNNING", "-o", "%i"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        running |= set(out.stdout.split())
        time.sleep(0.5)
    assert running == set(ids), f"not both running at once: {running} of {ids}"
    wait_for_jobs(ids, env)
    print(f"\n(b) two slurm-scheduler-file.sbatch jobs at once: {time.monotonic() - t0:.1f} s")
    for k, job_id in zip((1, 2), ids, strict=True):
        log = work / f"sofi-dask-{job_id}.out"
        _job_ok(slurm_dir, job_id, log)
        text = log.read_text()
        assert "Address already in use" not in text
        assert "dashboard: http" in text  # the dashboard address is printed
        assert_same_result(work / f"out-sf{k}", reference, f"(b) scheduler-file job {job_id}")


def test_jobqueue_recipe(work, env, movie, reference, slurm_dir):
    """(c) cluster/slurm-jobqueue.sbatch: a driver job submitting its worker jobs."""
    script = ROOT / "cluster" / "slurm-jobqueue.sbatch"
    before = set(job_records(slurm_dir))
    t0 = time.monotonic()
    job_id = _sbatch([str(script), str(movie), str(work / "out-driver"), "1", "--no-figures"],
                     env, work)  # fmt: skip
    wait_for_jobs([job_id], env)
    print(f"\n(c) slurm-jobqueue.sbatch: {time.monotonic() - t0:.1f} s")
    _job_ok(slurm_dir, job_id, work / f"sofi-driver-{job_id}.out")
    new = {i: r for i, r in job_records(slurm_dir).items() if i not in before}
    assert [r["Name"] for r in new.values()].count("sofi-test-worker") == 1, new
    assert_same_result(work / "out-driver", reference, "(c) jobqueue driver job")


def test_rejected_worker_job_fails_fast(work, env, movie):
    """(d) a worker request SLURM rejects: non-zero exit within a minute, sbatch's error."""
    t0 = time.monotonic()
    done = sofi_dask(
        "run", str(movie), "-o", str(work / "out-rejected"), "--scheduler", "slurm",
        "--workers", "1", "--set", "compute.cluster_options.queue=no-such-partition",
        env=env, cwd=work, timeout=60,
    )  # fmt: skip
    took = time.monotonic() - t0
    print(f"\n(d) rejected worker job: exit {done.returncode} after {took:.1f} s")
    assert done.returncode != 0
    assert took < 60
    assert "invalid partition specified: no-such-partition" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    script = done.stderr.split("job script: ")[1].split()[0]
    assert "#SBATCH -p no-such-partition" in Path(script).read_text()
    assert not (work / "out-rejected").exists()


def test_no_worker_in_time_says_why(work, env, monkeypatch):
    """A job that stays pending: ClusterError after worker_timeout naming state and reason;
    a job that ends without a worker: ClusterError at once; no job left behind either way."""
    from sofi_dask.cluster import make_client
    from sofi_dask.errors import ClusterError

    monkeypatch.setenv("SLURM_CONF", env["SLURM_CONF"])
    options = {
        "threads_per_worker": 1,
        "memory_limit": "1GiB",
        "name": "sofi-test-worker",
        "log_directory": str(work / "worker-logs"),
        "scheduler_options": {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"},
    }
    t0 = time.monotonic()
    with pytest.raises(ClusterError, match=r"pending \(reason: BeginTime\)"):
        make_client(
            "slurm", n_workers=1, worker_timeout=8, job_extra_directives=["--begin=now+3600"],
            **options,
        )  # fmt: skip
    assert time.monotonic() - t0 < 40
    with pytest.raises(ClusterError, match="ended before their worker connected"):
        make_client("slurm", n_workers=1, job_script_prologue=["exit 3"], **options)
    assert time.monotonic() - t0 < 80
    left = subprocess.run(
        ["squeue", "-h", "-n", "sofi-test-worker", "-o", "%i %T"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert left.stdout.strip() == "", f"jobs left behind: {left.stdout}"
