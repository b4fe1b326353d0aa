"""``sofi-dask run`` / ``sofi-dask config`` end to end on small simulated movies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib

import numpy as np
import pytest
import tifffile
import zarr

from sofi_dask.cli._main import main
from sofi_dask.pipeline import PipelineConfig
from sofi_dask.pipeline._config import config_to_toml
from sofi_dask.simulate import write_simulated_tiff

QUICK = [
    "--orders",
    "2,3,4",
    "--iterations",
    "2",
    "--ldrc-window",
    "9",
    "--bleaching",
    "off",
    "--no-progress",
]


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "movie.tif"
    write_simulated_tiff(path, n_frames=200, frame_shape=(32, 36), seed=11, pixel_size=0.1)
    return path


def test_run_writes_every_output(tmp_path, movie, capsys):
    out = tmp_path / "out"
    assert main(["run", str(movie), "-o", str(out), *QUICK, "--finterp", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "ldrc_order4" in printed
    grid = (63, 71)
    root = zarr.open_group(out / "results.zarr", mode="r")
    names = {"average"} | {
        f"{s}_order{k}" for s in ("cumulants", "deconvolution", "ldrc") for k in (2, 3, 4)
    }
    assert set(root.group_keys()) == names
    for name in names:
        arr = root[f"{name}/0"]
        shape = (32, 36) if name == "average" else grid
        assert arr.shape == shape and arr.dtype == np.float64
        assert np.isfinite(arr[...]).all()
        scale = root[name].attrs["ome"]["multiscales"][0]["datasets"][0][
            "coordinateTransformations"
        ][0]["scale"]
        assert scale == ([0.1, 0.1] if name == "average" else [0.05, 0.05])
        with tifffile.TiffFile(out / "tiff" / f"{name}.tif") as tif:
            assert tif.is_imagej and tif.series[0].shape == shape
            np.testing.assert_allclose(tif.asarray(), arr[...].astype(np.float32))
        rgb = tifffile.imread(out / "tiff" / f"{name}_rgb.tif")
        assert rgb.shape == (*shape, 3) and rgb.dtype == np.uint8
        png = (out / "png" / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 200
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert {
        "orders.png",
        "final_orders.png",
        "total_signal.png",
        "ldrc_before_after.png",
        "deconvolution_before_after.png",
    } <= set(figures)
    assert all((out / "figures" / f).stat().st_size > 1000 for f in figures)
    record = json.loads((out / "run.json").read_text())
    assert record["parameters"]["finterp"] == {"enabled": True, "factor": 2, "precision": "float64"}
    assert record["parameters"]["statistic"]["orders"] == [2, 3, 4]
    assert record["input"]["path"] == str(movie) and record["input"]["shape"] == [200, 32, 36]


def test_config_file_and_set_overrides(tmp_path, movie, capsys):
    cfg = tmp_path / "run.toml"
    assert main(["config", "-o", str(cfg)]) == 0
    assert tomllib.loads(cfg.read_text()) is not None
    text = (
        "[statistic]\nkind = 'moments'\norders = [2, 3]\n[deconvolution]\nenabled = false\n"
        "[bleaching]\nenabled = false\n[outputs]\nfigures = false\ncmap = 'viridis'\n"
    )
    custom = tmp_path / "custom.toml"
    custom.write_text(text)
    out = tmp_path / "out"
    rc = main(
        [
            "run",
            str(movie),
            "-o",
            str(out),
            "--config",
            str(custom),
            "--set",
            "ldrc.window_size=5",
            "--no-progress",
        ]
    )
    assert rc == 0
    params = json.loads((out / "run.json").read_text())["parameters"]
    assert params["statistic"]["kind"] == "moments" and params["ldrc"]["window_size"] == [5, 5]
    assert params["outputs"]["cmap"] == "viridis" and params["deconvolution"]["enabled"] is False
    assert sorted(zarr.open_group(out / "results.zarr", mode="r").group_keys()) == [
        "average",
        "ldrc_order2",
        "ldrc_order3",
        "moments_order2",
        "moments_order3",
    ]
    assert not (out / "figures").exists()
    capsys.readouterr()
    # the template is the defaults
    main(["config"])
    assert tomllib.loads(capsys.readouterr().out) is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "deconvolution.lam=0.5"], "deconvolution.lam"),
        (["--set", "deconv.lam=2"], "deconv"),
        (["--set", "statistic.orders=[2, 99]"], "statistic.orders"),
        (["--set", "noise_filter_1.enabled=true"], "noise_filter_1.enabled"),
        (["--config", "MISSING.toml"], "MISSING.toml"),
    ],
)
def test_config_errors_name_the_key(tmp_path, movie, capsys, args, message):
    out = tmp_path / "out"
    assert main(["run", str(movie), "-o", str(out), "--no-progress", *args]) == 2
    err = capsys.readouterr().err
    assert "error" in err and message in err
    assert not out.exists()


def test_bad_toml_value_names_the_key(tmp_path, movie, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[ldrc]\nwindow_size = 'big'\n")
    assert main(["run", str(movie), "-o", str(tmp_path / "o"), "--config", str(bad)]) == 2
    assert "ldrc.window_size" in capsys.readouterr().err


def test_refuses_to_overwrite_and_never_touches_the_input(tmp_path, movie, capsys):
    out = tmp_path / "out"
    assert main(["run", str(movie), "-o", str(out), *QUICK]) == 0
    stamp = (out / "run.json").stat().st_mtime_ns
    assert main(["run", str(movie), "-o", str(out), *QUICK]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "run.json").stat().st_mtime_ns == stamp
    assert main(["run", str(movie), "-o", str(out), *QUICK, "--overwrite"]) == 0
    assert (out / "run.json").stat().st_mtime_ns != stamp
    before = movie.read_bytes()
    assert main(["run", str(movie), "-o", str(movie), *QUICK, "--overwrite"]) == 2
    assert "input" in capsys.readouterr().err
    assert movie.read_bytes() == before


def _cli(*args):
    return [sys.executable, "-m", "sofi_dask.cli", *map(str, args)]


def test_interrupted_run_restarts_to_the_same_result(tmp_path):
    movie = tmp_path / "long.tif"
    write_simulated_tiff(movie, n_frames=3000, frame_shape=(40, 40), seed=3)
    args = [
        "--orders",
        "2,4,6",
        "--bleaching",
        "off",
        "--no-figures",
        "--no-progress",
        "--scheduler",
        "synchronous",
    ]
    ref = tmp_path / "ref"
    subprocess.run(_cli("run", movie, "-o", ref, *args), check=True, capture_output=True)
    (tmp_path / "long.tif.zarr").rename(tmp_path / "first.zarr")  # the restart ingests again

    out = tmp_path / "out"
    proc = subprocess.Popen(
        _cli("run", movie, "-o", out, *args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    # kill it while it computes (its temporary output folder exists), or while it ingests
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.startswith(".out.sofi-dask-partial-") for p in tmp_path.iterdir()):
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not out.exists()  # nothing that looks complete

    subprocess.run(_cli("run", movie, "-o", out, *args), check=True, capture_output=True)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    a = zarr.open_group(ref / "results.zarr", mode="r")
    b = zarr.open_group(out / "results.zarr", mode="r")
    assert sorted(a.group_keys()) == sorted(b.group_keys())
    for name in a.group_keys():
        np.testing.assert_array_equal(a[f"{name}/0"][...], b[f"{name}/0"][...])
    for name in ("ldrc_order6", "cumulants_order4"):
        np.testing.assert_array_equal(
            tifffile.imread(ref / "tiff" / f"{name}.tif"),
            tifffile.imread(out / "tiff" / f"{name}.tif"),
        )


def test_default_config_runs_from_a_zarr_store(tmp_path, movie):
    from sofi_dask.io import ingest

    store = ingest(movie, tmp_path / "m.zarr")
    before = sorted(str(p) for p in store.rglob("*"))
    cfg = PipelineConfig()
    assert cfg.bleaching.enabled  # the defaults, except the short movie needs larger blocks
    out = tmp_path / "out"
    assert main(["run", str(store), "-o", str(out), "--fbc", "0.5", "--no-progress"]) == 0
    assert sorted(str(p) for p in store.rglob("*")) == before
    record = json.loads((out / "run.json").read_text())
    assert record["input"]["path"] == str(store) and record["bleaching_blocks"]


def test_help_examples_of_set_are_valid_keys(capsys):
    # every "--set KEY=VALUE" example that `sofi-dask run --help` shows must be accepted
    import re

    from sofi_dask.pipeline import apply_overrides

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    examples = re.findall(r"--set ([a-z_0-9.]+=\S+)", text)
    assert examples
    for example in examples:
        apply_overrides(PipelineConfig(), [example.rstrip(".,)")])


def test_config_command_template_and_schema(tmp_path, capsys):
    from sofi_dask.pipeline import default_config_toml
    from sofi_dask.pipeline._config import pipeline_schema

    assert main(["config"]) == 0
    assert capsys.readouterr().out == default_config_toml()
    assert main(["config", "--schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == pipeline_schema()
    assert schema["$defs"]["LdrcConfig"]["properties"]["window_size"]["description"]
    target = tmp_path / "schema.json"
    assert main(["config", "--schema", "-o", str(target)]) == 0
    assert json.loads(target.read_text()) == schema
    assert main(["config", "--schema", "-o", str(target)]) == 2  # exists: --overwrite
    assert "overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["config", "--schema", "--template"])


def test_recorded_parameters_are_the_paths_of_the_call_and_rerun_it(tmp_path, movie, capsys):
    cfgdir = tmp_path / "cfgdir"
    cfgdir.mkdir()
    (cfgdir / "a.toml").write_text(
        "[input]\npath = 'other.tif'\n[outputs]\npath = 'other_out'\nfigures = false\n"
    )
    out = tmp_path / "r_both"
    argv = ["run", str(movie), "-o", str(out), "--config", str(cfgdir / "a.toml"), *QUICK]
    assert main(argv) == 0
    params = json.loads((out / "run.json").read_text())["parameters"]
    assert params["input"]["path"] == str(movie) and params["outputs"]["path"] == str(out)
    # without --config: the paths of the call too (they were null)
    assert main(["run", str(movie), "-o", str(tmp_path / "plain"), *QUICK, "--no-figures"]) == 0
    plain = json.loads((tmp_path / "plain" / "run.json").read_text())["parameters"]
    assert plain["input"]["path"] == str(movie)
    assert plain["outputs"]["path"] == str(tmp_path / "plain")
    # the parameters alone reproduce the run: a config file of them, no paths on the line
    again = tmp_path / "again.toml"
    again.write_text(config_to_toml(PipelineConfig.from_dict(params)))
    before = zarr.open_group(out / "results.zarr", mode="r")["ldrc_order2"]["0"][...]
    assert main(["run", "--config", str(again), "--overwrite", "--no-progress"]) == 0
    after = zarr.open_group(out / "results.zarr", mode="r")["ldrc_order2"]["0"][...]
    np.testing.assert_array_equal(after, before)
    capsys.readouterr()


def test_pixel_size_given_for_an_uncalibrated_tiff(tmp_path, capsys):
    """--pixel-size: the run's images, run.json and quality section in micrometres where the
    TIFF records no calibration (and it wins over one the file records)."""
    path = tmp_path / "plain.tif"
    from sofi_dask.io import open_movie
    from sofi_dask.simulate import simulate_movie

    frames = np.asarray(simulate_movie(n_frames=240, frame_shape=(32, 36), seed=3).data)
    tifffile.imwrite(path, frames.astype(np.uint16))  # a camera's TIFF: no calibration

    assert open_movie(path).pixel_size is None  # no calibration recorded
    runs = {}
    for name, extra in (("none", []), ("given", ["--pixel-size", "0.08"])):
        out = tmp_path / name
        argv = ["run", str(path), "-o", str(out), *QUICK, "--no-figures", *extra]
        assert main([*argv, "--set", "quality.block_frames=60"]) == 0
        runs[name] = (out, json.loads((out / "run.json").read_text()))
    assert runs["none"][1]["pixel_size_um"] is None
    out, record = runs["given"]
    assert record["pixel_size_um"] == 0.08
    assert record["parameters"]["input"]["pixel_size_um"] == 0.08
    ome = zarr.open_group(out / "results.zarr/average", mode="r").attrs["ome"]
    assert ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"] == [
        0.08,
        0.08,
    ]
    order2 = record["quality"]["images"]["cumulants_order2"]
    assert order2["frc_resolution"] == pytest.approx(0.08 * order2["frc_resolution_pixels"])
    before = runs["none"][1]["quality"]["images"]["cumulants_order2"]
    assert before["frc_resolution"] == pytest.approx(before["frc_resolution_pixels"])  # pixels
