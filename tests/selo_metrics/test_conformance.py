"""The "slm" convention against the official code's own numbers (absolute 1e-9, identical
intermediates): the cases bundled in tests/data, and the whole shared set when present."""

from __future__ import annotations

import pytest

import selo_metrics
from tests.conftest import BUNDLED_CASES, SHARED_CASES, read_png_gray

TOL = 1e-9


def check_case(case: dict) -> None:
    gray = read_png_gray(case)
    assert gray.shape == (case["height"], case["width"])
    res = selo_metrics.evaluate(gray, case["polygons"], sample_id=case["id"])
    exp, inter = case["expected"], case["intermediate"]
    for name in ("rsu", "ras", "rda", "rmi"):
        assert abs(getattr(res, name) - exp[name]) <= TOL, (case["id"], name)
    assert res.mask_area == inter["mask_area"]
    assert [list(r) for r in res.regions] == inter["centers_radius"]
    assert [list(c) for c in res.attention_centers] == inter["attention_centers"]


def test_bundled_subset_is_not_empty():
    assert len(BUNDLED_CASES) >= 20
    assert any(c["id"].startswith("e1_") for c in BUNDLED_CASES)
    assert any(len(c["polygons"]) > 1 for c in BUNDLED_CASES)


@pytest.mark.parametrize("case", BUNDLED_CASES, ids=lambda c: c["id"])
def test_bundled_case(case):
    check_case(case)


@pytest.mark.skipif(not SHARED_CASES, reason="shared/conformance/slm not present")
@pytest.mark.parametrize("case", SHARED_CASES, ids=lambda c: c["id"])
def test_shared_case(case):
    check_case(case)


@pytest.mark.parametrize("case", BUNDLED_CASES[:6], ids=lambda c: c["id"])
def test_float_map_gives_the_same_numbers(case):
    """A float map g / 255 is recovered to the same uint8 (exact round trip)."""
    gray = read_png_gray(case)
    a = selo_metrics.evaluate(gray, case["polygons"])
    b = selo_metrics.evaluate(gray / 255.0, case["polygons"])
    assert b.attention_centers == a.attention_centers
    for name in ("rsu", "ras", "rda", "rmi"):
        assert abs(getattr(a, name) - getattr(b, name)) <= 1e-12


@pytest.mark.parametrize("case", BUNDLED_CASES[:8], ids=lambda c: c["id"])
def test_single_metrics_equal_evaluate(case):
    gray = read_png_gray(case)
    res = selo_metrics.evaluate(gray, case["polygons"])
    assert selo_metrics.rsu(gray, case["polygons"]) == res.rsu
    assert selo_metrics.ras(gray, case["polygons"]) == res.ras
    assert selo_metrics.rda(gray, case["polygons"]) == res.rda
    assert selo_metrics.rmi(res.rsu, res.ras, res.rda) == res.rmi
    assert selo_metrics.attention_centers(gray) == res.attention_centers
