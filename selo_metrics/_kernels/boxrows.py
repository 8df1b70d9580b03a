"""Row kernels of the box-filter pipeline (:mod:`selo_metrics._kernels.box`): the extended
row of a stage (its reflected borders), the rounding of a stage's output rows (one, or two
at a time with the column sums read and written once), and the event loop that pushes rows
through the stages of one block (its scheduling shared with the lane layout's,
:mod:`selo_metrics._kernels.boxlanes`). The horizontal window sums of an extended row are
:func:`selo_metrics._kernels.scan.window_sums`; the work rows come from ``_aligned``.

The row kernels allocate nothing and run without numba's reference counting
(``_nrt=False``): every row view a loop takes would otherwise cost two atomic updates of a
shared counter, more than the row's arithmetic on a 2000-pixel tile (measured: 1.7x on the
whole filter). Every inner
loop indexes pre-sliced views with the bare loop variable, which is what lets LLVM vectorise
them (an ``a[i + s]`` index defeats it); border index maps are unsigned, so the few scalar
loops carry no negative-index wraparound.
"""

from __future__ import annotations

import numba
import numpy as np

from . import CACHE
from .borders import reflect101
from .scan import window_sums
from .vector import prefetch_read, prefetch_write, wide_vectors

__all__ = ["PAD", "padded", "pipeline"]

# Work rows are padded and most loops rounded up to a multiple of PAD elements, which spares
# LLVM's remainder loops (scalar, up to a hundred cycles each, seven loops per stage and row);
# the extra lanes compute garbage past the row's end that no valid output reads.
PAD = 128
# The last stage writes its rows into the result map, whose rows lie a map's width apart and
# are not in any cache: before emitting row y, the lines of row y + AHEAD are prefetched for
# writing, so the stores do not wait for memory (measured in docs/performance.md). The first
# stage reads the source map the same way: the lines of source row r + AHEAD (its last line
# too, which a row not starting on a line boundary would miss) are prefetched for reading.
AHEAD = 2


@numba.njit(cache=CACHE, nogil=True, inline="always", _nrt=False)
def padded(n):
    """``n`` rounded up to a multiple of :data:`PAD`."""
    return (n + PAD - 1) // PAD * PAD


@numba.njit(cache=CACHE, nogil=True)
def _aligned(n, dtype):
    # n elements starting on a 64-byte cache line. numba's np.empty aligns to 32 bytes, so
    # half the time a work row started mid-line and each of its 512-bit loads and stores
    # touched two lines: the filter x5 at 10k took 165-187 ms, against 163-168 ms with the
    # rows on lines (docs/performance.md). The work rows are whole multiples of PAD elements
    # long, so every row of the arrays cut from this one starts on a line too.
    raw = np.empty(n + 64, dtype)
    off = (64 - raw.ctypes.data % 64) % 64 // raw.itemsize
    return raw[off : off + n]


@numba.njit(cache=CACHE, nogil=True, inline="always", _nrt=False)
def _extend_src(row, e16, xmap, m0, m1, L):
    # the source row widened to 16 bits with its reflected borders: e16[e] = row[xmap[e]]
    for e in range(m0):
        e16[e] = row[xmap[e]]
    if m1 > m0:
        mid = e16[m0:m1]
        src = row[xmap[m0] : xmap[m0] + m1 - m0]
        for i in range(m1 - m0):
            mid[i] = src[i]
    for e in range(m1, L):
        e16[e] = row[xmap[e]]


@numba.njit(cache=CACHE, nogil=True, inline="always", _nrt=False)
def _fill_borders(e16, xmap, m0, m1, L):
    # a stage's output row sits in e16 already (see _box_block); copy its reflected borders
    for e in range(m0):
        e16[e] = e16[xmap[e]]
    for e in range(m1, L):
        e16[e] = e16[xmap[e]]


