"""Numba kernels: polygon rasterization for the SeLo GT mask.

Two conventions (see ``selo_metrics.raster``):

* ``fill_polys_slm``: OpenCV's ``fillPoly(mask, polygons, 1)`` (LINE_8, shift 0,
  offset 0) reproduced pixel for pixel with OpenCV's integer arithmetic: every edge
  drawn as a clipped 8-connected Bresenham line, then one even-odd scanline fill over
  the edges of all polygons, x in 16-bit fixed point.
* ``fill_polys_paper``: the union of the polygons (float vertices); a pixel ``(x, y)``
  is set when the point lies inside (even-odd, each polygon on its own) or on the
  boundary of a polygon, decided with exact predicates.

Both write 1 into a C-contiguous ``uint8`` (H, W) array in place, span by span.
"""

from __future__ import annotations

import numba
import numpy as np

from . import CACHE

__all__ = ["clip_line", "draw_line", "fill_polys_paper", "fill_polys_slm"]

XY_SHIFT = 16
XY_ONE = 1 << XY_SHIFT

_jit = numba.njit(cache=CACHE, nogil=True)


# ------------------------------------------------------------------------------------------
# "slm": OpenCV-exact
# ------------------------------------------------------------------------------------------


@_jit
def _fill_span(row, x1, x2):
    """Set ``row[x1..x2]`` (inclusive) to 1, clipped to the row; nothing if empty."""
    x1 = max(x1, 0)
    x2 = min(x2, row.shape[0] - 1)
    if x1 <= x2:
        row[x1:x2 + 1] = 1


@_jit
def _c_div(a, b):
    """C integer division of int64 (quotient truncated toward zero)."""
    q = abs(a) // abs(b)
    if (a >= 0) != (b >= 0):
        q = -q
    return q


@_jit
def clip_line(width, height, x1, y1, x2, y2):
    """Clip a segment to ``[0, width) x [0, height)`` as OpenCV's 64-bit ``clipLine``.

    Returns ``(inside, x1, y1, x2, y2)``; the points come back modified even when the
    segment misses the image (as in OpenCV).
    """
    if width <= 0 or height <= 0:
        return False, x1, y1, x2, y2
    right = width - 1
    bottom = height - 1
    c1 = (x1 < 0) + (x1 > right) * 2 + (y1 < 0) * 4 + (y1 > bottom) * 8
    c2 = (x2 < 0) + (x2 > right) * 2 + (y2 < 0) * 4 + (y2 > bottom) * 8
    if (c1 & c2) == 0 and (c1 | c2) != 0:
        if c1 & 12:
            a = np.int64(0) if c1 < 8 else bottom
            x1 += np.int64(np.float64(a - y1) * np.float64(x2 - x1) / np.float64(y2 - y1))
            y1 = a
            c1 = (x1 < 0) + (x1 > right) * 2
        if c2 & 12:
            a = np.int64(0) if c2 < 8 else bottom
            x2 += np.int64(np.float64(a - y2) * np.float64(x2 - x1) / np.float64(y2 - y1))
            y2 = a
            c2 = (x2 < 0) + (x2 > right) * 2
        if (c1 & c2) == 0 and (c1 | c2) != 0:
            if c1:
                a = np.int64(0) if c1 == 1 else right
                y1 += np.int64(np.float64(a - x1) * np.float64(y2 - y1) / np.float64(x2 - x1))
                x1 = a
                c1 = 0
            if c2:
                a = np.int64(0) if c2 == 1 else right
                y2 += np.int64(np.float64(a - x2) * np.float64(y2 - y1) / np.float64(x2 - x1))
                x2 = a
                c2 = 0
    return (c1 | c2) == 0, x1, y1, x2, y2


@_jit
def _outside(x, y, width, height):
    return x < 0 or x >= width or y < 0 or y >= height


