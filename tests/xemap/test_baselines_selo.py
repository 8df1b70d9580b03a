"""SeLo / SeLo v2 geometry against a plain-numpy reference of the official generators."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xemap.baselines import _reference as ref
from xemap.baselines.selo import (
    SeLoBaselineError,
    SeLoScaleWarning,
    gaussian_blur,
    gaussian_kernel_q8,
    median_blur,
    selo_boxes,
    selo_map,
    selo_v2_boxes,
    selo_v2_map,
    selo_v2_tiles,
    stack_boxes,
)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _random_scorer(seed: int):
    """Scores drawn once per call, remembered so the reference sees the same ones."""
    rng = np.random.default_rng(seed)
    calls: list[tuple[np.ndarray, np.ndarray]] = []

    def score(boxes):
        s = rng.normal(size=len(boxes))
        calls.append((boxes.copy(), s))
        return s

    return score, calls


def _agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    d = np.abs(a.astype(int) - b.astype(int))
    return float((d == 0).mean()), int(d.max())


# ------------------------------------------------------------------ boxes


@FAST
@given(
    h=st.integers(1, 140),
    w=st.integers(1, 140),
    scales=st.lists(st.integers(1, 70), min_size=1, max_size=3),
)
def test_v1_boxes_equal_the_official_loops(h, w, scales):
    fits = [s for s in scales if s <= h and s <= w]
    if not fits:
        with pytest.raises(SeLoBaselineError, match="no scale"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            selo_boxes(h, w, scales=scales)
        return
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        got = selo_boxes(h, w, scales=scales)
    assert len([r for r in rec if r.category is SeLoScaleWarning]) == len(scales) - len(fits)
    np.testing.assert_array_equal(got, ref.selo_boxes_ref(h, w, fits))
    # identical boxes count once; every pixel is covered; every box lies inside
    assert len(np.unique(got, axis=0)) == len(got)
    assert got[:, 0].min() >= 0 and got[:, 1].max() <= h and got[:, 3].max() <= w
    cover = np.zeros((h, w), int)
    for r0, r1, c0, c1 in got:
        cover[r0:r1, c0:c1] += 1
    assert cover.min() >= 1
    st_ = stack_boxes(h, w, got, np.ones(len(got)))
    assert st_.covered.all() and np.all(st_.mean == 1.0)


def test_v1_boxes_on_an_exact_multiple():
    b = selo_boxes(512, 768, scales=(256,))
    # grid from 0: 2 x 3 tiles; grid from 128: rows 128, 384->256; cols 128, 384, 640->512,
    # whose (256, 512, 512, 768) is already in the first grid and counts once
    assert len(b) == 6 + 2 * 3 - 1
    second = {(r, r + 256, c, c + 256) for r in (128, 256) for c in (128, 384, 512)}
    assert {tuple(x) for x in b[6:]} == second - {(256, 512, 512, 768)}


def test_official_default_scales_on_a_large_scene():
    b = selo_boxes(10000, 10000)
    np.testing.assert_array_equal(b, ref.selo_boxes_ref(10000, 10000, (256, 512, 768)))


@FAST
@given(
    h=st.integers(8, 120),
    w=st.integers(8, 120),
    tile=st.integers(4, 40),
    top=st.floats(0, 1),
    seed=st.integers(0, 10),
)
def test_v2_tiles_and_boxes_equal_the_official_loops(h, w, tile, top, seed):
    if tile > min(h, w):
        with pytest.raises(SeLoBaselineError, match="larger than"):
            selo_v2_tiles(h, w, tile=tile)
        return
    tiles = selo_v2_tiles(h, w, tile=tile)
    np.testing.assert_array_equal(tiles, ref.selo_v2_tiles_ref(h, w, tile))
    keep = np.random.default_rng(seed).permutation(len(tiles))[: max(1, int(top * len(tiles)))]
    sizes = (max(1, tile // 8), max(1, tile // 4))
    got = selo_v2_boxes(h, w, tiles[keep], tile=tile, half_sizes=sizes)
    np.testing.assert_array_equal(got, ref.selo_v2_boxes_ref(h, w, tiles[keep], tile, sizes))
    assert len(np.unique(got, axis=0)) == len(got)


# ------------------------------------------------------------------ stacking


@FAST
@given(h=st.integers(1, 60), w=st.integers(1, 60), n=st.integers(1, 30), seed=st.integers(0, 99))
def test_stacking_is_bit_exact(h, w, n, seed):
    rng = np.random.default_rng(seed)
    r = np.sort(rng.integers(0, h + 1, (n, 2)), axis=1)
    c = np.sort(rng.integers(0, w + 1, (n, 2)), axis=1)
    ok = (r[:, 1] > r[:, 0]) & (c[:, 1] > c[:, 0])
    boxes = np.concatenate([r, c], axis=1)[ok]
    if not len(boxes):
        return
    scores = rng.normal(size=len(boxes)) * 10.0 ** rng.integers(-3, 3)
    got = stack_boxes(h, w, boxes, scores)
    np.testing.assert_array_equal(got.paint(), ref.stack_ref(h, w, boxes, scores))
    cover = np.zeros((h, w), bool)
    for r0, r1, c0, c1 in boxes:
        cover[r0:r1, c0:c1] = True
    np.testing.assert_array_equal(got.paint(got.covered), cover)


# ------------------------------------------------------------------ filters


@FAST
@given(
    h=st.integers(1, 24),
    w=st.integers(1, 24),
    k=st.sampled_from([1, 3, 5, 7, 11, 21, 45]),
    levels=st.sampled_from([2, 5, 256]),
    seed=st.integers(0, 999),
)
def test_median_blur_equals_the_definition(h, w, k, levels, seed):
    img = np.random.default_rng(seed).integers(0, levels, (h, w)).astype(np.uint8)
    np.testing.assert_array_equal(median_blur(img, k), ref.median_ref(img, k))


@FAST
@given(
    h=st.integers(1, 60),
    w=st.integers(1, 60),
    k=st.sampled_from([3, 9, 15, 31]),
    seed=st.integers(0, 999),
)
def test_median_blur_on_piecewise_constant_images(h, w, k, seed):
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.integers(0, h, rng.integers(0, 5)))
    cols = np.sort(rng.integers(0, w, rng.integers(0, 5)))
    cells = rng.integers(0, 256, (len(rows) + 1, len(cols) + 1)).astype(np.uint8)
    img = cells[np.searchsorted(rows, np.arange(h), side="right")][
        :, np.searchsorted(cols, np.arange(w), side="right")
    ]
    np.testing.assert_array_equal(median_blur(img, k, threads=2), ref.median_ref(img, k))


@FAST
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    k=st.sampled_from([3, 5, 9, 11, 31, 61]),
    seed=st.integers(0, 999),
)
def test_gaussian_blur_equals_the_fixed_point_definition(h, w, k, seed):
    img = np.random.default_rng(seed).integers(0, 256, (h, w)).astype(np.uint8)
    np.testing.assert_array_equal(gaussian_blur(img, k), ref.gaussian_ref(img, k))


def test_gaussian_kernel_q8():
    for n in (1, 3, 5, 7, 9, 11, 31, 255):
        k = gaussian_kernel_q8(n)
        np.testing.assert_array_equal(k, ref.gaussian_kernel_q8(n))
        assert k.sum() == 256 and np.array_equal(k, k[::-1]) and k.min() >= 0


@pytest.mark.parametrize("n", [3, 5, 7, 9, 11, 15, 31, 51, 101, 255])
def test_gaussian_kernel_q8_is_opencvs(n):
    """Independent of the code: cv2.GaussianBlur's response to a 255 impulse in a row is
    (255 k + 128) >> 8 of its Q8 kernel k, which is k itself for k < 128."""
    cv2 = pytest.importorskip("cv2", reason="OpenCV is not installed (it is only a reference)")
    row = np.zeros((1, 3 * n + 10), np.uint8)
    c = row.shape[1] // 2
    row[0, c] = 255
    response = cv2.GaussianBlur(row, (n, 1), 0)[0, c - n // 2: c + n // 2 + 1]
    np.testing.assert_array_equal(gaussian_kernel_q8(n), response.astype(np.int64))


# ------------------------------------------------------------------ generators


@FAST
@given(h=st.integers(16, 110), w=st.integers(16, 110), seed=st.integers(0, 999))
def test_selo_map_equals_the_reference(h, w, seed):
    score, calls = _random_scorer(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeLoScaleWarning)
        got = selo_map(h, w, score, scales=(16, 24, 64), median=15)
    ((boxes, scores),) = calls
    expect = ref.selo_map_ref(h, w, boxes, scores, 15)
    assert _agreement(got, expect) == (1.0, 0)


@FAST
@given(
    h=st.integers(32, 110), w=st.integers(32, 110), top=st.floats(0, 1), seed=st.integers(0, 999)
)
def test_selo_v2_map_equals_the_reference(h, w, top, seed):
    score, calls = _random_scorer(seed)
    got = selo_v2_map(h, w, score, top=top, tile=32, half_sizes=(4, 8), ksize=31)
    replay = iter(s for _, s in calls)
    expect = ref.selo_v2_map_ref(h, w, lambda b: next(replay), top, 32, (4, 8), 31)
    assert _agreement(got, expect) == (1.0, 0)


def test_realistic_size_v1():
    h, w = 1100, 1300  # not multiples of 256 / 512 / 768
    score, calls = _random_scorer(1)
    got = selo_map(h, w, score)
    ((boxes, scores),) = calls
    pre = ref.normalise_ref(ref.stack_ref(h, w, boxes, scores))
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.integers(0, h, 300), [0, 0, h - 1, h - 1, 125, 126]])
    cols = np.concatenate([rng.integers(0, w, 300), [0, w - 1, 0, w - 1, 125, 1174]])
    np.testing.assert_array_equal(got[rows, cols], ref.median_ref_at(pre, 251, rows, cols))


def test_realistic_size_v2():
    h, w = 700, 900
    score, calls = _random_scorer(2)
    got = selo_v2_map(h, w, score, top=0.5)
    replay = iter(s for _, s in calls)
    expect = ref.selo_v2_map_ref(h, w, lambda b: next(replay), 0.5)
    assert _agreement(got, expect) == (1.0, 0)


def test_against_opencv_when_present():
    cv2 = pytest.importorskip("cv2", reason="OpenCV is not installed (it is only a reference)")
    h, w = 900, 1000
    score, calls = _random_scorer(3)
    got = selo_map(h, w, score)
    ((boxes, scores),) = calls
    expect = cv2.medianBlur(ref.normalise_ref(ref.stack_ref(h, w, boxes, scores)), 251)
    assert _agreement(got, expect) == (1.0, 0)
    score, calls = _random_scorer(4)
    got = selo_v2_map(h, w, score, top=0.4)
    tiles, s1 = calls[0]
    keep = np.argsort(s1)[-(int(len(s1) * 0.4) + 1) :]
    boxes, s2 = calls[1]
    pre = ref.normalise_ref(
        ref.stack_ref(h, w, np.concatenate([tiles[keep], boxes]), np.concatenate([s1[keep], s2]))
    )
    assert _agreement(got, cv2.GaussianBlur(pre, (255, 255), 0, 0)) == (1.0, 0)
    np.testing.assert_allclose(
        gaussian_kernel_q8(255) / 256, cv2.getGaussianKernel(255, 0)[:, 0], atol=1 / 256
    )


# ------------------------------------------------------------------ edge cases


def test_scale_larger_than_scene_is_skipped_with_a_warning():
    with pytest.warns(SeLoScaleWarning, match="scale 64 is larger"):
        m = selo_map(40, 50, lambda b: b[:, 0].astype(float), scales=(16, 64), median=3)
    assert m.shape == (40, 50)
    with pytest.warns(SeLoScaleWarning), pytest.raises(SeLoBaselineError, match="no scale"):
        selo_map(40, 50, lambda b: b[:, 0].astype(float))


def test_one_pixel_wide_scene():
    m = selo_map(30, 1, lambda b: b[:, 0].astype(float), scales=(1,), median=5)
    col = ref.selo_map_ref(30, 1, ref.selo_boxes_ref(30, 1, (1,)), np.arange(30, dtype=float), 5)
    np.testing.assert_array_equal(m, col)
    assert m[0, 0] == 0 and m[-1, 0] == 255


def test_constant_scores_give_zeros():
    assert not selo_map(64, 64, lambda b: np.full(len(b), 0.3), scales=(16,), median=5).any()
    assert not selo_v2_map(
        64, 64, lambda b: np.full(len(b), 0.0), tile=32, half_sizes=(4,), ksize=5
    ).any()


def test_uncovered_pixels_are_zero_before_the_blur_in_v2():
    # negative scores: the uncovered background (0) is the maximum, as in the official code
    m = selo_v2_map(
        96, 96, lambda b: -1.0 - (b[:, 0] + b[:, 2]) / 100, top=0, tile=32, half_sizes=(2,), ksize=1
    )
    assert m[-1, 0] == 255 and m[0, 0] < 255


@pytest.mark.parametrize(
    "scores, match",
    [
        (lambda b: np.full(len(b), np.nan), "non-finite"),
        (lambda b: np.zeros(len(b) + 1), "must return"),
        (lambda b: ["a"] * len(b), "non-numeric"),
    ],
)
def test_bad_scores_raise(scores, match):
    with pytest.raises(SeLoBaselineError, match=match):
        selo_map(40, 40, scores, scales=(16,), median=3)
    with pytest.raises(SeLoBaselineError, match=match):
        selo_v2_map(40, 40, scores, tile=16, half_sizes=(2,), ksize=3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"median": 4}, "median must be odd"),
        ({"median": 0}, "median must be >= 1"),
        ({"scales": ()}, "scales is empty"),
        ({"scales": (16.0,)}, "scale must be an int"),
        ({"height": 0}, "height must be >= 1"),
    ],
)
def test_bad_v1_arguments_raise(kwargs, match):
    args = {"height": 40, "width": 40, "scales": (16,), "median": 3} | kwargs
    h, w = args.pop("height"), args.pop("width")
    with pytest.raises(SeLoBaselineError, match=match):
        selo_map(h, w, lambda b: np.zeros(len(b)), **args)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"top": 1.5}, "top must be in"),
        ({"ksize": 6}, "ksize must be odd"),
        ({"tile": 64}, "larger than"),
    ],
)
def test_bad_v2_arguments_raise(kwargs, match):
    args = {"tile": 16, "half_sizes": (2,), "ksize": 3} | kwargs
    with pytest.raises(SeLoBaselineError, match=match):
        selo_v2_map(40, 40, lambda b: np.zeros(len(b)), **args)


def test_bad_boxes_and_images_raise():
    with pytest.raises(SeLoBaselineError, match="outside"):
        stack_boxes(10, 10, np.array([[0, 11, 0, 5]]), np.zeros(1))
    with pytest.raises(SeLoBaselineError, match="shape"):
        stack_boxes(10, 10, np.zeros((2, 3), int), np.zeros(2))
    with pytest.raises(SeLoBaselineError, match="uint8"):
        median_blur(np.zeros((4, 4)), 3)


def test_geometry_imports_without_torch():
    code = (
        "import sys, xemap.baselines, xemap.baselines.selo; "
        "assert 'torch' not in sys.modules and 'cv2' not in sys.modules, 'heavy import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_reference_filters_equal_opencv_on_small_images():
    cv2 = pytest.importorskip("cv2", reason="OpenCV is not installed (it is only a reference)")
    rng = np.random.default_rng(5)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        k = int(rng.choice([3, 5, 7, 9, 11, 31, 61, 255]))
        img = rng.integers(0, 256, (h, w)).astype(np.uint8)
        np.testing.assert_array_equal(ref.median_ref(img, k), cv2.medianBlur(img, k))
        np.testing.assert_array_equal(ref.gaussian_ref(img, k), cv2.GaussianBlur(img, (k, k), 0))
        np.testing.assert_array_equal(gaussian_blur(img, k), cv2.GaussianBlur(img, (k, k), 0))
