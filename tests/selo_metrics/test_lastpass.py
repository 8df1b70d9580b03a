"""The box filter's last pass computed only where the peak search reads it
(:mod:`selo_metrics._kernels.lastpass`, :mod:`selo_metrics._kernels.boxrect`), against the
plain-numpy twins of the spec: the passes (``box_twin``) and the running maximum
(``max_filter_ref``). Any map, box, block and window the search accepts; the paths where it
gives up (too many blocks, too many threats) and the evaluation with and without it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import selo_metrics
from selo_metrics import attention
from selo_metrics._kernels import peaks
from selo_metrics._kernels.box import box_filter_passes, float32_rounding_is_exact
from selo_metrics._kernels.boxrect import pass_rect
from selo_metrics._kernels.lastpass import LIMIT, block_upper_bounds, lazy_last_pass
from tests.selo_metrics.test_box_pipeline import box_twin
from tests.selo_metrics.test_peaks_blocks import draw_map, twin_runs


def block_max_twin(g: np.ndarray, block: int) -> np.ndarray:
    h, w = g.shape
    out = np.zeros((-(-h // block), -(-w // block)), np.uint8)
    for by in range(out.shape[0]):
        for bx in range(out.shape[1]):
            out[by, bx] = g[by * block:(by + 1) * block, bx * block:(bx + 1) * block].max()
    return out


def as_lists(runs):
    return [list(map(int, a)) for a in runs]


@st.composite
def small_maps(draw, min_side: int, max_side: int = 150):
    h = draw(st.integers(min_side, max_side))
    w = draw(st.integers(min_side, max_side))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["blobs", "blobs+noise", "noise", "plateaus", "spikes",
                                 "levels", "flat"]))
    if kind.startswith("blobs"):  # smooth hills, as a model's map: the common case
        yy, xx = np.mgrid[:h, :w]
        g = np.zeros((h, w))
        for _ in range(draw(st.integers(1, 5))):
            cy, cx = rng.uniform(-10, h + 10), rng.uniform(-10, w + 10)
            s = rng.uniform(5, 60)
            g += rng.uniform(20, 255) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
        if kind == "blobs+noise":
            g += rng.normal(0, 8, (h, w))
        g = np.clip(g, 0, 255).astype(np.uint8)
    elif kind == "flat":
        g = np.full((h, w), rng.integers(0, 256), np.uint8)
    else:
        g = draw_map(draw, kind, h, w, rng, max_cell=40)
    return np.ascontiguousarray(g)


# -- one pass over a rectangle --------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(data=st.data(), k=st.integers(1, 60))
def test_pass_rect_is_the_spec_twin(data, k):
    """Any rectangle of one pass, borders included, any box size: the twin's pixels, in
    float64 rounding and, where it is exact, float32."""
    g = data.draw(small_maps(k + 1, 140))
    h, w = g.shape
    y0 = data.draw(st.integers(0, h - 1))
    y1 = data.draw(st.integers(y0 + 1, h))
    x0 = data.draw(st.integers(0, w - 1))
    x1 = data.draw(st.integers(x0 + 1, w))
    want = box_twin(g, k, 1)[y0:y1, x0:x1]
    for single in {False, float32_rounding_is_exact(k)}:
        np.testing.assert_array_equal(pass_rect(g, y0, y1, x0, x1, k, single), want)


def test_block_upper_bounds_are_the_neighbourhood_maxima():
    T = np.random.default_rng(1).integers(0, 256, (7, 9)).astype(np.uint8)
    U = block_upper_bounds(T, 2)
    for y in range(7):
        for x in range(9):
            assert U[y, x] == T[max(0, y - 2):y + 3, max(0, x - 2):x + 3].max()


# -- the peaks: lazy last pass against the spec ---------------------------------------------


@st.composite
def cases(draw):
    block = draw(st.sampled_from([4, 8, 16, 32]))
    m = draw(st.integers(4 * block, max(4 * block, 150)))
    k = draw(st.sampled_from([2, 3, 5, 9, 16, 25]))
    passes = draw(st.integers(2, 4))
    g = draw(small_maps(max(m // 2, k + 1), 170))
    return g, m, k, passes, block


@settings(max_examples=300, deadline=None)
@given(case=cases(), limit=st.sampled_from([1.0, LIMIT]))
def test_lazy_last_pass_gives_the_peaks_of_the_full_filter(case, limit):
    """``passes - 1`` passes (the twin's), the last one lazily: the block search on the
    bounds finds the twin's peaks of all the passes; or, past the limit, it gives up and
    leaves the map as it was."""
    g, m, k, passes, block = case
    assert peaks.usable(g.shape, m, block)
    before = box_twin(g, k, passes - 1)
    work = before.copy()
    bound = lazy_last_pass(work, block_max_twin(before, block), k, float32_rounding_is_exact(k),
                           m, block, limit=limit)
    if bound is None:
        event("gave up: too many blocks")
        assert limit < 1.0
        np.testing.assert_array_equal(work, before)
        return
    full = box_twin(g, k, passes)
    assert (bound >= block_max_twin(full, block)).all()
    got = peaks.block_peak_runs(work, m, 1, block, bound)
    want = as_lists(twin_runs(full, m))
    event("peaks found" if want[0] else "no peak")
    if got is not None:  # None: too many threat blocks, the caller's fallback (tested below)
        assert as_lists(got) == want


def blob_map(h: int = 700, w: int = 900) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    g = 180 * np.exp(-((yy - 260) ** 2 + (xx - 300) ** 2) / 9000.0)
    g += 120 * np.exp(-((yy - 500) ** 2 + (xx - 720) ** 2) / 4000.0)
    g += np.random.default_rng(3).normal(0, 4, (h, w))
    return np.clip(g, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("kind", ["lazy", "too many blocks", "too many threats"])
def test_finish_peaks_every_path(kind, monkeypatch):
    """The caller's three outcomes on a 700 x 900 map (box 50, window 256): the lazy pass;
    past the block limit, the pass in full (into the spare buffer); the block search giving
    up after the lazy pass, every pass again, for the running maximum. All give the spec's
    peaks."""
    g = blob_map()
    m, k, passes = 256, 50, 5
    limit = 0.0 if kind == "too many blocks" else 1.0  # this map needs 10-20 % of the blocks
    monkeypatch.setattr(attention, "lazy_last_pass",
                        lambda *a, **kw: lazy_last_pass(*a, **kw, limit=limit))
    if kind == "too many threats":
        monkeypatch.setattr(peaks, "MAX_THREATS", -1)
    T = np.empty((22, 29), np.uint8)
    smooth, spare = box_filter_passes(g, k, passes - 1, 1, maxima=T, block=32)
    done, runs = attention.finish_peaks(g, smooth, T, box_size=k, box_passes=passes,
                                        max_window=m, spare=spare)
    full = box_twin(g, k, passes)
    want = as_lists(twin_runs(full, m))
    if kind == "too many threats":
        assert runs is None and done is smooth
        np.testing.assert_array_equal(done, full)  # for the full running maximum
        comps = attention.components(done, spare, m, 1, None)
        pixels = sum(b - a + 1 for a, b in zip(want[1], want[2], strict=True))
        assert int(comps.count.sum()) == pixels
    else:
        assert (done is spare) == (kind == "too many blocks")
        assert as_lists(runs) == want


@pytest.mark.parametrize("shape", [(1200, 1500), (2100, 1700)])
def test_evaluate_is_the_same_with_and_without_the_lazy_pass(shape, monkeypatch):
    """The whole evaluation, both ways, on maps shaped like XeMap-Set's (blobs, noise, JPEG
    levels): the same metrics and attention centres (the lazy pass is on by default)."""
    h, w = shape
    rng = np.random.default_rng(h)
    yy, xx = np.mgrid[:h, :w]
    g = np.zeros((h, w))
    for _ in range(6):
        g += rng.uniform(40, 255) * np.exp(-((yy - rng.uniform(0, h)) ** 2
                                             + (xx - rng.uniform(0, w)) ** 2)
                                           / (2 * rng.uniform(30, 200) ** 2))
    g = np.clip(g + rng.normal(0, 6, (h, w)), 0, 255).astype(np.uint8)
    polygons = [[(w * 0.2, h * 0.3), (w * 0.5, h * 0.3), (w * 0.5, h * 0.6), (w * 0.2, h * 0.6)]]

    def run():
        r = selo_metrics.evaluate(g, polygons)
        return r.rsu, r.ras, r.rda, r.rmi, r.attention_centers, selo_metrics.attention_centers(g)

    assert attention.LAZY_LAST_PASS
    lazy = run()
    monkeypatch.setattr(attention, "LAZY_LAST_PASS", False)
    assert run() == lazy


@pytest.mark.parametrize("kind", ["focused", "shifted", "scattered"])
def test_a_models_map_needs_few_blocks(kind):
    """On a map like a model's (the synthetic maps of ``benchmarks/bench_runner.py``, saved as
    JPEG), the lazy pass stays under its limit (4-8 % of the blocks here; the full last pass
    costs about what 10 % of the blocks computed alone do) and finds the peaks of the full
    filter, which the tests above and the conformance cases check against the spec."""
    import io

    from PIL import Image

    from selo_metrics.data import synthetic_map

    h, w = 1500, 1800
    blob = [[w * 0.3, h * 0.3], [w * 0.5, h * 0.3], [w * 0.5, h * 0.5], [w * 0.3, h * 0.5]]
    buf = io.BytesIO()
    Image.fromarray(synthetic_map((h, w), [blob], kind=kind, seed=7)).save(buf, "JPEG",
                                                                           quality=95)
    g = np.asarray(Image.open(buf)).copy()
    T4, T5 = np.empty((2, 47, 57), np.uint8)
    g4, _ = box_filter_passes(g, 50, 4, 1, maxima=T4, block=32)
    g5, _ = box_filter_passes(g, 50, 5, 1, maxima=T5, block=32)
    bound = lazy_last_pass(g4, T4, 50, True, 1000, 32)
    assert bound is not None
    got = peaks.block_peak_runs(g4, 1000, 1, 32, bound)
    assert as_lists(got) == as_lists(peaks.block_peak_runs(g5, 1000, 1, 32, T5))
