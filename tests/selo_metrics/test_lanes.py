"""The lane layout's row kernels (:mod:`selo_metrics._kernels.lanes`) against numpy: running
window sums per lane, lane shifts, the 32 x 32 transposes into and out of the layout."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selo_metrics._kernels import lanes
from selo_metrics._kernels.lanes import NL


def chunks(n: int) -> int:
    return -(-n // NL) * NL  # n rounded up to whole registers of positions


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 200), k=st.integers(1, 257), seed=st.integers(0, 2**32 - 1),
       big=st.booleans())
def test_slide_is_each_lanes_window_sum_modulo_2_16(n, k, seed, big):
    rng = np.random.default_rng(seed)
    e = rng.integers(0, 65536 if big else 256, (n + k - 1, NL)).astype(np.uint16)
    out = np.full((n + 1, NL), 7, np.uint16)
    lanes.slide(e.reshape(-1), out.reshape(-1), n, k)
    c = np.vstack([np.zeros((1, NL), np.int64), np.cumsum(e, axis=0, dtype=np.int64)])
    np.testing.assert_array_equal(out[:n], (c[k:] - c[:-k]) % 65536)
    assert (out[n] == 7).all()  # nothing written past n positions


@pytest.mark.parametrize("n", [1, 3, 25, 64])
def test_shifts_move_every_position_one_lane(n):
    src = np.random.default_rng(n).integers(0, 65536, (n, NL)).astype(np.uint16)
    below, above = np.zeros_like(src), np.zeros_like(src)
    lanes.from_below(src.reshape(-1), below.reshape(-1), n)
    lanes.from_above(src.reshape(-1), above.reshape(-1), n)
    np.testing.assert_array_equal(below[:, 1:], src[:, :-1])
    np.testing.assert_array_equal(below[:, 0], src[:, 0])
    np.testing.assert_array_equal(above[:, :-1], src[:, 1:])
    np.testing.assert_array_equal(above[:, -1], src[:, -1])


@settings(max_examples=40, deadline=None)
@given(seg=st.integers(1, 200), extra=st.integers(0, 60), seed=st.integers(0, 2**32 - 1))
def test_to_lanes_puts_segment_j_in_lane_j(seg, extra, seed):
    n = seg + extra  # positions read from each segment (past its end: the next one's)
    rng = np.random.default_rng(seed)
    row = rng.integers(0, 256, (NL - 1) * seg + chunks(n)).astype(np.uint8)
    e = np.zeros((chunks(n), NL), np.uint16)
    lanes.to_lanes(row, e.reshape(-1), seg, n)
    want = row[np.arange(n)[:, None] + seg * np.arange(NL)[None, :]]
    np.testing.assert_array_equal(e[:n], want)


@settings(max_examples=40, deadline=None)
@given(seg=st.integers(1, 200), seed=st.integers(0, 2**32 - 1))
def test_from_lanes_writes_every_segment_whole(seg, seed):
    rng = np.random.default_rng(seed)
    o = rng.integers(0, 65536, (chunks(seg), NL)).astype(np.uint16)
    row = np.zeros(NL * seg + NL, np.uint8)
    lanes.from_lanes(o.reshape(-1), row, seg)
    # segments shorter than a register: the later ones overwrite the earlier ones' overrun
    np.testing.assert_array_equal(row[: NL * seg].reshape(NL, seg), (o[:seg].T & 255))
