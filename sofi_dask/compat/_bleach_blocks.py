"""pysofi's bleaching-block reconstruction functions on sofi_dask's lazy engine.

Part of :mod:`sofi_dask.compat.reconstruction` (every name here is importable from there):
the total signal cut into bleaching blocks (``cut_frames``), per-block moments and their
averages over blocks, and the bleaching-corrected movie. Same names, parameters, defaults and
return types as pysofi v0.1.1-alpha; each docstring lists what differs from pysofi.

Blocks of any length >= 1 frame are computed for every order, as pysofi does (its default
``fbc=0.04`` often cuts blocks of 1-4 frames): the native :func:`sofi_dask.block_moments`
refuses blocks shorter than the order on purpose, so these functions use
``moment_stacks(check_length=False)`` (:func:`sofi_dask.compat._common.window_stacks`) and
warn once per call (``RuntimeWarning``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from sofi_dask._validation import check_frames, check_positive_int
from sofi_dask.compat._common import (
    as_frames,
    compute_all,
    movie_path,
    open_input,
    open_source,
    to_numpy,
    window_moments,
)
from sofi_dask.io._open import Movie, open_movie

# native stage modules (by module path: the package re-exports functions of the
# same names, e.g. sofi_dask.cumulants)
from sofi_dask.stats import _bleaching as _bleaching
from sofi_dask.stats import _cumulants as _cum
from sofi_dask.stats import _moments as _moments

# the logger of sofi_dask.compat.reconstruction, where these functions are documented
logger = logging.getLogger("sofi_dask.compat.reconstruction")

__all__ = [
    "bleach_corrected",
    "block_ave_cumulants",
    "block_ave_moments",
    "calc_block_moments",
    "correct_bleaching",
    "cut_frames",
    "moments_all_blocks",
]


def _blocks(movie: Movie, smooth_kernel: int, fbc: float) -> list[tuple[int, int]]:
    signal = to_numpy(_moments.total_signal(movie))
    return _bleaching.bleaching_blocks(signal, fbc=fbc, kernel_size=smooth_kernel)


# --------------------------------------------------------------------------- functions
def calc_block_moments(
    filepath: Any,
    filename: Any,
    highest_order: int,
    frames: Any = [],  # noqa: B006
) -> dict[int, np.ndarray]:
    """Central moment images of orders 1..``highest_order`` of one frame block.

    Native: :func:`sofi_dask.block_moments` (one block). pysofi divides by zero
    in its progress bar for ``highest_order=1`` (defect 9); that works here.

    Examples
    --------
    >>> calc_block_moments("data", "movie.tif", 4, [0, 500])  # doctest: +SKIP
    """
    highest_order = check_positive_int(highest_order, "highest_order")
    movie = open_source(filepath, filename)
    window = check_frames(as_frames(frames), movie.n_frames)
    return compute_all(window_moments(movie, highest_order, [window])[0])


def cut_frames(signal_level: Any, fbc: float = 0.04) -> tuple[list[int], list[int]]:
    """Bleaching-block boundaries of a (smoothed) signal: ``(bounds, frame_lst)``.

    Native: :func:`sofi_dask.cut_frames`. A signal that never falls gives
    ``[0, N]`` (one block) that works downstream (pysofi fails later with IndexError).

    Examples
    --------
    >>> cut_frames([10.0, 9.0, 8.0, 7.0, 6.0, 5.0], fbc=0.5)
    ([10, 7, 5], [0, 4, 6])
    """
    return _bleaching.cut_frames(signal_level, fbc=fbc)


def correct_bleaching(
    filepath: Any,
    filename: Any,
    fbc: float = 0.04,
    smooth_kernel: int = 251,
    save_option: bool = True,
    return_option: bool = False,
) -> np.ndarray | None:
    """Bleaching-corrected movie: per block ``round(x - block mean)``, minus the pixel minimum.

    Native: :func:`sofi_dask.bleaching_blocks` on the total signal, then
    :func:`sofi_dask.correct_bleaching` (lazy, streamed) and
    :func:`sofi_dask.save_tiff`.

    Parameters
    ----------
    filepath, filename : str
        The TIFF file or Zarr store.
    fbc : float
        Fraction of the total signal drop per block.
    smooth_kernel : int
        Median-filter window of the total signal (pysofi ignores it and uses 251, defect 5).
    save_option : bool
        Write ``filepath/<stem>_bc.tif`` (an ImageJ float32 stack, exact for these integers).
    return_option : bool
        Return the corrected movie as one array (the size of the movie in memory; prefer
        ``save_option`` or the native lazy API for large movies).

    Returns
    -------
    numpy.ndarray or None
        (t, y, x) float64 when ``return_option``.

    Notes
    -----
    pysofi writes a temporary ``<stem>_bc0.tif`` beside the input and appends to existing
    TIFFs, so a re-run doubles the stack. Here no temporary file is written, the output is
    written atomically (a re-run replaces it) and never over the input. With both options
    the returned array is read back from the written file.

    Examples
    --------
    >>> correct_bleaching("data", "movie.tif", fbc=0.1)  # doctest: +SKIP
    """
    corrected = bleach_corrected(movie_path(filepath, filename), fbc, smooth_kernel, save_option)
    if return_option:
        return to_numpy(corrected).astype(np.float64)
    return None


def bleach_corrected(path: Any, fbc: float, smooth_kernel: int, save_option: bool) -> Any:
    """Lazy bleaching-corrected movie of ``path``; with ``save_option`` first streamed into
    ``<stem>_bc.tif`` beside it (atomic, replacing an earlier output, never the input), and
    then read back lazily from that file."""
    from sofi_dask.viz._visualization import save_tiff

    path = Path(path)
    movie = open_input(path)
    corrected = _bleaching.correct_bleaching(movie, _blocks(movie, smooth_kernel, fbc))
    if not save_option:
        return corrected
    out = path.with_name(f"{path.stem if path.suffix else path.name}_bc.tif")
    save_tiff(corrected, out, axes="TYX", overwrite=True, protected=(path,))
    logger.info("wrote %s", out)
    return open_movie(out).data


def moments_all_blocks(
    filepath: Any,
    filename: Any,
    highest_order: int,
    smooth_kernel: int = 251,
    fbc: float = 0.04,
) -> dict[int, dict[int, np.ndarray]]:
    """Central moment images of every bleaching block: ``{block: {order: image}}``.

    Native: :func:`sofi_dask.bleaching_blocks` + :func:`block_moments`; all blocks
    from one pass over the movie (after the total signal). pysofi always assumes
    ``ceil(1/fbc)`` blocks and fails when the signal crosses fewer bounds; here the blocks
    are the ones found.

    Examples
    --------
    >>> blocks = moments_all_blocks("data", "movie.tif", 4, fbc=0.2)  # doctest: +SKIP
    """
    highest_order = check_positive_int(highest_order, "highest_order")
    movie = open_source(filepath, filename)
    blocks = _blocks(movie, smooth_kernel, fbc)
    per_block = window_moments(movie, highest_order, blocks)
    return compute_all(dict(enumerate(per_block)))


def _lazy_block_moments(
    filepath: Any, filename: Any, highest_order: int, smooth_kernel: int, fbc: float
) -> list[dict[int, Any]]:
    """Per-block central moments (lazy, one graph) of pysofi's bleaching blocks."""
    highest_order = check_positive_int(highest_order, "highest_order")
    movie = open_source(filepath, filename)
    return window_moments(movie, highest_order, _blocks(movie, smooth_kernel, fbc))


