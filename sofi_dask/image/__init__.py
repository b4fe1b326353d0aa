"""Image stages on SOFI images: LDRC, deconvolution, Fourier interpolation, filtering, masks."""

from __future__ import annotations

from sofi_dask._lazy import lazy_exports

# public name -> its module, imported on first use (sofi_dask._lazy)
_EXPORTS: dict[str, tuple[str, ...]] = {
    "_deconv": (
        "corelucy",
        "deconvsk",
        "otf2psf",
        "psf2otf",
        "richardson_lucy",
        "zero_pad",
    ),
    "_filtering": (
        "filter1d_same",
        "noise_filter1d",
    ),
    "_finterp": (
        "fourier_interp",
        "fourier_interp_array",
        "fourier_interp_movie_to_tiff",
        "fourier_interp_movie_to_zarr",
        "interpolate_movie",
        "moments_with_finterp",
    ),
    "_ldrc": (
        "ldrc",
        "resample_mask",
    ),
    "_masks": (
        "gauss1d_mask",
        "gauss2d_mask",
    ),
}

__all__ = sorted(name for names in _EXPORTS.values() for name in names)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
