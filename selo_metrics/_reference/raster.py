"""Plain-Python reference twins of :mod:`selo_metrics._kernels.raster` (tests only).

Written for clarity, not speed: use them on small images only.

``fill_polys_slm_ref`` follows the structure of OpenCV's ``fillPoly`` (``drawing.cpp``:
``CollectPolyEdges``, ``FillEdgeCollection``, ``Line`` / ``LineIterator``, ``clipLine``)
step by step: edges in 16-bit fixed point, an active-edge list walked row by row from the
topmost edge, ``x += dx`` per row, a bubble sort after each row. The numba kernel takes a
different route (x computed directly per row, insertion sort), so the two check each other.

``fill_polys_paper_ref`` decides every pixel on its own with exact rational arithmetic
(:class:`fractions.Fraction`): on the boundary of a polygon, or inside it by the even-odd
crossing rule. The kernel uses scanline spans with exact float predicates instead.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["clip_line_ref", "fill_polys_paper_ref", "fill_polys_slm_ref", "line_pixels_ref"]

XY_SHIFT = 16
XY_ONE = 1 << XY_SHIFT


def _c_div(a: int, b: int) -> int:
    """C integer division: the quotient truncated toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _outcode(x: int, y: int, right: int, bottom: int) -> int:
    return (x < 0) + (x > right) * 2 + (y < 0) * 4 + (y > bottom) * 8


def clip_line_ref(
    width: int, height: int, x1: int, y1: int, x2: int, y2: int
) -> tuple[bool, int, int, int, int]:
    """Clip the segment to the image like OpenCV's ``clipLine`` (64-bit version).

    Returns ``(inside, x1, y1, x2, y2)``. The points are returned as modified even when
    ``inside`` is False (OpenCV's callers may read them).
    """
    if width <= 0 or height <= 0:
        return False, x1, y1, x2, y2
    right, bottom = width - 1, height - 1
    c1 = _outcode(x1, y1, right, bottom)
    c2 = _outcode(x2, y2, right, bottom)
    if (c1 & c2) == 0 and (c1 | c2) != 0:
        if c1 & 12:
            a = 0 if c1 < 8 else bottom
            # (int64)((double)(a - y1) * (x2 - x1) / (y2 - y1)), truncation toward zero
            x1 += int(float(a - y1) * float(x2 - x1) / float(y2 - y1))
            y1 = a
            c1 = (x1 < 0) + (x1 > right) * 2
        if c2 & 12:
            a = 0 if c2 < 8 else bottom
            x2 += int(float(a - y2) * float(x2 - x1) / float(y2 - y1))
            y2 = a
            c2 = (x2 < 0) + (x2 > right) * 2
        if (c1 & c2) == 0 and (c1 | c2) != 0:
            if c1:
                a = 0 if c1 == 1 else right
                y1 += int(float(a - x1) * float(y2 - y1) / float(x2 - x1))
                x1 = a
                c1 = 0
            if c2:
                a = 0 if c2 == 1 else right
                y2 += int(float(a - x2) * float(y2 - y1) / float(x2 - x1))
                x2 = a
                c2 = 0
    return (c1 | c2) == 0, x1, y1, x2, y2


def line_pixels_ref(
    width: int, height: int, x1: int, y1: int, x2: int, y2: int
) -> list[tuple[int, int]]:
    """Pixels ``(x, y)`` of an 8-connected line, as OpenCV's ``Line`` (left to right)."""
    if not (0 <= x1 < width and 0 <= x2 < width and 0 <= y1 < height and 0 <= y2 < height):
        inside, x1, y1, x2, y2 = clip_line_ref(width, height, x1, y1, x2, y2)
        if not inside:
            return []
    dx, dy = x2 - x1, y2 - y1
    if dx < 0:  # leftToRight: start at the left end
        dx, dy = -dx, -dy
        x1, y1 = x2, y2
    step_y = 1
    if dy < 0:
        dy, step_y = -dy, -1
    vertical = dy > dx
    if vertical:
        dx, dy = dy, dx
    err = dx - 2 * dy
    x, y = x1, y1
    pixels = []
    for _ in range(dx + 1):
        pixels.append((x, y))
        minor = err < 0
        err += -2 * dy + (2 * dx if minor else 0)
        if vertical:
            y += step_y
            x += 1 if minor else 0
        else:
            x += 1
            y += step_y if minor else 0
    return pixels