@_jit
def draw_line(mask, x1, y1, x2, y2):
    """Set the pixels of OpenCV's 8-connected line (left to right, clipped) to 1."""
    height, width = mask.shape
    x1 = np.int64(x1)
    y1 = np.int64(y1)
    x2 = np.int64(x2)
    y2 = np.int64(y2)
    if _outside(x1, y1, width, height) or _outside(x2, y2, width, height):
        inside, x1, y1, x2, y2 = clip_line(np.int64(width), np.int64(height), x1, y1, x2, y2)
        if not inside:
            return
    dx = x2 - x1
    dy = y2 - y1
    if dx < 0:  # start at the left end point
        dx = -dx
        dy = -dy
        x1 = x2
        y1 = y2
    step_y = 1
    if dy < 0:
        dy = -dy
        step_y = -1
    x = x1
    y = y1
    if dy > dx:  # steep: y is the major axis
        err = dy - 2 * dx
        for _ in range(dy + 1):
            mask[y, x] = 1
            if err < 0:
                err += 2 * dy - 2 * dx
                x += 1
            else:
                err -= 2 * dx
            y += step_y
    else:
        err = dx - 2 * dy
        for _ in range(dx + 1):
            mask[y, x] = 1
            if err < 0:
                err += 2 * dx - 2 * dy
                y += step_y
            else:
                err -= 2 * dy
            x += 1


@_jit
def _collect_edges_slm(mask, vertices, offsets):
    """Draw every outline and build the fill edges (y0, y1, x at y0, dx), fixed point."""
    height, width = mask.shape
    w64 = np.int64(width)
    h64 = np.int64(height)
    n = vertices.shape[0]
    ey0 = np.empty(n, np.int64)
    ey1 = np.empty(n, np.int64)
    ex = np.empty(n, np.int64)
    edx = np.empty(n, np.int64)
    ne = 0
    for p in range(offsets.shape[0] - 1):
        start = offsets[p]
        stop = offsets[p + 1]
        if stop <= start:
            continue
        p0x = vertices[stop - 1, 0]
        p0y = vertices[stop - 1, 1]
        for i in range(start, stop):
            p1x = vertices[i, 0]
            p1y = vertices[i, 1]
            draw_line(mask, p0x, p0y, p1x, p1y)
            if p0y != p1y:
                t0x = p0x
                t0y = p0y
                t1x = p1x
                t1y = p1y
                c0y = p0y
                c1y = p1y
                if _outside(t0x, t0y, width, height) or _outside(t1x, t1y, width, height):
                    # OpenCV rebuilds the edge from the clipped end points (used even
                    # when the segment misses the image)
                    _, t0x, t0y, t1x, t1y = clip_line(w64, h64, t0x, t0y, t1x, t1y)
                    if t0y != t1y:
                        c0y = t0y
                        c1y = t1y
                c0x = t0x * XY_ONE
                c1x = t1x * XY_ONE
                dx = _c_div(c1x - c0x, c1y - c0y)
                if p0y < p1y:
                    ey0[ne] = p0y
                    ey1[ne] = p1y
                    ex[ne] = c0x + (p0y - c0y) * dx
                else:
                    ey0[ne] = p1y
                    ey1[ne] = p0y
                    ex[ne] = c1x + (p1y - c1y) * dx
                edx[ne] = dx
                ne += 1
            p0x = p1x
            p0y = p1y
    return ey0[:ne], ey1[:ne], ex[:ne], edx[:ne]


@_jit
def _fill_row_by_counts(row, vals, n, shift, cnt_le, cnt_lt):
    """Even-odd spans of a row from unsorted crossings, in O(n + W): no sort.

    With the crossings sorted, ``v_0 <= v_1 <= ...``, the spans are
    ``[ceil(v_j / 2**shift), floor(v_{j+1} / 2**shift)]`` for even ``j <= n - 2``. Pixel
    ``c`` (at ``X = c << shift``) lies in one exactly when some even ``j`` has
    ``v_j <= X <= v_{j+1}``, i.e. ``lt - 1 <= j <= le - 1`` (and ``j <= n - 2``), where
    ``le`` / ``lt`` count the crossings ``<= X`` / ``< X``: two running counts over
    histograms of ``ceil(v / 2**shift)`` and ``floor(v / 2**shift) + 1``. The same pixels
    as sorting and pairing, for every input.
    """
    width = row.shape[0]
    cnt_le[: width + 1] = 0
    cnt_lt[: width + 1] = 0
    one = (np.int64(1) << shift) - 1
    for i in range(n):
        v = vals[i]
        a = (v + one) >> shift  # smallest c with v <= X
        b = (v >> shift) + 1  # smallest c with v < X
        cnt_le[min(max(a, 0), width)] += 1
        cnt_lt[min(max(b, 0), width)] += 1
    le = 0
    lt = 0
    for c in range(width):
        le += cnt_le[c]
        lt += cnt_lt[c]
        s = max(lt - 1, 0)
        e = min(le - 1, n - 2)
        if s <= e and (s % 2 == 0 or s + 1 <= e):
            row[c] = 1


