"""The figure class every sofi_dask figure is made of: a matplotlib ``Figure`` that shows itself.

Figures are made without pyplot (no global state), so nothing registers matplotlib's image
display in a Jupyter kernel and a bare ``Figure`` shows as ``<Figure size ... with N Axes>``.
:class:`SofiFigure` adds IPython's rich-display hooks (``_repr_png_``, and ``_repr_html_`` with
the PNG inlined), rendered with the Agg canvas, so a figure returned by the API displays as an
image in any kernel without set-up; everything else is plain matplotlib.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["SofiFigure", "new_figure"]


class SofiFigure(Figure):
    """A matplotlib :class:`~matplotlib.figure.Figure` that displays as PNG in Jupyter.

    Examples
    --------
    >>> fig = new_figure(figsize=(2, 1))
    >>> _ = fig.add_subplot().plot([0, 1])
    >>> fig._repr_png_()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """

    def _png_bytes(self) -> bytes:
        if self.canvas is None or not isinstance(self.canvas, FigureCanvasAgg):
            FigureCanvasAgg(self)
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=self.dpi)
        return buffer.getvalue()

    def _repr_png_(self) -> bytes:
        return self._png_bytes()

    def _repr_html_(self) -> str:
        data = base64.b64encode(self._png_bytes()).decode("ascii")
        return f'<img src="data:image/png;base64,{data}"/>'


def new_figure(**kwargs: Any) -> SofiFigure:
    """A new :class:`SofiFigure` on the Agg canvas (``kwargs`` as for ``Figure``).

    Examples
    --------
    >>> type(new_figure(figsize=(3, 2))).__name__
    'SofiFigure'
    """
    fig = SofiFigure(**kwargs)
    FigureCanvasAgg(fig)
    return fig
