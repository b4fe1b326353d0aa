"""One writer at a time: real processes holding real flock locks on real folders."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile

from sofi_dask.cli import main
from sofi_dask.errors import StoreLockedError
from sofi_dask.io import ingest, open_movie
from sofi_dask.io._lock import lock_path, write_lock
from sofi_dask.io._verify import verify_store
from sofi_dask.pipeline._run import run_pipeline

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


class Holder:
    """Another process holding ``target``'s write lock until :meth:`release`."""

    def __init__(self, target: Path) -> None:
        code = (
            "import sys; from sofi_dask.io._lock import write_lock\n"
            f"with write_lock({str(target)!r}):\n"
            "    print('locked', flush=True); sys.stdin.readline()\n"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.wait(timeout=60) == 0

    def __enter__(self) -> Holder:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def tif(tmp_path):
    movie = np.random.default_rng(5).integers(0, 3000, (40, 32, 32), dtype=np.uint16)
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, movie)
    return path


def _held_message(proc: subprocess.Popen, target: Path) -> str:
    return f"{target} is being written by pid {proc.pid} on host {socket.gethostname()} since"


def test_second_ingest_exits_at_once_naming_the_holder(tif, tmp_path, capsys):
    dest = tmp_path / "m.zarr"
    with Holder(dest) as holder:
        with pytest.raises(StoreLockedError) as err:
            ingest(tif, dest)
        assert _held_message(holder.proc, dest) in str(err.value)
        assert main(["ingest", str(tif), str(dest), "--no-progress"]) == 2
        assert _held_message(holder.proc, dest) in capsys.readouterr().err
        assert not dest.exists()  # nothing written by the loser
        holder.release()
    ingest(tif, dest)
    assert verify_store(dest).ok
    assert not lock_path(dest).exists()  # the holder removes its lock file


def test_waiting_ingest_runs_after_the_holder(tif, tmp_path):
    dest = tmp_path / "m.zarr"
    with Holder(dest) as holder:
        done: list[object] = []
        t = threading.Thread(target=lambda: done.append(ingest(tif, dest, wait=True)))
        t.start()
        t.join(timeout=1.0)
        assert t.is_alive() and not dest.exists()  # waiting, nothing written
        holder.release()
        t.join(timeout=120)
    assert done == [dest]
    assert verify_store(dest).ok


def test_killed_holder_leaves_no_stale_lock(tif, tmp_path):
    dest = tmp_path / "m.zarr"
    with Holder(dest) as holder:
        holder.proc.kill()
        holder.proc.wait()
    assert lock_path(dest).exists()  # left by the killed process, but unlocked
    ingest(tif, dest)
    assert verify_store(dest).ok


def test_run_output_locked(tif, tmp_path):
    out = tmp_path / "out"
    with Holder(out) as holder:
        with pytest.raises(StoreLockedError) as err:
            run_pipeline(tif, out, {"ldrc": {"enabled": False}}, progress=False)
        assert _held_message(holder.proc, out) in str(err.value)
        holder.release()
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_stale_partial_outputs_removed_and_run_json_written_last(tif, tmp_path):
    out = tmp_path / "out"
    # what a run killed on another host (or a pid since reused) leaves behind
    stale = tmp_path / f".out.sofi-dask-partial-{os.getpid()}-deadbeef"
    (stale / "results.zarr").mkdir(parents=True)
    cfg = {"ldrc": {"enabled": False}, "outputs": {"figures": False}}
    run_pipeline(tif, out, cfg, progress=False, ingest=False)
    assert not stale.exists()
    assert (out / "run.json").is_file() and not (out / ".run.json.partial").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif", "out"]


def test_two_runs_sharing_the_cache_at_once(tif, tmp_path):
    """Two runs started together on one TIFF (threads: two flock holders, as two processes
    would be): one ingests the cached store, the other waits and reuses it."""
    results: dict[str, object] = {}
    cfg = {"ldrc": {"enabled": False}, "outputs": {"figures": False}}

    def go(name: str) -> None:
        try:
            r = run_pipeline(tif, tmp_path / name, cfg, progress=False, wait=True)
            results[name] = r.record["input"]["ingestion"]
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[name] = exc

    threads = [threading.Thread(target=go, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sorted(map(str, results.values())) == ["ingested", "reused"], results
    assert verify_store(tmp_path / "m.tif.zarr").ok
    np.testing.assert_array_equal(
        open_movie(tmp_path / "m.tif.zarr").data.compute(), tifffile.imread(tif)
    )


@pytest.mark.slow  # ~20 s: two interpreters importing dask + zarr on a 2-core machine
def test_two_processes_one_output_at_once(tif, tmp_path):
    """Two `sofi-dask run` processes started together onto one output: exactly one writes it;
    the other exits 2 with the holder named (or the output already there), nothing left."""
    out = tmp_path / "out"
    store = tmp_path / "m.zarr"
    ingest(tif, store)
    argv = [sys.executable, "-m", "sofi_dask.cli", "run", str(store), "-o", str(out)]
    argv += ["--no-progress", "--no-figures", "--ldrc", "off", "--orders", "2"]
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        for _ in range(2)
    ]
    outs = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in outs)
    assert codes == [0, 2], outs
    loser = next(err for rc, err in outs if rc == 2)
    assert "is being written by pid" in loser or "already exists" in loser, loser
    assert "Traceback" not in loser
    assert (out / "run.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif", "m.zarr", "out"]


def test_lock_on_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"), write_lock(tmp_path / "nope" / "x"):
        pass
