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

__all__ = ["clip_line", "draw_line", "fill_polys_paper", "fill_polys_slm"]

XY_SHIFT = 16
XY_ONE = 1 << XY_SHIFT

_jit = numba.njit(cache=True, nogil=True)


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
def _fill_edges_slm(mask, ey0, ey1, ex, edx):
    """Even-odd scanline fill; span ends rounded from fixed point as OpenCV does."""
    height = mask.shape[0]
    ne = ey0.shape[0]
    if ne < 2:
        return
    order = np.argsort(ey0, kind="mergesort")
    y_start = max(ey0[order[0]], np.int64(0))
    y_stop = min(ey1.max(), np.int64(height))
    active = np.empty(ne, np.int64)
    xs = np.empty(ne, np.int64)
    na = 0
    k = 0
    for y in range(y_start, y_stop):
        # drop the edges that ended, keeping the previous row's x order
        m = 0
        for j in range(na):
            if ey1[active[j]] > y:
                active[m] = active[j]
                m += 1
        na = m
        while k < ne and ey0[order[k]] <= y:
            if ey1[order[k]] > y:  # (edges wholly above row 0 never become active)
                active[na] = order[k]
                na += 1
            k += 1
        # x of every active edge on this row (x0 + n dx == n steps of x += dx)
        for j in range(na):
            e = active[j]
            xs[j] = ex[e] + (y - ey0[e]) * edx[e]
        # insertion sort (nearly sorted from the previous row)
        for j in range(1, na):
            xv = xs[j]
            ev = active[j]
            i = j - 1
            while i >= 0 and xs[i] > xv:
                xs[i + 1] = xs[i]
                active[i + 1] = active[i]
                i -= 1
            xs[i + 1] = xv
            active[i + 1] = ev
        row = mask[y]
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
    approx = xa + (y - ya) * (xb - xa) / (yb - ya)
    if approx < -2.0:
        return np.int64(-1)
    if approx > width + 1.0:
        return np.int64(2 * width + 1)
    c = np.int64(np.floor(approx))
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
def _fill_poly_paper(mask, vertices, start, stop, xa, ya, xb, yb, keys, active):
    height, width = mask.shape
    # the vertices and horizontal edges lying on integer rows belong to the boundary
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
            xa[ne] = x0
            ya[ne] = y0
            xb[ne] = x1
            yb[ne] = y1
        else:
            xa[ne] = x1
            ya[ne] = y1
            xb[ne] = x0
            yb[ne] = y0
        ne += 1
    if ne < 2:
        return
    # rows: an edge crosses row y when ya <= y < yb (half-open, even-odd)
    order = np.argsort(ya[:ne], kind="mergesort")
    y_first = max(np.ceil(ya[order[0]]), 0.0)
    y_last = min(np.ceil(yb[:ne].max()) - 1.0, height - 1.0)
    if y_first > y_last:
        return
    na = 0
    k = 0
    for y in range(int(y_first), int(y_last) + 1):
        fy = np.float64(y)
        m = 0
        for j in range(na):
            if yb[active[j]] > fy:
                active[m] = active[j]
                m += 1
        na = m
        while k < ne and ya[order[k]] <= fy:
            e = order[k]
            if yb[e] > fy:
                active[na] = e
                na += 1
            k += 1
        for j in range(na):
            e = active[j]
            keys[j] = _crossing_key(fy, xa[e], ya[e], xb[e], yb[e], width)
        keys_row = np.sort(keys[:na])
        row = mask[y]
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
    xa = np.empty(n, np.float64)
    ya = np.empty(n, np.float64)
    xb = np.empty(n, np.float64)
    yb = np.empty(n, np.float64)
    keys = np.empty(n, np.int64)
    active = np.empty(n, np.int64)
    for p in range(offsets.shape[0] - 1):
        if offsets[p + 1] > offsets[p]:
            _fill_poly_paper(
                mask, vertices, offsets[p], offsets[p + 1], xa, ya, xb, yb, keys, active
            )
