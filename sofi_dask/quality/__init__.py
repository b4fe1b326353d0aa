"""Image quality: resolution (FRC, decorrelation analysis), error maps and convergence.

Measures on finished 2-D images are numpy functions (:func:`frc`,
:func:`decorrelation_resolution`, :func:`error_map`); the two independent halves and the frame
prefixes they need come from the per-block moment states of one pass over the movie
(:func:`split_moment_stacks`, :func:`convergence`, :func:`movie_quality`).
"""

from __future__ import annotations

from sofi_dask._lazy import lazy_exports

# public name -> its module, imported on first use (sofi_dask._lazy)
_EXPORTS: dict[str, tuple[str, ...]] = {
    "_convergence": (
        "ConvergenceResult",
        "convergence",
        "convergence_from_stacks",
    ),
    "_decorrelation": (
        "DecorrelationResult",
        "decorrelation_resolution",
    ),
    "_error_map": (
        "ErrorMapResult",
        "error_map",
    ),
    "_frc": (
        "FRCResult",
        "frc",
        "frc_threshold",
    ),
    "_report": (
        "QualityReport",
        "movie_quality",
        "quality_report",
    ),
    "_split": (
        "SplitStacks",
        "split_moment_stacks",
    ),
}

__all__ = sorted(name for names in _EXPORTS.values() for name in names)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
