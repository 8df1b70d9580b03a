"""The block-maximum peak search against the spec's running maximum (plain-numpy twin):
every block size, window, map shape it accepts, plateaus, ties and ambiguous blocks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selo_metrics._kernels import peaks
from selo_metrics._reference.filters import max_filter_ref


def twin_runs(g: np.ndarray, m: int):
    flags = ((g == max_filter_ref(g, m)) & (g > 0)).astype(np.int8)
    rows, x0, x1 = [], [], []
    for y in range(g.shape[0]):
        d = np.diff(np.concatenate([[0], flags[y], [0]]))
        for a, b in zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0], strict=True):
            rows.append(y)
            x0.append(a)
            x1.append(b - 1)
    return rows, x0, x1


def draw_map(draw, kind: str, h: int, w: int, rng: np.random.Generator,
             max_cell: int = 25) -> np.ndarray:
    """A uint8 ``h x w`` map of a kind that stresses the block search (shared by its tests)."""
    if kind == "noise":
        g = rng.integers(0, 256, (h, w), dtype=np.uint8)
    elif kind == "plateaus":
        cell = draw(st.integers(1, max_cell))
        small = rng.integers(0, 256, (h // cell + 1, w // cell + 1), dtype=np.uint8)
        g = np.kron(small, np.ones((cell, cell), np.uint8))[:h, :w]
    elif kind == "spikes":  # a flat floor with a few higher pixels: ambiguous blocks
        g = np.full((h, w), rng.integers(0, 200), np.uint8)
        n = draw(st.integers(1, 8))
        g[rng.integers(0, h, n), rng.integers(0, w, n)] = rng.integers(0, 256, n)
    else:  # few distinct levels: many ties
        g = (rng.integers(0, 3, (h, w)) * 100).astype(np.uint8)
    return np.ascontiguousarray(g)


@st.composite
def maps(draw):
    block = draw(st.sampled_from([2, 3, 4, 8]))
    m = draw(st.integers(4 * block, 48))
    h = draw(st.integers(m // 2, 110))
    w = draw(st.integers(m // 2, 110))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["noise", "plateaus", "spikes", "levels"]))
    return draw_map(draw, kind, h, w, rng), m, block


@settings(max_examples=120, deadline=None)
@given(case=maps(), nthreads=st.integers(1, 3), per_row=st.sampled_from([0, 1, 2]),
       room=st.sampled_from([1, 7, 1 << 16]))
def test_block_peaks_match_running_maximum(case, nthreads, per_row, room):
    """Whatever room the runs are first given (none: always the second pass)."""
    g, m, block = case
    assert peaks.usable(g.shape, m, block)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(peaks, "RUNS_PER_ROW", per_row)
        mp.setattr(peaks, "ROOM", room)
        got = peaks.block_peak_runs(g, m, nthreads, block)
    want = twin_runs(g, m)
    assert [a.tolist() for a in got] == [list(map(int, a)) for a in want]


def ambiguous_map():
    """A plateau of 100 (one block-row segment, columns 40-43) and a 200 at column 66: the
    plateau's block is a candidate, and the 200 is in the window (24 columns right) of
    column 43 only, so an exact check must split the plateau."""
    g = np.full((120, 120), 10, np.uint8)
    g[60, 40:44] = 100
    g[60, 66] = 200
    return g


def test_ambiguous_blocks_are_resolved_exactly():
    g = ambiguous_map()
    got = [a.tolist() for a in peaks.block_peak_runs(g, 48, 1, 4)]
    want = [list(map(int, a)) for a in twin_runs(g, 48)]
    assert got == want
    assert (60, 40, 42) in zip(*want, strict=True)  # the plateau, split


def test_too_many_threats_hands_back_to_the_running_maximum(monkeypatch):
    monkeypatch.setattr(peaks, "MAX_THREATS", 0)
    assert peaks.block_peak_runs(ambiguous_map(), 48, 1, 4) is None


@pytest.mark.parametrize(
    "shape,m,block,ok",
    [
        ((500, 500), 1000, 32, True),
        ((499, 3000), 1000, 32, False),
        ((100, 100), 64, 32, False),
        ((100, 100), 128, 32, True),
    ],
)
def test_usable(shape, m, block, ok):
    assert peaks.usable(shape, m, block) is ok


@settings(max_examples=150, deadline=None)
@given(
    h=st.integers(1, 12),
    w=st.integers(1, 70),
    q=st.integers(1, 20),
    seed=st.integers(0, 2**32 - 1),
)
def test_range_maxima_are_numpys(h, w, q, seed):
    """The sparse table's row range maxima, over ranges of every length up to the row (and
    the windows' ranges of real block grids): numpy's maximum of each slice."""
    rng = np.random.default_rng(seed)
    T = rng.integers(0, 256, (h, w), dtype=np.uint8)
    lo = rng.integers(0, w, q)
    hi = np.minimum(w - 1, lo + rng.integers(0, w, q))
    out = np.empty((h, q), np.uint8)
    peaks._range_max_rows(T, lo, hi, out)
    expected = np.array([[T[r, a : b + 1].max() for a, b in zip(lo, hi, strict=True)]
                         for r in range(h)], np.uint8)
    np.testing.assert_array_equal(out, expected)
    rr = peaks._ranges(h * 32, h, 32, 500, 499)
    cc = peaks._ranges(w * 32, w, 32, 500, 499)
    for a, b in ((0, 1), (2, 3)):
        grid = peaks._range_max_2d(T, rr[a : b + 1], cc[a : b + 1])
        want = np.array([[T[rr[a, y] : rr[b, y] + 1, cc[a, x] : cc[b, x] + 1].max()
                          if rr[a, y] <= rr[b, y] and cc[a, x] <= cc[b, x] else -1
                          for x in range(w)] for y in range(h)])
        ok = want >= 0
        np.testing.assert_array_equal(grid[ok], want[ok])
