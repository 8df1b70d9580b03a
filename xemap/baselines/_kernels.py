"""Numba kernels of the SeLo generators, on the cell grid of the stacked boxes.

Every map the SeLo generators stack is constant on the cells of a tensor grid: the rows cut
at every box's ``r0`` and ``r1``, the columns at every ``c0`` and ``c1``. The kernels work
on that grid: the stacking adds each box's score to the cells it covers (the same additions,
in the same order, as adding it to every pixel), and the filters read the image as
``values[row_cell[y], col_cell[x]]`` without painting it.

- :func:`median_rows` is the exact median with replicated borders (``cv2.medianBlur``),
  the histogram method: one 256-bin histogram per output row, updated per pixel by the
  column of cells entering and the one leaving the window. Its work per pixel is twice the
  number of cell rows the window spans, whatever the window's area.
- :func:`gaussian_rows` is OpenCV's bit-exact uint8 Gaussian (Q8 kernel, reflect-101
  borders, integer sums, rounding shift); the horizontal pass runs once per cell row.

All kernels are ``nogil`` and take a row range, so callers split rows over threads.
Plain-numpy twins are in :mod:`xemap.baselines._reference`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from selo_metrics._kernels import CACHE

__all__ = [
    "accumulate_cells",
    "gaussian_rows",
    "horizontal_cells",
    "median_rows",
    "reflect_weights",
]


@njit(cache=CACHE, nogil=True)
def accumulate_cells(row_idx, col_idx, scores, n_rows, n_cols):  # pragma: no cover - numba
    """Sum and count of box scores per cell; box ``i`` covers cells ``row_idx[i, 0]:row_idx[i, 1]``.

    Scores are added in box order, starting from 0.0, like the official pixel loop.
    """
    total = np.zeros((n_rows, n_cols), np.float64)
    count = np.zeros((n_rows, n_cols), np.float64)
    for i in range(scores.size):
        s = scores[i]
        for a in range(row_idx[i, 0], row_idx[i, 1]):
            for b in range(col_idx[i, 0], col_idx[i, 1]):
                total[a, b] += s
                count[a, b] += 1.0
    return total, count


@njit(cache=CACHE, nogil=True, inline="always")
def _clamp(p, n):  # pragma: no cover - numba
    if p < 0:
        return 0
    if p >= n:
        return n - 1
    return p


@njit(cache=CACHE, nogil=True)
def median_rows(values, row_cell, col_edges, radius, out, y0, y1):  # pragma: no cover - numba
    """Exact ``(2r+1)^2`` median with replicated borders, for output rows ``y0:y1``.

    ``values`` is the (n_row_cells, n_col_cells) uint8 image on the cell grid, ``row_cell[y]``
    the cell row of pixel row ``y`` and ``col_edges`` the column cell boundaries.

    Along a row the window's histogram changes, per step, by the column of cells entering
    minus the one leaving; between two cell boundaries that change ``d`` is the same, so the
    histogram after ``t`` steps is ``h0 + t d`` and each pixel costs a few integer operations
    (the median moves by the usual count-below-median walk).
    """
    h = row_cell.size
    w = col_edges[-1]
    n_col_cells = col_edges.size - 1
    col_cell = np.empty(w, np.int64)
    for b in range(n_col_cells):
        col_cell[col_edges[b] : col_edges[b + 1]] = b
    k = ((2 * radius + 1) * (2 * radius + 1)) // 2  # rank of the median, from 0
    cnt = np.zeros(values.shape[0], np.int64)  # rows of the window in each cell row
    for t in range(-radius, radius + 1):
        cnt[row_cell[_clamp(y0 + t, h)]] += 1
    hist = np.zeros(256, np.int64)
    delta = np.zeros(256, np.int64)
    touched = np.empty(256, np.int64)
    seen = np.zeros(256, np.bool_)
    colw = np.zeros(n_col_cells, np.int64)
    for y in range(y0, y1):
        if y > y0:
            cnt[row_cell[_clamp(y - 1 - radius, h)]] -= 1
            cnt[row_cell[_clamp(y + radius, h)]] += 1
        a_lo = row_cell[_clamp(y - radius, h)]
        a_hi = row_cell[_clamp(y + radius, h)] + 1
        # histogram of the window at x = 0
        hist[:] = 0
        colw[:] = 0
        for t in range(-radius, radius + 1):
            colw[col_cell[_clamp(t, w)]] += 1
        for b in range(col_cell[0], col_cell[_clamp(radius, w)] + 1):
            cb = colw[b]
            if cb:
                for a in range(a_lo, a_hi):
                    hist[values[a, b]] += cb * cnt[a]
        med = 0
        lt = 0  # window elements below med
        while lt + hist[med] <= k:
            lt += hist[med]
            med += 1
        out[y, 0] = med
        x = 1
        while x < w:
            # the run of x where the entering and leaving cell columns stay the same
            p_in = x + radius
            b_in = col_cell[_clamp(p_in, w)]
            b_out = col_cell[_clamp(x - 1 - radius, w)]
            end = w
            if p_in < w - 1 and col_edges[b_in + 1] < w:
                end = min(end, col_edges[b_in + 1] - radius)
            end = min(end, col_edges[b_out + 1] + radius + 1)
            if b_in == b_out:
                for xx in range(x, end):
                    out[y, xx] = med
                x = end
                continue
            n_t = 0
            for a in range(a_lo, a_hi):
                vi = values[a, b_in]
                vo = values[a, b_out]
                if vi != vo:
                    c = cnt[a]
                    delta[vi] += c
                    delta[vo] -= c
                    if not seen[vi]:
                        seen[vi] = True
                        touched[n_t] = vi
                        n_t += 1
                    if not seen[vo]:
                        seen[vo] = True
                        touched[n_t] = vo
                        n_t += 1
            g = 0  # change per step of the count below med
            for i in range(n_t):
                if touched[i] < med:
                    g += delta[touched[i]]
            steps = end - x
            t = 1
            while t <= steps:
                while lt + t * g > k:
                    med -= 1
                    lt -= hist[med]
                    g -= delta[med]
                while lt + t * g + hist[med] + t * delta[med] <= k:
                    lt += hist[med]
                    g += delta[med]
                    med += 1
                # the first later step at which med must move down or up
                t_next = steps + 1
                if g > 0:
                    t_next = min(t_next, (k - lt) // g + 1)
                up = g + delta[med]
                if up < 0:
                    t_next = min(t_next, (lt + hist[med] - k - up - 1) // (-up))
                for xx in range(x + t - 1, x + t_next - 1):
                    out[y, xx] = med
                t = t_next
            lt += steps * g
            for i in range(n_t):
                v = touched[i]
                hist[v] += steps * delta[v]
                delta[v] = 0
                seen[v] = False
            x = end


@njit(cache=CACHE, nogil=True)
def _reflect101(p, n):  # pragma: no cover - numba
    if n == 1:
        return 0
    while p < 0 or p >= n:
        if p < 0:
            p = -p
        else:
            p = 2 * n - p - 2
    return p


@njit(cache=CACHE, nogil=True)
def reflect_weights(kernel, cell, n_cells):  # pragma: no cover - numba
    """Per output position, the kernel weight falling on each cell (reflect-101 borders).

    The cells under the window of position ``x`` are ``lo[x]:hi[x]`` (at most
    ``kernel.size`` of them); ``weights[x, c - lo[x]]`` is the weight on cell ``c``.
    Returns ``weights`` (n, kernel.size) int64, ``lo`` and ``hi`` (n,), ``n = cell.size``.
    """
    n = cell.size
    r = kernel.size // 2
    weights = np.zeros((n, kernel.size), np.int64)
    lo = np.empty(n, np.int64)
    hi = np.empty(n, np.int64)
    for x in range(n):
        first = n_cells
        last = -1
        for t in range(-r, r + 1):
            c = cell[_reflect101(x + t, n)]
            first = min(first, c)
            last = max(last, c)
        for t in range(-r, r + 1):
            weights[x, cell[_reflect101(x + t, n)] - first] += kernel[t + r]
        lo[x] = first
        hi[x] = last + 1
    return weights, lo, hi


@njit(cache=CACHE, nogil=True)
def horizontal_cells(values, wx, lo_x, hi_x):  # pragma: no cover - numba
    """Horizontal Q8 pass, once per cell row: ``(n_row_cells, w)`` int64."""
    n_rows = values.shape[0]
    w = wx.shape[0]
    out = np.zeros((n_rows, w), np.int64)
    for a in range(n_rows):
        for x in range(w):
            s = 0
            for b in range(lo_x[x], hi_x[x]):
                s += wx[x, b - lo_x[x]] * values[a, b]
            out[a, x] = s
    return out


@njit(cache=CACHE, nogil=True)
def gaussian_rows(horiz, wy, lo_y, hi_y, out, y0, y1):  # pragma: no cover - numba
    """Vertical Q8 pass and the rounding shift to uint8, for output rows ``y0:y1``."""
    w = horiz.shape[1]
    acc = np.empty(w, np.int64)
    for y in range(y0, y1):
        acc[:] = 32768
        for a in range(lo_y[y], hi_y[y]):
            c = wy[y, a - lo_y[y]]
            if c:
                for x in range(w):
                    acc[x] += c * horiz[a, x]
        for x in range(w):
            v = acc[x] >> 16
            out[y, x] = 255 if v > 255 else v
