"""Every kind of bad input raises SeLoInputError (a ValueError) naming the problem, the
polygon and the sample; valid oddities (partly outside, duplicates, self-intersection) score."""

from __future__ import annotations

import math

import numpy as np
import pytest

import selo_metrics
from selo_metrics import SeLoInputError

GRAY = np.zeros((100, 120), np.uint8)
GRAY[30:60, 40:80] = 220
SQUARE = [(20, 20), (90, 20), (90, 80), (20, 80)]

BAD_GT = {
    "no polygon (empty list)": ([], "no polygon", None),
    "no polygon (None)": (None, "no polygon", None),
    "fewer than 3 distinct vertices": ([SQUARE, [(5, 5), (5, 5), (9, 9)]], "fewer than 3", 1),
    "collinear": ([[(0, 0), (10, 10), (20, 20), (5, 5)]], "zero-area", 0),
    "wholly outside": ([SQUARE, [(-90, -90), (-40, -90), (-40, -40)]], "wholly outside", 1),
    "wholly outside right": ([[(500, 10), (600, 10), (600, 90)]], "wholly outside", 0),
    "NaN vertex": ([[(0, 0), (math.nan, 10), (20, 30)]], "NaN", 0),
    "inf vertex": ([[(0, 0), (math.inf, 10), (20, 30)]], "infinite", 0),
    "covers the whole map": ([[(-10, -10), (200, -10), (200, 200), (-10, 200)]],
                             "covers the whole", None),
    "beyond int32": ([[(0, 0), (5e9, 0), (0, 5e9)]], "int32", 0),
    "radius 0": ([[(10, 10), (10.5, 10), (10, 10.5)]], "radius is 0", 0),
    "string": ("[[0, 0], [1, 1]]", "expected a list of polygons", None),
    "string polygon": (["abc"], "expected a list of (x, y)", 0),
    "flat list": ([1, 2, 3, 4, 5, 6], "flat list", None),
    "flat polygon": ([[1, 2, 3, 4, 5, 6]], "(M, 2)", 0),
    "ragged": ([[(1, 2), (3,), (4, 5)]], "not an (M, 2) array", 0),
    "bare array": (np.array(SQUARE, float), "wrap it in a list", None),
    "number": (3.5, "expected a list of polygons", None),
    "geojson hole": ({"type": "Polygon", "coordinates": [
        [[0, 0], [90, 0], [90, 90], [0, 90], [0, 0]],
        [[10, 10], [20, 10], [20, 20], [10, 10]]]}, "holes", 0),
    "geojson point": ({"type": "Point", "coordinates": [1, 2]}, "unsupported GeoJSON", None),
}


@pytest.mark.parametrize("name", list(BAD_GT))
def test_bad_ground_truth_raises(name):
    polygons, needle, index = BAD_GT[name]
    with pytest.raises(SeLoInputError) as info:
        selo_metrics.evaluate(GRAY, polygons, sample_id="case-7")
    err = info.value
    assert isinstance(err, ValueError)
    assert needle in str(err)
    assert "sample 'case-7'" in str(err) and err.sample_id == "case-7"
    assert err.polygon == index
    if index is not None:
        assert f"polygon {index}" in str(err)


BAD_MAPS = {
    "NaN in map": (np.where(np.eye(100, 120) > 0, np.nan, 0.3), "NaN or infinite"),
    "inf in map": (np.where(np.eye(100, 120) > 0, np.inf, 0.3), "NaN or infinite"),
    "float above 1": (np.full((100, 120), 1.5), "above 1"),
    "float 0..255": (GRAY.astype(np.float64), "above 1"),
    "negative float": (np.full((100, 120), -0.1), "negative"),
    "negative int": (np.full((100, 120), -3, np.int32), "negative"),
    "int above 255": (np.full((100, 120), 300, np.int32), "above 255"),
    "RGB": (np.zeros((100, 120, 3), np.uint8), "2-D"),
    "1-D": (np.zeros(100, np.uint8), "2-D"),
    "empty": (np.zeros((0, 0), np.uint8), "empty"),
    "empty rows": (np.zeros((0, 120), np.float64), "empty"),
    "bool": (np.zeros((100, 120), bool), "not supported"),
    "strings": (np.full((100, 120), "a"), "not supported"),
}


