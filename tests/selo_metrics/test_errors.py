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
        [[10, 10], [20, 10], [20, 20], [10, 10]]]}, "holes", None),
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
