"""Numba kernels: polygon rasterization for the SeLo GT mask.

Two conventions (see ``selo_metrics.raster``); this module holds the first, and the
helpers the second shares (:mod:`.raster_paper`):

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

__all__ = ["clip_line", "draw_line", "fill_polys_slm"]

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
