"""Metric invariants that hold for any map and GT (hypothesis), in both conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import selo_metrics
from selo_metrics.attention import attention_centers as raw_centres
from selo_metrics.conventions import CONVENTIONS
from selo_metrics.errors import SeLoInputError
from selo_metrics.metrics import _rda

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def scenes(draw, max_side=260):
    """A smooth random map and 1-3 star-shaped polygons (non-degenerate, r > 0) in it."""
    h = draw(st.integers(40, max_side))
    w = draw(st.integers(40, max_side))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    cell = draw(st.integers(4, 40))
    small = rng.integers(0, 256, (h // cell + 2, w // cell + 2)).astype(np.uint8)
    gray = np.ascontiguousarray(np.kron(small, np.ones((cell, cell), np.uint8))[:h, :w])
    polys = []
    for _ in range(draw(st.integers(1, 3))):
        cx = draw(st.floats(0, w - 1))
        cy = draw(st.floats(0, h - 1))
        rad = draw(st.floats(6, max(7.0, min(h, w) / 2)))
        n = draw(st.integers(3, 8))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        assume(np.max(np.diff(np.r_[angles, angles[0] + 2 * np.pi])) < np.pi * 0.9)
        pts = np.c_[cx + rad * np.cos(angles), cy + rad * np.sin(angles)]
        polys.append(pts.tolist())
    return gray, polys


def score(gray, polys, **kw):
    try:
        return selo_metrics.evaluate(gray, polys, **kw)
    except SeLoInputError as exc:  # only the documented degenerate cases may refuse
        assert any(s in str(exc) for s in ("covers the whole", "covers no pixel", "radius is 0"))
        assume(False)


@SETTINGS
@given(scene=scenes(), convention=st.sampled_from(["slm", "paper"]))
def test_metrics_in_unit_interval_and_rmi_is_weighted_sum(scene, convention):
    gray, polys = scene
    r = score(gray, polys, convention=convention)
    for v in (r.rsu, r.ras, r.rda, r.rmi):
        assert 0.0 <= v <= 1.0 and math.isfinite(v)
    assert r.rmi == pytest.approx(0.4 * r.rsu + 0.35 * (1 - r.ras) + 0.25 * r.rda, abs=1e-15)
    assert 0 < r.mask_area < gray.size
    assert len(r.regions) == len(polys)


@SETTINGS
@given(scene=scenes(), value=st.integers(1, 255), convention=st.sampled_from(["slm", "paper"]))
def test_uniform_map_rsu_is_one_minus_exp_minus_alpha(scene, value, convention):
    gray, polys = scene
    flat = np.full_like(gray, value)
    r = score(flat, polys, convention=convention)
    alpha = CONVENTIONS[convention].rsu_alpha
    assert r.rsu == pytest.approx(1 - math.exp(-alpha), abs=1e-6)


@SETTINGS
@given(scene=scenes(), seed=st.integers(0, 1000), convention=st.sampled_from(["slm", "paper"]))
def test_permuting_polygons_leaves_metrics_unchanged(scene, seed, convention):
    gray, polys = scene
    a = score(gray, polys, convention=convention)
    perm = np.random.default_rng(seed).permutation(len(polys))
    b = score(gray, [polys[i] for i in perm], convention=convention)
    assert b.mask_area == a.mask_area
    assert sorted(b.regions) == sorted(a.regions)
    for name in ("rsu", "ras", "rda", "rmi"):
        assert getattr(b, name) == pytest.approx(getattr(a, name), abs=1e-12)


@SETTINGS
@given(h=st.integers(450, 800), w=st.integers(450, 800), radius=st.integers(30, 90),
       data=st.data())
def test_bright_disc_at_gt_centre(h, w, radius, data):
    """One bright disc at the GT centre: Rda 1, Ras < 0.01. The 50-px box has no centre pixel,
    so the five passes shift the attention centre about 2 px down and right. The disc stays
    beyond the smoothing's reach of the borders (5 passes x 25 px), whose reflection would
    otherwise add a mirror disc. Ras < 0.01 needs that 2.8 px shift small against r, so the
    GT square's half side is at least 24 px (30 here)."""
    margin = radius + 130
    cx = data.draw(st.integers(margin, w - margin))
    cy = data.draw(st.integers(margin, h - margin))
    yy, xx = np.mgrid[:h, :w]
    gray = np.where((xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2, 255, 0).astype(np.uint8)
    square = [(cx - radius, cy - radius), (cx + radius, cy - radius),
              (cx + radius, cy + radius), (cx - radius, cy + radius)]
    r = selo_metrics.evaluate(gray, [square])
    assert r.regions == [(cx, cy, int(math.hypot(radius, radius) * 1.5))]
    assert r.rda == 1.0
    assert r.ras < 0.01
    (ax, ay), = r.attention_centers
    assert 1 <= ax - cx <= 3 and 1 <= ay - cy <= 3


def test_no_attention_centre_gives_ras_one_and_rda_zero():
    gray = np.full((200, 300), 100, np.uint8)  # every value < 0.5: all centres filtered out
    r = selo_metrics.evaluate(gray, [[(10, 10), (100, 10), (100, 80)], [(150, 100), (250, 100),
                                                                         (200, 180)]])
    assert r.attention_centers == []
    assert r.ras == 1.0 and r.rda == 0.0


def test_rda_conventions_differ_by_half_the_tail():
    regions = [(100, 100, 80)]
    centres = [(90, 100), (110, 100), (100, 120)]
    slm = _rda(CONVENTIONS["slm"], regions, centres)
    paper = _rda(CONVENTIONS["paper"], regions, centres)
    assert slm - paper == pytest.approx(0.5 * math.exp(-0.5 * (3 + 2)), abs=1e-15)
    pts = np.array(centres, float)
    spread = np.mean(np.linalg.norm(pts - pts.mean(axis=0), axis=1)) / 80
    assert slm == pytest.approx(0.5 * (1 - spread) + math.exp(-2.5), abs=1e-15)


def test_paper_convention_keeps_float_geometry_and_union_gt():
    gray = np.zeros((300, 300), np.uint8)
    gray[100:160, 100:161] = 255
    a = [(50.5, 50.5), (170.25, 50.5), (170.25, 170.75), (50.5, 170.75)]
    b = [(120.5, 120.5), (250.5, 120.5), (250.5, 250.5), (120.5, 250.5)]
    slm = selo_metrics.evaluate(gray, [a, b])
    paper = selo_metrics.evaluate(gray, [a, b], convention="paper")
    # slm: one even-odd fill, so the overlap is a hole; paper: the union
    assert paper.mask_area > slm.mask_area
    assert all(isinstance(v, int) for reg in slm.regions for v in reg)
    assert paper.regions[0][0] == pytest.approx((50.5 + 170.25) / 2)
    (px, py), = paper.attention_centers
    (sx, sy), = slm.attention_centers
    assert (int(px), int(py)) == (sx, sy) and (px, py) != (sx, sy)


def test_parameters_override_constants():
    gray = np.full((120, 150), 200, np.uint8)
    poly = [[(10, 10), (80, 10), (80, 70), (10, 70)]]
    assert selo_metrics.rsu(gray, poly, rsu_alpha=0.5) == pytest.approx(1 - math.exp(-0.5),
                                                                      abs=1e-6)
    r = selo_metrics.evaluate(gray, poly, w_su=1.0, w_as=0.0, w_da=0.0)
    assert r.rmi == r.rsu
    with pytest.raises(SeLoInputError, match="sample 'q9': unknown parameter"):
        selo_metrics.evaluate(gray, poly, rsu_beta=0.7, sample_id="q9")
    with pytest.raises(SeLoInputError, match="unknown convention"):
        selo_metrics.evaluate(gray, poly, convention="cvpr")


@settings(max_examples=300, deadline=None)
@given(
    h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 2**32 - 1),
    npoly=st.integers(1, 3), convention=st.sampled_from(["slm", "paper"]),
    as_float=st.booleans(),
)
def test_tiny_maps_score_or_refuse_cleanly(h, w, seed, npoly, convention, as_float):
    """Any map down to 1 x 1, any polygons around it: finite metrics in [0, 1] or our error,
    never another exception, a nan or a hang."""
    rng = np.random.default_rng(seed)
    gray = rng.integers(0, 256, (h, w)).astype(np.uint8)
    polys = [rng.uniform(-3, max(h, w) + 3, (int(rng.integers(3, 7)), 2)).tolist()
             for _ in range(npoly)]
    prob_map = gray / 255.0 if as_float else gray
    try:
        r = selo_metrics.evaluate(prob_map, polys, convention=convention, sample_id=seed)
    except SeLoInputError as exc:
        assert exc.sample_id == seed
        return
    for v in (r.rsu, r.ras, r.rda, r.rmi):
        assert math.isfinite(v) and 0.0 <= v <= 1.0
    assert 0 < r.mask_area < h * w


