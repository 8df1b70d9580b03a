"""The box pipeline on the lane layout: the same stages, their horizontal sums as running sums.

:func:`selo_metrics._kernels.boxrows.pipeline` takes each stage's horizontal window sums from
the row's prefix sums (:mod:`selo_metrics._kernels.scan`). Here a tile's rows are held in the
lane layout of :mod:`selo_metrics._kernels.lanes`: the ``N`` columns that the first stage
emits, from ``base``, cut into 32 segments of ``S = ceil(N / 32)`` columns, column ``base +
j S + p`` at position ``p`` of lane ``j``. Every stage works on all ``32 S`` places (those
past a stage's own columns hold values no kept output reads, as the row-major kernel's
padding does):

* the first stage's row, widened with its reflected borders as before (bytes), enters the
  layout by a transpose of its middle (:func:`~selo_metrics._kernels.lanes.to_lanes`), its
  aprons as a later stage's, the row's own two ends copied in;
* a stage's input, positions ``0 .. S + k - 2`` (columns ``base - k//2 + j S + q``), holds
  the previous stage's output in its middle (the emission writes it there), the aprons from
  the neighbouring lanes, and, where a column falls outside the map, the column it reflects
  to (a fix-up list, the same for every stage after the first);
* its horizontal sums are running sums down the positions
  (:func:`~selo_metrics._kernels.lanes.slide`), stored as a ring row; the vertical sums and
  the rounding (:func:`~selo_metrics._kernels.boxrows._emit_pair`) work place by place, so
  they run unchanged on the layout;
* the last stage's rows leave it by a transpose
  (:func:`~selo_metrics._kernels.lanes.from_lanes`) and the tile's own columns are copied into
  the result, where the block maxima are folded as before.

It needs ``S >= max(k // 2, k - k // 2 - 1)`` (a window reaches one lane over at most).
"""

from __future__ import annotations

import numba
import numpy as np

from . import CACHE
from .borders import reflect101
from .boxrows import (
    _aligned,
    _block_maxima,
    _emit_rows,
    _extend_src,
    next_emission,
    prefetch_result,
    prefetch_source,
    start_rows,
)
from .lanes import NL, from_above, from_below, from_lanes, slide, to_lanes
from .vector import wide_vectors

__all__ = ["lane_buffers", "lane_fixups", "lane_pipeline", "lane_segment"]


