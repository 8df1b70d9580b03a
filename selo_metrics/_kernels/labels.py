"""Numba kernels: 8-connected labelling of peak pixels, as runs, with exact centroids.

Peak pixels are stored as runs ``(row, x0, x1)`` (inclusive), sorted in raster order. Runs
of consecutive rows that touch 8-connectedly (``x0a <= x1b + 1 and x0b <= x1a + 1``) are
joined by union-find, which stays linear and memory-bounded even when every pixel is a peak
(a flat map gives one run per row). Components are numbered in raster order of their first
pixel, as ``skimage.measure.label`` numbers them; their centroids come from exact int64
moment sums.
"""

from __future__ import annotations

import numba
import numpy as np

from . import CACHE, run_chunks

__all__ = ["component_moments", "extract_runs"]


@numba.njit(cache=CACHE, nogil=True)
def _runs_of_rows(flags, offsets, rows, x0s, x1s, row0, row1):
    w = flags.shape[1]
    for y in range(row0, row1):
        k = offsets[y]
        if offsets[y + 1] == k:
            continue
        f = flags[y]
        x = 0
        while x < w:
            if f[x]:
                start = x
                while x < w and f[x]:
                    x += 1
                rows[k] = y
                x0s[k] = start
                x1s[k] = x - 1
                k += 1
            else:
                x += 1


def extract_runs(flags, runs_per_row, nthreads):
    """Runs of nonzero pixels of ``flags``, given their count per row, in raster order.

    Returns ``(rows, x0, x1)`` int64 arrays, one entry per run, ``x1`` inclusive.
    """
    h = flags.shape[0]
    offsets = np.zeros(h + 1, np.int64)
    np.cumsum(runs_per_row, out=offsets[1:])
    n = int(offsets[h])
    rows = np.empty(n, np.int64)
    x0s = np.empty(n, np.int64)
    x1s = np.empty(n, np.int64)
    run_chunks(_runs_of_rows, h, flags, offsets, rows, x0s, x1s, threads=nthreads)
    return rows, x0s, x1s


@numba.njit(cache=CACHE, inline="always")
def _find(parent, i):
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root


@numba.njit(cache=CACHE, nogil=True)
def component_moments(rows, x0s, x1s):
    """Label runs 8-connectedly and sum each component's moments.

    Parameters are the raster-ordered runs from :func:`extract_runs`. Returns
    ``(count, sum_row, sum_col)`` int64 arrays, one entry per component, components in
    raster order of their first pixel.
    """
    n = rows.shape[0]
    parent = np.arange(n)
    # two pointers over the previous row's runs
    prev_start = 0
    prev_end = 0
    i = 0
    while i < n:
        y = rows[i]
        cur_start = i
        while i < n and rows[i] == y:
            i += 1
        cur_end = i
        if prev_end > prev_start and rows[prev_start] == y - 1:
            j = prev_start
            for k in range(cur_start, cur_end):
                a0 = x0s[k] - 1
                a1 = x1s[k] + 1
                while j < prev_end and x1s[j] < a0:
                    j += 1
                jj = j
                while jj < prev_end and x0s[jj] <= a1:
                    ra = _find(parent, k)
                    rb = _find(parent, jj)
                    if ra != rb:
                        # keep the earlier run as root, so a root is its component's first run
                        if ra < rb:
                            parent[rb] = ra
                        else:
                            parent[ra] = rb
                    jj += 1
        prev_start = cur_start
        prev_end = cur_end
    label = np.full(n, -1, np.int64)
    ncomp = 0
    for k in range(n):
        r = _find(parent, k)
        if r == k:
            label[k] = ncomp
            ncomp += 1
    count = np.zeros(ncomp, np.int64)
    sum_row = np.zeros(ncomp, np.int64)
    sum_col = np.zeros(ncomp, np.int64)
    for k in range(n):
        c = label[_find(parent, k)]
        length = x1s[k] - x0s[k] + 1
        count[c] += length
        sum_row[c] += rows[k] * length
        sum_col[c] += (x0s[k] + x1s[k]) * length // 2
    return count, sum_row, sum_col
