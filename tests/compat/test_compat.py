"""sofi_dask.compat: the pysofi API surface (parsed from the reference), reconstruction and
PysofiData, on real TIFF files and Zarr stores, against the native API and direct numpy formulas.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import itertools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import tifffile

import sofi_dask.compat as compat
from sofi_dask.compat import PysofiData
from sofi_dask.compat import reconstruction as rec
from sofi_dask.io import ingest
from sofi_dask.stats import _bleaching as nb
from sofi_dask.stats import _correlations as ncorr
from sofi_dask.stats import _moments as nm

REFERENCE = Path("/work/shared/seed/pysofi-api-reference.txt")
if not REFERENCE.exists():  # a copy kept beside the tests' data would go here
    REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "seed" / REFERENCE.name


# --------------------------------------------------------------------------- reference parsing
def _split_params(text: str) -> list[str]:
    """Split a parameter list at top-level commas (defaults may hold brackets)."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _parse_reference() -> dict[str, object]:
    lines = REFERENCE.read_text(encoding="utf-8").splitlines()
    functions: dict[tuple[str, str], list[str]] = {}
    methods: dict[str, list[str]] = {}
    attributes: list[str] = []
    class_params: list[str] = []
    modules: list[str] = []
    in_class = False
    for i, raw in enumerate(lines):
        line = raw.rstrip()
        m = re.match(r"^pysofi\.(\w+) module$", line)
        if m:
            modules.append(m.group(1))
            in_class = False
            continue
        m = re.match(r"^class pysofi\.pysofi\.PysofiData\((.*)\)$", line)
        if m:
            class_params = _split_params(m.group(1))
            in_class = True
            continue
        m = re.match(r"^pysofi\.(\w+)\.(\w+)\((.*)\)$", line)
        if m:
            functions[(m.group(1), m.group(2))] = _split_params(m.group(3))
            continue
        if not in_class:
            continue
        m = re.match(r"^([a-z_][a-z0-9_]*)\((.*)\)$", line)
        if m:
            methods[m.group(1)] = _split_params(m.group(2))
            continue
        if re.match(r"^[a-z_][a-z0-9_]*$", line):
            # "name / Type" or "name / description / Type" (a type name such as "str" is
            # followed by the next attribute's name instead)
            nxt = [s.strip() for s in lines[i + 1 : i + 6] if s.strip()]
            if nxt[:1] == ["Type"] or (
                nxt[1:2] == ["Type"] and not re.match(r"^[a-z_][a-z0-9_]*$", nxt[0])
            ):
                attributes.append(line)
    return {
        "functions": functions,
        "methods": methods,
        "attributes": attributes,
        "class_params": class_params,
        "modules": modules,
    }


REF = _parse_reference()


def test_reference_parse_found_everything():
    # guards the parser itself: a parse that finds nothing would make the API tests vacuous
    # 6 deconvsk, 3 filtering, 5 finterp, 1 ldrc, 2 masks, 19 reconstruction functions
    assert len(REF["functions"]) >= 36
    assert len(REF["methods"]) >= 14
    assert set(REF["attributes"]) == {
        "filename",
        "filepath",
        "ave",
        "finterp_factor",
        "morder_lst",
        "morder_finterp_lst",
        "moments_set",
        "moments_set_bc",
        "cumulants_set",
        "cumulants_set_bc",
        "morder",
        "corder",
        "fbc",
        "n_frames",
        "xdim",
        "ydim",
    }
    assert REF["class_params"] == ["filepath", "filename"]
    assert {
        "pysofi",
        "deconvsk",
        "filtering",
        "finterp",
        "ldrc",
        "masks",
        "reconstruction",
        "visualization",
    } <= set(REF["modules"])


