"""as_map: which arrays are maps, what they become, and what memory that takes."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import selo_metrics
from selo_metrics import SeLoInputError, as_map

SQUARE = [(20, 20), (90, 20), (90, 80), (20, 80)]


# ------------------------------------------------------------------------------------------
# masked arrays (issue 13, item 8)
# ------------------------------------------------------------------------------------------


def test_a_masked_array_with_masked_pixels_is_refused():
    data = np.full((100, 120), 0.3)
    masked = np.ma.masked_array(data, mask=data > 1)
    masked[40:50, 40:50] = np.ma.masked
    for func in (selo_metrics.evaluate, selo_metrics.rsu, selo_metrics.ras):
        with pytest.raises(SeLoInputError, match="masked array with 100 masked pixel") as info:
            func(masked, [SQUARE], sample_id="m1")
        assert info.value.sample_id == "m1" and "sample 'm1'" in str(info.value)


def test_a_masked_array_without_masked_pixels_is_scored_as_its_data():
    data = np.random.default_rng(3).random((100, 120))
    for mask in (np.ma.nomask, np.zeros(data.shape, bool)):
        masked = np.ma.masked_array(data, mask=mask)
        assert selo_metrics.evaluate(masked, [SQUARE]) == selo_metrics.evaluate(data, [SQUARE])


# ------------------------------------------------------------------------------------------
# dtypes and messages (issue 13, item 13)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype", ["m8[s]", "M8[s]", "complex128", "bool", "object", "U3", "V8", [("a", "f8")]]
)
def test_non_numeric_dtypes_are_refused_naming_the_dtype(dtype):
    arr = np.zeros((10, 12), dtype=dtype)
    with pytest.raises(SeLoInputError, match="is not supported") as info:
        as_map(arr, sample_id=4)
    assert info.value.sample_id == 4 and str(arr.dtype) in str(info.value)


@pytest.mark.parametrize(
    ("value", "dtype", "shown"),
    [
        (1.0000001, np.float64, "max 1.0000001"),
        (1 + 2.0**-52, np.float64, "max 1.0000000000000002"),
        (1.0000001, np.float32, "max 1.0000001"),
        (-1e-300, np.float64, "min -1e-300"),
    ],
)
def test_out_of_range_messages_print_enough_digits(value, dtype, shown):
    arr = np.full((10, 12), 0.5, dtype)
    arr[3, 4] = value
    with pytest.raises(SeLoInputError, match=r"above 1|negative") as info:
        as_map(arr)
    assert shown in str(info.value)


# ------------------------------------------------------------------------------------------
# float maps: no float64 copies (issue 13, item 6), the same numbers
# ------------------------------------------------------------------------------------------


def _traced_peak(func) -> int:
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_float_map_costs_its_uint8_view_only(dtype):
    prob = np.random.default_rng(0).random((1500, 1400)).astype(dtype)
    as_map(prob[:10, :10])  # compile outside the measurement
    peak = _traced_peak(lambda: as_map(prob))
    # the uint8 view (2.1 MB) and small change; a float64 copy would be 16.8 MB
    assert peak < prob.size * 1.25, peak


def test_evaluate_on_a_float32_map_makes_no_map_sized_float_copy():
    prob = np.random.default_rng(1).random((1500, 1400)).astype(np.float32)
    poly = [[(100, 100), (900, 120), (800, 1300), (150, 1200)]]
    selo_metrics.evaluate(prob, poly)  # compile and allocate the workspace first
    peak = _traced_peak(lambda: selo_metrics.evaluate(prob, poly))
    assert peak < prob.size * 2, peak  # a float32 copy alone would be 4 bytes a pixel


def _numpy_gray(prob: np.ndarray) -> np.ndarray:
    """The rule from docs/metrics.md, in plain numpy: uint8(float64(prob) * 255.0)."""
    return (prob.astype(np.float64) * 255.0).astype(np.uint8)


_EDGES = np.array([k / 255 for k in range(256)] + [np.nextafter(k / 255, 0) for k in range(1, 256)])


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([np.float32, np.float64, np.float16]),
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40),
        elements=st.floats(0, 1) | st.sampled_from(list(_EDGES)),
    ),
)
def test_float_maps_truncate_like_the_numpy_rule(dtype, values):
    prob = values.astype(dtype)
    m = as_map(prob)
    assert np.array_equal(m.gray, _numpy_gray(prob))
    assert np.array_equal(np.asarray(m.prob, np.float64), prob.astype(np.float64))


def test_float32_and_float64_of_the_same_values_score_identically():
    rng = np.random.default_rng(5)
    prob32 = (rng.random((300, 400)) ** 3).astype(np.float32)
    poly = [[(50, 40), (250, 60), (220, 250), (60, 230)]]
    a = selo_metrics.evaluate(prob32, poly)
    b = selo_metrics.evaluate(prob32.astype(np.float64), poly)
    assert a == b
    assert (a.rsu, a.ras, a.rda, a.rmi) == (b.rsu, b.ras, b.rda, b.rmi)


def test_a_strided_float_map_is_read_as_its_values():
    prob = np.random.default_rng(6).random((200, 300))
    view = prob[::2, ::3]
    np.testing.assert_array_equal(as_map(view).gray, _numpy_gray(np.ascontiguousarray(view)))
    assert as_map(prob.T).gray.shape == (300, 200)
