"""Out of core for real: peak memory does not grow with the number of frames (slow tests).

Each measurement runs in a fresh Python process on a real Zarr store / TIFF on disk and reads
its own peak RSS (VmHWM), as the CLI would run it. Run with ``make test-slow``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tifffile
import zarr

pytestmark = pytest.mark.slow

FRAMES = 8192  # 8192 x 256 x 256 uint16 = 1.07 GB on disk before compression
SHAPE = (256, 256)

CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import dask, dask.array as da
    from sofi_dask._memory import limit_allocator_retention
    limit_allocator_retention()
    path, frames, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with dask.config.set(scheduler="threads"):
        if what == "ingest":
            from sofi_dask.io import ingest
            ingest(path, sys.argv[4])
        else:
            d = da.from_zarr(path)[:frames]
            if what == "moments":
                from sofi_dask.stats import cumulant_stack
                from sofi_dask.stats import moment_stack
                s = moment_stack(d, 6)
                dask.compute(s, cumulant_stack(s))
            else:
                from sofi_dask.stats import cumulants_with_lag, moments_with_lag
                m = moments_with_lag(d, [0, 1, 2, 3])
                dask.compute(m, cumulants_with_lag(m, [0, 1, 2, 3]))
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            print(json.dumps({"peak_mb": int(line.split()[1]) / 1024}))
    """
)


def _peak_mb(*args: object) -> float:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, args)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"]


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("ooc") / "movie.zarr"
    z = zarr.create_array(
        store=str(path), shape=(FRAMES, *SHAPE), chunks=(256, *SHAPE), dtype=np.uint16
    )
    rng = np.random.default_rng(0)
    for a in range(0, FRAMES, 256):
        z[a : a + 256] = rng.poisson(200.0, (256, *SHAPE)).astype(np.uint16)
    return path


@pytest.mark.parametrize(("what", "max_ratio"), [("moments", 1.2), ("lag", 1.25)])
def test_peak_memory_is_flat_in_frame_count(big_store, what, max_ratio):
    small = _peak_mb(big_store, FRAMES // 8, what)
    large = _peak_mb(big_store, FRAMES, what)
    assert large < 1024, f"{what}: peak RSS {large:.0f} MB for {FRAMES} frames"
    assert large / small <= max_ratio, f"{what}: {small:.0f} MB -> {large:.0f} MB"


def test_ingest_peak_memory_stays_under_1_gb(tmp_path):
    tif = tmp_path / "big.tif"
    rng = np.random.default_rng(1)
    with tifffile.TiffWriter(tif, bigtiff=True) as w:
        for _ in range(FRAMES // 256):
            w.write(
                rng.poisson(200.0, (256, *SHAPE)).astype(np.uint16),
                contiguous=True,
                photometric="minisblack",
            )
    assert tif.stat().st_size > 1e9
    peak = _peak_mb(tif, 0, "ingest", tmp_path / "big.zarr")
    assert peak < 1024
    stored = zarr.open_array(str(tmp_path / "big.zarr" / "movie"), mode="r")
    assert stored.shape == (FRAMES, *SHAPE)
    np.testing.assert_array_equal(stored[-3:], tifffile.imread(tif, key=range(FRAMES - 3, FRAMES)))
