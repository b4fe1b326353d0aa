"""run_pipeline honours what it is asked or refuses it before any work: a performance report
it cannot write, worker counts of dask's local schedulers, options that only a cluster takes,
an output that is the ingested store of a folder of TIFFs, TIFF options (axes, channel) given
for a store."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tifffile
from dask.callbacks import Callback

from sofi_dask._cpus import cpu_count
from sofi_dask.cli._main import main
from sofi_dask.cluster import make_client
from sofi_dask.errors import ConfigError, InputError
from sofi_dask.io import ingest
from sofi_dask.pipeline import PipelineConfig, apply_overrides, run_pipeline
from sofi_dask.simulate import simulate_movie, write_simulated_tiff

FAST = {
    "bleaching.enabled": False,
    "statistic.orders": [2],
    "deconvolution.iterations": 2,
    "deconvolution.psf.size": 9,
    "ldrc.window_size": 7,
    "quality.enabled": False,
    "outputs.figures": False,
    "compute.progress": False,
}


def _cfg(**extra):
    return apply_overrides(PipelineConfig(), {**FAST, **extra})


@pytest.fixture(scope="module")
def movie_tif(tmp_path_factory):
    path = tmp_path_factory.mktemp("compute_options") / "m.tif"
    write_simulated_tiff(path, n_frames=80, frame_shape=(16, 18), seed=7, pixel_size=0.1)
    return path


@pytest.mark.parametrize("scheduler", ["threads", "synchronous", "processes"])
def test_performance_report_with_a_local_scheduler_is_refused_before_any_work(
    tmp_path, movie_tif, scheduler
):
    report = tmp_path / "rep.html"
    cfg = _cfg(**{"compute.scheduler": scheduler, "compute.performance_report": str(report)})
    with pytest.raises(ConfigError, match=scheduler) as err:
        run_pipeline(movie_tif, tmp_path / "out", cfg)
    assert err.value.key == "compute.performance_report"
    assert not (tmp_path / "out").exists() and not report.exists()
    assert not movie_tif.with_name("m.tif.zarr").exists()  # refused before the ingestion


def test_performance_report_is_written_with_a_client(tmp_path, movie_tif, dask_client):
    report = tmp_path / "rep.html"
    cfg = _cfg(**{"compute.performance_report": str(report)})
    run_pipeline(movie_tif, tmp_path / "out", cfg, client=dask_client, ingest=False)
    assert report.is_file() and "<html" in report.read_text(errors="replace").lower()


class _Threads(Callback):
    """A real dask callback: the worker threads each scheduler call (one ``state`` per call) ran
    its tasks on (the threaded scheduler's worker id is the thread's ident; None in-thread)."""

    def __init__(self):
        super().__init__()
        self.calls: dict[int, set[object]] = {}

    def _posttask(self, key, result, dsk, state, worker_id):
        self.calls.setdefault(id(state), set()).add(worker_id)


@pytest.fixture(scope="module")
def chunked_store(tmp_path_factory, movie_tif):
    store = tmp_path_factory.mktemp("compute_options_store") / "m.zarr"
    ingest(movie_tif, store, chunks=(8, 16, 18))  # 10 frame chunks: parallel tasks
    return store


@pytest.mark.skipif(cpu_count() < 2, reason="one CPU: the default pool has one thread too")
def test_n_workers_limits_the_threads_of_the_threads_scheduler(tmp_path, chunked_store):
    def threads(n_workers, out):
        cfg = _cfg(**{"compute.n_workers": n_workers, "drift.enabled": True,
                      "drift.segment_frames": 20, "drift.crop": 16})  # fmt: skip
        with _Threads() as seen:
            run_pipeline(chunked_store, tmp_path / out, cfg)
        return [names for names in seen.calls.values() if names]

    default = threads(None, "default")
    assert max(len(names) for names in default) >= 2  # the check can fail: all CPUs by default
    limited = threads(1, "one")
    assert len(limited) >= 2  # the drift pass and the statistics (and the files)
    assert all(len(names) == 1 for names in limited), limited


@pytest.mark.parametrize(
    ("key", "value"),
    [("threads_per_worker", 2), ("memory_limit", "4GiB"), ("cluster_options", {"queue": "q"})],
)
@pytest.mark.parametrize("scheduler", ["threads", "processes", "synchronous"])
def test_cluster_options_with_a_local_scheduler_are_refused(scheduler, key, value):
    with pytest.raises(ConfigError, match=f"{key}.*{scheduler}") as err:
        _cfg(**{"compute.scheduler": scheduler, f"compute.{key}": value})
    assert err.value.key == f"compute.{key}"
    config = _cfg(**{"compute.scheduler": "local", f"compute.{key}": value})  # a cluster takes it
    assert getattr(config.compute, key) == value


def test_make_client_refuses_what_a_local_scheduler_ignores():
    with pytest.raises(InputError, match="parameter 'memory_limit'.*'threads'"):
        make_client("threads", memory_limit="4GiB")
    with pytest.raises(InputError, match="parameter 'threads_per_worker'.*'processes'"):
        make_client("processes", threads_per_worker=2)


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    movie = simulate_movie(n_frames=40, frame_shape=(12, 14), seed=2)
    return np.asarray(movie.data, dtype=np.uint16)


@pytest.fixture
def sequence(tmp_path, frames):
    folder = tmp_path / "seq"
    folder.mkdir()
    for i, frame in enumerate(frames):
        tifffile.imwrite(folder / f"frame_{i:04d}.tif", frame)
    return folder


def test_output_at_the_ingested_store_of_a_folder_is_refused_before_ingesting(tmp_path, sequence):
    store = tmp_path / "seq.zarr"  # where the folder's frames would be ingested
    with pytest.raises(InputError, match="parameter .output.*seq.zarr"):
        run_pipeline(sequence, store, _cfg())
    assert not store.exists()  # refused before the ingestion wrote it
    assert run_pipeline(sequence, tmp_path / "out", _cfg()).record["input"]["ingestion"] == (
        "ingested"
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory, frames):
    folder = tmp_path_factory.mktemp("inputs")
    tifffile.imwrite(folder / "two.tif", np.stack([frames, frames + 1], axis=1), imagej=True)
    out = folder / "two.zarr"
    ingest(folder / "two.tif", out, channel=1)
    return out


@pytest.mark.parametrize(
    ("key", "value", "flag"),
    [("input.axes", "QQQ", ["--axes", "QQQ"]), ("input.axes", "CYX", ["--axes", "CYX"]),
     ("input.channel", 0, ["--set", "input.channel=0"])],
)  # fmt: skip
def test_tiff_options_for_a_store_are_refused(tmp_path, store, capsys, key, value, flag):
    with pytest.raises(ConfigError, match=f"{key}: expected null") as err:
        run_pipeline(store, tmp_path / "out", _cfg(**{key: value}))
    assert err.value.key == key and not (tmp_path / "out").exists()
    assert main(["run", str(store), "-o", str(tmp_path / "cli"), *flag, "--no-progress"]) == 2
    assert key in capsys.readouterr().err and not (tmp_path / "cli").exists()


def test_tiff_options_that_say_what_the_store_is_are_accepted(tmp_path, store, frames):
    cfg = _cfg(**{"input.axes": "tyx", "input.channel": 1})  # the channel it was ingested from
    result = run_pipeline(store, tmp_path / "out", cfg)
    np.testing.assert_allclose(result.load("average"), frames.mean(axis=0) + 1, rtol=1e-12)


@pytest.mark.skipif(shutil.which("ffmpeg") is not None, reason="ffmpeg is installed here")
def test_mp4_video_without_ffmpeg_is_refused_before_any_work(tmp_path, movie_tif, capsys):
    cfg = _cfg(**{"video.enabled": True, "video.window": 20, "outputs.video_format": "mp4"})
    with pytest.raises(ConfigError, match="ffmpeg") as err:
        run_pipeline(movie_tif, tmp_path / "out", cfg)
    assert err.value.key == "outputs.video_format"
    assert not (tmp_path / "out").exists()
    assert not movie_tif.with_name("m.tif.zarr").exists()  # refused before the ingestion
    # the command line: one line naming the key, exit 2, nothing computed or written
    argv = ["run", str(movie_tif), "-o", str(tmp_path / "cli"), "--video", "20", "--no-progress"]
    assert main([*argv, "--set", "outputs.video_format=mp4"]) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "outputs.video_format" in lines[0], lines
    assert "ffmpeg" in lines[0] and "gif" in lines[0] and "Traceback" not in lines[0]
    assert not (tmp_path / "cli").exists()
    assert not movie_tif.with_name("m.tif.zarr").exists()
