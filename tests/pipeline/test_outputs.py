"""Output folders: atomic creation, refusal rules, OME-NGFF Zarr, ImageJ TIFFs, PNG, run record."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr

from sofi_dask.errors import InputError
from sofi_dask.pipeline._outputs import (
    RUN_RECORD_NAME,
    ImageSpec,
    check_output_path,
    create_image_array,
    input_identity,
    package_versions,
    run_output_dir,
    write_image_files,
    write_run_record,
)


def _spec(name="ldrc_order4", axes=("y", "x"), scale=(0.05, 0.05), unit="micrometer"):
    return ImageSpec(name, "ldrc", 4, axes, scale, unit, "test image")


# ---------------------------------------------------------------- check_output_path
def test_refuses_existing_output_without_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / RUN_RECORD_NAME).write_text("{}")
    with pytest.raises(FileExistsError, match="already exists"):
        check_output_path(out)
    assert check_output_path(out, overwrite=True) == out.resolve()


@pytest.mark.parametrize("where", ["same", "inside", "contains"])
def test_refuses_output_touching_an_input(tmp_path, where):
    store = tmp_path / "movie.zarr"
    store.mkdir()
    out = {"same": store, "inside": store / "out", "contains": tmp_path}[where]
    with pytest.raises(ValueError, match="input"):
        check_output_path(out, inputs=[store], overwrite=True)


def test_overwrite_refuses_a_foreign_non_empty_folder(tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.txt").write_text("do not delete")
    match = "parameter 'output': .*written by sofi_dask.*, got .*precious, a non-empty folder"
    with pytest.raises(InputError, match=match):
        check_output_path(out, overwrite=True)
    assert (out / "thesis.txt").read_text() == "do not delete"


def test_missing_parent_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="parent"):
        check_output_path(tmp_path / "nope" / "out")


# ---------------------------------------------------------------- AtomicOutputDir
def test_atomic_dir_appears_only_on_success(tmp_path):
    out = tmp_path / "out"
    with run_output_dir(out) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.")
        (tmp / "a.txt").write_text("x")
        assert not out.exists()
    assert (out / "a.txt").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_removed_on_error(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), run_output_dir(out) as tmp:
        (tmp / "a.txt").write_text("x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_overwrite_replaces_previous_output(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / RUN_RECORD_NAME).write_text('{"old": true}')
    (out / "stale.txt").write_text("old")
    with run_output_dir(out, overwrite=True) as tmp:
        (tmp / RUN_RECORD_NAME).write_text('{"old": false}')
    assert json.loads((out / RUN_RECORD_NAME).read_text()) == {"old": False}
    assert not (out / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_run_folder_is_flushed_once_with_its_record(tmp_path, monkeypatch):
    """The commit flushes every file and folder of a run once; publishing run.json then flushes
    only the folder's entries (its rename), not the whole tree a second time. The real fsync
    runs; the calls are recorded."""
    from sofi_dask.io import _atomic
    from sofi_dask.pipeline._outputs import RUN_RECORD_PENDING

    flushed: list[tuple[str, bool]] = []
    real = _atomic._fsync

    def recording(path, *, directory=False):
        flushed.append((os.fspath(path), directory))
        real(path, directory=directory)

    monkeypatch.setattr(_atomic, "_fsync", recording)
    out = tmp_path / "out"
    with run_output_dir(out) as tmp:
        (tmp / "sub").mkdir()
        for name in ("a.bin", "b.bin"):
            (tmp / "sub" / name).write_bytes(b"x")
        (tmp / RUN_RECORD_PENDING).write_text("{}")
    names = [os.path.basename(path) for path, _ in flushed]
    assert sorted(names[:5]) == sorted(["a.bin", "b.bin", "sub", RUN_RECORD_PENDING, tmp.name])
    # the rename into place, then run.json's rename: two folder flushes, nothing else
    assert flushed[5:] == [(os.fspath(tmp_path), True), (os.fspath(out), True)]
    assert json.loads((out / RUN_RECORD_NAME).read_text()) == {}


def test_atomic_dir_cleans_leftovers_of_a_killed_run(tmp_path):
    out = tmp_path / "out"
    code = (
        "import os, sys; from sofi_dask.pipeline._outputs import run_output_dir\n"
        f"ctx = run_output_dir({str(out)!r}); tmp = ctx.__enter__()\n"
        "(tmp / 'half.bin').write_bytes(b'x' * 10); os._exit(9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == 9
    # the killed writer's lock file stays (unlocked: the kernel released it) and is reused
    leftovers = [p for p in tmp_path.iterdir() if p.name != ".out.lock"]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".out.sofi-dask-partial-")
    assert not out.exists()
    with run_output_dir(out) as tmp:
        (tmp / "ok").write_text("1")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


# ---------------------------------------------------------------- Zarr / NGFF
def test_ngff_metadata_and_zarr_array(tmp_path, ngff_validate):
    root = zarr.open_group(tmp_path / "r.zarr", mode="w-", zarr_format=3)
    spec = _spec(axes=("t", "y", "x"), scale=(5.0, 0.05, 0.05))
    arr = create_image_array(root, spec, (3, 20, 30), np.float64)
    values = np.random.default_rng(0).random((3, 20, 30))
    da.store(da.from_array(values, chunks=(1, 20, 30)), arr, lock=False)
    back = zarr.open_group(tmp_path / "r.zarr", mode="r")
    np.testing.assert_array_equal(back["ldrc_order4/0"][...], values)
    ome = back["ldrc_order4"].attrs["ome"]
    assert ome["version"] == "0.5"
    ms = ome["multiscales"][0]
    assert [a["name"] for a in ms["axes"]] == ["t", "y", "x"]
    assert ms["axes"][0]["type"] == "time" and ms["axes"][1]["unit"] == "micrometer"
    assert ms["datasets"] == [
        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [5.0, 0.05, 0.05]}]}
    ]
    assert back["ldrc_order4"].attrs["sofi_dask"]["order"] == 4
    ngff_validate(tmp_path / "r.zarr" / "ldrc_order4")
    assert back["ldrc_order4/0"].metadata.dimension_names == ("t", "y", "x")


def test_ngff_without_pixel_size_has_no_unit(tmp_path, ngff_validate):
    root = zarr.open_group(tmp_path / "r.zarr", mode="w-", zarr_format=3)
    create_image_array(root, _spec(unit=None, scale=(0.5, 0.5)), (4, 5), np.float64)
    group = ngff_validate(tmp_path / "r.zarr" / "ldrc_order4")
    ms = group.attrs["ome"]["multiscales"][0]
    assert all("unit" not in a for a in ms["axes"])


def test_image_spec_validation():
    with pytest.raises(ValueError, match="name"):
        ImageSpec("bad name/..", "x", None, ("y", "x"), (1.0, 1.0))
    with pytest.raises(ValueError, match="scale"):
        ImageSpec("ok", "x", None, ("y", "x"), (1.0,))
    with pytest.raises(ValueError, match="axes"):
        ImageSpec("ok", "x", None, ("x", "y"), (1.0, 1.0))


# ---------------------------------------------------------------- TIFF / PNG
@pytest.mark.parametrize("video", [False, True])
def test_image_files_open_in_tifffile(tmp_path, video):
    rng = np.random.default_rng(1)
    shape = (4, 17, 23) if video else (17, 23)
    values = rng.random(shape) * 1e6 - 10
    axes = ("t", "y", "x") if video else ("y", "x")
    scale = (1.0, 0.025, 0.025) if video else (0.025, 0.025)
    spec = _spec(axes=axes, scale=scale)
    files = write_image_files(
        da.from_array(values, chunks=(1, 17, 23) if video else -1), spec, tmp_path, colormap="pink"
    )
    with tifffile.TiffFile(files["tiff"]) as tif:
        data = tif.asarray()
        assert tif.is_imagej and data.dtype == np.float32
        np.testing.assert_allclose(data, values.astype(np.float32))
        assert tif.imagej_metadata["unit"] in ("um", "micron", "\\u00B5m")
        xres = tif.pages[0].tags["XResolution"].value
        assert xres[0] / xres[1] == pytest.approx(40.0)
    rgb = tifffile.imread(files["rgb_tiff"])
    assert rgb.shape == (*shape, 3) and rgb.dtype == np.uint8 and rgb.std() > 0
    assert files["png"].stat().st_size > 100
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ("video" in files) == video
    if video:
        assert files["video"].suffix == ".gif" and files["video"].stat().st_size > 100


@pytest.mark.parametrize("video", [False, True])
def test_signed_image_files_show_what_the_figures_show(tmp_path, video):
    """A signed cumulant's PNG, RGB TIFF and GIF: the figures' diverging map centred on 0 on
    the asinh stretch (``outputs.signed_stretch``), range ±p99.9 |x|; float32 TIFF: values."""
    from PIL import Image

    from sofi_dask.viz._signed import signed_display

    rng = np.random.default_rng(5)
    shape = (3, 40, 50) if video else (40, 50)
    values = rng.normal(0.0, 2.0, size=shape)
    values[..., 10, :] += 30.0  # a weak filament
    tails = values.reshape(-1)[:: values.size // 8]
    values.reshape(-1)[:: values.size // 8] = 3000.0 * (-1.0) ** np.arange(tails.size)  # heavy
    spec = _spec("cumulants_order3", ("t", "y", "x") if video else ("y", "x"), (1.0,) * len(shape))
    for stretch in ("asinh", "linear"):
        out = tmp_path / stretch
        out.mkdir()
        pct = (0.0, 99.9)
        files = write_image_files(values, spec, out, percentiles=pct, stretch=stretch)
        shown = signed_display(values, "pink", pct, stretch=stretch)
        assert shown.cmap.name == "berlin" and shown.stretch == stretch
        first = values[0] if video else values
        png_shown = signed_display(first, "pink", pct, stretch=stretch) if video else shown
        png = Image.open(files["png"])
        assert png.text["sofi_dask:cmap"] == "berlin" and png.text["sofi_dask:stretch"] == stretch
        assert float(png.text["sofi_dask:vmax"]) == png_shown.high == -png_shown.low
        np.testing.assert_array_equal(np.asarray(png.convert("RGB")), png_shown.rgb(first))
        with tifffile.TiffFile(files["rgb_tiff"]) as tif:
            np.testing.assert_array_equal(tif.asarray(), shown.rgb(values))
            assert "linear within ±" in tif.imagej_metadata["Info"] or stretch == "linear"
        np.testing.assert_array_equal(tifffile.imread(files["tiff"]), values.astype(np.float32))
        if video:
            with Image.open(files["video"]) as gif:
                np.testing.assert_array_equal(np.asarray(gif.convert("RGB")), shown.rgb(first))


@pytest.mark.parametrize("signed", [False, True])
def test_the_results_group_records_the_files_display(tmp_path, signed):
    """The image's results.zarr group gets the OME-NGFF ``omero`` window of the PNG's display
    (napari sets its contrast limits from it) and the display itself, read back equal."""
    from sofi_dask.pipeline._outputs import stored_display
    from sofi_dask.viz._signed import signed_display

    rng = np.random.default_rng(11)
    values = rng.gamma(2.0, 3.0, size=(40, 50)) - (6.0 if signed else 0.0)
    values[3, 4] = np.nan
    spec = _spec("cumulants_order3")
    root = zarr.open_group(tmp_path / "results.zarr", mode="w")
    arr = create_image_array(root, spec, values.shape, np.float64)
    arr[...] = values
    group = root[spec.name]
    pct = (0.1, 99.9)
    write_image_files(da.from_zarr(arr), spec, tmp_path, percentiles=pct, group=group)
    shown = signed_display(values, "pink", pct)
    assert shown.signed == signed
    reopened = zarr.open_group(tmp_path / "results.zarr" / spec.name, mode="r")
    (channel,) = reopened.attrs["ome"]["omero"]["channels"]
    assert channel["window"] == {
        "start": shown.low,
        "end": shown.high,
        "min": float(np.nanmin(values)),
        "max": float(np.nanmax(values)),
    }
    assert channel["label"] == spec.name and channel["color"] == "FFFFFF"
    assert reopened.attrs["ome"]["multiscales"][0]["name"] == spec.name  # kept
    assert reopened.attrs["sofi_dask"]["stage"] == "ldrc"  # kept
    assert stored_display(reopened) == shown
    png = __import__("PIL.Image", fromlist=["Image"]).open(tmp_path / "png" / f"{spec.name}.png")
    assert float(png.text["sofi_dask:vmax"]) == channel["window"]["end"]


# ---------------------------------------------------------------- run record
def test_run_record_roundtrip(tmp_path):
    movie = tmp_path / "m.tif"
    tifffile.imwrite(movie, np.zeros((3, 4, 5), np.uint16), photometric="minisblack")
    ident = input_identity(movie, shape=(3, 4, 5), dtype=np.uint16)
    assert ident["size"] == os.path.getsize(movie) and ident["dtype"] == "uint16"
    assert ident["path"] == str(movie.resolve()) and ident["shape"] == [3, 4, 5]
    versions = package_versions()
    assert versions["numpy"] == np.__version__
    path = write_run_record(
        tmp_path / RUN_RECORD_NAME, {"x": np.float64(1.5), "t": (1, 2), "p": movie, "v": versions}
    )
    back = json.loads(path.read_text())
    assert back["x"] == 1.5 and back["t"] == [1, 2] and back["p"] == str(movie)


def test_input_identity_of_a_store_sums_its_files(tmp_path):
    store = tmp_path / "s.zarr"
    (store / "c").mkdir(parents=True)
    (store / "zarr.json").write_text("{}")
    (store / "c" / "0").write_bytes(b"x" * 100)
    assert input_identity(store)["size"] == 100 + 2


def test_output_input_relation_is_named(tmp_path):
    from sofi_dask.pipeline._outputs import check_output_path

    movie = tmp_path / "data" / "movie.zarr"
    movie.mkdir(parents=True)
    cases = [
        (movie, "is the input"),
        (movie / "out", "lies inside the input"),
        (tmp_path / "data", "contains the input"),
    ]
    for out, words in cases:
        with pytest.raises(InputError, match=f"parameter 'output': expected .*, {words}"):
            check_output_path(out, inputs=[movie])
    assert check_output_path(tmp_path / "elsewhere", inputs=[movie]) == tmp_path / "elsewhere"
