"""Numba kernels: the ``"paper"`` GT mask, the exact union of the polygons.

``fill_polys_paper``: a pixel ``(x, y)`` is set when the point lies inside (even-odd, each
polygon on its own) or on the boundary of a polygon, decided with exact predicates
(see ``selo_metrics.raster``); it writes 1 into a C-contiguous ``uint8`` (H, W) array in
place, span by span, with the row helpers of :mod:`.raster`.
"""

from __future__ import annotations

import numba
import numpy as np

from . import CACHE
from .raster import _fill_row_by_counts, _fill_span

__all__ = ["fill_polys_paper"]

_jit = numba.njit(cache=CACHE, nogil=True)

_EPS = 2.0**-53
_CCW_ERRBOUND_A = (3.0 + 16.0 * _EPS) * _EPS
_SPLITTER = 134217729.0  # 2^27 + 1
_CROSS_ERR = 8.0 * 2.0**-53
_TINY = 2.0**-1000  # (underflow: see gt_mask's notes)


@_jit
def _two_sum(a, b):
    s = a + b
    bv = s - a
    av = s - bv
    return s, (a - av) + (b - bv)


@_jit
def _split(a):
    c = _SPLITTER * a
    big = c - a
    hi = c - big
    return hi, a - hi


@_jit
def _two_prod(a, b):
    p = a * b
    ahi, alo = _split(a)
    bhi, blo = _split(b)
    err = alo * blo - (((p - ahi * bhi) - alo * bhi) - ahi * blo)
    return p, err


@_jit
def _orient_exact_sign(px, py, ax, ay, bx, by):
    """Exact sign of (px - ax) (by - ay) - (py - ay) (bx - ax), by float expansions."""
    d1, e1 = _two_sum(px, -ax)
    d2, e2 = _two_sum(by, -ay)
    d3, e3 = _two_sum(py, -ay)
    d4, e4 = _two_sum(bx, -ax)
    terms = np.empty(16, np.float64)
    k = 0
    for u in (d1, e1):
        for v in (d2, e2):
            p, q = _two_prod(u, v)
            terms[k] = p
            terms[k + 1] = q
            k += 2
    for u in (d3, e3):
        for v in (d4, e4):
            p, q = _two_prod(u, v)
            terms[k] = -p
            terms[k + 1] = -q
            k += 2
    # grow an exact non-overlapping expansion; its sign is that of the largest component
    expansion = np.zeros(17, np.float64)
    n = 0
    for t in range(16):
        q = terms[t]
        for i in range(n):
            s, err = _two_sum(q, expansion[i])
            expansion[i] = err
            q = s
        expansion[n] = q
        n += 1
    for i in range(n - 1, -1, -1):
        if expansion[i] > 0.0:
            return 1
        if expansion[i] < 0.0:
            return -1
    return 0


@_jit
def _orient_sign(px, py, ax, ay, bx, by):
    """Sign of the orientation determinant, float with Shewchuk's error bound, else exact."""
    left = (px - ax) * (by - ay)
    right = (py - ay) * (bx - ax)
    det = left - right
    bound = _CCW_ERRBOUND_A * (abs(left) + abs(right))
    if det > bound:
        return 1
    if -det > bound:
        return -1
    if (px == ax or by == ay) and (py == ay or bx == ax):
        return 0  # both products are exactly zero
    return _orient_exact_sign(px, py, ax, ay, bx, by)


@_jit
def _crossing_key(y, xa, ya, xb, yb, width):
    """Exact key of the edge's crossing x* with row ``y`` (ya < yb, ya <= y <= yb).

    ``2 floor(x*)`` when x* is an integer, ``2 floor(x*) + 1`` otherwise, clamped to
    ``[-1, 2 width + 1]``; ``x* > x`` exactly when ``key > 2 x``.
    """
    r = (y - ya) * (xb - xa) / (yb - ya)
    approx = xa + r
    if approx < -2.0:
        return np.int64(-1)
    if approx > width + 1.0:
        return np.int64(2 * width + 1)
    c = np.int64(np.floor(approx))
    # Five roundings give r within 5u |r| of its exact value, the sum adds u |approx|
    # (u = 2**-53): 8u (|r| + |approx|) bounds the error with room to spare. No integer
    # within that of approx: floor(x*) = c and x* is not an integer, decided without the
    # exact predicates (most crossings); else they decide.
    bound = _CROSS_ERR * (abs(r) + abs(approx)) + _TINY
    if approx - bound > c and approx + bound < c + 1:
        if c >= width:
            return np.int64(2 * width + 1)
        return 2 * c + 1 if c >= 0 else np.int64(-1)
    fy = np.float64(y)
    # sign(orient) == sign(x - x*) since yb > ya
    while _orient_sign(np.float64(c + 1), fy, xa, ya, xb, yb) <= 0:
        c += 1
    while _orient_sign(np.float64(c), fy, xa, ya, xb, yb) > 0:
        c -= 1
    if c < 0:
        return np.int64(-1)
    if c >= width:
        return np.int64(2 * width + 1)
    if _orient_sign(np.float64(c), fy, xa, ya, xb, yb) == 0:
        return 2 * c
    return 2 * c + 1


