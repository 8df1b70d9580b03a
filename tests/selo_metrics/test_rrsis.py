"""selo_metrics.rrsis against an independent numpy reference of the RMSIN / LAVT test loop."""

from __future__ import annotations

import math
import pickle
import random
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from selo_metrics import SeLoInputError, rrsis
from selo_metrics._kernels.iou import iou_counts_float, iou_counts_u8
from selo_metrics._reference.rrsis import counts_ref, foreground_ref, rmsin_loop
from selo_metrics.rrsis import RRSISAccumulator, intersection_union, iou

# values a float map is most likely to get wrong: the tie, its neighbours, the ends
EDGE_FLOATS = [
    0.0,
    0.5,
    np.nextafter(0.5, 1.0),
    np.nextafter(0.5, 0.0),
    1.0,
    127 / 255,
    128 / 255,
    0.25,
    0.75,
]


def _float_maps(dtype, shape):
    edges = sorted(
        {float(dtype(v)) for v in EDGE_FLOATS}
        | {float(np.nextafter(dtype(0.5), dtype(d))) for d in (0, 1)}
    )
    elements = st.one_of(
        st.sampled_from(edges), st.floats(0.0, 1.0, width=32 if dtype == np.float32 else 64)
    )
    return arrays(dtype, shape, elements=elements)


@st.composite
def pairs(draw, max_side: int = 24, tall: bool = False):
    """A (prediction, 0/1 GT mask) pair of one random shape; the prediction of any kind."""
    h = draw(st.integers(520, 1100)) if tall else draw(st.integers(1, max_side))
    w = draw(st.integers(1, 4)) if tall else draw(st.integers(1, max_side))
    kind = draw(st.sampled_from(["bool", "uint8", "float32", "float64"]))
    if kind == "bool":
        pred = draw(arrays(np.bool_, (h, w)))
    elif kind == "uint8":
        pred = draw(
            arrays(
                np.uint8,
                (h, w),
                elements=st.one_of(st.sampled_from([0, 127, 128, 255]), st.integers(0, 255)),
            )
        )
        if pred.max() == 1:  # a 0/1 uint8 map is refused on purpose (tested below)
            pred[0, 0] = 2
    else:
        pred = draw(_float_maps(np.dtype(kind).type, (h, w)))
    gt_dtype = draw(st.sampled_from([np.bool_, np.uint8, np.int64]))
    gt = draw(arrays(np.bool_, (h, w))).astype(gt_dtype)
    return pred, gt


# --- the foreground rule -------------------------------------------------------------------


def test_uint8_foreground_is_value_over_255_above_half_for_all_256_values():
    values = np.arange(256, dtype=np.uint8)
    by_probability = values.astype(np.float64) / 255.0 > 0.5
    np.testing.assert_array_equal(by_probability, values >= 128)
    for v in range(256):  # one pixel against a foreground GT: IoU 1 iff foreground
        pred = np.array([[v, 255]], np.uint8)
        assert iou(pred, np.array([[1, 1]], np.uint8)) == (1.0 if v >= 128 else 0.5)


def test_float_tie_is_background_and_next_value_is_foreground():
    gt = np.ones((1, 1), bool)
    for dtype in (np.float16, np.float32, np.float64):
        assert iou(np.array([[0.5]], dtype), gt) == 0.0
        above = np.nextafter(dtype(0.5), dtype(1.0))
        assert iou(np.array([[above]], dtype), gt) == 1.0


def test_bool_prediction_is_taken_as_it_is():
    gt = np.array([[True, False, True]])
    assert intersection_union(np.array([[True, True, False]]), gt) == (1, 3)


# --- equal to the reference ------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(pair=pairs())
def test_counts_equal_reference(pair):
    pred, gt = pair
    assert intersection_union(pred, gt) == counts_ref(pred, gt)


@settings(max_examples=25, deadline=None)
@given(pair=pairs(tall=True))
def test_counts_equal_reference_across_thread_chunks(pair):
    pred, gt = pair
    assert intersection_union(pred, gt) == counts_ref(pred, gt)


@settings(max_examples=40, deadline=None)
@given(pair=pairs(max_side=30), data=st.data())
def test_strided_views_equal_reference(pair, data):
    pred, gt = pair
    sy, sx = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    if pred.dtype == np.uint8 and pred[::sy, ::-sx].max() == 1:
        # the view would be a 0/1 uint8 map, refused on purpose (pairs() keeps a 2 somewhere,
        # which the view may skip): put it where every view of this test looks, row 0's end
        pred = pred.copy()
        pred[0, -1] = 2
    p, g = pred[::sy, ::-sx], gt[::sy, ::-sx]
    assert intersection_union(p, g) == counts_ref(p, g)
    assert intersection_union(pred.T, gt.T) == counts_ref(pred.T, gt.T)