# -- boundaries the spec states (expected values from the spec, by hand) ---------------------


def _plateau(h, w, cells):
    """A uint8 map, 0 but for ``cells`` ((row, col) pixels at 200): with no smoothing and a
    window over the whole map, they are the only peak pixels."""
    g = np.zeros((h, w), np.uint8)
    for r, c in cells:
        g[r, c] = 200
    return g


@pytest.mark.parametrize(
    ("cells", "kept_col", "centre"),
    [
        ([(5, 10), (5, 11)], 10, (10.5, 5.0)),  # x 10.5: ties to even, 10
        ([(5, 11), (5, 12)], 12, (11.5, 5.0)),  # x 11.5: ties to even, 12
        ([(5, 10), (5, 11), (5, 12), (5, 10 + 3)], 12, (11.5, 5.0)),
        ([(5, 10), (5, 11), (5, 12), (6, 12)], 11, (11.25, 5.25)),  # 11.25 -> 11, 5.25 -> 5
        ([(5, 10), (6, 10)], 10, (10.0, 5.5)),  # y 5.5: ties to even, 6
        ([(4, 10), (5, 10), (5, 11), (5, 12)], 11, (10.75, 4.75)),  # 4.75 -> 5, 10.75 -> 11
    ],
)
def test_paper_threshold_reads_the_map_at_the_rounded_centroid(cells, kept_col, centre):
    """"paper": the float centroid is kept, and the 0.5 threshold reads the original map at the
    centroid rounded to the nearest pixel, ties to even (METRICS.md)."""
    gray = _plateau(12, 30, cells)
    row = round(centre[1])
    for col in range(30):
        prob = np.zeros((12, 30))
        prob[row, col] = 0.9  # only this pixel passes the threshold
        got = raw_centres(gray, prob, box_passes=0, max_window=99, integer=False)
        assert got == ([centre] if col == kept_col else []), col


