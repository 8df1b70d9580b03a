"""All the GT forms users hold give the same polygons and the same metrics."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st

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


# ------------------------------------------------------------------------------------------
# GeoJSON altitude; slivers are not collinear (issue 13, item 13)
# ------------------------------------------------------------------------------------------


def test_geojson_positions_with_altitude_drop_it_like_shapely_does():
    with_z = {"type": "Polygon", "coordinates": [[[x, y, 7.5] for x, y in ring(A)]]}
    shapely_z = shapely.Polygon([(x, y, 7.5) for x, y in A])
    assert [p.tolist() for p in as_polygons(with_z)] == [np.array(A).tolist()]
    assert [p.tolist() for p in as_polygons([shapely_z])] == [np.array(A).tolist()]
    assert selo_metrics.evaluate(GRAY, with_z) == selo_metrics.evaluate(GRAY, [A])


def _sliver(a, b, offset):
    """A triangle: the segment a-b and its midpoint moved ``offset`` across it."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = b - a
    n = np.array([-d[1], d[0]]) / np.hypot(*d)
    return np.array([a, b, (a + b) / 2 + offset * n])


@settings(max_examples=300, deadline=None)
@given(
    st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)),
    st.floats(0, 2 * np.pi),
    st.floats(10, 1e7),
    st.floats(-14.5, -7),
)
def test_long_thin_slivers_are_polygons_and_shapely_agrees(start, angle, length, log_rel):
    """A sliver 1e-7 .. 3e-15 of its length wide, if its width stands clear of the
    coordinates' rounding (64 units in the last place of the largest one), is a polygon;
    shapely agrees it is valid with a positive area."""
    a = np.array(start)
    b = a + length * np.array([np.cos(angle), np.sin(angle)])
    poly = _sliver(a, b, length * 10.0**log_rel)
    assume(length * 10.0**log_rel >= 64 * np.spacing(np.abs(poly).max()))
    geom = shapely.Polygon(poly)
    assert geom.is_valid and geom.area > 0
    assume(np.unique(poly, axis=0).shape[0] == 3)
    assert as_polygons([poly])[0].shape == (3, 2)


def test_the_issue_sliver_and_a_far_away_one_pass():
    assert as_polygons([[(0, 0), (2.0**63, 0), (0, 50)]])[0].shape == (3, 2)
    far = np.array([[1e9, 1e9], [1e9 + 3000, 1e9], [1e9 + 1500, 1e9 + 1e-3]])
    assert shapely.Polygon(far).area > 0
    assert as_polygons([far])[0].shape == (3, 2)


@settings(max_examples=300, deadline=None)
@given(
    st.tuples(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6)),
    st.tuples(st.integers(-1000, 1000), st.integers(-1000, 1000)),
    st.lists(st.integers(-10**4, 10**4), min_size=3, max_size=8, unique=True),
    st.sampled_from([1.0, 0.1, 1 / 3, 2.0**-20, 1e5]),
)
def test_points_on_one_line_are_collinear_even_after_rounding(origin, step, ks, scale):
    """Vertices origin + k * step (exactly collinear on the integers), scaled by a factor
    that rounds them: still refused, and shapely finds no area beyond rounding noise."""
    assume(step != (0, 0))
    poly = (np.array(origin, float) + np.outer(ks, step)) * scale
    with pytest.raises(selo_metrics.SeLoInputError, match="collinear"):
        as_polygons([poly])
    extent = np.ptp(poly, axis=0).max()
    assert shapely.Polygon(poly).area <= 1e-9 * extent * extent


def _official_region(points, expand_factor=1.5):
    """SLM._get_region_center_radius, as the official code writes it (reference/slm)."""
    from functools import reduce

    mid_x = int(reduce(lambda x, y: x + y, np.array(points)[:, 0]) / len(points))
    mid_y = int(reduce(lambda x, y: x + y, np.array(points)[:, 1]) / len(points))
    radius = int(np.mean([np.linalg.norm(np.array(point) - np.array([mid_x, mid_y]))
                          for point in points]) * expand_factor)
    return mid_x, mid_y, radius


@pytest.mark.parametrize("kind", ["int", "float", "half", "mixed"])
def test_regions_are_the_official_arithmetic_bit_for_bit(kind):
    rng = np.random.default_rng(len(kind))
    for m in (3, 7, 1000, 60_000):
        pts = rng.uniform(-3000, 9000, (m, 2))
        if kind == "int":
            pts = np.round(pts)
        elif kind == "half":
            pts = np.round(pts * 2) / 2
        elif kind == "mixed":
            pts[::2] = np.round(pts[::2])
        for factor in (1.5, 0.7):
            want = _official_region(pts.tolist() if kind != "int" else pts.astype(int).tolist(),
                                    factor)
            assert selo_metrics.gt_regions([pts], expand_factor=factor) == [want]


@pytest.mark.parametrize("seed", range(3))
def test_paper_regions_equal_the_per_vertex_formula(seed):
    """The paper convention's float radius: the same bits as the per-vertex loop."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 500, (5000, 2))
    pts[:2000] = np.round(pts[:2000])
    from functools import reduce

    cx = float(reduce(lambda a, b: a + b, pts[:, 0]) / len(pts))
    cy = float(reduce(lambda a, b: a + b, pts[:, 1]) / len(pts))
    r = float(np.mean([np.linalg.norm(np.array(v) - np.array([cx, cy])) for v in pts.tolist()])
              * 1.5)
    assert selo_metrics.gt_regions([pts], integer=False) == [(cx, cy, r)]


def test_vertex_distances_are_numpys_norm_bit_for_bit():
    """Each distance as np.linalg.norm gives it (a BLAS dot that may fuse multiply-add: on
    this project's machines about 8 % of random float rows differ from sqrt(x*x + y*y));
    the radius's mean and int() would hide a one-ulp slip, so the distances are compared."""
    from selo_metrics.geometry import _vertex_distances

    rng = np.random.default_rng(11)
    pts = rng.uniform(-3000, 9000, (20_000, 2))
    pts[::3] = np.round(pts[::3])
    for centre in (np.array([17, -4]), np.array([17.25, -4.5]), np.array([3.3, 1e-3])):
        want = np.array([np.linalg.norm(np.array(v) - centre) for v in pts.tolist()])
        got = _vertex_distances(pts, centre)
        assert got.tobytes() == want.tobytes()
