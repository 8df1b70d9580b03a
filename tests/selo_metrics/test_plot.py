"""plot_result draws the map, the GT, the candidate circles and numbered attention centres."""

from __future__ import annotations

import numpy as np
import pytest

from selo_metrics import evaluate, plot_result
from selo_metrics.plot import save_overlay

pytest.importorskip("matplotlib")


def test_overlay_shows_every_element():
    from matplotlib.figure import Figure

    g = np.zeros((400, 600), np.uint8)
    g[100:200, 100:200] = 255
    g[250:330, 400:480] = 200
    polys = [[(90, 90), (210, 90), (210, 210), (90, 210)],
             [(380, 240), (500, 240), (500, 340), (380, 340)]]
    res = evaluate(g, polys)
    ax = plot_result(g, polys, res, ax=Figure().add_subplot(), title="two squares")
    assert len(ax.images) == 1 and ax.images[0].get_array().shape == (400, 600)
    assert len(ax.patches) == len(res.regions) == 2  # candidate circles
    labels = [t.get_text() for t in ax.texts]
    assert labels == [str(k) for k in range(1, len(res.attention_centers) + 1)]
    assert ax.get_title().startswith(f"Rmi {res.rmi:.4f}") and "two squares" in ax.get_title()


def test_large_maps_are_subsampled_for_display(tmp_path):
    g = np.zeros((5000, 3000), np.uint8)
    g[2000:2400, 1000:1400] = 255
    poly = [[(900, 1900), (1500, 1900), (1500, 2500), (900, 2500)]]
    res = evaluate(g, poly)
    ax = plot_result(g, poly, res)
    assert max(ax.images[0].get_array().shape) <= 1600
    assert ax.get_xlim() == (0, 3000) and ax.get_ylim() == (5000, 0)  # pixel coordinates
    save_overlay(tmp_path / "o.png", g, poly, res)
    from PIL import Image

    assert Image.open(tmp_path / "o.png").size[1] > Image.open(tmp_path / "o.png").size[0]