@numba.njit(cache=CACHE, nogil=True, inline="always", _nrt=False)
def _window_top(y, before, after, n):
    # the largest row index (after reflection) in the window of output row y
    if y + after < n:
        if y - before >= 0:
            return y + after
        if before - y < n:  # one reflection at the top
            return max(y + after, before - y)
    else:
        return n - 1  # row n - 1 is in the window, nothing is larger
    top = 0
    for e in range(y - before, y + after + 1):
        top = max(top, reflect101(e, n))
    return top


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def _emit(ring, colsum, y, first, before, after, h, out, scale, single):
    # output row y of one stage: update the running column sums, round them into out
    # (uint8, or uint16 when it feeds the next stage). For k <= 128 the difference of the
    # entering and leaving rows fits int16 (|a - b| <= 255 k) and is widened once.
    wide_vectors()
    n = out.shape[0]
    R = ring.shape[0]
    c = colsum[:n]
    if first:
        for x in range(n):
            c[x] = 0
        for e in range(y - before, y + after + 1):
            a = ring[reflect101(e, h) % R][:n]
            for x in range(n):
                c[x] += a[x]
        a = ring[0][:n]
        b = a
    else:
        a = ring[reflect101(y + after, h) % R][:n]
        b = ring[reflect101(y - 1 - before, h) % R][:n]
        if before + after >= 128:  # k > 128: a - b may not fit int16; add it in 32 bits
            for x in range(n):
                c[x] += np.int32(a[x]) - np.int32(b[x])
            b = a
    if single:
        s32 = np.float32(scale)
        for x in range(n):
            v = np.int32(c[x] + np.int32(np.int16(a[x] - b[x])))
            c[x] = v
            out[x] = np.int32(np.rint(np.float32(v) * s32))
    else:
        for x in range(n):
            v = np.int32(c[x] + np.int32(np.int16(a[x] - b[x])))
            c[x] = v
            out[x] = np.int32(np.rint(np.float64(v) * scale))


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def _emit_pair(ring, colsum, y, before, after, h, out0, out1, scale, single):
    # output rows y and y + 1 of one stage (y not its first, k <= 128): _emit twice, with the
    # column sums read and written once for both rows (docs/performance.md, "The fifth stop":
    # with four uint16 rings, 0.071-0.074 against 0.083-0.103 ns a pixel and row on a Zen 5,
    # 0.086-0.091 against 0.118-0.153 on a Zen 4; benchmarks/probe_row_kernels.py emit)
    wide_vectors()
    n = out0.shape[0]
    R = ring.shape[0]
    c = colsum[:n]
    a0 = ring[reflect101(y + after, h) % R][:n]
    b0 = ring[reflect101(y - 1 - before, h) % R][:n]
    a1 = ring[reflect101(y + 1 + after, h) % R][:n]
    b1 = ring[reflect101(y - before, h) % R][:n]
    if single:
        s32 = np.float32(scale)
        for x in range(n):
            v = np.int32(c[x] + np.int32(np.int16(a0[x] - b0[x])))
            out0[x] = np.int32(np.rint(np.float32(v) * s32))
            v = np.int32(v + np.int32(np.int16(a1[x] - b1[x])))
            c[x] = v
            out1[x] = np.int32(np.rint(np.float32(v) * s32))
    else:
        for x in range(n):
            v = np.int32(c[x] + np.int32(np.int16(a0[x] - b0[x])))
            out0[x] = np.int32(np.rint(np.float64(v) * scale))
            v = np.int32(v + np.int32(np.int16(a1[x] - b1[x])))
            c[x] = v
            out1[x] = np.int32(np.rint(np.float64(v) * scale))