@settings(max_examples=60, deadline=None)
@given(samples=st.lists(pairs(max_side=12), min_size=1, max_size=40))
def test_accumulator_equals_the_rmsin_loop(samples):
    ref = rmsin_loop(samples)
    acc = RRSISAccumulator()
    ious = [acc.update(p, g) for p, g in samples]
    got = acc.compute()
    assert ious == ref["ious"]  # per sample: bit for bit
    assert got["n"] == ref["n"]
    if math.isnan(ref["oiou"]):  # every union empty: the loop divides by zero; we say 0.0
        assert got["oiou"] == 0.0
    else:
        assert got["oiou"] == ref["oiou"]
    for t in rrsis.DEFAULT_THRESHOLDS:
        assert got[f"prec@{t}"] == ref[f"prec@{t}"]
    # mIoU: the exact mean rounded once; np.mean's float sum agrees to rounding error
    exact = sum(Fraction(x) for x in ref["ious"]) / len(ref["ious"])
    assert got["miou"] == float(exact)
    assert math.isclose(got["miou"], ref["miou"], rel_tol=1e-13, abs_tol=1e-300)


def test_polygon_gt_is_rasterised_like_opencv_fillpoly():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(5)
    for _ in range(20):
        h, w = rng.integers(5, 60, size=2)
        polys = [rng.uniform(-5, 65, size=(rng.integers(3, 7), 2)) for _ in range(2)]
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [np.array(p, np.int32) for p in polys], 1)
        pred = rng.random((h, w))
        try:
            got = iou(pred, [p.tolist() for p in polys])
        except SeLoInputError:  # a zero-area random polygon
            continue
        inter, union = counts_ref(pred, mask)
        assert got == (0.0 if union == 0 else inter / union)


def test_empty_polygon_list_is_an_empty_gt():
    assert intersection_union(np.full((3, 3), 0.9), []) == (0, 9)


# --- the loop's edge cases -------------------------------------------------------------------


def test_empty_union_scores_zero_not_one():
    empty = np.zeros((5, 5), bool)
    assert iou(empty, empty) == 0.0
    assert iou(np.zeros((5, 5), np.uint8), empty) == 0.0
    acc = RRSISAccumulator()
    acc.update(empty, empty)
    r = acc.compute()
    assert (r["miou"], r["oiou"], r["prec@0.5"]) == (0.0, 0.0, 0.0)


def test_precision_counts_iou_equal_to_the_threshold():
    acc = RRSISAccumulator()
    for inter, union in [(1, 2), (3, 5), (7, 10), (4, 5), (9, 10)]:  # exactly 0.5 .. 0.9
        acc.add(inter, union)
    r = acc.compute()
    assert [r[f"prec@{t}"] for t in (0.5, 0.6, 0.7, 0.8, 0.9)] == [1.0, 0.8, 0.6, 0.4, 0.2]


def test_oiou_is_cumulative_not_mean():
    acc = RRSISAccumulator()
    acc.add(1, 1)
    acc.add(0, 99)
    r = acc.compute()
    assert r["oiou"] == 0.01 and r["miou"] == 0.5


def test_empty_accumulator_gives_none():
    r = RRSISAccumulator().compute()
    assert r == {
        "n": 0,
        "miou": None,
        "oiou": None,
        "prec@0.5": None,
        "prec@0.6": None,
        "prec@0.7": None,
        "prec@0.8": None,
        "prec@0.9": None,
    }


# --- accumulator algebra ---------------------------------------------------------------------

counts = st.integers(0, 10**7).flatmap(lambda u: st.tuples(st.integers(0, u), st.just(u)))


@settings(max_examples=80, deadline=None)
@given(items=st.lists(counts, max_size=60), seed=st.integers(0, 2**32 - 1))
def test_merge_is_order_free_and_bit_identical(items, seed):
    whole = RRSISAccumulator()
    for i, u in items:
        whole.add(i, u)
    rnd = random.Random(seed)
    shuffled = items[:]
    rnd.shuffle(shuffled)
    parts = []
    while shuffled:
        k = rnd.randint(1, len(shuffled))
        part = RRSISAccumulator()
        for i, u in shuffled[:k]:
            part.add(i, u)
        parts.append(pickle.loads(pickle.dumps(part)))
        shuffled = shuffled[k:]
    rnd.shuffle(parts)
    merged = RRSISAccumulator()
    for p in parts:
        merged.merge(p)
    assert merged.compute() == whole.compute()
    assert len(merged) == len(items)


def test_pickle_round_trip_keeps_state_and_thresholds():
    acc = RRSISAccumulator(thresholds=(0.25, 0.75))
    acc.add(1, 3)
    back = pickle.loads(pickle.dumps(acc))
    assert back.compute() == acc.compute()
    assert set(back.compute()) == {"n", "miou", "oiou", "prec@0.25", "prec@0.75"}