@pytest.mark.parametrize("name", list(BAD_MAPS))
@pytest.mark.parametrize("func", ["evaluate", "rsu", "ras", "rda"])
def test_bad_map_raises(name, func):
    prob_map, needle = BAD_MAPS[name]
    with pytest.raises(SeLoInputError, match=needle) as info:
        getattr(selo_metrics, func)(prob_map, [SQUARE], sample_id=12)
    assert info.value.sample_id == 12 and "sample 12" in str(info.value)


def test_valid_oddities_score():
    partly_outside = [(-30, -30), (60, -30), (60, 50), (-30, 50)]
    duplicates = [(20, 20), (20, 20), (90, 20), (90, 80), (90, 80), (20, 80)]
    bow_tie = [(20, 20), (90, 80), (90, 20), (20, 80)]
    for poly in (partly_outside, duplicates, bow_tie):
        r = selo_metrics.evaluate(GRAY, [poly])
        assert all(math.isfinite(v) for v in (r.rsu, r.ras, r.rda, r.rmi))
        assert r.mask_area > 0


def test_duplicate_vertices_move_the_official_centre():
    """The official centre is the mean over the listed vertices, duplicates included."""
    plain = selo_metrics.gt_regions(selo_metrics.as_polygons([SQUARE]))
    dup = selo_metrics.gt_regions(selo_metrics.as_polygons([[*SQUARE, SQUARE[0], SQUARE[0]]]))
    assert plain != dup and dup[0][0] < plain[0][0]


def test_integer_map_is_accepted_like_uint8():
    a = selo_metrics.evaluate(GRAY, [SQUARE])
    b = selo_metrics.evaluate(GRAY.astype(np.int64), [SQUARE])
    assert a == b


# ------------------------------------------------------------------------------------------
# issue 13, item 13: every such error a SeLoInputError naming the sample, in plain words
# ------------------------------------------------------------------------------------------


def _ring(p):
    return [list(v) for v in p] + [list(p[0])]


def _nested_features(depth):
    obj = {"type": "Polygon", "coordinates": [_ring(SQUARE)]}
    for _ in range(depth):
        obj = {"type": "Feature", "geometry": obj}
    return obj


def _nested_collections(depth):
    obj = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [_ring(SQUARE)]}}
    for _ in range(depth):
        obj = {"type": "FeatureCollection", "features": [obj]}
    return obj


def _self_containing():
    obj = {"type": "FeatureCollection", "features": []}
    obj["features"].append(obj)
    return obj


def _nested_list(depth):
    obj = [0.0, 0.0]
    for _ in range(depth):
        obj = [obj]
    return obj


MORE_BAD_GT = {
    "MultiPolygon null coordinates": (
        {"type": "MultiPolygon", "coordinates": None}, "MultiPolygon coordinates"),
    "FeatureCollection null features": (
        {"type": "FeatureCollection", "features": None}, "features"),
    "null position": (
        {"type": "Polygon", "coordinates": [[[0, 0], None, [50, 50], [0, 0]]]}, "positions"),
    "ragged positions": (
        {"type": "Polygon", "coordinates": [[[0, 0], [9, 0, 1], [50, 50], [0, 0]]]},
        "positions"),
    "1-number positions": (
        {"type": "Polygon", "coordinates": [[[0], [9], [50], [0]]]}, "positions"),
    "string coordinates": (
        {"type": "Polygon", "coordinates": "abc"}, "list of rings"),
    "a ring instead of rings": (
        {"type": "Polygon", "coordinates": _ring(SQUARE)}, "list of rings"),
    "numbers instead of polygons": (
        {"type": "MultiPolygon", "coordinates": [1, 2, 3]}, "list of rings"),
    "a feature that is a list": (
        {"type": "FeatureCollection", "features": [[1, 2]]}, "GeoJSON object"),
    "2000-deep features": (_nested_features(2000), "nested deeper"),
    "2000-deep collections": (_nested_collections(2000), "nested deeper"),
    "a collection holding itself": (_self_containing(), "nested deeper"),
    "2000-deep coordinates": (
        {"type": "Polygon", "coordinates": [_nested_list(2000)]}, "positions"),
}