@_jit
def _sort_active(xs, dxs, y1s, na):
    """Sort the active edges by ``xs[:na]`` (``dxs``, ``y1s`` moved alike); False if that took
    too many moves (the arrays are then only partly sorted).

    Insertion sort: linear when the order barely changed since the previous row (the usual
    case). Edges that cross each other between rows cost one move per crossing, which made
    a self-intersecting polygon of many vertices quadratic; past ``na + 64`` moves the
    caller takes another route instead.
    """
    budget = na + 64
    for j in range(1, na):
        xv = xs[j]
        dv = dxs[j]
        yv = y1s[j]
        i = j - 1
        while i >= 0 and xs[i] > xv:
            xs[i + 1] = xs[i]
            dxs[i + 1] = dxs[i]
            y1s[i + 1] = y1s[i]
            i -= 1
        budget -= j - 1 - i
        xs[i + 1] = xv
        dxs[i + 1] = dv
        y1s[i + 1] = yv
        if budget < 0:
            return False
    return True


@_jit
def _fill_edges_slm(mask, ey0, ey1, ex, edx):
    """Even-odd scanline fill; span ends rounded from fixed point as OpenCV does.

    The active edges' x, dx and last row are kept side by side in x order; x steps by dx
    each row (integer arithmetic: the same as ``x0 + n dx``). A row's cost is linear in its
    active edges (plus the row's width when they cross a lot), so a polygon's fill costs
    about the rows its edges span, not the square of its vertices.
    """
    height, width = mask.shape
    ne = ey0.shape[0]
    if ne < 2:
        return
    order = np.argsort(ey0, kind="mergesort")
    y_start = max(ey0[order[0]], np.int64(0))
    y_stop = min(ey1.max(), np.int64(height))
    xs = np.empty(ne, np.int64)
    dxs = np.empty(ne, np.int64)
    y1s = np.empty(ne, np.int64)
    cnt_le = np.empty(width + 1, np.int64)
    cnt_lt = np.empty(width + 1, np.int64)
    na = 0
    k = 0
    counted = False
    for y in range(y_start, y_stop):
        # drop the edges that ended, step the others to this row, keeping their order
        m = 0
        for j in range(na):
            if y1s[j] > y:
                xs[m] = xs[j] + dxs[j]
                dxs[m] = dxs[j]
                y1s[m] = y1s[j]
                m += 1
        na = m
        while k < ne and ey0[order[k]] <= y:
            e = order[k]
            if ey1[e] > y:  # (edges wholly above row 0 never become active)
                xs[na] = ex[e] + (y - ey0[e]) * edx[e]
                dxs[na] = edx[e]
                y1s[na] = ey1[e]
                na += 1
            k += 1
        row = mask[y]
        crowded = na * 8 > width
        if crowded and counted:  # the previous row crossed a lot: this one likely too
            _fill_row_by_counts(row, xs, na, XY_SHIFT, cnt_le, cnt_lt)
            continue
        counted = False
        if not _sort_active(xs, dxs, y1s, na):
            if crowded:  # many crossings: count them per column, O(na + W), no sort
                _fill_row_by_counts(row, xs, na, XY_SHIFT, cnt_le, cnt_lt)
                counted = True
                continue
            perm = np.argsort(xs[:na])  # O(na log na); the next row starts sorted
            xs[:na] = xs[:na][perm]
            dxs[:na] = dxs[:na][perm]
            y1s[:na] = y1s[:na][perm]
        for j in range(0, na - 1, 2):
            _fill_span(row, (xs[j] + (XY_ONE - 1)) >> XY_SHIFT, xs[j + 1] >> XY_SHIFT)


@_jit
def fill_polys_slm(mask, vertices, offsets):
    """OpenCV-exact ``fillPoly(mask, polygons, 1)``, LINE_8, shift 0, in place.

    Parameters
    ----------
    mask : uint8 array (H, W), C-contiguous
        Written in place (pixels set to 1).
    vertices : int64 array (N, 2)
        The ``(x, y)`` vertices of all polygons, concatenated, already truncated toward
        zero to the int32 range.
    offsets : int64 array (P + 1,)
        Polygon ``p`` is ``vertices[offsets[p]:offsets[p + 1]]``.
    """
    ey0, ey1, ex, edx = _collect_edges_slm(mask, vertices, offsets)
    _fill_edges_slm(mask, ey0, ey1, ex, edx)


# ------------------------------------------------------------------------------------------
# "paper": exact union of the polygons
# ------------------------------------------------------------------------------------------

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