def _check_signature(obj, params: list[str], where: str, skip_self: bool = False) -> list[str]:
    problems = []
    sig = inspect.signature(obj)
    got = list(sig.parameters.values())
    if skip_self:
        got = got[1:] if got and got[0].name == "self" else got
    names = []
    for text in params:
        if text.startswith("**"):
            names.append(text[2:])
            continue
        name, _, default = text.partition("=")
        names.append(name)
    if [p.name for p in got] != names:
        return [f"{where}: parameters {[p.name for p in got]} != reference {names}"]
    for text, p in zip(params, got, strict=True):
        if text.startswith("**"):
            if p.kind is not inspect.Parameter.VAR_KEYWORD:
                problems.append(f"{where}: {p.name} should be **{p.name}")
            continue
        name, eq, default = text.partition("=")
        if not eq:
            if p.default is not inspect.Parameter.empty:
                problems.append(f"{where}: {name} should have no default")
            continue
        if default.startswith("array("):
            if not isinstance(p.default, np.ndarray):
                problems.append(f"{where}: {name} default should be an ndarray")
            continue
        expected = ast.literal_eval(default)
        if type(p.default) is not type(expected) or p.default != expected:
            problems.append(f"{where}: {name} default {p.default!r} != reference {expected!r}")
    return problems


def test_every_reference_function_exists_with_its_signature():
    problems = []
    for (module, name), params in REF["functions"].items():
        mod = getattr(compat, module, None)
        obj = getattr(mod, name, None)
        if obj is None:
            problems.append(f"sofi_dask.compat.{module}.{name}: missing")
            continue
        problems += _check_signature(obj, params, f"{module}.{name}")
    assert not problems, "\n".join(problems)


def test_every_reference_method_exists_with_its_signature():
    problems = _check_signature(PysofiData, REF["class_params"], "PysofiData")
    for name, params in REF["methods"].items():
        obj = getattr(PysofiData, name, None)
        if obj is None:
            problems.append(f"PysofiData.{name}: missing")
            continue
        problems += _check_signature(obj, params, f"PysofiData.{name}", skip_self=True)
    assert not problems, "\n".join(problems)
    psf = inspect.signature(PysofiData.deconvsk).parameters["est_psf"].default
    np.testing.assert_array_equal(psf, compat.masks.gauss2d_mask((51, 51), 2))


def test_class_importable_from_both_places_and_modules_exist():
    assert compat.pysofi.PysofiData is compat.PysofiData
    for module in REF["modules"]:
        assert hasattr(compat, module), module