@pytest.mark.parametrize("name", list(MORE_BAD_GT))
def test_malformed_geojson_is_a_clear_input_error(name):
    polygons, needle = MORE_BAD_GT[name]
    with pytest.raises(SeLoInputError) as info:
        selo_metrics.evaluate(GRAY, polygons, sample_id="g1")
    assert needle in str(info.value) and info.value.sample_id == "g1"
    assert "holes" not in str(info.value)


def test_only_a_real_second_ring_is_called_a_hole():
    with pytest.raises(SeLoInputError, match="holes are not supported"):
        selo_metrics.as_polygons({"type": "Polygon", "coordinates": [
            _ring(SQUARE), _ring([(30, 30), (40, 30), (40, 40)])]})


def test_paper_coordinates_beyond_2_62_are_an_input_error_naming_the_polygon():
    poly = [[(0, 0), (50, 0), (0, 50)], [(0, 0), (2.0**63, 0), (0, 50)]]
    with pytest.raises(SeLoInputError, match=r"2\*\*62") as info:
        selo_metrics.evaluate(GRAY, poly, convention="paper", sample_id="p")
    assert info.value.sample_id == "p" and info.value.polygon == 1


def test_gt_mask_refuses_with_seloinputerror():
    from selo_metrics.raster import gt_mask

    big = np.array([[0.0, 0.0], [2.0**63, 0.0], [0.0, 50.0]])
    with pytest.raises(SeLoInputError, match=r"2\*\*62"):
        gt_mask([big], (10, 10), convention="paper")
    with pytest.raises(SeLoInputError, match="int32"):
        gt_mask([big], (10, 10))


BAD_PARAMS = {
    "rsu_alpha": [-1, 0, math.nan, math.inf, "0.7", True, None],
    "rsu_eps": [0, -1e-7, math.nan, math.inf],
    "expand_factor": [0, -1.5, math.nan, math.inf],
    "threshold": [-0.1, 1.5, math.nan],
    "ras_beta": [0, -3, math.nan, math.inf, 1e4],
    "rda_eta": [-0.5, math.nan, math.inf],
    "w_su": [-0.1, math.nan, math.inf, "x"],
    "w_as": [-1, math.nan],
    "w_da": [math.inf],
    "box_size": [0, 258, 2.5, True, "50"],
    "box_passes": [-1, 1.0, True],
    "max_window": [0, 2.0, False],
    "integer_geometry": ["no", 1, None],
    "rda_halve_all": ["yes", 0],
    "gt_fill": ["opencv", 3],
}


@pytest.mark.parametrize(
    ("name", "value"), [(k, v) for k, vs in BAD_PARAMS.items() for v in vs],
    ids=lambda v: repr(v),
)
def test_out_of_range_parameters_are_refused_naming_the_sample(name, value):
    with pytest.raises(SeLoInputError, match=name) as info:
        selo_metrics.evaluate(GRAY, [SQUARE], sample_id="k", **{name: value})
    assert info.value.sample_id == "k"


def test_numpy_scalars_are_valid_parameters():
    a = selo_metrics.evaluate(GRAY, [SQUARE], box_size=np.int64(50), rsu_alpha=np.float32(0.5),
                              box_passes=np.uint8(5), ras_beta=np.float64(3))
    b = selo_metrics.evaluate(GRAY, [SQUARE], box_size=50, rsu_alpha=float(np.float32(0.5)),
                              box_passes=5, ras_beta=3.0)
    assert (a.rsu, a.ras, a.rda, a.rmi) == (b.rsu, b.ras, b.rda, b.rmi)


def test_edge_parameters_score_finite_values():
    for params in ({"threshold": 0.0}, {"threshold": 1.0}, {"rda_eta": 0.0},
                   {"ras_beta": 700.0}, {"ras_beta": 1e-9}, {"w_su": 0.0}, {"rsu_alpha": 1e-300},
                   {"rsu_eps": 1e300}, {"box_passes": 0}):
        r = selo_metrics.evaluate(GRAY, [SQUARE], **params)
        assert all(math.isfinite(v) for v in (r.rsu, r.ras, r.rda, r.rmi)), params


def test_attention_centers_names_the_sample_in_parameter_errors():
    with pytest.raises(SeLoInputError, match="box_size") as info:
        selo_metrics.attention_centers(GRAY, box_size=0, sample_id="a1")
    assert info.value.sample_id == "a1" and "sample 'a1'" in str(info.value)
