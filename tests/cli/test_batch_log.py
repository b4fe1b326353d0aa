"""`sofi-dask run` as a batch job sees it: stdout and stderr to a file (SLURM's --output)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli_to_file(log: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    with open(log, "w") as out:  # one file for both, as `#SBATCH --output` does
        return subprocess.run(
            [sys.executable, "-m", "sofi_dask.cli", *args],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, timeout=240, check=False,
        )  # fmt: skip


@pytest.fixture(scope="module")
def movie_tif(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("log") / "movie.tif"
    done = _cli_to_file(
        path.with_suffix(".log"), "simulate", str(path), "--frames", "400", "--shape", "40x40"
    )
    assert done.returncode == 0, path.with_suffix(".log").read_text()
    return path


def _progress_lines(text: str, phase: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(phase)]


@pytest.mark.parametrize("scheduler", ["threads", "local"])
def test_log_has_whole_lines_elapsed_and_eta(tmp_path, movie_tif, scheduler):
    log = tmp_path / "job.out"
    extra = ["--workers", "2", "--threads-per-worker", "1"] if scheduler == "local" else []
    done = _cli_to_file(
        log, "run", str(movie_tif), "-o", str(tmp_path / "out"), "--no-figures",
        "--cache-dir", str(tmp_path / "cache"), "--scheduler", scheduler, *extra,
    )  # fmt: skip
    text = log.read_text()
    assert done.returncode == 0, text
    assert "\r" not in text
    # ingest (a TIFF input) and compute: whole lines, at most one per tenth (+ the first)
    ingest = [ln for ln in text.splitlines() if "frames" in ln and "%" in ln]
    compute = _progress_lines(text, "compute:")
    assert 1 <= len(ingest) <= 11, text
    assert 2 <= len(compute) <= 12, text
    assert all("elapsed" in ln for ln in ingest + compute), text
    assert compute[-1].startswith("compute: 100%"), text
    # every line between the first and the last has an ETA (how many there are depends on the
    # machine's speed: a fast run can go from the first report to 100 % in one step)
    assert all("ETA" in ln for ln in compute[1:-1]), text
    dashboards = [ln for ln in text.splitlines() if ln.startswith("Dask dashboard:")]
    assert len(dashboards) == (1 if scheduler == "local" else 0), text
    assert len(text.splitlines()) < 40, text
