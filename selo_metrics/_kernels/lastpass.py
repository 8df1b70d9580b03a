"""Numba kernels: the box filter's last pass, computed only in the blocks the peak search reads.

The peak search (:mod:`selo_metrics._kernels.peaks`) sees the smoothed map through the maxima
``T`` of its ``B x B`` blocks, and reads pixels only in its candidate blocks and in their
*threats* (blocks above a candidate's value that its windows meet): about 1 % of the blocks
on the maps of ``benchmarks/``. Yet the last of the five passes was computed everywhere,
about a fifth of the filter's time (``benchmarks/bench_last_pass.py``). Here the filter runs
one pass less, folding the block maxima ``T'`` of that pass, and the last pass is computed
block by block only where the search needs it: its maximum in registers
(:mod:`selo_metrics._kernels.blockmax`) where that kernel applies, else from the pixels of
:mod:`selo_metrics._kernels.boxrect`, which also writes the pixels the search reads.

A mean never exceeds the largest value it averages, and the rounding ``rint(S / k**2)`` of a
window sum ``S <= k**2 M`` never exceeds the integer ``M``; every input of an output pixel
lies within ``max(k//2, k - k//2 - 1)`` rows and columns of it (one reflection: the map is
larger than ``k``). So ``U``, the maximum of ``T'`` over the blocks around a block that cover
that halo, bounds its last-pass maximum from above: ``T <= U``. The search then runs on
``V``: the exact ``T`` of the blocks computed ("resolved"), ``U`` elsewhere, and on the map
holding the last pass in every block it reads. Its result is the exact one once (the proof
is in :func:`lazy_last_pass`) every block that may still be a candidate is resolved
(``V[C] > 0`` and ``V[C]`` at least the largest exact ``T`` of the resolved blocks inside the
intersection of its windows), with no unresolved block above it in that intersection.

:func:`_greedy` gets there in two steps: by decreasing bound, every block that may still be
a candidate (the first ones, near the largest values, rule out most of the rest); then, for
each one left, the blocks above it in its windows' intersection, the largest first, until one
rules it out or none is left. On the maps of ``benchmarks/`` that is 4-8 % of the blocks,
then the last pass is computed again in the blocks read (about 1 %), into the map. Past
:data:`LIMIT` of them (maps of many equal plateaus, or noise) :func:`lazy_last_pass` gives up
and the caller runs the pass in full: the result is the same either way.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from . import CACHE
from .blockmax import FAST_BLOCK, block_pass_max, fast_applies, row_offsets
from .boxrect import prefetch_rect, rect_buffers, rect_pass
from .peaks import _ranges

__all__ = ["LIMIT", "block_upper_bounds", "lazy_last_pass"]

#: give up (the caller runs the last pass in full) past this share of the blocks: a block
#: computed alone costs about ten times its share of the full pass (docs/performance.md)
LIMIT = 0.1


@numba.njit(cache=CACHE, nogil=True)
def _dilate_rows(T, r, out):
    # out[y, x] = max(T[y, x - r .. x + r]) (clipped), a shifted maximum at a time
    nbx = T.shape[1]
    for y in range(T.shape[0]):
        row = T[y]
        o = out[y]
        for x in range(nbx):
            o[x] = row[x]
        for d in range(1, min(r, nbx - 1) + 1):
            right, left = o[d:], row[: nbx - d]
            for x in range(nbx - d):
                right[x] = max(right[x], left[x])
            first, last = o[: nbx - d], row[d:]
            for x in range(nbx - d):
                first[x] = max(first[x], last[x])


def block_upper_bounds(T: np.ndarray, r: int) -> np.ndarray:
    """The maximum of ``T`` over the ``(2r + 1) x (2r + 1)`` blocks around each block (clipped).

    Examples
    --------
    >>> T = np.zeros((4, 5), np.uint8)
    >>> T[0, 0] = 9
    >>> block_upper_bounds(T, 1)[:3, :3].tolist()
    [[9, 9, 0], [9, 9, 0], [0, 0, 0]]
    """
    rows = np.empty_like(T)
    _dilate_rows(T, r, rows)
    out = np.empty(T.shape[::-1], T.dtype)
    _dilate_rows(np.ascontiguousarray(rows.T), r, out)
    return np.ascontiguousarray(out.T)


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def _runs(blocks, n, nbx, runs):
    # the runs of consecutive blocks in one block row among blocks[:n] (flat indices, raster
    # order), as rows (by, bx0, bx1) of runs; returns their number
    m = 0
    i = 0
    while i < n:
        j = i + 1
        while j < n and blocks[j] == blocks[j - 1] + 1 and blocks[j] % nbx != 0:
            j += 1
        runs[m, 0], runs[m, 1] = blocks[i] // nbx, blocks[i] % nbx
        runs[m, 2] = blocks[j - 1] % nbx + 1
        m += 1
        i = j
    return m


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def _marked(mark, blocks):
    # the flat indices of the marked blocks into blocks (raster order), the marks cleared;
    # returns their number
    flat = mark.reshape(-1)
    n = 0
    for i in range(flat.shape[0]):
        if flat[i]:
            blocks[n] = i
            n += 1
            flat[i] = False
    return n


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def _run_rect(run, B, h, w):
    by, bx0, bx1 = run[0], run[1], run[2]
    return by * B, min(h, by * B + B), bx0 * B, min(w, bx1 * B)


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def _resolve(src, blocks, n, runs, V, free, lb, inv_r, inv_c, used, limit, B, k, scale,
             single, tmp, bufs, xmap, rows, acc):
    # the last pass's maximum over blocks[:n] (flat indices, raster order), by runs along the
    # block rows (the next run's lines asked for while this one is computed): each block's
    # maximum into V, 0 into free, and lb raised over the blocks whose windows' intersection
    # holds it. The blocks the register kernel applies to (blockmax.fast_applies: a range
    # of the run) are computed by it, the others by rect_pass. False past limit resolved
    # blocks.
    h, w = src.shape
    nbx = V.shape[1]
    m = _runs(blocks, n, nbx, runs)
    used[0] += n
    if used[0] > limit:
        return False
    if m:
        y0, y1, x0, x1 = _run_rect(runs[0], B, h, w)
        prefetch_rect(src, y0, y1, x0, x1, k)
    for r in range(m):
        by, bx0, bx1 = runs[r, 0], runs[r, 1], runs[r, 2]
        if r + 1 < m:
            y0, y1, x0, x1 = _run_rect(runs[r + 1], B, h, w)
            prefetch_rect(src, y0, y1, x0, x1, k)
        y0, y1, x0, x1 = _run_rect(runs[r], B, h, w)
        f0 = bx0  # [f0, f1): the blocks the register kernel applies to (a range)
        while f0 < bx1 and not fast_applies(src, y1, f0 * B, k, B):
            f0 += 1
        f1 = f0
        while f1 < bx1 and fast_applies(src, y1, f1 * B, k, B):
            f1 += 1
        if f1 > f0:
            row_offsets(src, y0, y1, k, rows)
        for bx in range(f0, f1):
            _settle(V, free, lb, inv_r, inv_c, by, bx,
                    block_pass_max(src, rows, y1 - y0, bx * B, k, scale, single, acc))
        for lo, hi in ((bx0, f0), (f1, bx1)):
            if lo == hi:
                continue
            x0, x1 = lo * B, min(w, hi * B)
            rect_pass(src, y0, y1, x0, x1, k, scale, single, tmp, bufs, xmap)
            for bx in range(lo, hi):
                c0, c1 = bx * B - x0, min(w, bx * B + B) - x0
                best = np.uint8(0)
                for y in range(y1 - y0):
                    part = tmp[y, c0:c1]
                    for x in range(c1 - c0):
                        best = max(best, part[x])
                _settle(V, free, lb, inv_r, inv_c, by, bx, best)
    return True


@numba.njit(cache=CACHE, nogil=True, _nrt=False, inline="always")
def _settle(V, free, lb, inv_r, inv_c, by, bx, best):
    # block (by, bx) resolved to best: V exact, not free, lb raised where it counts
    V[by, bx] = best
    free[by, bx] = 0
    for cy in range(inv_r[0, by], inv_r[1, by] + 1):
        row = lb[cy, inv_c[0, bx] : inv_c[1, bx] + 1]
        for i in range(row.shape[0]):
            row[i] = max(row[i], best)


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def _window_max(a, y0, y1, x0, x1):
    # max(a[y0 .. y1, x0 .. x1]) (inclusive bounds)
    best = np.uint8(0)
    for y in range(y0, y1 + 1):
        row = a[y, x0 : x1 + 1]
        for x in range(row.shape[0]):
            best = max(best, row[x])
    return best


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def _first_at(a, value, y0, y1, x0, x1):
    # the flat index of the first block of a[y0 .. y1, x0 .. x1] (raster order) equal to value
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1):
            if a[y, x] == value:
                return y * a.shape[1] + x
    return -1


@numba.njit(cache=CACHE, nogil=True)
def _levels(V):
    # the blocks with V > 0 (flat indices) by V descending, raster order within a value, and
    # where each value's blocks start: a counting sort
    v = V.ravel()
    count = np.zeros(257, np.int64)
    for i in range(v.size):
        if v[i] > 0:
            count[256 - v[i]] += 1
    for j in range(1, 257):
        count[j] += count[j - 1]
    starts = count.copy()
    out = np.empty(count[256], np.int64)
    for i in range(v.size):
        if v[i] > 0:
            out[count[255 - v[i]]] = i
            count[255 - v[i]] += 1
    return out, starts


@numba.njit(cache=CACHE, nogil=True)
def _inverse(lo, hi, nb):
    # for every block d: the range of blocks c with lo[c] <= d <= hi[c] (lo, hi nondecreasing)
    out = np.empty((2, nb), np.int64)
    a = 0
    b = 0
    for d in range(nb):
        while a < nb and hi[a] < d:
            a += 1
        while b < nb and lo[b] <= d:
            b += 1
        out[0, d] = a
        out[1, d] = b - 1
    return out


@numba.njit(cache=CACHE, nogil=True)
def _greedy(src, V, lb, rr, cc, limit, used, B, k, scale, single, tmp, bufs, xmap, rows, acc):
    # Resolve blocks until the conditions of lazy_last_pass hold; lb[C] is the largest exact
    # maximum in C's windows' intersection, and C may be a candidate while V[C] >= lb[C].
    # Returns the blocks the peak search will read, or None past limit resolved blocks.
    nby, nbx = V.shape
    free = V.copy()  # V where not resolved, else 0
    blocks = np.empty(V.size, np.int64)
    runs = np.empty((V.size, 3), np.int64)
    args = (runs, V, free, lb, _inverse(rr[0], rr[1], nby), _inverse(cc[0], cc[1], nbx),
            used, limit, B, k, scale, single, tmp, bufs, xmap, rows, acc)
    order, starts = _levels(V)
    # 1. by decreasing bound, every block that may still be a candidate. The blocks of one
    # bound v are resolved together: none rules out another (its exact maximum is <= v)
    for j in range(256):
        n = 0
        for i in range(starts[j], starts[j + 1]):
            by, bx = order[i] // nbx, order[i] % nbx
            if V[by, bx] >= lb[by, bx]:
                blocks[n] = order[i]
                n += 1
        if n and not _resolve(src, blocks, n, *args):
            return None
    # 2. each one left: the unresolved blocks above it in its windows' intersection, the
    # largest first, until one rules it out or none is left
    for i in range(order.shape[0]):
        by, bx = order[i] // nbx, order[i] % nbx
        while V[by, bx] > 0 and V[by, bx] >= lb[by, bx]:
            y0, y1, x0, x1 = rr[0, by], rr[1, by], cc[0, bx], cc[1, bx]
            best = _window_max(free, y0, y1, x0, x1)
            if best <= V[by, bx]:
                break
            blocks[0] = _first_at(free, best, y0, y1, x0, x1)
            if not _resolve(src, blocks, 1, *args):
                return None
    # the blocks the search reads: the candidates, and the blocks above one (on V) in the
    # union of its windows, where it looks for a pixel above the candidate's value
    read = np.zeros(V.shape, np.bool_)
    for i in range(order.shape[0]):
        by, bx = order[i] // nbx, order[i] % nbx
        v = V[by, bx]
        if v == 0 or v < lb[by, bx]:
            continue
        read[by, bx] = True
        y0, y1, x0, x1 = rr[2, by], rr[3, by], cc[2, bx], cc[3, bx]
        if _window_max(V, y0, y1, x0, x1) > v:
            for y in range(y0, y1 + 1):
                for x in range(x0, x1 + 1):
                    read[y, x] |= V[y, x] > v
    return read


@numba.njit(cache=CACHE, nogil=True)
def _finish(g, read, B, k, scale, single, bufs, xmap):
    # the last pass into g in the blocks read: computed from the pass before in all of them
    # first (their neighbours' pixels are its input), each run into its own piece of store,
    # then written
    h, w = g.shape
    blocks = np.empty(read.size, np.int64)
    runs = np.empty((read.size, 3), np.int64)
    runs = runs[: _runs(blocks, _marked(read, blocks), read.shape[1], runs)]
    at = np.zeros(runs.shape[0] + 1, np.int64)
    for r in range(runs.shape[0]):
        y0, y1, x0, x1 = _run_rect(runs[r], B, h, w)
        at[r + 1] = at[r] + (y1 - y0) * (x1 - x0)
    store = np.empty(at[-1], np.uint8)
    for r in range(runs.shape[0]):
        y0, y1, x0, x1 = _run_rect(runs[r], B, h, w)
        prefetch_rect(g, y0, y1, x0, x1, k)
        out = store[at[r] : at[r + 1]].reshape((y1 - y0, x1 - x0))
        rect_pass(g, y0, y1, x0, x1, k, scale, single, out, bufs, xmap)
    for r in range(runs.shape[0]):
        y0, y1, x0, x1 = _run_rect(runs[r], B, h, w)
        part = store[at[r] : at[r + 1]].reshape((y1 - y0, x1 - x0))
        for y in range(y1 - y0):
            src = part[y]
            row = g[y0 + y, x0:x1]
            for x in range(x1 - x0):
                row[x] = src[x]


def lazy_last_pass(
    g: np.ndarray, T: np.ndarray, k: int, single: bool, m: int, B: int,
    limit: float = LIMIT, stats: dict | None = None,
) -> np.ndarray | None:
    """Finish the box filter where the peak search will look: ``g`` holds every pass but the
    last (uint8, ``T`` its ``B x B`` block maxima); the last pass goes into ``g`` in the
    blocks the search can read, and the returned block maxima ``V`` are exact there and upper
    bounds elsewhere. :func:`selo_metrics._kernels.peaks.block_peak_runs` of ``g`` with
    ``maxima=V`` then gives the peaks of the full last pass. ``None`` (``g`` untouched) when
    more than ``limit`` of the blocks would have their maximum computed, or their pixels:
    run the pass in full instead.
    ``stats``, if given, receives the counts of blocks ``"resolved"`` (their maximum
    computed) and ``"read"`` (their pixels written into ``g``).

    Requires the map larger than ``k`` on both sides and the block search usable
    (:func:`selo_metrics._kernels.peaks.usable`, window ``m``).

    Notes
    -----
    Why the search on ``V`` is exact. Write ``I(C)`` / ``N(C)`` for the blocks inside the
    intersection / meeting the union of the windows of block ``C``'s pixels (``C`` is in
    both), ``T`` for the true last-pass maxima (``T <= V``, equal on resolved blocks), and
    call ``C`` *possible* when ``V[C] > 0`` and ``V[C] >= max(T over resolved D in I(C))``. At
    the end every possible block is resolved, and no unresolved block of ``I(C)`` has ``V``
    above ``V[C]``. Then:

    * a block that is not possible is a candidate neither on ``V`` nor truly: a resolved
      ``D`` in ``I(C)`` has ``V[D] = T[D] > V[C] >= T[C]``;
    * for a possible ``C``, ``V[C] = T[C]`` and every block of ``I(C)`` is at most ``T[C]``
      on ``V`` exactly when it is on ``T`` (resolved ones are equal, unresolved ones are at
      most ``V[C]`` on both): ``C`` is a candidate on ``V`` exactly when it truly is;
    * for a candidate, ``V >= T`` can only add blocks above its value in ``N(C)`` (an
      ambiguous candidate, a threat block) that hold no pixel above it: the pixel tests give
      the same peaks;
    * the search reads pixels in the candidates and in the blocks above one in ``N(C)`` (on
      ``V``), and the last pass is computed into ``g`` in all of those.

    Examples
    --------
    >>> from selo_metrics._kernels.box import box_filter_passes
    >>> from selo_metrics._kernels.peaks import block_peak_runs
    >>> yy, xx = np.mgrid[:600, :700]
    >>> g = (200 * np.exp(-((yy - 300) ** 2 + (xx - 420) ** 2) / 8000.0)).astype(np.uint8)
    >>> T = np.empty((19, 22), np.uint8)
    >>> g4, _ = box_filter_passes(g, 50, 4, 1, maxima=T, block=32)
    >>> V = lazy_last_pass(g4, T, 50, True, 256, 32, limit=1.0)  # None past the limit
    >>> full = np.empty((19, 22), np.uint8)
    >>> g5, _ = box_filter_passes(g, 50, 5, 1, maxima=full, block=32)
    >>> all((a == b).all() for a, b in zip(block_peak_runs(g4, 256, 1, 32, V),
    ...                                    block_peak_runs(g5, 256, 1, 32, full)))
    True
    """
    V, lb, rr, cc, work = _setup(g, T, k, m, B)
    scale = 1.0 / (k * k)
    used = np.zeros(1, np.int64)
    read = _greedy(g, V, lb, rr, cc, int(limit * V.size), used, B, k, scale, single, *work)
    nread = 0 if read is None else int(read.sum())
    if stats is not None:
        stats.update(resolved=int(used[0]), read=nread)
    if read is None or nread > limit * V.size:  # the read blocks are computed again
        return None
    _finish(g, read, B, k, scale, single, work[1], work[2])
    return V


def _setup(g: np.ndarray, T: np.ndarray, k: int, m: int, B: int) -> tuple:
    # what _greedy starts from: the bounds V, lb (zeros), the blocks' window ranges rr, cc,
    # and its work buffers (tmp, bufs, xmap, rows, acc; bufs and xmap serve _finish too)
    h, w = g.shape
    before, after = m // 2, m - m // 2 - 1
    nby, nbx = T.shape
    rr = _ranges(h, nby, B, before, after)
    cc = _ranges(w, nbx, B, before, after)
    halo = max(k // 2, k - k // 2 - 1)
    V = block_upper_bounds(T, math.ceil(halo / B))
    work = (np.empty((B, w), np.uint8), rect_buffers(w, k), np.empty(w + k, np.int64),
            np.empty(B + k, np.int64), np.empty(FAST_BLOCK, np.int32))
    return V, np.zeros(V.shape, np.uint8), rr, cc, work
