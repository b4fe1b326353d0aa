"""Image stages on SOFI images: LDRC, deconvolution, Fourier interpolation, filtering, masks."""

from __future__ import annotations

from sofi_dask.image._deconv import (
    corelucy,
    deconvsk,
    otf2psf,
    psf2otf,
    richardson_lucy,
    zero_pad,
)
from sofi_dask.image._filtering import (
    filter1d_same,
    noise_filter1d,
)
from sofi_dask.image._finterp import (
    fourier_interp,
    fourier_interp_array,
    fourier_interp_movie_to_tiff,
    fourier_interp_movie_to_zarr,
    interpolate_movie,
    moments_with_finterp,
)
from sofi_dask.image._ldrc import (
    ldrc,
    resample_mask,
)
from sofi_dask.image._masks import (
    gauss1d_mask,
    gauss2d_mask,
)

__all__ = [
    "corelucy",
    "deconvsk",
    "filter1d_same",
    "fourier_interp",
    "fourier_interp_array",
    "fourier_interp_movie_to_tiff",
    "fourier_interp_movie_to_zarr",
    "gauss1d_mask",
    "gauss2d_mask",
    "interpolate_movie",
    "ldrc",
    "moments_with_finterp",
    "noise_filter1d",
    "otf2psf",
    "psf2otf",
    "resample_mask",
    "richardson_lucy",
    "zero_pad",
]