def test_visualization_imports_without_opencv_ipython_bokeh():
    code = (
        "import sys, sofi_dask.compat.visualization, sofi_dask.compat;"
        "bad=[m for m in ('cv2','IPython','bokeh') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------- data
def _movie(n=60, shape=(10, 12), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.uniform(50, 300, size=shape)
    decay = np.exp(-np.arange(n) / 30.0)[:, None, None]
    blink = rng.random((n, *shape)) < 0.3
    return rng.poisson(base * (0.5 + decay) + 400 * blink).astype(np.uint16)


MOVIE = _movie()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compat_src")
    tifffile.imwrite(folder / "movie.tif", MOVIE)
    ingest(folder / "movie.tif", folder / "movie.zarr", chunks=(16, 10, 12))
    return folder


@pytest.fixture(params=["movie.tif", "movie.zarr"])
def src(request, files):
    """(filepath, filename) of the same movie as a TIFF file and as a Zarr store."""
    return str(files), request.param


def _central(x: np.ndarray, order: int) -> np.ndarray:
    x = x.astype(np.float64)
    return ((x - x.mean(0)) ** order).mean(0)


def _cumulants_direct(m: dict) -> dict:
    """k-statistics of central moments (m1 = 0), written out by hand."""
    m2, m3, m4, m5, m6 = (m[k] for k in range(2, 7))
    return {
        2: m2,
        3: m3,
        4: m4 - 3 * m2**2,
        5: m5 - 10 * m3 * m2,
        6: m6 - 15 * m4 * m2 - 10 * m3**2 + 30 * m2**3,
    }


def _med_smooth(signal, k):
    padded = np.pad(np.asarray(signal, float), k, mode="symmetric")
    return scipy.signal.medfilt(padded, k)[k:-k]


def _cut(signal, fbc):
    """pysofi's cut_frames written out (scan from the maximum, one bound per frame)."""
    mx, mn = float(np.max(signal)), float(np.min(signal))
    n = int(np.ceil(1 / fbc))
    bounds = [int(mx - (mx - mn) * i * fbc) for i in range(1, n + 1)]
    cuts, i, f = [], 0, int(np.argmax(signal))
    while f < len(signal) and i < n:
        if signal[f] < bounds[i]:
            cuts.append(f)
            i += 1
        f += 1
    return [int(mx)] + bounds, [0] + cuts + [len(signal)]


def _blocks(x, kernel, fbc):
    _, cuts = _cut(_med_smooth(x.astype(np.float64).sum(axis=(1, 2)), kernel), fbc)
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


# --------------------------------------------------------------------------- reconstruction
def test_average_min_total_signal(src):
    fp, fn = src
    np.testing.assert_allclose(rec.average_image(fp, fn), MOVIE.mean(0), rtol=1e-13)
    np.testing.assert_allclose(
        rec.average_image(fp, fn, [5, 37]), MOVIE[5:37].astype(float).mean(0), rtol=1e-13
    )
    np.testing.assert_allclose(rec.average_image(fp, fn), nm.average_image(MOVIE), rtol=1e-13)
    mn = rec.min_image(fp, fn, [10, 40])
    assert mn.dtype == np.uint16
    np.testing.assert_array_equal(mn, MOVIE[10:40].min(0))
    ts = rec.calc_total_signal(fp, fn)
    assert ts.dtype == np.float64 and ts.shape == (60,)
    np.testing.assert_array_equal(ts, MOVIE.astype(np.float64).sum(axis=(1, 2)))
    with pytest.raises(ValueError, match="frames"):
        rec.average_image(fp, fn, [50, 70])


def test_total_signal_does_not_wrap_uint16(tmp_path):
    big = np.full((4, 256, 256), 60000, dtype=np.uint16)
    tifffile.imwrite(tmp_path / "b.tif", big, photometric="minisblack")
    np.testing.assert_array_equal(rec.calc_total_signal(tmp_path, "b.tif"), [60000.0 * 65536] * 4)


def test_calc_moments_float64_all_orders_and_m_set(src):
    fp, fn = src
    m = rec.calc_moments(fp, fn, 6)
    assert sorted(m) == [1, 2, 3, 4, 5, 6]
    assert all(v.dtype == np.float64 and v.shape == (10, 12) for v in m.values())
    np.testing.assert_allclose(m[1], 0.0, atol=1e-9)
    native = nm.central_moments(MOVIE, 6)
    for k in range(2, 7):
        assert _rel(m[k], _central(MOVIE, k)) < 1e-12
        assert _rel(m[k], native[k]) < 1e-12
    # windowed, about a given mean (binomial shift vs direct formula)
    c = MOVIE[:20].mean(0) + 3.5
    mw = rec.calc_moments(fp, fn, 4, frames=[20, 50], mean_im=c)
    for k in range(1, 5):
        direct = ((MOVIE[20:50].astype(float) - c) ** k).mean(0)
        assert _rel(mw[k], direct) < 1e-10
    # previously computed orders are kept, missing ones added, same dict returned
    keep = {1: np.zeros((10, 12)), 2: np.full((10, 12), -7.0)}
    out = rec.calc_moments(fp, fn, 3, m_set=keep)
    assert out is keep and sorted(out) == [1, 2, 3]
    assert (out[2] == -7.0).all() and _rel(out[3], _central(MOVIE, 3)) < 1e-12


def test_calc_moment_im_and_block_moments(src):
    fp, fn = src
    assert _rel(rec.calc_moment_im(fp, fn, 5, [3, 44]), _central(MOVIE[3:44], 5)) < 1e-12
    c = np.full((10, 12), 100.0)
    direct = ((MOVIE.astype(float) - c) ** 3).mean(0)
    assert _rel(rec.calc_moment_im(fp, fn, 3, mean_im=c), direct) < 1e-10
    b = rec.calc_block_moments(fp, fn, 1, [0, 30])  # pysofi: division by zero
    assert list(b) == [1]
    b = rec.calc_block_moments(fp, fn, 4, [10, 30])
    assert _rel(b[4], _central(MOVIE[10:30], 4)) < 1e-12


def test_cumulants_from_moments_recursion():
    moments = {k: _central(MOVIE, k) for k in range(2, 7)}
    moments[1] = np.zeros((10, 12))
    k = rec.calc_cumulants_from_moments(moments)
    direct = _cumulants_direct(moments)
    assert sorted(k) == [1, 2, 3, 4, 5, 6]
    for order in range(2, 7):
        assert _rel(k[order], direct[order]) < 1e-10
    with pytest.raises(ValueError, match="moment_set"):
        rec.calc_cumulants_from_moments({})


def test_bleaching_blocks_average_and_cut_frames(src):
    fp, fn = src
    signal = rec.calc_total_signal(fp, fn)
    smooth = compat.filtering.med_smooth(signal, 5)
    np.testing.assert_array_equal(smooth, _med_smooth(signal, 5))
    assert rec.cut_frames(smooth, 0.25) == _cut(smooth, 0.25)
    blocks = _blocks(MOVIE, 5, 0.25)
    assert len(blocks) >= 3
    per = rec.moments_all_blocks(fp, fn, 4, smooth_kernel=5, fbc=0.25)
    assert list(per) == list(range(len(blocks)))
    for i, (a, b) in enumerate(blocks):
        assert _rel(per[i][3], _central(MOVIE[a:b], 3)) < 1e-12
    ave = rec.block_ave_moments(fp, fn, 4, smooth_kernel=5, fbc=0.25)
    direct = np.mean([_central(MOVIE[a:b], 4) for a, b in blocks], axis=0)
    assert _rel(ave[4], direct) < 1e-12
    k_ave = rec.block_ave_cumulants(fp, fn, 4, smooth_kernel=5, fbc=0.25)
    k_direct = np.mean(
        [_central(MOVIE[a:b], 4) - 3 * _central(MOVIE[a:b], 2) ** 2 for a, b in blocks], axis=0
    )
    assert _rel(k_ave[4], k_direct) < 1e-10
    k_blocks = rec.cumulants_all_blocks(per)
    assert _rel(np.mean([k_blocks[i][4] for i in k_blocks], axis=0), k_direct) < 1e-10
    native = nb.block_average(nb.block_moments(MOVIE, 4, blocks))
    assert _rel(ave[4], native[4]) < 1e-12


def test_correct_bleaching_files_and_values(tmp_path):
    (tmp_path / "keep.txt").write_text("unrelated")
    tifffile.imwrite(tmp_path / "mv.tif", MOVIE)
    digest = hashlib.sha256((tmp_path / "mv.tif").read_bytes()).hexdigest()
    blocks = _blocks(MOVIE, 5, 0.25)
    x = MOVIE.astype(np.float64)
    direct = np.concatenate([np.round(x[a:b] - x[a:b].mean(0)) for a, b in blocks])
    direct -= direct.min(0)
    for _ in range(2):  # a re-run replaces the output (pysofi appends to it)
        out = rec.correct_bleaching(tmp_path, "mv.tif", 0.25, 5, True, True)
        np.testing.assert_array_equal(out, direct)
        written = tifffile.imread(tmp_path / "mv_bc.tif")
        assert written.shape == MOVIE.shape
        np.testing.assert_array_equal(written, direct)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt", "mv.tif", "mv_bc.tif"]
    assert hashlib.sha256((tmp_path / "mv.tif").read_bytes()).hexdigest() == digest
    assert rec.correct_bleaching(tmp_path, "mv.tif", 0.25, 5, save_option=False) is None


def test_cross_cumulants_and_lag_moments(src):
    fp, fn = src
    r = 1
    xc = rec.calc_xc_im(fp, fn, r, [0, 50])
    d = MOVIE[:50].astype(float) - MOVIE[:50].mean(0)
    H, W = MOVIE.shape[1:]
    offsets = [(i, j) for i in range(-r, 0) for j in range(-r, r + 1)] + [
        (0, j) for j in range(-r, 0)
    ]
    assert list(xc) == offsets
    for i, j in offsets:
        a = d[:, r + i : H - r + i, r + j : W - r + j]
        b = d[:, r - i : H - r - i, r - j : W - r - j]
        assert _rel(xc[(i, j)], (a * b).mean(0)) < 1e-12
    tau = [0, 1, 3, 4]
    ml = rec.calc_moments_with_lag(fp, fn, tau, [5, 55])
    x = MOVIE[5:55].astype(float)
    dd = x - x.mean(0)
    n = len(x) - max(tau)

    def lagged(subset):
        return np.prod([dd[tau[s] : tau[s] + n] for s in subset], axis=0).mean(0)

    assert sorted(ml[2]) == list(itertools.combinations(range(4), 2))
    assert sorted(ml[3]) == [(0, 1, 2)] and sorted(ml[4]) == [(0, 1, 2, 3)]
    for subsets in ml.values():
        for s, img in subsets.items():
            assert _rel(img, lagged(s)) < 1e-12
    k = rec.calc_cumulants_from_moments_with_lag(ml, tau)
    k4 = lagged((0, 1, 2, 3)) - sum(
        lagged(p) * lagged(q) for p, q in [((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2))]
    )
    assert _rel(k[4], k4) < 1e-10 and _rel(k[2], lagged((0, 1))) < 1e-12
    native = ncorr.moments_with_lag(MOVIE, tau, frames=(5, 55))
    assert _rel(ml[4][(0, 1, 2, 3)], native[4][(0, 1, 2, 3)]) < 1e-12
    assert rec.sorted_k_partitions([0, 1, 2, 3], 2) == [
        [(0, 1), (2, 3)],
        [(0, 2), (1, 3)],
        [(0, 3), (1, 2)],
    ]


def test_finterp_moments_and_average(src):
    fp, fn = src
    f = 2
    interp = np.stack([compat.finterp.fourier_interp_array(fr, [f])[0] for fr in MOVIE[:30]])
    mean_f = interp.mean(0)
    ave_f = rec.average_image_with_finterp(fp, fn, f)
    assert (
        ave_f.shape == (19, 23)
        and _rel(ave_f, compat.finterp.fourier_interp_array(MOVIE.mean(0), [f])[0]) < 1e-12
    )
    m = rec.moment_im_with_finterp(fp, fn, 3, f, [0, 30])
    assert m.dtype == np.float64
    assert _rel(m, ((interp - mean_f) ** 3).mean(0)) < 1e-9


def test_runs_on_a_distributed_cluster(src, dask_client):
    fp, fn = src
    m = rec.calc_moments(fp, fn, 4)
    assert _rel(m[4], _central(MOVIE, 4)) < 1e-12


# --------------------------------------------------------------------------- PysofiData
def test_pysofidata_attributes_and_dims(src):
    fp, fn = src
    d = PysofiData(fp, fn)
    for name in REF["attributes"]:
        assert hasattr(d, name), name
    assert (d.n_frames, d.xdim, d.ydim) == (60, 10, 12) == d.get_dims()
    assert d.filepath == fp and d.filename == fn
    assert d.ave is None and d.moments_set == {} and d.morder_lst == [] and d.fbc == 1
    assert d.finterp_factor == 1 and d.morder == 0 and d.corder == 0
    d.add(note="x", fbc=0.5)
    assert d.note == "x" and d.fbc == 0.5
    d.add_filtered(np.ones(3))
    assert d.filter_name == "noise filter" and (d.filtered == 1).all()
    np.testing.assert_array_equal(d.get_frame(17), MOVIE[17])
    assert d.get_frame().dtype == np.uint16
    for bad in (60, -1, 2.5):
        with pytest.raises(ValueError, match="frame_num"):
            d.get_frame(bad)


def test_pysofidata_dims_without_reading_the_movie(files, tmp_path):
    store = tmp_path / "copy.zarr"
    shutil.copytree(files / "movie.zarr", store)
    chunks = [f for f in (store / "movie" / "c").rglob("*") if f.is_file()]
    for chunk in chunks:  # every chunk garbled (its checksum fails): only metadata is readable
        chunk.write_bytes(b"\0" * chunk.stat().st_size)
    d = PysofiData(str(tmp_path), "copy.zarr")
    assert (d.n_frames, d.xdim, d.ydim) == (60, 10, 12)
    with pytest.raises(Exception):  # noqa: B017 (zarr's decode error: proves nothing was read)
        d.get_frame(0)


def test_pysofidata_moments_cumulants_and_cache(src):
    fp, fn = src
    d = PysofiData(fp, fn)
    k = d.cumulants_images(6)
    assert d.corder == 6 and d.morder == 6 and sorted(d.moments_set) == list(range(1, 7))
    m = {o: _central(MOVIE, o) for o in range(2, 7)}
    direct = _cumulants_direct(m)
    for order in range(2, 7):
        assert _rel(k[order], direct[order]) < 1e-10
        assert _rel(d.moments_set[order], m[order]) < 1e-12
    assert d.cumulants_set is k
    np.testing.assert_allclose(k[1], 0.0, atol=1e-9)
    # moment_image / average_image reuse the pass: equal to the standalone functions
    m4 = d.moment_image(4)
    assert _rel(m4, rec.calc_moment_im(fp, fn, 4)) < 1e-12
    assert d.morder_lst == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(d.average_image(), MOVIE.mean(0), rtol=1e-12)
    w = d.moment_image(3, mvlength=[10, 40])
    assert _rel(w, _central(MOVIE[10:40], 3)) < 1e-12
    assert _rel(d.moment_image(2, mvlength=25), _central(MOVIE[:25], 2)) < 1e-12
    c = np.full((10, 12), 120.0)
    assert _rel(d.moment_image(2, mean_im=c), ((MOVIE - c) ** 2).mean(0)) < 1e-10
    # cumulants from a given m_set: no pass needed, recursion of the given images
    given = {
        1: np.zeros((2, 2)),
        2: np.full((2, 2), 2.0),
        3: np.ones((2, 2)),
        4: np.full((2, 2), 15.0),
    }
    np.testing.assert_allclose(d.cumulants_images(4, m_set=given)[4], 3.0)


def test_pysofidata_cache_follows_the_file(tmp_path):
    tifffile.imwrite(tmp_path / "c.tif", MOVIE)
    d = PysofiData(str(tmp_path), "c.tif")
    first = d.moment_image(2)
    tifffile.imwrite(tmp_path / "c.tif", MOVIE[::-1] * 2)
    os.utime(tmp_path / "c.tif", ns=(1, 1))
    assert _rel(d.moment_image(2), 4 * first) < 1e-12


def test_pysofidata_bleaching_and_finterp(src, tmp_path):
    fp, fn = src
    d = PysofiData(fp, fn)
    blocks = _blocks(MOVIE, 5, 0.25)
    mbc = d.calc_moments_set(4, bleach_correction=True, smooth_kernel=5, fbc=0.25)
    assert d.moments_set_bc is mbc and d.fbc == 0.25
    assert _rel(mbc[2], np.mean([_central(MOVIE[a:b], 2) for a, b in blocks], axis=0)) < 1e-12
    kbc = d.cumulants_images(3, bleach_correction=True, smooth_kernel=5, fbc=0.25)
    assert d.cumulants_set_bc is kbc
    assert _rel(kbc[3], np.mean([_central(MOVIE[a:b], 3) for a, b in blocks], axis=0)) < 1e-12
    mf = d.moment_image(3, finterp=True, interp_num=2)
    assert d.finterp_factor == 2 and d.morder_finterp_lst == [3] and d.moments_finterp_set[3] is mf
    assert _rel(mf, rec.moment_im_with_finterp(fp, fn, 3, 2)) < 1e-12
    assert d.average_image_with_finterp(2).shape == (19, 23)
    fi = d.finterp_image(interp_num_lst=[2, 3])
    assert [a.shape for a in fi] == [(19, 23), (28, 34)] and d.finterp is fi


def test_pysofidata_ldrc_deconv_defaults_on_fresh_object(src):
    fp, fn = src
    d = PysofiData(fp, fn)
    out = d.ldrc(order=3, window_size=[5, 5])  # pysofi: fails (input_im stays None)
    assert out.shape == (10, 12) and d.ldrc_image is out
    expected = compat.ldrc.ldrc(MOVIE.mean(0), _central(MOVIE, 3), 3, [5, 5])
    assert _rel(out, expected) < 1e-10
    d2 = PysofiData(fp, fn)
    dec = d2.deconvsk(est_psf=compat.masks.gauss2d_mask((5, 5), 1.0), deconv_iter=3)
    assert (
        _rel(
            dec,
            compat.deconvsk.deconvsk(compat.masks.gauss2d_mask((5, 5), 1.0), MOVIE.mean(0), 1.5, 3),
        )
        < 1e-12
    )
    assert d2.deconv is dec


def test_pysofidata_bleach_correct_and_finterp_tiffstack(tmp_path):
    tifffile.imwrite(tmp_path / "s.tif", MOVIE[:20])
    d = PysofiData(str(tmp_path), "s.tif")
    bc = d.bleach_correct(fbc=0.5, smooth_kernel=3, save_option=True, return_option=True)
    assert bc.shape == (20, 10, 12) and bc.min() == 0
    assert tifffile.imread(tmp_path / "s_bc.tif").shape == (20, 10, 12)
    assert hasattr(d.bc_ims, "dask")  # kept lazy on the object, not in memory
    fi = d.finterp_tiffstack([2], frames=[0, 5], save_option=True, return_option=True)
    assert fi[0].dtype == np.uint16 and fi[0].shape == (5, 19, 23)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "s_InterpNum2.tif"), fi[0])
    assert hasattr(d.finterps[0], "dask")
    for frame_in, frame_out in zip(MOVIE[:5], fi[0], strict=True):
        # each frame rescaled to its own original [min, max] (pysofi's output)
        interp = compat.finterp.fourier_interp_array(frame_in, [2])[0]
        lo, hi = float(frame_in.min()), float(frame_in.max())
        scaled = (interp - interp.min()) / (interp.max() - interp.min()) * (hi - lo) + lo
        assert np.abs(frame_out.astype(float) - np.round(scaled)).max() <= 1
    assert d.finterp_tiffstack([2], frames=[0, 5], save_option=False) is None


def test_shift_moments_binomial_identity():
    rng = np.random.default_rng(3)
    x = rng.normal(2.0, 1.0, size=(200, 3, 2))
    stack = np.stack([x.mean(0), np.zeros((3, 2))] + [_central(x, k) for k in range(2, 6)])
    c = rng.normal(size=(3, 2))
    from sofi_dask.compat._common import shift_moments

    out = shift_moments(stack, range(1, 6), c)
    for p in range(1, 6):
        np.testing.assert_allclose(out[p], ((x - c) ** p).mean(0), rtol=1e-10, atol=1e-12)
