"""The fused box-filter pipeline (all passes in one stream, column tiles, row bands) against
a plain-numpy twin, on every way of cutting the map: tiles narrower than the halo, bands,
maps smaller than the kernel, several threads."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selo_metrics._kernels import box
from selo_metrics._reference.filters import reflect101_index


def box_twin(g: np.ndarray, k: int, passes: int) -> np.ndarray:
    """``passes`` box passes from the spec: reflect-101 extension, integral image, rint."""
    for _ in range(passes):
        h, w = g.shape
        b, a = k // 2, k - k // 2 - 1
        ext = g[np.ix_(reflect101_index(h, b, a), reflect101_index(w, b, a))].astype(np.int64)
        ii = np.zeros((ext.shape[0] + 1, ext.shape[1] + 1), np.int64)
        ii[1:, 1:] = ext.cumsum(0).cumsum(1)
        s = ii[k:, k:] - ii[:-k, k:] - ii[k:, :-k] + ii[:-k, :-k]
        g = np.rint(s * (1.0 / (k * k))).astype(np.uint8)
    return g


def run(g, k, passes, nthreads, single=None):
    out = np.empty_like(g)
    box.box_filter_u8(
        g,
        out,
        k,
        1.0 / (k * k),
        box.float32_rounding_is_exact(k) if single is None else single,
        nthreads,
        passes,
    )
    return out


@st.composite
def cases(draw):
    h = draw(st.integers(1, 140))
    w = draw(st.integers(1, 140))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if draw(st.booleans()):  # noise
        g = rng.integers(0, 256, (h, w), dtype=np.uint8)
    else:  # plateaus and edges, values near the rounding ties
        cell = draw(st.integers(1, 30))
        small = rng.integers(0, 256, (h // cell + 1, w // cell + 1), dtype=np.uint8)
        g = np.ascontiguousarray(np.kron(small, np.ones((cell, cell), np.uint8))[:h, :w])
    return g


@settings(max_examples=60, deadline=None)
@given(
    g=cases(),
    k=st.sampled_from([1, 2, 3, 5, 7, 8, 12, 25, 50, 257]),
    passes=st.integers(1, 5),
    nthreads=st.integers(1, 4),
    tile=st.integers(1, 70),
)
def test_pipeline_matches_twin_on_every_cut(g, k, passes, nthreads, tile):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(box, "TILE", tile)
        mp.setattr(box, "MIN_TILE", 4)
        mp.setattr(box, "MIN_BAND", 8)
        got = run(g, k, passes, nthreads)
    np.testing.assert_array_equal(got, box_twin(g, k, passes))


@st.composite
def wide_cases(draw):
    # rows wide enough for the lane layout's segments (32 of at least k // 2 columns)
    h = draw(st.integers(1, 40))
    w = draw(st.integers(1, 1000))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        return rng.integers(0, 256, (h, w), dtype=np.uint8)
    cell = draw(st.integers(1, 60))
    small = rng.integers(0, 256, (h // cell + 1, w // cell + 1), dtype=np.uint8)
    return np.ascontiguousarray(np.kron(small, np.ones((cell, cell), np.uint8))[:h, :w])


@settings(max_examples=60, deadline=None)
@given(
    g=wide_cases(),
    k=st.sampled_from([1, 2, 3, 5, 8, 25, 50, 51]),
    passes=st.integers(1, 5),
    nthreads=st.integers(1, 4),
    tile=st.integers(1, 700),
)
def test_lane_layout_matches_twin_on_every_cut(g, k, passes, nthreads, tile):
    """Every tile whose segments reach k // 2 runs on the lane layout (LANE_MIN 1): tiles at
    either edge of the map or at none, segments not a multiple of 32 or shorter, maps narrower
    than the kernel's reach."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(box, "TILE", tile)
        mp.setattr(box, "MIN_TILE", 4)
        mp.setattr(box, "MIN_BAND", 8)
        mp.setattr(box, "LANE_MIN", 1)
        got = run(g, k, passes, nthreads)
    np.testing.assert_array_equal(got, box_twin(g, k, passes))


