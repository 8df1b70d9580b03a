"""The last box pass's block maximum in registers (:mod:`selo_metrics._kernels.blockmax`),
against the plain-numpy twin of the spec (``box_twin``): every block it applies to, on maps
of every kind, with the rows reflected at the top and bottom; views of wider arrays; and the
lazy last pass that uses it (box 50, blocks of 32) finding the twin's peaks."""

from __future__ import annotations

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from selo_metrics._kernels import peaks
from selo_metrics._kernels.blockmax import (
    FAST_BLOCK,
    FAST_BOX,
    READ,
    block_pass_max,
    fast_applies,
    row_offsets,
)
from selo_metrics._kernels.box import float32_rounding_is_exact
from selo_metrics._kernels.lastpass import lazy_last_pass
from tests.selo_metrics.test_box_pipeline import box_twin
from tests.selo_metrics.test_lastpass import as_lists, block_max_twin, small_maps
from tests.selo_metrics.test_peaks_blocks import twin_runs

K, B = FAST_BOX, FAST_BLOCK


def kernel_maxima(g: np.ndarray, single: bool) -> dict[tuple[int, int], int]:
    """The kernel's maximum of every block it applies to, keyed by (block row, block col)."""
    h, w = g.shape
    rows = np.empty(B + K, np.int64)
    acc = np.empty(B, np.int32)
    out = {}
    for by in range(-(-h // B)):
        y0, y1 = by * B, min(h, by * B + B)
        row_offsets(g, y0, y1, K, rows)
        for bx in range(-(-w // B)):
            if fast_applies(g, y1, bx * B, K, B):
                out[by, bx] = int(block_pass_max(g, rows, y1 - y0, bx * B, K, 1.0 / (K * K),
                                                 single, acc))
    return out


@settings(max_examples=120, deadline=None)
@given(g=small_maps(90, 230))
def test_block_pass_max_is_the_twins_block_maximum(g):
    """Every block the kernel applies to, in float32 and float64 rounding: the maximum of
    the twin's pass over that block (bottom blocks shorter than 32 rows included)."""
    want = block_max_twin(box_twin(g, K, 1), B)
    assert float32_rounding_is_exact(K)
    for single in (True, False):
        got = kernel_maxima(g, single)
        event(f"blocks computed: {min(len(got), 5)}{'+' if len(got) >= 5 else ''}")
        for (by, bx), v in got.items():
            assert v == want[by, bx], (by, bx, single)


def test_where_the_kernel_applies():
    """Whole blocks of 32 with their windows inside the map's columns, box 50 only; on the
    last rows, only where the 96 bytes read stay inside each row."""
    g = np.zeros((200, 290), np.uint8)
    assert READ == 96  # 32 + 49 columns used, read as three 32-byte registers
    cols = [bx * B for bx in range(10)]
    # from column x - 25 to x + 56: inside for x = 32 .. 224 (224 + 56 = 280 <= 290)
    assert [fast_applies(g, 32, x, K, B) for x in cols] == [
        False, True, True, True, True, True, True, True, False, False]
    # a block whose windows meet the last row: 224 - 25 + 96 = 295 bytes read > 290
    assert [fast_applies(g, 200, x, K, B) for x in cols] == [
        False, True, True, True, True, True, True, False, False, False]
    assert not fast_applies(g, 32, 64, 49, B) and not fast_applies(g, 32, 64, K, 16)


def test_every_alignment_of_the_right_border():
    """Maps 120 to 151 columns wide, bright in their last three columns: the blocks nearest
    the right border, whose windows end on it or one column short of it (where the border's
    reflection decides the maximum), for every alignment of the width against the blocks."""
    for w in range(120, 152):
        g = np.zeros((100, w), np.uint8)
        g[:, -3:] = 255
        want = block_max_twin(box_twin(g, K, 1), B)
        got = kernel_maxima(g, True)
        assert got, w
        for (by, bx), v in got.items():
            assert v == want[by, bx], (w, by, bx)


@settings(max_examples=20, deadline=None)
@given(g=small_maps(90, 200), pad=st.integers(1, 40))
def test_a_view_of_a_wider_array(g, pad):
    """The map as a view of a wider array (rows a larger stride apart): the same maxima as a
    contiguous copy, and the twin's."""
    h, w = g.shape
    wide = np.full((h, w + pad), 255, np.uint8)
    wide[:, :w] = g
    view = wide[:, :w]
    assert not view.flags.c_contiguous
    assert kernel_maxima(view, True) == kernel_maxima(g, True)


@st.composite
def official_cases(draw):
    m = draw(st.integers(4 * B, 300))
    passes = draw(st.integers(2, 3))
    g = draw(small_maps(max(m // 2, K + 1), 260))
    return g, m, passes


@settings(max_examples=80, deadline=None)
@given(case=official_cases())
def test_lazy_last_pass_with_the_official_box(case):
    """The lazy last pass with box 50 and blocks of 32, where the kernel computes the blocks
    inside and ``rect_pass`` those at the borders: the twin's peaks of all the passes."""
    g, m, passes = case
    assert peaks.usable(g.shape, m, B)
    before = box_twin(g, K, passes - 1)
    work = before.copy()
    bound = lazy_last_pass(work, block_max_twin(before, B), K, True, m, B, limit=1.0)
    full = box_twin(g, K, passes)
    assert (bound >= block_max_twin(full, B)).all()
    got = peaks.block_peak_runs(work, m, 1, B, bound)
    if got is not None:
        want = as_lists(twin_runs(full, m))
        event("peaks found" if want[0] else "no peak")
        assert as_lists(got) == want
