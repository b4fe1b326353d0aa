"""The quality section's files: the half images kept for ``sofi-dask quality`` and the section
recomputed from a finished run's folder (nothing read from the movie)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["HALVES_FILE", "load_halves", "magnitude", "recompute_quality", "save_halves"]

HALVES_FILE = "quality_halves.zarr"
_OLD_HALVES_FILE = "quality_halves.npz"  # runs before Dec 2026: read by recompute_quality
_HALF_SEP = "__half_"


def magnitude(image: np.ndarray, absolute: bool = True) -> np.ndarray:
    """What the quality measures see of a stored image: ``|image|`` when ``absolute`` (SOFI
    images are magnitudes), the image itself when it has no negative value (no copy: a 2048^2
    image is 32 MB).

    Examples
    --------
    >>> x = np.array([1.0, -2.0])
    >>> magnitude(x).tolist(), magnitude(x, absolute=False) is x, magnitude(abs(x)) is not x
    ([1.0, 2.0], True, True)
    """
    if not absolute or image.size == 0 or image.min() >= 0:
        return image
    return np.abs(image)


def save_halves(path: Path, halves: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """The half images as a Zarr group: one float64 array ``(names, 2, y, x)`` per image shape
    (attribute ``names``), one uncompressed chunk per half image, written half by half. For
    eight 2048^2 halves (268 MB) ~0.25 s of CPU and 4k page faults, where Blosc LZ4 with bit
    shuffle in 1024^2 tiles (0.80 of the raw size: the halves are noisy float64) took ~0.6 s
    and 80k faults (zarr's per-tile buffers, a stacked copy per image), zstd 1 more, and
    ``np.savez_compressed`` ~20 s. One array, not one per image (~10 ms of metadata each)."""
    import zarr

    group = zarr.open_group(path, mode="w-", zarr_format=3)
    shapes: dict[tuple[int, ...], list[str]] = {}
    for name, (a, _) in halves.items():
        shapes.setdefault(tuple(np.shape(a)), []).append(name)
    for shape, names in shapes.items():
        arr = group.create_array(
            "halves_" + "x".join(map(str, shape)),
            shape=(len(names), 2, *shape),
            dtype=np.float64,
            chunks=(1, 1, *shape),
            compressors=None,
            attributes={"names": names},
        )
        for i, n in enumerate(names):  # half by half: no copy of them all, nor of a pair
            for j, half in enumerate(halves[n]):
                arr[i, j] = np.asarray(half, dtype=np.float64)


def load_halves(folder: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The half images a run kept (``quality_halves.zarr``, or the ``.npz`` of older runs);
    empty when there are none.

    Examples
    --------
    >>> load_halves("no-such-folder")
    {}
    """
    import zarr

    folder = Path(folder)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if (folder / HALVES_FILE).is_dir():
        for _, arr in zarr.open_group(folder / HALVES_FILE, mode="r").arrays():
            data = np.asarray(arr[...])
            out.update({n: (data[i, 0], data[i, 1]) for i, n in enumerate(arr.attrs["names"])})
    elif (folder / _OLD_HALVES_FILE).is_file():
        with np.load(folder / _OLD_HALVES_FILE) as npz:
            for n in sorted({k.rsplit(_HALF_SEP, 1)[0] for k in npz.files}):
                out[n] = (npz[f"{n}{_HALF_SEP}a"], npz[f"{n}{_HALF_SEP}b"])
    return out


def recompute_quality(
    folder: Any,
    *,
    threshold: str | None = None,
    decorrelation: bool = True,
    error_maps: bool = True,
) -> dict[str, Any]:
    """The quality section again from a finished run's folder (``run.json``, the stored images
    in ``results.zarr`` and the halves in ``quality_halves.zarr``): nothing is read from the
    movie. Convergence is carried over from ``run.json``.

    Parameters
    ----------
    folder : path
        Output folder of ``sofi-dask run``.
    threshold : {"1/7", "half-bit"}, optional
        FRC threshold (default: the run's).
    decorrelation, error_maps : bool
        Compute them.

    Returns
    -------
    dict
        The section (as in run.json), with ``"recomputed": true``.

    Raises
    ------
    FileNotFoundError
        No ``run.json`` in ``folder``.
    sofi_dask.errors.InputError
        The run has neither stored images nor halves to measure.
    """
    import json

    from sofi_dask._validation import fail, shown
    from sofi_dask.pipeline._result_images import read_image
    from sofi_dask.quality._convergence import ConvergenceResult
    from sofi_dask.quality._report import quality_report

    folder = Path(folder)
    record_path = folder / "run.json"
    if not record_path.is_file():
        raise FileNotFoundError(f"{record_path} does not exist: not the output folder of a run")
    record = json.loads(record_path.read_text())
    params = record.get("parameters", {})
    old = record.get("quality") or {}
    thresh = threshold or params.get("quality", {}).get("threshold", "1/7")
    absolute = params.get("statistic", {}).get("absolute", True)
    halves = load_halves(folder)
    store = folder / "results.zarr"
    images: dict[str, np.ndarray] = {}
    if store.is_dir():
        finals = list((record.get("final_images") or {}).values())
        for name in ["average", *finals]:
            if (store / name / "0").is_dir():
                arr = read_image(store, name)
                images[name] = arr if name == "average" else magnitude(arr, absolute)
    if "average" in images:
        average = images["average"]
    elif "average" in halves:
        average = 0.5 * (halves["average"][0] + halves["average"][1])
    else:
        raise fail("folder", "a run with stored images or quality halves", shown(str(folder)))
    conv = None
    if old.get("convergence"):
        c = old["convergence"]
        conv = ConvergenceResult(
            np.array(c["frames"]),
            {int(k): np.array(v) for k, v in c["relative_change"].items()},
            c["statistic"],
        )
    factor = (
        int(params.get("finterp", {}).get("factor", 2))
        if params.get("finterp", {}).get("enabled")
        else 1
    )
    report = quality_report(
        average,
        images,
        halves=halves,
        pixel_size=record.get("pixel_size_um"),
        threshold=thresh,
        decorrelation=decorrelation,
        error_maps=error_maps and factor == 1,
        convergence=conv,
    )
    section = report.to_dict()
    section["recomputed"] = True
    return section
