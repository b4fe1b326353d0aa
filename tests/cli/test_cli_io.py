"""``sofi-dask ingest`` and ``sofi-dask info`` through the real argument parser."""

from __future__ import annotations

import argparse
import io as _io
import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from dask.array.utils import assert_eq

from sofi_dask.cli import _info as info_cmd
from sofi_dask.cli import _ingest as ingest_cmd
from sofi_dask.cli import main
from sofi_dask.io import open_movie


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sofi-dask")
    sub = parser.add_subparsers(dest="command", required=True)
    ingest_cmd.add_parser(sub)
    info_cmd.add_parser(sub)
    return parser


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return args.func(args)


@pytest.fixture
def movie_tif(tmp_path):
    a = np.random.default_rng(3).integers(0, 4000, size=(40, 16, 24), dtype=np.uint16)
    p = tmp_path / "m.tif"
    tifffile.imwrite(p, a)
    return p, a


def test_ingest_then_info(tmp_path, movie_tif, capsys):
    src, a = movie_tif
    dest = tmp_path / "m.zarr"
    assert _run(["ingest", str(src), str(dest), "--chunks", "8,8,-1"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(dest)
    assert "100.0%" in err and "40/40 frames" in err  # the progress bar
    assert_eq(open_movie(dest).data, a)
    assert open_movie(dest).data.chunksize == (8, 8, 24)

    assert _run(["info", str(dest)]) == 0
    text = capsys.readouterr().out
    assert "complete:     yes" in text
    assert "(40, 16, 24)" in text and "uint16" in text and "ratio" in text
    assert "blosc cname=lz4" in text
    totals = a.astype(np.float64).sum(axis=(1, 2))
    assert f"{totals.max():.6g}" in text

    assert _run(["info", str(dest), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["shape"] == [40, 16, 24] and data["complete"] is True
    assert data["frame_stats"]["total"]["min"] == pytest.approx(totals.min())


def test_info_on_tiff_and_sequence(tmp_path, movie_tif, capsys):
    src, _ = movie_tif
    assert _run(["info", str(src)]) == 0
    text = capsys.readouterr().out
    assert "(tiff)" in text and "not recorded" in text
    # an ImageJ stack whose frames it calls channels: info takes --axes as ingest and run do
    cyx = tmp_path / "cyx.tif"
    tifffile.imwrite(cyx, np.zeros((5, 8, 9), np.uint16), imagej=True, metadata={"axes": "CYX"})
    assert main(["info", str(cyx)]) == 2
    assert "axes='TYX' (--axes)" in capsys.readouterr().err
    assert _run(["info", str(cyx), "--axes", "TYX", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shape"] == [5, 8, 9]


def test_ingest_sequence_of_paths(tmp_path, capsys):
    parts = [np.full((3, 8, 8), i, np.uint16) for i in range(1, 4)]
    paths = []
    for i, part in enumerate(parts, start=1):
        p = tmp_path / f"B{i}.tif"
        tifffile.imwrite(p, part, photometric="minisblack")
        paths.append(str(p))
    dest = tmp_path / "seq.zarr"
    assert _run(["ingest", *paths, str(dest), "--no-progress", "--compressor", "zstd"]) == 0
    assert capsys.readouterr().err == ""
    assert_eq(open_movie(dest).data, np.concatenate(parts))
    # run again: the complete store of the same files is kept (the digests recorded as read)
    assert _run(["ingest", *paths, str(dest), "--no-progress", "--compressor", "zstd"]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == (f"{dest}\n", f"{dest}: already complete from 3 files; nothing to do\n")


def test_rerun_on_a_complete_store_has_nothing_to_do(tmp_path, movie_tif, capsys):
    src, a = movie_tif
    dest = tmp_path / "z.zarr"
    assert main(["ingest", str(src), str(dest), "--no-progress"]) == 0
    capsys.readouterr()
    stamps = {p: p.stat().st_mtime_ns for p in dest.rglob("*") if p.is_file()}
    assert main(["ingest", str(src), str(dest), "--no-progress"]) == 0  # a job script's rerun
    out, err = capsys.readouterr()  # the path on stdout as for any ingest, the note on stderr
    assert (out, err) == (f"{dest}\n", f"{dest}: already complete from {src}; nothing to do\n")
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*") if p.is_file()} == stamps
    assert_eq(open_movie(dest).data, a)
    # another source (or the same file rewritten) still needs --overwrite
    other = tmp_path / "other.tif"
    tifffile.imwrite(other, a[::-1].copy())
    assert main(["ingest", str(other), str(dest), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    tifffile.imwrite(src, a + 1)
    assert main(["ingest", str(src), str(dest), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*") if p.is_file()} == stamps


def test_errors_and_exit_codes(tmp_path, movie_tif):
    src, _ = movie_tif
    dest = tmp_path / "m.zarr"
    _run(["ingest", str(src), str(dest), "--no-progress"])
    with pytest.raises(FileExistsError, match="overwrite"):  # other parameters
        _run(["ingest", str(src), str(dest), "--no-progress", "--chunks", "4"])
    assert _run(["ingest", str(src), str(dest), "--overwrite", "--no-progress"]) == 0
    with pytest.raises(SystemExit):
        _parser().parse_args(["ingest", str(src), str(dest), "--chunks", "1,2"])
    # an unfinished store: info reports it and exits 1
    import zarr

    group = zarr.open_group(str(dest), mode="r+")
    attrs = group.attrs.asdict()
    attrs["sofi_dask"]["complete"] = False
    group.attrs.put(attrs)
    assert _run(["info", str(dest)]) == 1


def test_progress_bar_format():
    stream = _io.StringIO()
    bar = ingest_cmd.ProgressBar(bytes_per_frame=1000, stream=stream)
    bar(0, 10)
    bar(10, 10)
    text = stream.getvalue()
    assert "0/10 frames" in text and "100.0%" in text and text.endswith("\n")


def test_progress_bar_in_a_log_file_writes_a_line_per_tenth():
    """Not a terminal (a batch job's log): whole lines, about ten of them, no carriage returns."""
    stream = _io.StringIO()
    bar = ingest_cmd.ProgressBar(stream=stream)
    for done in range(0, 1001, 7):
        bar(done, 1000)
    bar(1000, 1000)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert 10 <= len(lines) <= 12
    assert lines[0].startswith("[") and "0/1000 frames" in lines[0]
    assert "1000/1000 frames" in lines[-1]

    class Terminal(_io.StringIO):
        def isatty(self):
            return True

    tty = Terminal()
    bar = ingest_cmd.ProgressBar(stream=tty)
    for done in range(0, 1001, 7):
        bar(done, 1000)
    bar(1000, 1000)
    assert tty.getvalue().startswith("\r[") and tty.getvalue().count("\n") == 1


def test_help_texts(capsys):
    for cmd in ("ingest", "info"):
        with pytest.raises(SystemExit) as exc:
            _parser().parse_args([cmd, "--help"])
        assert exc.value.code == 0
        assert "usage: sofi-dask " + cmd in capsys.readouterr().out


def test_console_entry_point_reports_bad_input(tmp_path, capsys):
    """Through ``sofi_dask.cli._main.main``: a clear one-line error and exit status 2."""
    from sofi_dask.cli._main import main

    p = tmp_path / "notes.tif"
    p.write_text("not an image")
    assert main(["ingest", str(p), str(tmp_path / "o.zarr"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "sofi-dask ingest: error:" in err and "notes.tif: not a TIFF" in err
    assert not (tmp_path / "o.zarr").exists()


def test_the_parser_imports_no_heavy_dependency():
    """`sofi-dask --help` (and building the parser of every command) starts in ~0.1 s: no dask,
    zarr, numba, scipy or matplotlib until a command runs."""
    code = (
        "import sys; from sofi_dask.cli._main import build_parser; build_parser(); "
        "heavy = [m for m in ('dask', 'zarr', 'numba', 'scipy', 'matplotlib', 'distributed') "
        "if m in sys.modules]; sys.exit(f'imported {heavy}' if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