def _collect_edges(mask: np.ndarray, poly: np.ndarray, edges: list[list[int]]) -> None:
    """Draw the polygon's outline and append its edges ``[y0, y1, x, dx]`` (CollectPolyEdges)."""
    height, width = mask.shape
    count = len(poly)
    p0x, p0y = int(poly[count - 1][0]) << XY_SHIFT, int(poly[count - 1][1])
    for i in range(count):
        p1x, p1y = int(poly[i][0]) << XY_SHIFT, int(poly[i][1])
        # the outline: an 8-connected line between the integer vertices
        t0x, t0y = (p0x + (XY_ONE >> 1)) >> XY_SHIFT, p0y
        t1x, t1y = (p1x + (XY_ONE >> 1)) >> XY_SHIFT, p1y
        for x, y in line_pixels_ref(width, height, t0x, t0y, t1x, t1y):
            mask[y, x] = 1
        # the edge, built from the clipped end points when an end point is outside
        c0x, c0y, c1x, c1y = p0x, p0y, p1x, p1y
        if not (0 <= t0x < width and 0 <= t1x < width and 0 <= t0y < height and 0 <= t1y < height):
            _, t0x, t0y, t1x, t1y = clip_line_ref(width, height, t0x, t0y, t1x, t1y)
            if t0y != t1y:
                c0y, c1y = t0y, t1y
        c0x, c1x = t0x << XY_SHIFT, t1x << XY_SHIFT
        if p0y != p1y:
            dx = _c_div(c1x - c0x, c1y - c0y)
            if p0y < p1y:
                edges.append([p0y, p1y, c0x + (p0y - c0y) * dx, dx])
            else:
                edges.append([p1y, p0y, c1x + (p1y - c1y) * dx, dx])
        p0x, p0y = p1x, p1y


def _fill_edges(mask: np.ndarray, edges: list[list[int]]) -> None:
    """Even-odd scanline fill of the collected edges (FillEdgeCollection)."""
    height, width = mask.shape
    if len(edges) < 2:
        return
    edges = sorted(edges, key=lambda e: (e[0], e[2], e[3]))  # (y0, x, dx)
    y_max = min(max(e[1] for e in edges), height)
    active: list[list[int]] = []  # kept sorted by x; each entry is [y0, y1, x, dx], mutable
    nxt = 0
    for y in range(edges[0][0], y_max):
        # drop the edges that end here, merge in the edges that start here
        # (a new edge goes before an active edge of equal x, as in OpenCV)
        active = [e for e in active if e[1] != y]
        while nxt < len(edges) and edges[nxt][0] == y:
            e = edges[nxt]
            pos = 0
            while pos < len(active) and active[pos][2] < e[2]:
                pos += 1
            active.insert(pos, e)
            nxt += 1
        # spans between consecutive pairs, then step every edge to the next row
        for j in range(0, len(active) - 1, 2):
            a, b = active[j], active[j + 1]
            if y >= 0:
                lo, hi = min(a[2], b[2]), max(a[2], b[2])
                x1 = (lo + XY_ONE - 1) >> XY_SHIFT
                x2 = hi >> XY_SHIFT
                if x1 < width and x2 >= 0:
                    mask[y, max(x1, 0) : min(x2, width - 1) + 1] = 1
            a[2] += a[3]
            b[2] += b[3]
        # bubble sort by x (only strict swaps, like OpenCV)
        swapped = True
        while swapped:
            swapped = False
            for j in range(len(active) - 1):
                if active[j][2] > active[j + 1][2]:
                    active[j], active[j + 1] = active[j + 1], active[j]
                    swapped = True


def fill_polys_slm_ref(mask: np.ndarray, polygons: list[np.ndarray]) -> None:
    """OpenCV-exact ``fillPoly(mask, polygons, 1)`` (LINE_8, shift 0), in place.

    ``polygons`` are integer ``(M, 2)`` arrays (``x``, ``y``), already truncated.
    """
    edges: list[list[int]] = []
    for poly in polygons:
        if len(poly):
            _collect_edges(mask, poly, edges)
    _fill_edges(mask, edges)


def _point_in_or_on(px: int, py: int, poly: list[tuple[Fraction, Fraction]]) -> bool:
    """Exact test: the point is on the boundary of the polygon, or inside it (even-odd)."""
    inside = False
    count = len(poly)
    for i in range(count):
        xa, ya = poly[i - 1]
        xb, yb = poly[i]
        cross = (xb - xa) * (py - ya) - (yb - ya) * (px - xa)
        if cross == 0 and min(xa, xb) <= px <= max(xa, xb) and min(ya, yb) <= py <= max(ya, yb):
            return True
        if (ya > py) != (yb > py):
            x_cross = xa + (py - ya) * (xb - xa) / (yb - ya)
            if px < x_cross:
                inside = not inside
    return inside


def fill_polys_paper_ref(mask: np.ndarray, polygons: list[np.ndarray]) -> None:
    """Union of the polygons (float vertices), pixel points inside or on a boundary, in place."""
    height, width = mask.shape
    for poly in polygons:
        exact = [(Fraction(float(x)), Fraction(float(y))) for x, y in poly]
        xs = [p[0] for p in exact]
        ys = [p[1] for p in exact]
        x_lo, x_hi = max(0, int(np.ceil(min(xs)))), min(width - 1, int(np.floor(max(xs))))
        y_lo, y_hi = max(0, int(np.ceil(min(ys)))), min(height - 1, int(np.floor(max(ys))))
        for py in range(y_lo, y_hi + 1):
            for px in range(x_lo, x_hi + 1):
                if not mask[py, px] and _point_in_or_on(px, py, exact):
                    mask[py, px] = 1
