"""Overlays of a map, its GT and the attention centres (matplotlib, the ``plot`` extra)."""

from __future__ import annotations

import os
import textwrap
from typing import Any

import numpy as np

from .geometry import as_polygons
from .maps import as_map
from .metrics import SeLoResult

__all__ = ["plot_result", "save_overlay"]

_MAX_SHOWN = 1600  # pixels along the longer side: large maps are shown subsampled


def plot_result(prob_map: Any, polygons: Any, result: SeLoResult, ax: Any = None, *,
                cmap: str = "jet", title: str | None = None) -> Any:
    """Draw a map with its GT polygons, GT centres and candidate circles, attention centres.

    Parameters
    ----------
    prob_map : array_like
        The map that was scored (uint8, or float in [0, 1]).
    polygons : object
        Its GT polygons (anything :func:`selo_metrics.as_polygons` takes).
    result : SeLoResult
        What :func:`selo_metrics.evaluate` returned for them.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure's axes).
    cmap : str
        Colormap of the map (default ``"jet"``, as in the SeLo papers' figures).
    title : str, optional
        A second title line, e.g. the query.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on. GT polygons are white outlines, GT centres white crosses with
        their candidate circles (dashed), attention centres numbered by descending map
        value; the title gives the four metrics.

    Examples
    --------
    >>> import numpy as np, selo_metrics
    >>> g = np.zeros((300, 300), np.uint8); g[100:200, 100:200] = 255
    >>> square = [[(90, 90), (210, 90), (210, 210), (90, 210)]]
    >>> ax = plot_result(g, square, selo_metrics.evaluate(g, square))
    >>> ax.get_title().splitlines()[0]
    'Rmi 0.9987 | Rsu 1.0000 (up)  Ras 0.0036 (down)  Rda 1.0000 (up)'
    """
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(7, 7)).add_subplot()
    gray = as_map(prob_map).gray
    h, w = gray.shape
    step = max(1, -(-max(h, w) // _MAX_SHOWN))
    ax.imshow(gray[::step, ::step], cmap=cmap, vmin=0, vmax=255, extent=(0, w, h, 0),
              interpolation="nearest")
    for poly in as_polygons(polygons):
        xy = np.vstack([poly, poly[:1]])
        ax.plot(xy[:, 0], xy[:, 1], color="white", lw=1.5)
    for i, (cx, cy, r) in enumerate(result.regions):
        ax.plot([cx], [cy], marker="x", color="white", ms=9, mew=2,
                label="GT centre / candidate circle" if i == 0 else None)
        ax.add_patch(_circle((cx, cy), r))
    for k, (x, y) in enumerate(result.attention_centers, 1):
        ax.plot([x], [y], marker="o", mfc="none", mec="magenta", ms=10, mew=2,
                label="attention centres" if k == 1 else None)
        ax.annotate(str(k), (x, y), xytext=(6, 6), textcoords="offset points",
                    color="magenta", fontsize=10, fontweight="bold")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    head = (f"Rmi {result.rmi:.4f} | Rsu {result.rsu:.4f} (up)  Ras {result.ras:.4f} (down)"
            f"  Rda {result.rda:.4f} (up)")
    if title:
        head += "\n" + "\n".join(textwrap.wrap(title, 80)[:2])
    ax.set_title(head, fontsize=9)
    if result.regions or result.attention_centers:
        ax.legend(loc="lower right", fontsize=7, framealpha=0.6)
    return ax


def _circle(centre: tuple[float, float], r: float) -> Any:
    from matplotlib.patches import Circle

    return Circle(centre, r, fill=False, ls="--", lw=1.2, color="white")


def save_overlay(path: str | os.PathLike, prob_map: Any, polygons: Any, result: SeLoResult,
                 *, title: str | None = None, dpi: int = 110) -> None:
    """Write :func:`plot_result`'s overlay to a PNG (no pyplot: safe in worker processes).

    Examples
    --------
    >>> import numpy as np, selo_metrics, tempfile, pathlib
    >>> g = np.zeros((300, 300), np.uint8); g[100:200, 100:200] = 255
    >>> square = [[(90, 90), (210, 90), (210, 210), (90, 210)]]
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "overlay.png"
    >>> save_overlay(p, g, square, selo_metrics.evaluate(g, square))
    >>> p.read_bytes()[:4]
    b'\\x89PNG'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    h, w = np.shape(prob_map)[:2]
    side = 7.0
    fig = Figure(figsize=(side, side * h / w + 0.8) if w >= h else (side * w / h, side + 0.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    plot_result(prob_map, polygons, result, ax=ax, title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
