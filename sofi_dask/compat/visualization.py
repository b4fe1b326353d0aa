"""pysofi's ``visualization`` helpers without IPython, Bokeh or OpenCV.

pysofi imports OpenCV, Bokeh and IPython at import time (defect 10); this module needs only
matplotlib's colormaps (through :mod:`sofi_dask.visualization`, no pyplot) and Pillow/tifffile
for the files. The interactive Bokeh viewers become matplotlib figures
(:mod:`sofi_dask.figures`), which Jupyter displays inline.

Examples
--------
>>> import numpy as np
>>> enhance_contrast(np.arange(12.0).reshape(3, 4)).shape
(3, 4, 4)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from sofi_dask.compat._common import to_numpy
from sofi_dask.errors import InputError

# native stage modules (by module path: the package re-exports functions of the
# same names, e.g. sofi_dask.ldrc and sofi_dask.cumulants)
from sofi_dask.viz import _figures as _figures
from sofi_dask.viz import _visualization as _vis

__all__ = [
    "add_transmap",
    "bokeh_visualization",
    "bokeh_visualization_mult",
    "bokeh_visualization_rgba",
    "enhance_contrast",
    "ensure_positive",
    "ind2cmap",
    "save_avi",
    "save_png",
    "set_range",
]


def ensure_positive(data: Any) -> np.ndarray:
    """A float copy of ``data`` with every value <= 0 replaced by eps.

    Examples
    --------
    >>> ensure_positive(np.array([-1.0, 2.0])).tolist()[1]
    2.0
    """
    data = np.array(to_numpy(data), dtype=np.float64)
    data[data <= 0] = np.finfo(np.float64).eps
    return data


def ind2cmap(im: Any, cmap: str = "pink") -> np.ndarray:
    """Colour-map an image normalised to its [min, max]: RGBA floats in [0, 1].

    Native: :func:`sofi_dask.viz._visualization.to_display_range` + the matplotlib colormap. A
    constant image maps to the lowest colour (pysofi: NaN).

    Examples
    --------
    >>> ind2cmap(np.array([[0.0, 1.0]]), "gray")[0, :, 0].tolist()
    [0.0, 1.0]
    """
    norm = _vis.to_display_range(np.asarray(to_numpy(im), dtype=np.float64))
    return _vis.get_colormap(cmap)(norm)


def set_range(im: Any, range_set: Any = [0, 1]) -> np.ndarray:  # noqa: B006
    """Clip an image to ``range_set=[low, high]``.

    pysofi clips the input array in place (and fails on integer arrays with float bounds);
    here a clipped copy is returned and the input is left untouched.

    Examples
    --------
    >>> set_range(np.array([-1.0, 0.5, 3.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    low, high = range_set
    return np.clip(np.asarray(to_numpy(im)), low, high)


def enhance_contrast(im: Any, cmap: str = "pink", display_contrast: float = 1) -> np.ndarray:
    """Colour-mapped uint8 RGBA image of ``im`` (values <= 0 shown as the lowest colour).

    Native: :func:`sofi_dask.apply_colormap` with ``contrast=display_contrast``:
    the top of the display range moves to ``1/display_contrast`` of the range (brighter for
    > 1). pysofi multiplies the RGB values by the contrast, which also shifts the hues of
    non-grey colormaps; for 'gray' both agree.

    Returns
    -------
    numpy.ndarray
        uint8 (y, x, 4), alpha 255 (pysofi's layout).
    """
    rgb = _vis.apply_colormap(ensure_positive(im), cmap, contrast=float(display_contrast))
    alpha = np.full(rgb.shape[:-1] + (1,), 255, dtype=np.uint8)
    return np.concatenate([rgb, alpha], axis=-1)


def save_png(
    im: Any, cmap: str = "pink", filename: Any = "out.png", display_contrast: float = 1
) -> Path:
    """Save an image colour-mapped as an 8-bit RGB PNG (see :func:`enhance_contrast`).

    Native: :func:`sofi_dask.save_png` (atomic write: an existing file of that
    name is replaced whole, as pysofi; no partial file on error).

    Returns
    -------
    pathlib.Path
        The written file (pysofi returns None).
    """
    rgb = _vis.apply_colormap(ensure_positive(im), cmap, contrast=float(display_contrast))
    return _vis.save_png(rgb, filename, overwrite=True)


def save_avi(
    vid_array: Any,
    cmap: str = "pink",
    filename: Any = "out.avi",
    display_contrast: float = 1,
    os: str = "macos",  # noqa: A002 (pysofi's name)
) -> Path:
    """Save a stack (n, y, x) as a colour-mapped video: ``.tif`` (ImageJ RGB), ``.gif``, ``.mp4``.

    Native: :func:`sofi_dask.save_video` (frames streamed, one display range
    for the whole video so frames compare; pysofi scales every frame to its own range).
    ``os`` is accepted for compatibility and ignored (the output is the same everywhere).

    Raises
    ------
    ValueError
        An ``.avi`` name: AVI needs OpenCV, which sofi_dask does not use; give a ``.tif``,
        ``.gif`` or ``.mp4`` name (``.mp4`` needs an ``ffmpeg`` executable).
    """
    path = Path(_os_fspath(filename))
    if path.suffix.lower() == ".avi":
        raise InputError(
            f"filename={_os_fspath(filename)!r}: AVI output needs OpenCV, which sofi_dask does "
            "not use; use a '.tif' (colour-mapped ImageJ TIFF video), '.gif' or '.mp4' name"
        )
    stack = vid_array
    if hasattr(stack, "dask"):
        stack = stack.map_blocks(ensure_positive, dtype=np.float64)
    else:
        stack = ensure_positive(stack)
    return _vis.save_video(stack, path, cmap=cmap, contrast=float(display_contrast), overwrite=True)


def _os_fspath(value: Any) -> str:
    # ``os`` is shadowed by save_avi's parameter name inside that function.
    return os.fspath(value)


def add_transmap(im: Any, trans_map: Any, cmap: str = "cool") -> np.ndarray:
    """Colour-code ``im`` and multiply the RGB by ``trans_map`` normalised to [0, 1].

    Returns
    -------
    numpy.ndarray
        RGBA floats (y, x, 4).

    Examples
    --------
    >>> add_transmap(np.ones((2, 2)), np.array([[0.0, 1.0], [1.0, 1.0]]))[0, 0, :3].tolist()
    [0.0, 0.0, 0.0]
    """
    color = np.array(ind2cmap(im, cmap))
    weight = _vis.to_display_range(np.asarray(to_numpy(trans_map), dtype=np.float64))
    color[..., :3] *= weight[..., None]
    return color


def _figure_output(fig: Any, save_option: bool, filename: str) -> Any:
    if save_option:
        _figures.save_figure(fig, f"{filename}.png", overwrite=True)
    return fig


def bokeh_visualization(
    image: Any,
    palette: Any = None,
    save_option: bool = False,
    filename: str = "Image",
    imshow_same: bool = True,
) -> Any:
    """Show an image (a matplotlib figure instead of Bokeh's interactive view).

    ``palette`` is a colormap name (default 'pink'); ``save_option`` writes
    ``<filename>.png`` (pysofi: ``.html``); ``imshow_same`` is accepted and ignored (the image
    is always shown with row 0 at the top, as imshow). Returns the figure.
    """
    del imshow_same
    fig = _figures.image_montage(
        {filename: ensure_positive(image)}, cmap=palette or "pink", colorbar=True
    )
    return _figure_output(fig, save_option, filename)


def bokeh_visualization_rgba(
    image: Any,
    save_option: bool = False,
    filename: str = "RGBAimage",
    imshow_same: bool = True,
    saturation_factor: float = 1,
) -> Any:
    """Show an RGBA uint8 image, values scaled by ``saturation_factor`` and clipped to 255.

    A matplotlib figure instead of Bokeh; ``save_option`` writes ``<filename>.png``.
    """
    del imshow_same
    from sofi_dask.viz._figure import new_figure

    rgba = np.clip(ensure_positive(image) * saturation_factor, 0, 255).astype(np.uint8)
    fig = new_figure(figsize=(5, 5))
    ax = fig.add_subplot()
    ax.imshow(rgba)
    ax.set_title(filename)
    ax.set_axis_off()
    return _figure_output(fig, save_option, filename)


def bokeh_visualization_mult(
    image_lst: Any,
    title_lst: Any = None,
    palette: Any = None,
    save_option: bool = False,
    filename: str = "Image",
    imshow_same: bool = True,
) -> Any:
    """Show several images side by side (a matplotlib figure instead of linked Bokeh plots)."""
    del imshow_same
    titles = list(range(len(image_lst))) if title_lst is None else list(title_lst)
    if len(titles) != len(image_lst):
        raise InputError(
            f"parameter 'title_lst': expected {len(image_lst)} titles (one per image), got "
            f"{len(titles)}"
        )
    images = {str(t): ensure_positive(im) for t, im in zip(titles, image_lst, strict=True)}
    fig = _figures.image_montage(images, cmap=palette or "pink", ncols=len(images))
    return _figure_output(fig, save_option, filename)
