"""Numba kernels: the peaks of the m x m running maximum, found from block maxima.

A pixel is a peak when ``g > 0`` and ``g`` equals the maximum of its window (rows
``y - m//2 .. y + m - m//2 - 1``, the same columns, scipy ``'reflect'`` borders). When the
map is at least ``m//2`` on each side, a reflected row or column is always one the window
covers directly, so the window is the map clipped to that range; this module needs that.

The map is cut into blocks of ``B x B`` pixels (``B - 1 <= m - m//2 - 1``) and their maxima
``T`` taken (one vectorised pass). For a block C, let I be the rows and columns every pixel
of C sees (the intersection of their windows) and U those any of them sees (the union).
``T[C] <= max(blocks inside I) <= max(window)`` for every pixel of C, so C can hold a peak
only if ``T[C]`` equals the maximum of the blocks inside I (a *candidate*), and only its
pixels equal to ``T[C]`` can be peaks. If no block meeting U exceeds ``T[C]``, they all are;
otherwise each one is checked exactly against the blocks above ``T[C]`` (a block wholly in
its window rules it out at once, one partly in it is scanned). The block-range maxima come
from sparse tables, so the search costs ``O(blocks log blocks)`` after the pass over the map,
plus the pixels of the candidate blocks. Peaks come out as runs ``(row, x0, x1)`` in raster
order, adjacent runs merged, ready for :func:`selo_metrics._kernels.labels.component_moments`.
"""

from __future__ import annotations

import numba
import numpy as np

from . import CACHE, run_chunks

__all__ = ["BLOCK", "block_max", "block_peak_runs", "usable"]

BLOCK = 32
MAX_THREATS = 16384  # beyond: None, the caller runs the full running maximum instead
#: room first made for the peak runs: per row of a candidate block (one: a focused 10k map
#: has 3097 runs in 3189 candidate blocks), at most ROOM in all; more take a second pass
RUNS_PER_ROW = 1
ROOM = 1 << 16


def usable(shape: tuple[int, int], m: int, block: int = BLOCK) -> bool:
    """Whether the block search applies: the map spans half a window, the block fits one."""
    return min(shape) >= m // 2 and block - 1 <= m - m // 2 - 1 and m >= 4 * block


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def _block_max_rows(g, T, acc, B, by0, by1):
    h, w = g.shape
    nbx = T.shape[1]
    a = acc[:w]
    for by in range(by0, by1):
        y0 = by * B
        y1 = min(h, y0 + B)
        r = g[y0]
        for x in range(w):
            a[x] = r[x]
        for y in range(y0 + 1, y1):
            r = g[y]
            for x in range(w):
                a[x] = max(a[x], r[x])
        for bx in range(nbx):
            seg = a[bx * B : min(w, bx * B + B)]
            best = seg[0]
            for i in range(1, seg.shape[0]):
                best = max(best, seg[i])
            T[by, bx] = best


