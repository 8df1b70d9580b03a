"""The report's figures (matplotlib, no pyplot): metric histograms and a per-sample scatter.

Each figure is returned as a small PNG ``data:`` URI (palette PNG) to embed in the page.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from .thumbs import data_uri

__all__ = ["histograms", "scatter"]

_DPI = 80
_LABELS = {
    "rmi": "Rmi (higher is better)",
    "rsu": "Rsu (higher is better)",
    "ras": "Ras (lower is better)",
    "rda": "Rda (higher is better)",
    "iou": "IoU (higher is better)",
}


def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    im = Image.fromarray(rgba[..., :3].copy()).quantize(colors=128, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return data_uri(buf.getvalue(), "image/png")


def histograms(keys: Sequence[str], runs: Sequence[tuple[str, dict[str, np.ndarray]]]) -> str:
    """Histograms of each metric, one panel per metric, the runs overlaid.

    Parameters
    ----------
    keys : sequence of str
        The metric keys, one panel each.
    runs : sequence of (name, values)
        ``values[key]``: the scored samples' values of that metric.

    Returns
    -------
    str
        A PNG ``data:`` URI.

    Examples
    --------
    >>> v = {"rmi": np.array([0.2, 0.8, 0.9])}
    >>> histograms(["rmi"], [("A", v)])[:22]
    'data:image/png;base64,'
    """
    from matplotlib.figure import Figure

    n = max(1, len(keys))
    fig = Figure(figsize=(3.2 * n, 2.6), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, key in zip(axes, keys, strict=False):
        arrays = [vals.get(key, np.empty(0)) for _, vals in runs]
        every = np.concatenate(arrays) if arrays else np.empty(0)
        lo = min(0.0, float(every.min())) if every.size else 0.0
        hi = max(1.0, float(every.max())) if every.size else 1.0
        bins = np.linspace(lo, hi, 21)
        for k, ((name, _), arr) in enumerate(zip(runs, arrays, strict=True)):
            ax.hist(
                arr,
                bins=bins,
                histtype="stepfilled" if len(runs) == 1 else "step",
                lw=1.6,
                color=f"C{k}",
                alpha=0.8 if len(runs) == 1 else 1.0,
                label=name,
            )
        ax.set_title(_LABELS.get(key, key), fontsize=9)
        ax.set_xlim(lo, hi)
        ax.tick_params(labelsize=7)
        ax.set_ylabel("samples", fontsize=8)
    if len(runs) > 1:
        axes[0].legend(fontsize=7, framealpha=0.7)
    return _png(fig)


def scatter(runs: Sequence[tuple[str, dict[str, np.ndarray]]]) -> str:
    """Per-sample Rsu against Ras, coloured by Rmi: one panel per run.

    Examples
    --------
    >>> v = {"rsu": np.array([0.2, 0.8]), "ras": np.array([0.5, 0.1]),
    ...      "rmi": np.array([0.3, 0.9])}
    >>> scatter([("A", v)])[:22]
    'data:image/png;base64,'
    """
    from matplotlib.figure import Figure

    n = max(1, len(runs))
    fig = Figure(figsize=(4.2 * n + 0.8, 3.6), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    art = None
    for ax, (name, vals) in zip(axes, runs, strict=False):
        art = ax.scatter(
            vals.get("rsu", []),
            vals.get("ras", []),
            c=vals.get("rmi", []),
            cmap="viridis",
            vmin=0.0,
            vmax=1.0,
            s=9,
            lw=0,
            alpha=0.85,
        )
        ax.set_xlabel("Rsu (higher is better)", fontsize=8)
        ax.set_ylabel("Ras (lower is better)", fontsize=8)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, max(1.02, float(np.max(vals.get("ras", [0.0]), initial=0.0)) + 0.02))
        ax.set_title(f"{name}: {len(vals.get('rmi', []))} samples", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    if art is not None:
        fig.colorbar(art, ax=list(axes), label="Rmi", fraction=0.04, pad=0.02)
    return _png(fig)
