"""The reusable buffers change nothing but speed: the official numbers across shapes, threads,
and with reuse switched off; the two buffers never overlap; nothing the caller holds or gets
back lives in them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import selo_metrics
from selo_metrics._workspace import map_buffers
from tests.conftest import BUNDLED_CASES, read_png_gray

# large, small, large again, a smaller one, the first again: every reuse pattern (grow, shrink,
# reuse a larger buffer for a smaller map), with the official numbers as the reference
CASES = sorted(BUNDLED_CASES, key=lambda c: -c["height"] * c["width"])[:4]
SEQUENCE = [CASES[1], CASES[3], CASES[0], CASES[2], CASES[1], CASES[0], CASES[3]]


def _check(case, res):
    for name in ("rsu", "ras", "rda", "rmi"):
        assert abs(getattr(res, name) - case["expected"][name]) <= 1e-9, (case["id"], name)
    assert res.mask_area == case["intermediate"]["mask_area"], case["id"]
    assert [list(c) for c in res.attention_centers] == \
        case["intermediate"]["attention_centers"], case["id"]


@pytest.mark.parametrize("mb", ["512", "0"])
def test_reused_buffers_give_the_official_numbers(mb, monkeypatch):
    monkeypatch.setenv("SELO_WORKSPACE_MB", mb)
    selo_metrics.clear_workspace()
    for case in SEQUENCE:
        _check(case, selo_metrics.evaluate(read_png_gray(case), case["polygons"]))


def test_the_two_buffers_never_overlap_and_are_reused():
    selo_metrics.clear_workspace()
    for shape in [(50, 60), (300, 200), (40, 40), (300, 200)]:
        a, b = map_buffers(shape)
        assert a.shape == b.shape == shape and a.dtype == b.dtype == np.uint8
        assert not np.shares_memory(a, b)
    a2, _ = map_buffers((300, 200))
    assert np.shares_memory(a, a2)  # the same memory, not a fresh allocation per call


def test_nothing_the_caller_holds_or_gets_back_lives_in_the_buffers():
    case = CASES[0]
    gray = read_png_gray(case)
    before = gray.copy()
    mask = selo_metrics.gt_mask(selo_metrics.as_polygons(case["polygons"]), gray.shape)
    mine = np.empty(gray.shape, np.uint8)
    selo_metrics.gt_mask(selo_metrics.as_polygons(case["polygons"]), gray.shape, out=mine)
    masks = (mask.copy(), mine.copy())
    res = selo_metrics.evaluate(gray, case["polygons"])
    prob = gray / 255.0
    prob_before = prob.copy()
    selo_metrics.evaluate(prob, case["polygons"])
    selo_metrics.attention_centers(gray)
    a, b = map_buffers(gray.shape)
    for arr in (mask, mine, gray, prob):
        assert not np.shares_memory(arr, a) and not np.shares_memory(arr, b)
    np.testing.assert_array_equal(gray, before)  # the map is never a scratch buffer
    np.testing.assert_array_equal(prob, prob_before)
    np.testing.assert_array_equal(mask, masks[0])
    np.testing.assert_array_equal(mine, masks[1])
    assert int(mask.sum()) == res.mask_area == case["intermediate"]["mask_area"]


def test_threads_get_their_own_buffers():
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda c: (c, selo_metrics.evaluate(read_png_gray(c), c["polygons"])),
                          SEQUENCE * 3))
    for case, res in got:
        _check(case, res)