def block_ave_moments(
    filepath: Any,
    filename: Any,
    highest_order: int,
    smooth_kernel: int = 251,
    fbc: float = 0.04,
) -> dict[int, np.ndarray]:
    """Unweighted average over bleaching blocks of the per-block moment images.

    Native: :func:`sofi_dask.block_moments` + :func:`block_average` (one pass).

    Examples
    --------
    >>> block_ave_moments("data", "movie.tif", 6)  # doctest: +SKIP
    """
    per_block = _lazy_block_moments(filepath, filename, highest_order, smooth_kernel, fbc)
    return compute_all(_bleaching.block_average(per_block))


def block_ave_cumulants(
    filepath: Any,
    filename: Any,
    highest_order: int,
    smooth_kernel: int = 251,
    fbc: float = 0.04,
) -> dict[int, np.ndarray]:
    """Unweighted average over bleaching blocks of the per-block cumulant images.

    Native: :func:`sofi_dask.block_moments` + ``cumulants_from_moments`` per block
    + :func:`block_average` (one pass). Orders >= 2 are pysofi's; order 1 is 0 as pysofi
    (cumulants of central moments).

    Examples
    --------
    >>> block_ave_cumulants("data", "movie.tif", 6)  # doctest: +SKIP
    """
    per_block = _lazy_block_moments(filepath, filename, highest_order, smooth_kernel, fbc)
    k_blocks = [_cum.cumulants_from_moments(m) for m in per_block]
    return compute_all(_bleaching.block_average(k_blocks))