@numba.njit(cache=CACHE, nogil=True, inline="always")
def lane_segment(n, k, lane_min):
    """The segment length ``S`` of a tile whose first stage emits ``n`` columns, or 0 where
    the lane layout does not apply (``lane_min`` 0, ``n < lane_min``, or ``S`` below the
    kernel's half)."""
    s = (n + NL - 1) // NL
    if lane_min <= 0 or n < lane_min or s < max(k // 2, k - k // 2 - 1, 1):
        return 0
    return s


@numba.njit(cache=CACHE, nogil=True)
def _outside(base, S, k, w, fix):
    # the fix-ups into fix (when it has room), and their count
    before = k // 2
    count = 0
    for q in range(S + k - 1):
        for j in range(NL):
            c = base - before + j * S + q
            if 0 <= c < w:
                continue
            d = reflect101(c, w) - base
            if 0 <= d < NL * S:
                if count < fix.shape[0]:
                    fix[count, 0] = q * NL + j
                    fix[count, 1] = (before + d % S) * NL + d // S
                count += 1
    return count


@numba.njit(cache=CACHE, nogil=True)
def lane_fixups(base, S, k, w):
    """``(place, source)`` pairs (flat indices of a stage's input) for the places whose column
    lies outside the map's ``w`` columns: the place of the column it reflects to, where that
    column is in the layout (elsewhere no kept output reads the place)."""
    fix = np.empty((_outside(base, S, k, w, np.empty((0, 2), np.int64)), 2), np.int64)
    _outside(base, S, k, w, fix)
    return fix


@numba.njit(cache=CACHE, nogil=True)
def lane_buffers(S, k):
    """The layout's work rows for segments of ``S``: the widened source row (bytes), two
    stage inputs, two last-stage outputs (16-bit places) and the result row (bytes)."""
    # whole chunks of 32 positions (to_lanes writes the middle's, from position k // 2)
    npos = (S + k - 1 + NL - 1) // NL * NL + NL
    nlast = (S + NL - 1) // NL * NL
    # on cache lines (boxrows._aligned): a 512-bit access of a row never straddles two
    return (_aligned(NL * S + k + 2 * NL, np.uint8),
            _aligned(2 * npos * NL, np.uint16).reshape((2, npos * NL)),
            _aligned(2 * nlast * NL, np.uint16).reshape((2, nlast * NL)),
            _aligned(NL * S + 2 * NL, np.uint8))


@numba.njit(cache=CACHE, nogil=True, _nrt=False, inline="always")
def _aprons(e, S, before, after):
    # each lane's positions before its middle from the lane below, those after it from the
    # lane above (lane 0 and lane 31 take their own: the caller fixes what is read of them)
    from_below(e[S * NL : (S + before) * NL], e[: before * NL], before)
    from_above(e[before * NL : (before + after) * NL],
               e[(before + S) * NL : (before + S + after) * NL], after)


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def _stage_input(e, S, before, after, fix):
    # a later stage's input around the output the emission wrote in its middle: the aprons,
    # then the columns outside the map (fix: lane_fixups)
    wide_vectors()
    _aprons(e, S, before, after)
    for f in range(fix.shape[0]):
        e[fix[f, 0]] = e[fix[f, 1]]


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def _source_input(X, e, S, before, after):
    # the first stage's input from the widened source row X (column base - before + i at
    # X[i], its borders reflected already): the middle transposed, the aprons, and lane 0's
    # lower and lane 31's upper apron, the row's own two ends, from X
    wide_vectors()
    to_lanes(X[before:], e[before * NL :], S, S)
    _aprons(e, S, before, after)
    for q in range(before):
        e[q * NL] = X[q]
    for q in range(before + S, before + S + after):
        e[q * NL + NL - 1] = X[(NL - 1) * S + q]


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def lane_pipeline(src, dst, k, scale, single, geo, xmaps, mids, work, lwork, fix, S, maxima,
                  B):
    """:func:`selo_metrics._kernels.boxrows.pipeline` on the lane layout: the same arguments,
    plus ``lwork`` (:func:`lane_buffers`), ``fix`` (:func:`lane_fixups`) and the segment
    length ``S`` (:func:`lane_segment`); the same rows emitted in the same order, the same
    result."""
    wide_vectors()
    _ext, rings, colsums, cur, acc = work
    X, E, LT, trow = lwork
    P, R, before, after, pairs = start_rows(geo, rings, cur, k)
    ro0, ro1, co0, co1 = geo[0], geo[1], geo[2], geo[3]
    nin, nout, h = cur[0], cur[1], src.shape[0]
    c0, c1, base = co0[P], co1[P], co0[1]
    n = NL * S
    mid = before * NL
    while True:
        s, y, first, two = next_emission(nin, nout, ro0, ro1, before, after, h, pairs)
        rows = 2 if two else 1
        if s == P - 1:
            prefetch_result(dst, y, rows, ro1[P], c0, c1)
            _emit_rows(rings[s], colsums[s], y, two, first, before, after, h,
                       LT[0, :n], LT[1, :n], scale, single)
            for i in range(rows):
                from_lanes(LT[i], trow, S)
                out = dst[y + i, c0:c1]
                got = trow[c0 - base : c1 - base]
                for x in range(c1 - c0):
                    out[x] = got[x]
                if B > 0:
                    _block_maxima(out, acc, maxima, y + i, c0, B, h)
        elif s >= 0:
            _emit_rows(rings[s], colsums[s], y, two, first, before, after, h,
                       E[0, mid : mid + n], E[1, mid : mid + n], scale, single)
            for i in range(rows):
                _stage_input(E[i], S, before, after, fix)
                slide(E[i], rings[s + 1, (y + i) % R, :n], S, k)
            nin[s + 1] = y + rows
        else:
            r = nin[0]
            if r >= ro1[0]:
                break
            prefetch_source(src, r, ro1[0], co0[0], co1[0])
            row = src[r, co0[0] : co1[0]]
            _extend_src(row, X, xmaps[0], mids[0, 0], mids[0, 1], co1[1] - co0[1] + k - 1)
            _source_input(X, E[0], S, before, after)
            slide(E[0], rings[0, r % R, :n], S, k)
            nin[0] = r + 1
            continue
        nout[s] = y + rows
