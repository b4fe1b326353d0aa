"""Out of disk space on a real, small tmpfs (needs root to mount it; skipped otherwise)."""

from __future__ import annotations

import errno
import subprocess
import uuid

import numpy as np
import pytest
import tifffile

from sofi_dask.errors import IncompleteStoreError
from sofi_dask.io import ingest, open_movie
from sofi_dask.pipeline._run import run_pipeline


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs mounted at tmp_path/disk."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip()}): needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def noise_tif(tmp_path):
    """3 MB of incompressible frames."""
    movie = np.random.default_rng(0).integers(0, 65535, (96, 128, 128), dtype=np.uint16)
    path = tmp_path / "noise.tif"
    tifffile.imwrite(path, movie)
    return path


def test_ingest_out_of_space_names_store_and_bytes(small_disk, noise_tif):
    dest = small_disk / "m.zarr"
    with pytest.raises(OSError) as err:
        ingest(noise_tif, dest, chunks=8)
    assert err.value.errno == errno.ENOSPC
    msg = str(err.value)
    assert f"{dest}: no space left on the device writing the movie store" in msg
    assert "MB" in msg and f"free in {small_disk}" in msg
    if dest.exists():
        with pytest.raises(IncompleteStoreError):
            open_movie(dest)


def test_run_out_of_space_names_output_and_leaves_nothing(small_disk, noise_tif, tmp_path):
    store = ingest(noise_tif, tmp_path / "m.zarr")
    out = small_disk / "out"
    cfg = {
        "ldrc": {"enabled": False},
        "deconvolution": {"enabled": False},
        "statistic": {"orders": [2, 3, 4, 5, 6]},
    }
    with pytest.raises(OSError) as err:
        run_pipeline(store, out, cfg, progress=False)
    assert err.value.errno == errno.ENOSPC
    assert f"{out}: no space left on the device writing the results" in str(err.value)
    assert list(small_disk.iterdir()) == []  # no partial output, no lock file


def test_a_short_write_without_errno_is_named_as_a_full_disk(small_disk):
    """tifffile writes arrays with numpy's tofile, which reports a full disk as "N requested
    and M written" with no errno; the run's files are written by tifffile too."""
    from sofi_dask.io._space import explain_disk_full

    (small_disk / "filler").write_bytes(b"\0" * (1024 * 1024 - 64 * 1024))
    image = np.random.default_rng(0).random((128, 128))  # 128 kB of float64, incompressible
    dest = small_disk / "image.tif"
    with pytest.raises(OSError) as raw:
        tifffile.imwrite(dest, image)
    assert raw.value.errno is None or raw.value.errno == errno.ENOSPC  # what the writer raises
    with pytest.raises(OSError) as err, explain_disk_full(dest, "the image", resumes=False):
        tifffile.imwrite(dest, image)
    assert err.value.errno == errno.ENOSPC
    assert f"{dest}: no space left on the device writing the image" in str(err.value)
    with pytest.raises(OSError, match="requested and") as other:  # room left: not a full disk
        with explain_disk_full(small_disk / "x", "x"):
            (small_disk / "filler").unlink()
            raise OSError("10 requested and 5 written")
    assert other.value.errno is None
