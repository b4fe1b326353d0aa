"""Image quality: resolution (FRC, decorrelation analysis), error maps and convergence.

Measures on finished 2-D images are numpy functions (:func:`frc`,
:func:`decorrelation_resolution`, :func:`error_map`); the two independent halves and the frame
prefixes they need come from the per-block moment states of one pass over the movie
(:func:`split_moment_stacks`, :func:`convergence`, :func:`movie_quality`).
"""

from __future__ import annotations

from sofi_dask.quality._convergence import (
    ConvergenceResult,
    convergence,
    convergence_from_stacks,
)
from sofi_dask.quality._decorrelation import DecorrelationResult, decorrelation_resolution
from sofi_dask.quality._error_map import ErrorMapResult, error_map
from sofi_dask.quality._frc import FRCResult, frc, frc_threshold
from sofi_dask.quality._report import QualityReport, movie_quality, quality_report
from sofi_dask.quality._split import SplitStacks, split_moment_stacks

__all__ = [
    "ConvergenceResult",
    "DecorrelationResult",
    "ErrorMapResult",
    "FRCResult",
    "QualityReport",
    "SplitStacks",
    "convergence",
    "convergence_from_stacks",
    "decorrelation_resolution",
    "error_map",
    "frc",
    "frc_threshold",
    "movie_quality",
    "quality_report",
    "split_moment_stacks",
]