def block_max(g: np.ndarray, block: int, nthreads: int) -> np.ndarray:
    """Maxima of the ``block x block`` blocks of ``g`` (uint8), edge blocks clipped."""
    h, w = g.shape
    nby, nbx = -(-h // block), -(-w // block)
    T = np.empty((nby, nbx), np.uint8)
    k = max(1, min(nthreads, nby))
    acc = np.empty((k, w), np.uint8)
    bounds = [nby * c // k for c in range(k + 1)]
    run_chunks(_block_max_slice, k, g, T, acc, block, bounds, min_chunk=1, threads=k)
    return T


def _block_max_slice(g, T, acc, block, bounds, c0, c1):
    for c in range(c0, c1):
        _block_max_rows(g, T, acc[c], block, bounds[c], bounds[c + 1])


@numba.njit(cache=CACHE, nogil=True)
def _ranges(n, nb, B, before, after):
    # per block: the blocks inside the intersection (lo0, hi0) and meeting the union
    # (lo1, hi1) of the clipped windows of its rows (or columns), inclusive
    out = np.empty((4, nb), np.int64)
    for b in range(nb):
        first = b * B
        last = min(n, first + B) - 1
        ilo = max(0, last - before)
        ihi = min(n - 1, first + after)
        out[0, b] = (ilo + B - 1) // B
        out[1, b] = nb - 1 if ihi == n - 1 else (ihi + 1) // B - 1
        out[2, b] = max(0, first - before) // B
        out[3, b] = min(n - 1, last + after) // B
    return out


@numba.njit(cache=CACHE, nogil=True)
def _range_max_rows(T, lo, hi, out):
    # out[r, i] = max(T[r, lo[i] .. hi[i]]) for every row r, from a sparse table per row: its
    # levels up to the longest range only, each level from pre-sliced views (which LLVM
    # vectorises), each range's level and second start worked out once for all the rows
    n = T.shape[1]
    q = lo.shape[0]
    lev = np.empty(q, np.int64)
    far = np.empty(q, np.int64)
    top = 0
    for i in range(q):
        length = hi[i] - lo[i] + 1
        j = 0
        while (2 << j) <= length:
            j += 1
        lev[i] = j
        far[i] = hi[i] - (1 << j) + 1
        top = max(top, j)
    table = np.empty((top + 1, n), np.uint8)
    for r in range(T.shape[0]):
        table[0, :] = T[r]
        for j in range(1, top + 1):
            m = n - (1 << j) + 1
            a = table[j - 1, :m]
            b = table[j - 1, 1 << (j - 1) : (1 << (j - 1)) + m]
            t = table[j, :m]
            for i in range(m):
                t[i] = max(a[i], b[i])
        o = out[r]
        for i in range(q):
            o[i] = max(table[lev[i], lo[i]], table[lev[i], far[i]])


def _range_max_2d(T, rr, cc):
    # max of T over [rr[0][by] .. rr[1][by]] x [cc[0][bx] .. cc[1][bx]] for every block
    rows = np.empty_like(T)
    _range_max_rows(T, cc[0], cc[1], rows)
    out = np.empty(T.shape[::-1], np.uint8)
    _range_max_rows(np.ascontiguousarray(rows.T), rr[0], rr[1], out)
    return np.ascontiguousarray(out.T)


@numba.njit(cache=CACHE, nogil=True)
def _threat_tables(g, T, cby, cbx, toff, tlist, B):
    # For threat block t of candidate i (value v): which side of the block a window edge can
    # cut (rel: -1 the block is above / left of the candidate, so the window's top / left
    # edge; +1 below / right; 0 same block row / column, never cut) and whether a pixel
    # above v lies past a cut: tab[t, a, c] for a cut at local row a and column c (rows >= a
    # for -1, rows < a for +1 and 0, likewise columns). O(1) per pixel and threat after.
    h, w = g.shape
    nt = tlist.shape[0]
    tab = np.zeros((nt, B + 1, B + 1), np.uint8)
    rel = np.empty((nt, 2), np.int64)
    for i in range(cby.shape[0]):
        v = T[cby[i], cbx[i]]
        for t in range(toff[i], toff[i + 1]):
            ty, tx = tlist[t, 0], tlist[t, 1]
            rel[t, 0] = -1 if ty < cby[i] else (1 if ty > cby[i] else 0)
            rel[t, 1] = -1 if tx < cbx[i] else (1 if tx > cbx[i] else 0)
            r0, c0 = ty * B, tx * B
            bh, bw = min(h, r0 + B) - r0, min(w, c0 + B) - c0
            d = tab[t]
            for a in range(bh):  # d[a + 1, c + 1] = pixel (a, c) above v
                for c in range(bw):
                    d[a + 1, c + 1] = g[r0 + a, c0 + c] > v
            # cumulative OR along rows: suffix from row a (rel -1) or prefix of a rows
            if rel[t, 0] == -1:
                for a in range(bh):
                    for c in range(bw + 1):
                        d[a, c] = d[a + 1, c]
                d[bh, :] = 0
                for a in range(bh - 2, -1, -1):
                    for c in range(bw + 1):
                        d[a, c] |= d[a + 1, c]
            else:
                for a in range(1, bh + 1):
                    for c in range(bw + 1):
                        d[a, c] |= d[a - 1, c]
            if rel[t, 1] == -1:
                for a in range(bh + 1):
                    for c in range(bw):
                        d[a, c] = d[a, c + 1]
                    d[a, bw] = 0
                    for c in range(bw - 2, -1, -1):
                        d[a, c] |= d[a, c + 1]
            else:
                for a in range(bh + 1):
                    for c in range(1, bw + 1):
                        d[a, c] |= d[a, c - 1]
    return tab, rel


@numba.njit(cache=CACHE, nogil=True, inline="always", _nrt=False)
def _cut(rel, pos, first, size, before, after):
    # the table index of a window edge in a threat block starting at first (see above)
    if rel == -1:
        return min(max(pos - before - first, 0), size)
    if rel == 1:
        return min(max(pos + after - first + 1, 0), size)
    return size


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def _is_peak(y, x, h, w, tlist, tab, rel, t0, t1, B, before, after):
    # exact test of a pixel equal to its candidate block's value: no threat pixel in its window
    for t in range(t0, t1):
        r0, c0 = tlist[t, 0] * B, tlist[t, 1] * B
        a = _cut(rel[t, 0], y, r0, min(h, r0 + B) - r0, before, after)
        c = _cut(rel[t, 1], x, c0, min(w, c0 + B) - c0, before, after)
        if tab[t, a, c]:
            return False
    return True


@numba.njit(cache=CACHE, nogil=True)
def _threats(T, cby, cbx, amb, rr, cc):
    # the blocks above each ambiguous candidate's value meeting the union of its windows
    nc = cby.shape[0]
    off = np.zeros(nc + 1, np.int64)
    for pass_ in range(2):
        if pass_ == 1:
            out = np.empty((off[nc], 2), np.int64)
        for i in range(nc):
            by, bx = cby[i], cbx[i]
            k = off[i]
            if amb[by, bx]:
                for ty in range(rr[2, by], rr[3, by] + 1):
                    for tx in range(cc[2, bx], cc[3, bx] + 1):
                        if T[ty, tx] > T[by, bx]:
                            if pass_ == 1:
                                out[k, 0] = ty
                                out[k, 1] = tx
                            k += 1
            if pass_ == 0:
                off[i + 1] = k
    return off, out


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def _runs(g, T, cby, cbx, amb, toff, tlist, tab, rel, B, before, after, rows, x0s, x1s):
    # runs of peak pixels of the candidate blocks (raster order): all counted, the first
    # len(rows) written
    h, w = g.shape
    cap = rows.shape[0]
    n = 0
    nc = cby.shape[0]
    i0 = 0
    while i0 < nc:
        by = cby[i0]
        i1 = i0
        while i1 < nc and cby[i1] == by:
            i1 += 1
        for y in range(by * B, min(h, by * B + B)):
            last = -2  # the last run of this row ends at x = last
            for i in range(i0, i1):
                bx = cbx[i]
                value = T[by, bx]
                x0 = bx * B
                seg = g[y, x0 : min(w, x0 + B)]
                same = 0
                for j in range(seg.shape[0]):
                    same += seg[j] == value
                if same == 0:
                    continue
                check = amb[by, bx]
                if same == seg.shape[0] and not check:  # the whole segment
                    if x0 == last + 1:
                        if n <= cap:
                            x1s[n - 1] = x0 + seg.shape[0] - 1
                    else:
                        if n < cap:
                            rows[n], x0s[n], x1s[n] = y, x0, x0 + seg.shape[0] - 1
                        n += 1
                    last = x0 + seg.shape[0] - 1
                    continue
                t0, t1 = toff[i], toff[i + 1]
                for j in range(seg.shape[0]):
                    if seg[j] != value:
                        continue
                    x = x0 + j
                    if check and not _is_peak(
                        y, x, h, w, tlist, tab, rel, t0, t1, B, before, after
                    ):
                        continue
                    if x == last + 1:
                        if n <= cap:
                            x1s[n - 1] = x
                    else:
                        if n < cap:
                            rows[n], x0s[n], x1s[n] = y, x, x
                        n += 1
                    last = x
        i0 = i1
    return n


def block_peak_runs(
    g: np.ndarray, m: int, nthreads: int, block: int = BLOCK, maxima: np.ndarray | None = None
):
    """Runs ``(rows, x0, x1)`` (int64, ``x1`` inclusive, raster order) of the peaks of ``g``.

    Requires :func:`usable`. The same runs as the running maximum and peak test of
    :mod:`selo_metrics._kernels.maxfilter` followed by
    :func:`selo_metrics._kernels.labels.extract_runs`; None when the candidates have more than
    ``MAX_THREATS`` threat blocks in all (contrived maps), where the caller runs those.
    ``maxima``: the block maxima of ``g`` if known already (:func:`block_max`).
    """
    h, w = g.shape
    before, after = m // 2, m - m // 2 - 1
    T = block_max(g, block, nthreads) if maxima is None else maxima
    nby, nbx = T.shape
    rr = _ranges(h, nby, block, before, after)
    cc = _ranges(w, nbx, block, before, after)
    lb = _range_max_2d(T, rr[0:2], cc[0:2])
    ub = _range_max_2d(T, rr[2:4], cc[2:4])
    cand = (T == lb) & (T > 0)
    amb = cand & (ub > T)
    cby, cbx = (a.astype(np.int64) for a in np.nonzero(cand))
    toff, tlist = _threats(T, cby, cbx, amb, rr, cc)
    if tlist.shape[0] > MAX_THREATS:
        return None
    tab, rel = _threat_tables(g, T, cby, cbx, toff, tlist, block)
    args = (g, T, cby, cbx, amb, toff, tlist, tab, rel, block, before, after)
    # one pass where the runs fit the room made for them, a second one, into arrays of the
    # size the first counted, where they do not
    cap = min(RUNS_PER_ROW * block * cby.shape[0], ROOM)
    out = np.empty((3, cap), np.int64)
    n = _runs(*args, *out)
    if n > cap:
        out = np.empty((3, n), np.int64)
        _runs(*args, *out)
    return out[0, :n], out[1, :n], out[2, :n]
