"""pysofi's visualisation features without IPython, Bokeh or OpenCV.

- colormaps by name (matplotlib's registry, including pysofi's default ``'pink'``):
  :func:`get_colormap`, :func:`list_colormaps`, :func:`colormap_lut`;
- contrast / display range: :func:`display_limits`, :func:`to_display_range`
  (pysofi's ``set_range``, ``ind2cmap`` normalisation and ``display_contrast``);
- colour mapping to 8-bit RGB: :func:`apply_colormap` (pysofi's ``enhance_contrast``);
- files (atomic, never over an existing file unless ``overwrite=True``, never over a
  ``protected`` input): :func:`save_png`, :func:`save_tiff` (float32 or colour-mapped RGB
  ImageJ TIFF for Fiji/napari), :func:`save_video` (multi-page TIFF, animated GIF, or MP4 when
  ffmpeg is installed; pysofi's ``save_avi``).

Examples
--------
>>> import numpy as np, tempfile, os
>>> image = np.random.default_rng(0).random((32, 32))
>>> rgb = apply_colormap(image, "pink", percentiles=(1, 99))
>>> rgb.shape, rgb.dtype.name
((32, 32, 3), 'uint8')
>>> folder = tempfile.mkdtemp()
>>> save_png(image, os.path.join(folder, "sofi.png")).name
'sofi.png'
"""

from __future__ import annotations

from sofi_dask.viz._display import (
    apply_colormap,
    colormap_indices,
    colormap_lut,
    display_limits,
    get_colormap,
    iter_frames,
    list_colormaps,
    to_display_range,
)
from sofi_dask.viz._writers import save_png, save_tiff, save_video

__all__ = [
    "apply_colormap",
    "colormap_indices",
    "colormap_lut",
    "display_limits",
    "get_colormap",
    "iter_frames",
    "list_colormaps",
    "save_png",
    "save_tiff",
    "save_video",
    "to_display_range",
]