def test_reset_and_merge_checks():
    acc = RRSISAccumulator()
    acc.add(1, 2)
    acc.reset()
    assert acc.compute()["n"] == 0
    with pytest.raises(ValueError, match="thresholds"):
        acc.merge(RRSISAccumulator(thresholds=(0.5,)))
    with pytest.raises(TypeError):
        acc.merge(object())
    with pytest.raises(ValueError, match="I <= U"):
        acc.add(3, 2)
    for bad in [(), (0.5, 0.5), (1.5,), (-0.1,)]:
        with pytest.raises(ValueError):
            RRSISAccumulator(thresholds=bad)


# --- errors ----------------------------------------------------------------------------------

GT = np.zeros((4, 4), bool)


@pytest.mark.parametrize(
    ("pred", "gt", "match"),
    [
        (np.zeros((4, 5)), GT, r"shape \(4, 5\) and GT mask shape \(4, 4\) differ"),
        (np.full((4, 4), np.nan), GT, "16 value.*outside.*16 NaN"),
        (np.full((4, 4), 1.5), GT, r"outside \[0, 1\].*max 1.5"),
        (np.full((4, 4), -0.25), GT, "min -0.25"),
        (np.zeros((0, 4)), np.zeros((0, 4), bool), "empty"),
        (np.zeros((4, 4, 1)), GT, "2-D"),
        (np.zeros((4, 4), np.int64), GT, "dtype int64.*astype"),
        (np.eye(4, dtype=np.uint8), GT, "only 0 and 1.*bool"),
        (np.zeros((4, 4)), np.full((4, 4), 2, np.uint8), "only 0 and 1"),
        (np.zeros((4, 4)), np.full((4, 4), -1, np.int32), "only 0 and 1"),
        (np.zeros((4, 4)), np.zeros((4, 4), np.float64), "dtype float64"),
        (np.zeros((4, 4)), [[(0, 0), (1, 1), (2, 2)]], "zero-area"),
    ],
)
def test_bad_input_names_the_sample(pred, gt, match):
    with pytest.raises(SeLoInputError, match=match) as info:
        iou(pred, gt, sample_id="s42")
    assert info.value.sample_id == "s42"
    assert str(info.value).startswith("sample 's42': ")
    acc = RRSISAccumulator()
    with pytest.raises(SeLoInputError):
        acc.update(pred, gt, sample_id="s42")
    assert acc.compute()["n"] == 0  # nothing added


# --- kernels against their twin --------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    pred=arrays(np.uint8, st.tuples(st.integers(1, 700), st.integers(1, 6))),
    seed=st.integers(0, 2**32 - 1),
)
def test_u8_kernel_equals_twin(pred, seed):
    gt = np.random.default_rng(seed).integers(0, 2, pred.shape, dtype=np.uint8)
    inter, union, bad, or_p, or_g = iou_counts_u8(pred, gt, 128)
    assert (inter, union) == counts_ref(pred, gt)
    assert (bad, or_p, or_g) == (0, int(np.bitwise_or.reduce(pred, axis=None)), int(gt.max()))
    as_bool = pred >= 100
    assert iou_counts_u8(as_bool.view(np.uint8), gt, 1)[:2] == counts_ref(as_bool, gt)


@settings(max_examples=60, deadline=None)
@given(
    pred=arrays(
        np.float64,
        st.tuples(st.integers(1, 700), st.integers(1, 6)),
        elements=st.floats(allow_nan=True, allow_infinity=True),
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_float_kernel_equals_twin_and_counts_bad_values(pred, seed):
    gt = np.random.default_rng(seed).integers(0, 2, pred.shape, dtype=np.uint8)
    inter, union, bad, _, _ = iou_counts_float(pred, gt)
    with np.errstate(invalid="ignore"):
        assert (inter, union) == counts_ref(pred, gt)
        assert bad == int(np.count_nonzero(~((pred >= 0) & (pred <= 1))))
    with np.errstate(invalid="ignore", over="ignore"):
        f32 = pred.astype(np.float32)
        assert iou_counts_float(f32, gt)[:2] == (
            int(np.sum((f32 > 0.5) & (gt == 1))),
            int(np.sum((f32 > 0.5) | (gt == 1))),
        )


@pytest.mark.parametrize("offset", [0, 1, 3, 7])
def test_u8_kernel_on_thread_chunks_and_unaligned_words(offset):
    """> 2 x 65536 words (several threads when there are CPUs) and views off 8-byte bounds."""
    rng = np.random.default_rng(offset)
    h, w = 1031, 1033  # 1065023 pixels: 133127 words and a 7-pixel tail
    pred = rng.integers(0, 256, h * w + offset, dtype=np.uint8)[offset:].reshape(h, w)
    gt = rng.integers(0, 2, h * w + offset, dtype=np.uint8)[offset:].reshape(h, w)
    assert intersection_union(pred, gt) == counts_ref(pred, gt)
    assert intersection_union(pred > 99, gt.view(bool)) == counts_ref(pred > 99, gt)
    assert intersection_union(pred / 255.0, gt) == counts_ref(pred, gt)


def test_reference_foreground_reads_every_kind():
    assert foreground_ref(np.array([[0.5, 0.51]])).tolist() == [[False, True]]
