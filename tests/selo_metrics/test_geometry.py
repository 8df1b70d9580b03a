"""All the GT forms users hold give the same polygons and the same metrics."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

import selo_metrics
from selo_metrics import as_polygons

A = [(20.5, 20.0), (90.0, 22.0), (88.0, 80.0), (18.0, 75.5)]
B = [(100.0, 10.0), (140.0, 10.0), (140.0, 50.0)]
GRAY = np.zeros((120, 160), np.uint8)
GRAY[25:70, 30:80] = 240


def ring(p):
    return [list(v) for v in p] + [list(p[0])]


FORMS = {
    "lists": [A, B],
    "arrays": [np.array(A), np.array(B)],
    "tuple of tuples": (tuple(A), tuple(B)),
    "shapely polygons": [shapely.Polygon(A), shapely.Polygon(B)],
    "shapely multipolygon": shapely.MultiPolygon([shapely.Polygon(A), shapely.Polygon(B)]),
    "geojson polygons": [{"type": "Polygon", "coordinates": [ring(A)]},
                         {"type": "Polygon", "coordinates": [ring(B)]}],
    "geojson multipolygon": {"type": "MultiPolygon", "coordinates": [[ring(A)], [ring(B)]]},
    "geojson feature collection": {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon",
                                                          "coordinates": [ring(A)]}},
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon",
                                                          "coordinates": [ring(B)]}}]},
}


@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_gives_the_same_polygons_and_metrics(form):
    polys = as_polygons(FORMS[form])
    assert [p.tolist() for p in polys] == [np.array(A).tolist(), np.array(B).tolist()]
    assert all(p.dtype == np.float64 and p.flags.c_contiguous for p in polys)
    assert selo_metrics.evaluate(GRAY, FORMS[form]) == selo_metrics.evaluate(GRAY, [A, B])


def test_open_ring_keeps_a_repeated_vertex_inside_the_list():
    polys = as_polygons([[(0, 0), (10, 0), (0, 0), (10, 10)]])
    assert polys[0].shape == (4, 2)


def test_official_region_arithmetic():
    """cx = int(sum / M) with truncation toward zero, r = int(1.5 * mean distance)."""
    (cx, cy, r), = selo_metrics.gt_regions(as_polygons([[(-5.5, -3.0), (2.0, -3.0),
                                                         (2.0, 4.0)]]))
    assert (cx, cy) == (int(-1.5 / 3), int(-2.0 / 3)) == (0, 0)
    d = [np.hypot(-5.5, -3.0), np.hypot(2, -3), np.hypot(2, 4)]
    assert r == int(np.mean(d) * 1.5)


def test_collinearity_check_is_linear_in_vertices():
    """A 200k-vertex ring validates (an M x M intermediate would need 4e10 entries), and a
    long line is refused."""
    t = np.linspace(0, 2 * np.pi, 200_000, endpoint=False)
    ring = np.c_[500 + 400 * np.cos(t), 500 + 400 * np.sin(t)]
    assert as_polygons([ring])[0].shape == (200_000, 2)
    line = np.c_[np.arange(100_000.0), 2 * np.arange(100_000.0) + 3]
    with pytest.raises(selo_metrics.SeLoInputError, match="collinear"):
        as_polygons([line])