@_jit
def _fill_poly_paper(mask, vertices, start, stop, ea, keys, act, cnt_le, cnt_lt):
    height, width = mask.shape
    # the vertices and horizontal edges lying on integer rows belong to the boundary;
    # ea[e] = (x, y) of the lower end, (x, y) of the upper end of every other edge
    ne = 0
    for i in range(start, stop):
        j = i - 1 if i > start else stop - 1
        x0 = vertices[j, 0]
        y0 = vertices[j, 1]
        x1 = vertices[i, 0]
        y1 = vertices[i, 1]
        if y0 == y1:
            if y0 == np.floor(y0) and 0.0 <= y0 < height:
                lo = np.ceil(min(x0, x1))
                hi = np.floor(max(x0, x1))
                if lo < width and hi >= 0.0:
                    lo = max(lo, 0.0)
                    hi = min(hi, width - 1.0)
                    row = int(y0)
                    for x in range(int(lo), int(hi) + 1):
                        mask[row, x] = 1
            continue
        if y0 == np.floor(y0) and x0 == np.floor(x0) and 0.0 <= y0 < height and 0.0 <= x0 < width:
            mask[int(y0), int(x0)] = 1
        if y0 < y1:
            ea[ne, 0] = x0
            ea[ne, 1] = y0
            ea[ne, 2] = x1
            ea[ne, 3] = y1
        else:
            ea[ne, 0] = x1
            ea[ne, 1] = y1
            ea[ne, 2] = x0
            ea[ne, 3] = y0
        ne += 1
    if ne < 2:
        return
    # rows: an edge crosses row y when ya <= y < yb (half-open, even-odd)
    order = np.argsort(ea[:ne, 1], kind="mergesort")
    y_first = max(np.ceil(ea[order[0], 1]), 0.0)
    y_last = min(np.ceil(ea[:ne, 3].max()) - 1.0, height - 1.0)
    if y_first > y_last:
        return
    na = 0
    k = 0
    for y in range(int(y_first), int(y_last) + 1):
        fy = np.float64(y)
        # the active edges side by side (no gathers over all edges per row)
        m = 0
        for j in range(na):
            if act[j, 3] > fy:
                if m != j:
                    act[m] = act[j]
                m += 1
        na = m
        while k < ne and ea[order[k], 1] <= fy:
            e = order[k]
            if ea[e, 3] > fy:
                act[na] = ea[e]
                na += 1
            k += 1
        for j in range(na):
            keys[j] = _crossing_key(fy, act[j, 0], act[j, 1], act[j, 2], act[j, 3], width)
        row = mask[y]
        if na * 8 > width:  # many crossings: count them per column, O(na + W), no sort
            _fill_row_by_counts(row, keys, na, 1, cnt_le, cnt_lt)
            continue
        keys_row = np.sort(keys[:na])
        for j in range(0, na - 1, 2):
            # ceil of the left crossing .. floor of the right crossing
            _fill_span(row, (keys_row[j] + 1) >> 1, keys_row[j + 1] >> 1)


@_jit
def fill_polys_paper(mask, vertices, offsets):
    """Union of the polygons, pixel points inside (even-odd) or on a boundary, in place.

    Parameters
    ----------
    mask : uint8 array (H, W), C-contiguous
        Written in place (pixels set to 1).
    vertices : float64 array (N, 2)
        The ``(x, y)`` vertices of all polygons, concatenated (finite).
    offsets : int64 array (P + 1,)
        Polygon ``p`` is ``vertices[offsets[p]:offsets[p + 1]]``.
    """
    n = vertices.shape[0]
    ea = np.empty((n, 4), np.float64)
    act = np.empty((n, 4), np.float64)
    keys = np.empty(n, np.int64)
    cnt_le = np.empty(mask.shape[1] + 1, np.int64)
    cnt_lt = np.empty(mask.shape[1] + 1, np.int64)
    for p in range(offsets.shape[0] - 1):
        if offsets[p + 1] > offsets[p]:
            _fill_poly_paper(mask, vertices, offsets[p], offsets[p + 1], ea, keys, act, cnt_le,
                             cnt_lt)