@pytest.mark.parametrize(
    "shape,nthreads",
    [((1300, 3000), 1), ((2600, 2600), 2), ((600, 6000), 2), ((300, 13000), 2)],
)
def test_lane_layout_at_default_sizes(shape, nthreads):
    """Tiles of at least LANE_MIN columns as the planner cuts real maps: one tile, two
    bands, two tiles, four tiles (two touching no edge of the map)."""
    g = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    g[:, : shape[1] // 3] //= 8  # a smooth third
    assert min(c1 - c0 for _, _, c0, c1 in box._plan(*shape, nthreads)) >= box.LANE_MIN
    np.testing.assert_array_equal(run(g, 50, 5, nthreads), box_twin(g, 50, 5))


def test_lane_segment_applies_where_a_window_reaches_one_lane_over():
    from selo_metrics._kernels.boxlanes import lane_segment

    assert lane_segment(3000, 50, 2560) == 94  # ceil(3000 / 32)
    assert lane_segment(2559, 50, 2560) == 0  # below LANE_MIN
    assert lane_segment(3000, 50, 0) == 0  # the layout off
    assert lane_segment(769, 50, 1) == 25 and lane_segment(768, 50, 1) == 0  # 25 = 50 // 2
    assert lane_segment(4064, 257, 1) == 0 and lane_segment(4065, 257, 1) == 128


def test_plan_covers_the_map_once():
    for h, w, nt in [
        (10000, 10000, 2),
        (3000, 3000, 1),
        (5000, 300, 2),
        (1200, 100, 3),
        (100, 100, 2),
        (1, 1, 4),
    ]:
        cover = np.zeros((h, w), np.int32)
        for r0, r1, c0, c1 in box._plan(h, w, nt):
            cover[r0:r1, c0:c1] += 1
        assert (cover == 1).all()


@pytest.mark.parametrize(
    "h,w,nt,cuts",
    [
        (10000, 10000, 2, [(0, 10000, 0, 4992), (0, 10000, 4992, 10000)]),  # wider than a TILE
        (3000, 3000, 2, [(0, 1472, 0, 3000), (1472, 3000, 0, 3000)]),  # one TILE wide, square
        (2300, 1100, 2, [(0, 1120, 0, 1100), (1120, 2300, 0, 1100)]),  # ... and tall
        (1100, 2300, 2, [(0, 1100, 0, 1120), (0, 1100, 1120, 2300)]),  # ... and wide: tiles
        (5000, 300, 2, [(0, 2496, 0, 300), (2496, 5000, 0, 300)]),  # too narrow for tiles
        (3000, 3000, 1, [(0, 3000, 0, 3000)]),
    ],
)
def test_plan_cuts_bands_or_tiles(h, w, nt, cuts):
    """One TILE wide and at least as tall as wide: row bands, whose halo costs no more than
    the tiles' and whose rows are full width; wider maps: tiles."""
    assert box._plan(h, w, nt, 32).tolist() == [list(c) for c in cuts]


@pytest.mark.parametrize(
    "shape,nthreads",
    [((1100, 90), 2), ((1600, 120), 3), ((260, 2300), 2), ((2100, 2100), 2), ((1100, 2300), 2)],
)
def test_bands_and_tiles_at_default_sizes(shape, nthreads):
    """Row bands (narrow or square maps) and column tiles as the planner cuts real maps."""
    g = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    g[: shape[0] // 2] //= 4  # a smooth half and a noisy half
    np.testing.assert_array_equal(run(g, 50, 5, nthreads), box_twin(g, 50, 5))


def test_float64_rounding_path():
    g = np.random.default_rng(5).integers(0, 256, (90, 130), dtype=np.uint8)
    np.testing.assert_array_equal(run(g, 50, 3, 2, single=False), box_twin(g, 50, 3))


def test_source_is_left_untouched_and_spare_is_free():
    g = np.random.default_rng(6).integers(0, 256, (200, 300), dtype=np.uint8)
    before = g.copy()
    res, spare = box.box_filter_passes(g, 50, 5, 2)
    np.testing.assert_array_equal(g, before)
    assert spare is not res and not np.shares_memory(spare, res)


@settings(max_examples=40, deadline=None)
@given(
    g=cases(),
    passes=st.integers(0, 3),
    nthreads=st.integers(1, 4),
    tile=st.integers(1, 70),
    block=st.sampled_from([1, 2, 5, 32]),
)
def test_block_maxima_of_the_last_pass(g, passes, nthreads, tile, block):
    """The maxima the last pass folds in as it writes rows equal those of the result."""
    maxima = np.full((-(-g.shape[0] // block), -(-g.shape[1] // block)), 7, np.uint8)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(box, "TILE", tile)
        mp.setattr(box, "MIN_TILE", 4)
        mp.setattr(box, "MIN_BAND", 8)
        res, _ = box.box_filter_passes(g, 7, passes, nthreads, maxima=maxima, block=block)
    h, w = g.shape
    want = [
        [res[y : y + block, x : x + block].max() for x in range(0, w, block)]
        for y in range(0, h, block)
    ]
    np.testing.assert_array_equal(maxima, np.array(want, np.uint8))


@pytest.mark.parametrize("k", [127, 128, 129, 200, 257])
def test_large_boxes_where_window_sums_change_by_more_than_int16(k):
    """Rows of 255 and 0 by turns: a column's window sum changes by 255 k from one output
    row to the next, past int16 from k = 129 on (found by Hypothesis on a 2 x 2 map)."""
    g = np.zeros((7, 300), np.uint8)
    g[::2] = 255
    for passes in (1, 2):
        np.testing.assert_array_equal(run(g, k, passes, 1), box_twin(g, k, passes))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32])
@pytest.mark.parametrize("n", [1, 100, 128 * 52 * 5, 3072 * 5 + 7])
def test_work_rows_start_on_cache_lines(n, dtype):
    # the pipeline's work rows (box._aligned) start on 64-byte lines: numba's own np.empty
    # gives 32 bytes, which left every 512-bit access of a row straddling two lines
    for _ in range(8):  # the allocator's offset varies from call to call
        a = box._aligned(n, dtype)
        # the whole n elements (a slice past the allocation's end would come out shorter)
        assert a.dtype == dtype and a.shape == (n,) and a.flags.c_contiguous
        assert a.ctypes.data % 64 == 0
