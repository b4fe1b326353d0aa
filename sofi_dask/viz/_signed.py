"""How an image is shown: colormap, range and stretch, the same for figures and RGB files.

Cumulants of order >= 3 are signed. They get a diverging map centred on 0 (:data:`SIGNED_CMAP`)
and a symmetric range ``(-v, v)``; by default also an arcsinh stretch: a signed cumulant image
spans 2-3 decades (a few emitters with many on-frames carry heavy tails; the filaments sit at a
few % of the range) and a diverging map is dark over the first third of each half ('berlin':
L* 4 at 0, 6 at 10 %, 15 at 30 % of the half-range), so on a linear scale everything but the
brightest emitters looked black. ``asinh(x / w)`` is linear within ``±w`` (the median of ``|x|``,
the background's typical magnitude) and logarithmic beyond: monotonic and odd, so every sign
and every order of the values is kept, and the colour bar is labelled in data units on that
scale. The figures draw it with :class:`matplotlib.colors.AsinhNorm`, the RGB files map the
same ``asinh`` values through the same 256-colour LUT (:meth:`Display.rgb`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from matplotlib.colors import AsinhNorm, Colormap, Normalize

from sofi_dask.errors import InputError
from sofi_dask.viz._colormap_kernels import lut_indices, lut_rgb
from sofi_dask.viz._display import (
    ArrayLike,
    _finite_sample,
    check_contrast,
    colormap_lut,
    display_limits,
    get_colormap,
    mappable,
)

__all__ = [
    "SIGNED_CMAP",
    "SIGNED_FRACTION",
    "STRETCHES",
    "Display",
    "check_display",
    "resolve_display",
    "signed_display",
]

#: Diverging colormap for signed images (odd-order and high-order cumulants): dark at 0 like
#: the background of 'pink', blue below 0, orange above.
SIGNED_CMAP = "berlin"
#: An image counts as signed when its most negative value reaches this fraction of its largest.
SIGNED_FRACTION = 0.01
#: Stretches of signed images: ``asinh`` (default) or ``linear``.
STRETCHES = ("asinh", "linear")
#: The asinh stretch's linear width is at least this fraction of the range (an image whose
#: median magnitude is 0 still gets a finite stretch: at most asinh(1000) ~ 7.6 e-folds).
_MIN_WIDTH = 1e-3


@dataclass(frozen=True)
class Display:
    """How one image (or stack) is shown.

    Attributes
    ----------
    cmap : Colormap
        The colormap.
    low, high : float
        Data values of the lowest and highest colour (``-v, v`` when signed).
    signed : bool
        Diverging map centred on 0.
    linear_width : float or None
        asinh stretch linear within ``±linear_width``; None: linear.
    range_note : str
        Where the range comes from (e.g. ``'p99.9 of |x|'``), for the colour-bar label.
    """

    cmap: Colormap
    low: float
    high: float
    signed: bool = False
    linear_width: float | None = None
    range_note: str = ""

    @property
    def stretch(self) -> str:
        """``'asinh'`` or ``'linear'``."""
        return "linear" if self.linear_width is None else "asinh"

    def norm(self) -> Normalize:
        """The matplotlib norm of this display (``AsinhNorm`` or ``Normalize``)."""
        if self.linear_width is None:
            return Normalize(self.low, self.high)
        return AsinhNorm(linear_width=self.linear_width, vmin=self.low, vmax=self.high)

    def title(self, name: str) -> str:
        """Panel title: ``name`` plus ``(signed)`` / ``(signed, asinh)``."""
        if not self.signed:
            return name
        return f"{name} (signed, asinh)" if self.linear_width is not None else f"{name} (signed)"

    def label(self) -> str:
        """Colour-bar label of a signed display: the stretch and where its range comes from."""
        if not self.signed:
            return ""
        rng = f"±{_number(self.high)}" + (f" = {self.range_note}" if self.range_note else "")
        if self.linear_width is None:
            return f"linear, {rng}"
        return f"asinh, linear within ±{_number(self.linear_width)}; {rng}"

    def ticks(self) -> tuple[list[float], list[str]]:
        """Colour-bar ticks of an asinh display: 0, the range ends ``±v`` and the powers of
        ten between, each at least 6 % of the bar from the others (matplotlib's asinh locator
        crowds labels near 0); the values in data units.

        Examples
        --------
        >>> d = Display(None, -986.0, 986.0, True, 20.0)
        >>> d.ticks()[1]
        ['−986', '−100', '0', '100', '986']
        """
        v = self.high
        if not (self.signed and self.linear_width is not None and v > 0):
            return [], []
        norm = self.norm()
        decades = [10.0**k for k in range(int(np.floor(np.log10(v))), -400, -1)]
        chosen: list[float] = []
        for x in [0.0, v, *decades[:12]]:
            for y in (x, -x) if x else (x,):
                pos = float(norm(y))
                if all(abs(pos - float(norm(c))) >= 0.06 for c in chosen):
                    chosen.append(y)
        chosen.sort()
        return chosen, [_number(x) for x in chosen]

    def mapped(self, image: ArrayLike, contrast: float = 1.0) -> tuple[np.ndarray, float, float]:
        """``(values, low, high)`` whose linear map to [0, 1] gives this display's colours:
        the asinh values and limits under the asinh stretch, else the image itself.

        ``contrast`` > 1 narrows the range: a signed range to ``±v / contrast``, a plain one
        to ``low + (high - low) / contrast``.
        """
        check_contrast(contrast)
        low, high = self.low, self.high
        if self.signed:
            low, high = low / contrast, high / contrast
        else:
            high = low + (high - low) / contrast
        data = mappable(image)
        if self.linear_width is not None:
            w = self.linear_width
            data = np.arcsinh(np.asarray(data, dtype=np.float64) / w)
            low, high = float(np.arcsinh(low / w)), float(np.arcsinh(high / w))
        return data, low, high

    def rgb(self, image: ArrayLike, contrast: float = 1.0) -> np.ndarray:
        """uint8 RGB ``image.shape + (3,)``: the colours the figure's norm and colormap give.

        Examples
        --------
        >>> d = signed_display(np.array([-100.0, -1.0, 0.0, 1.0, 100.0]))
        >>> x = np.array([-100.0, -1.0, 0.0, 1.0, 100.0])
        >>> d.rgb(x).tolist() == d.cmap(d.norm()(x), bytes=True)[:, :3].tolist()
        True
        """
        return lut_rgb(*self.mapped(image, contrast), colormap_lut(self.cmap))

    def indices(self, image: ArrayLike, contrast: float = 1.0) -> np.ndarray:
        """uint8 LUT indices (a colormap of at most 256 colours), for palette images."""
        return lut_indices(*self.mapped(image, contrast), self.cmap.N)


def _number(x: float) -> str:
    """3 significant digits without an exponent below 10**6 (``8140``, not ``8.14e+03``), with
    a typographic minus (as matplotlib's tick labels)."""
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e6:
        text = np.format_float_positional(x, precision=3, unique=False, fractional=False, trim="-")
    else:
        text = f"{x:.3g}"
    return text.replace("-", "\u2212")


def _magnitudes(image: ArrayLike) -> np.ndarray:
    return np.abs(_finite_sample(image))


def signed_display(
    image: ArrayLike,
    cmap: str | Colormap = "pink",
    percentiles: Sequence[float] | None = None,
    *,
    signed: bool | None = None,
    signed_cmap: str | Colormap = SIGNED_CMAP,
    stretch: Literal["asinh", "linear"] = "asinh",
    vmin: float | None = None,
    vmax: float | None = None,
) -> Display:
    """The display of ``image``: centred on 0 with a diverging map when its values have both
    signs.

    A cumulant of order >= 3 is signed (for blinking emitters, order 4 is negative where the
    on-ratio is between ~0.21 and ~0.79): on a sequential map such as 'pink', 0 would be a
    mid-tone and the sign invisible. A signed image gets ``signed_cmap`` and the symmetric
    range ``(-v, v)``, so 0 is the map's centre: ``v`` is the largest magnitude, or with
    ``percentiles`` the high percentile of the magnitudes (extremes of either sign saturate),
    or ``max(|vmin|, |vmax|)`` when both are given. With ``stretch='asinh'`` the colours
    follow ``asinh(x / w)``, ``w`` the median magnitude (at least ``v / 1000``): linear
    around 0, logarithmic for the heavy tails (see the module's notes).

    Parameters
    ----------
    image : array_like
        The image (or stack shown with one range).
    cmap : str or Colormap
        Colormap of unsigned images.
    percentiles : (float, float), optional
        Percentile limits (default min-max), see :func:`display_limits`.
    signed : bool, optional
        Force the signed (True) or the plain (False) display; None (default): signed when the
        most negative value reaches ``SIGNED_FRACTION`` of the largest value.
    signed_cmap : str or Colormap
        Diverging colormap of signed images.
    stretch : {'asinh', 'linear'}
        Stretch of signed images (unsigned ones are always linear).
    vmin, vmax : float, optional
        Fixed limits (see :func:`display_limits`).

    Returns
    -------
    Display

    Examples
    --------
    >>> d = signed_display(np.array([[-3.0, 1.0], [0.0, 2.0]]), stretch="linear")
    >>> (d.cmap.name, d.low, d.high, d.signed)
    ('berlin', -3.0, 3.0, True)
    >>> signed_display(np.array([[-1e-9, 1.0]])).signed
    False
    >>> d = signed_display(np.linspace(-1.0, 1.0, 201), percentiles=(0, 90))
    >>> round(d.low, 6), round(d.high, 6), d.stretch  # 90 % of the magnitudes are <= 0.9
    (-0.9, 0.9, 'asinh')
    >>> d.title("order 3"), d.label()
    ('order 3 (signed, asinh)', 'asinh, linear within ±0.5; ±0.9 = p90 of |x|')
    """
    if stretch not in STRETCHES:
        raise InputError(f"parameter 'stretch': expected one of {STRETCHES}, got {stretch!r}")
    plain, diverging = get_colormap(cmap), get_colormap(signed_cmap)
    low, high = display_limits(image, vmin, vmax, percentiles)
    if signed is None:
        signed = low < 0 and -low >= SIGNED_FRACTION * max(high, 0.0)
    if not signed:
        return Display(plain, low, high)
    v = max(abs(low), abs(high))
    note = "max |x|"
    magnitudes = None  # |x| of the finite values, taken once for the percentile and the width
    if vmin is not None and vmax is not None:
        note = "given"
    elif percentiles is not None and float(percentiles[1]) < 100.0:
        # the magnitudes' high percentile: a few extreme pixels of either sign saturate
        # instead of setting the range for all (the low percentile is the most negative)
        p = float(percentiles[1])
        magnitudes = _magnitudes(image)
        v = (float(np.percentile(magnitudes, p)) if magnitudes.size else 0.0) or v
        note = f"p{p:g} of |x|"
    width = None
    if stretch == "asinh" and v > 0:
        magnitudes = _magnitudes(image) if magnitudes is None else magnitudes
        median = float(np.median(magnitudes)) if magnitudes.size else 0.0
        width = max(median, _MIN_WIDTH * v)
    return Display(diverging, -v, v, True, width, note)


def check_display(display: Any, name: str = "display") -> Display:
    """``display`` when it is a :class:`Display`; else an :class:`InputError` naming ``name``.

    Examples
    --------
    >>> check_display(signed_display(np.eye(3))).signed
    False
    """
    if not isinstance(display, Display):
        raise InputError(
            f"parameter '{name}': expected a sofi_dask.viz._signed.Display, got "
            f"{type(display).__name__}"
        )
    return display


def resolve_display(
    image: ArrayLike,
    cmap: str | Colormap,
    vmin: float | None,
    vmax: float | None,
    percentiles: Sequence[float] | None,
    display: Display | None,
) -> Display:
    """``display`` or the plain display from the colormap and limits."""
    if display is not None:
        return check_display(display)
    return Display(get_colormap(cmap), *display_limits(image, vmin, vmax, percentiles))