def test_slm_threshold_reads_the_map_at_the_truncated_centroid():
    centres = raw_centres
    gray = _plateau(12, 30, [(5, 10), (5, 11), (6, 12)])  # centroid (11, 5.33) -> (11, 5)
    prob = np.zeros((12, 30))
    prob[5, 11] = 0.5  # exactly the threshold: kept (>=)
    assert centres(gray, prob, box_passes=0, max_window=99) == [(11, 5)]
    prob[5, 11] = np.nextafter(0.5, 0)
    assert centres(gray, prob, box_passes=0, max_window=99) == []


def test_a_float_plateau_at_exactly_one_half_is_an_attention_centre():
    """A float map's value 0.5 passes the 0.5 threshold (>=); as uint8 (127/255) it does not."""
    prob = np.zeros((400, 500))
    prob[150:250, 200:300] = 0.5
    poly = [[(180, 130), (320, 130), (320, 270), (180, 270)]]
    r = selo_metrics.evaluate(prob, poly)
    assert r.attention_centers == [(252, 202)] and r.rda == 1.0
    assert selo_metrics.evaluate((prob * 255).astype(np.uint8), poly).attention_centers == []


@pytest.mark.parametrize("convention", ["slm", "paper"])
def test_a_centre_at_exactly_the_radius_counts(convention):
    """Ras and Rda keep the centres with d <= r (METRICS.md 5, 6): at d == r too."""
    from selo_metrics.metrics import _ras

    conv = CONVENTIONS[convention]
    region = [(100, 100, 50)]
    centres = [(130, 140), (110, 100)]  # distances 50 (== r) and 10
    g = (10 + 50) / 2 / 50  # both kept: mean offset 30, over r
    assert _ras(conv, region, centres) == pytest.approx((math.exp(3 * g) - 1) / (math.exp(3) - 1),
                                                        abs=1e-15)
    mean = np.array([120.0, 120.0])
    spread = np.mean([np.hypot(*(np.array(c) - mean)) for c in centres]) / 50
    tail = math.exp(-0.5 * 4)
    want = ((1 - spread) + tail) / 2 if conv.rda_halve_all else 0.5 * (1 - spread) + tail
    assert _rda(conv, region, centres) == pytest.approx(want, abs=1e-15)
    just_out = [(130, 141), (110, 100)]  # 50.6 > r: one centre
    assert _rda(conv, region, just_out) == 1.0


@pytest.mark.parametrize("convention", ["slm", "paper"])
def test_a_polygon_from_column_w_or_row_h_on_is_wholly_outside(convention):
    """Pixels are 0..W-1: a polygon whose vertices all lie at x >= W (or y >= H) covers none."""
    gray = np.full((60, 80), 200, np.uint8)
    inside = [(10, 10), (40, 10), (40, 40)]
    for outside in ([(80, 10), (100, 10), (100, 30)], [(10, 60), (30, 60), (30, 75)]):
        with pytest.raises(SeLoInputError, match=r"polygon 1: .*wholly outside"):
            selo_metrics.evaluate(gray, [inside, outside], convention=convention)
    touching = [(79, 10), (100, 10), (100, 30)]  # its edge runs along the last column
    r = selo_metrics.evaluate(gray, [inside, touching], convention=convention)
    alone = selo_metrics.evaluate(gray, [inside], convention=convention)
    assert r.mask_area > alone.mask_area