@numba.njit(cache=CACHE, nogil=True, inline="always", _nrt=False)
def _emit_rows(ring, colsum, y, two, first, before, after, h, out, out1, scale, single):
    # row y of one stage into out, and with two row y + 1 into out1 (_emit_pair)
    if two:
        _emit_pair(ring, colsum, y, before, after, h, out, out1, scale, single)
    else:
        _emit(ring, colsum, y, first, before, after, h, out, scale, single)


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def _block_maxima(row, acc, maxima, y, c0, B, h):
    # fold the last pass's row y (columns c0 ..) into the running maxima of its block row;
    # after the block row's last row, store the maximum of each block
    wide_vectors()
    n = row.shape[0]
    a = acc[:n]
    if y % B == 0:
        for x in range(n):
            a[x] = row[x]
    else:
        for x in range(n):
            a[x] = max(a[x], row[x])
    if y % B == B - 1 or y == h - 1:
        for j in range((n + B - 1) // B):
            seg = a[j * B : min(n, j * B + B)]
            best = seg[0]
            for i in range(1, seg.shape[0]):
                best = max(best, seg[i])
            maxima[y // B, c0 // B + j] = best


@numba.njit(cache=CACHE, nogil=True, inline="always", _nrt=False)
def start_rows(geo, rings, cur, k):
    """A pipeline's start: every stage's next input row ``cur[0, s]`` and output row ``cur[1,
    s]`` set to its first; returns the stages, the ring's rows, the window's reach before and
    after a row, and whether rows go by pairs (``a - b`` of two window sums fits int16 for
    ``k <= 128``: :func:`_emit_pair`)."""
    P = rings.shape[0]
    for s in range(P):
        cur[0, s] = geo[0, s]
        cur[1, s] = geo[0, s + 1]
    before = k // 2
    after = k - before - 1
    return P, rings.shape[1], before, after, before + after < 128


@numba.njit(cache=CACHE, nogil=True, inline="always", _nrt=False)
def next_emission(nin, nout, ro0, ro1, before, after, h, pairs):
    """What a pipeline does next: ``(s, y, first, two)``, stage ``s`` emits its row ``y`` (its
    first row when ``first``), and ``y + 1`` with it when ``two``; ``s = -1`` when no stage
    can, and the first stage needs the next source row. The last stage goes first (depth
    first: a ring never holds a row it no longer needs); ``nin`` / ``nout``: each stage's
    next input and output row, ``ro0`` / ``ro1``: the rows each stage reads and emits."""
    s = nin.shape[0] - 1
    while s >= 0:
        y = nout[s]
        if y < ro1[s + 1] and _window_top(y, before, after, h) < nin[s]:
            first = y == ro0[s + 1]
            two = pairs and not first and y + 1 < ro1[s + 1]
            if not (two and _window_top(y + 1, before, after, h) >= nin[s]):
                return s, y, first, two
            # row y + 1's window is not all in yet: emit the two together, later
        s -= 1
    return -1, 0, False, False


@numba.njit(cache=CACHE, nogil=True, inline="always", _nrt=False)
def prefetch_result(dst, y, rows, end, c0, c1):
    """Ask for the lines of result rows ``y + AHEAD ..`` (before ``end``), for writing."""
    for i in range(rows):
        if y + i + AHEAD < end:
            ahead = dst[y + i + AHEAD, c0:c1]
            for j in range(0, c1 - c0, 64):
                prefetch_write(ahead, j)


@numba.njit(cache=CACHE, nogil=True, inline="always", _nrt=False)
def prefetch_source(src, r, end, c0, c1):
    """Ask for the lines of source row ``r + AHEAD`` (before ``end``), its last one too."""
    if r + AHEAD < end:
        ahead = src[r + AHEAD, c0:c1]
        for j in range(0, c1 - c0, 64):
            prefetch_read(ahead, j)
        prefetch_read(ahead, c1 - c0 - 1)


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def pipeline(src, dst, k, scale, single, geo, xmaps, mids, work, maxima, B):
    """Push the rows of one block through its stages (see :mod:`selo_metrics._kernels.box`).

    ``geo[0:2, s]`` / ``geo[2:4, s]``: the rows / columns stage ``s - 1`` emits (index 0: the
    source rows and columns the block reads); ``xmaps[s]``, ``mids[s]``: the extended row of
    stage ``s`` (border index map; middle ``[m0, m1)``; where the previous row starts);
    ``work``: the stages' work rows ``(ext, rings, colsums, cur, acc)`` (``ext[0]``,
    ``ext[1]``: extended rows, ``ext[2]``: prefix sums). With ``B > 0`` the
    maxima of the result's ``B x B`` blocks go to ``maxima`` (block edges on B multiples).
    """
    wide_vectors()
    ext, rings, colsums, cur, acc = work
    P, R, before, after, pairs = start_rows(geo, rings, cur, k)
    ro0, ro1, co0, co1 = geo[0], geo[1], geo[2], geo[3]
    nin, nout, h = cur[0], cur[1], src.shape[0]
    c0, c1 = co0[P], co1[P]
    while True:
        s, y, first, two = next_emission(nin, nout, ro0, ro1, before, after, h, pairs)
        rows = 2 if two else 1
        if s == P - 1:
            prefetch_result(dst, y, rows, ro1[P], c0, c1)
            _emit_rows(rings[s], colsums[s], y, two, first, before, after, h,
                       dst[y, c0:c1], dst[y + rows - 1, c0:c1], scale, single)
            if B > 0:
                for i in range(rows):
                    _block_maxima(dst[y + i, c0:c1], acc, maxima, y + i, c0, B, h)
        elif s >= 0:
            # straight into the next stage's extended rows, then their window sums
            n = co1[s + 1] - co0[s + 1]
            n2 = co1[s + 2] - co0[s + 2]
            at = mids[s + 1, 2]
            _emit_rows(rings[s], colsums[s], y, two, first, before, after, h,
                       ext[0, at : at + padded(n)], ext[1, at : at + padded(n)],
                       scale, single)
            for i in range(rows):
                _fill_borders(ext[i], xmaps[s + 1], mids[s + 1, 0], mids[s + 1, 1],
                              n2 + k - 1)
                window_sums(ext[i], ext[2], k, rings[s + 1, (y + i) % R, : padded(n2)])
            nin[s + 1] = y + rows
        else:
            r = nin[0]
            if r >= ro1[0]:
                break
            n = co1[1] - co0[1]
            prefetch_source(src, r, ro1[0], co0[0], co1[0])
            row = src[r, co0[0] : co1[0]]
            _extend_src(row, ext[0], xmaps[0], mids[0, 0], mids[0, 1], n + k - 1)
            window_sums(ext[0], ext[2], k, rings[0, r % R, : padded(n)])
            nin[0] = r + 1
            continue
        nout[s] = y + rows
