"""Numba kernel: k x k mean-filter passes on uint8 maps, bit-identical to OpenCV's ``boxFilter``.

Output pixel ``(y, x)`` averages rows ``y - k//2 .. y + k - k//2 - 1`` and the same columns,
borders reflected without repeating the edge pixel (``dcb|abcd|cba``, BORDER_REFLECT_101,
repeated for maps smaller than the kernel); the integer window sum ``S`` becomes
``rint(S * (1.0 / k**2))`` (ties to even), stored as uint8, after every pass.

All the passes run in one stream over the map: the map is cut into column tiles (or, for
narrow maps and square ones one tile wide, row bands), each widened by the halo the later
passes need, and in each tile a pipeline of one stage per pass pushes rows through: a stage
takes a row of the previous stage, stores its horizontal window sums (16-bit, at most
``255 k``) in a ring of the last ``k + 3`` rows, and emits its own output row, which the
next stage takes at once. A stage emits row ``y`` as soon as the rows of its window have
arrived (depth first, so a ring never holds a row it no longer needs); its running 32-bit
column sum adds the row entering the window and subtracts the row leaving it. For
``k <= 128`` a stage emits its rows by pairs, ``y`` and ``y + 1`` together once both
windows are in, which reads and writes the column sums once for two rows. A tile's rings
stay in the core's cache, so the map goes through memory once, not once per pass. The row
kernels are in :mod:`selo_metrics._kernels.boxrows`.

Horizontal sums: the row, widened to 16 bits with its reflected borders, then the difference
of its prefix sums ``k`` apart (:mod:`selo_metrics._kernels.scan`: the prefix sums scanned in
SIMD registers, modulo ``2**16``, exact for ``k <= 257``); in tiles of at least
:data:`LANE_MIN` columns, running sums on a lane layout, the tile's rows as 32 segments in the
lanes of a register (:mod:`selo_metrics._kernels.boxlanes`), the same sums. Every inner loop indexes
pre-sliced views with the bare loop variable, which is what lets LLVM vectorise them (an
``a[i + s]`` index defeats it).

The rounding runs in float32 when :func:`float32_rounding_is_exact` proves, over every
possible window sum, that it equals the float64 ``rint(S * (1.0 / k**2))``; float64 otherwise.
"""

from __future__ import annotations

import functools
import itertools
import math

import numba
import numpy as np

from . import CACHE, run_chunks
from .borders import reflect101
from .boxlanes import lane_buffers, lane_fixups, lane_pipeline, lane_segment
from .boxrows import PAD, _aligned, padded, pipeline

__all__ = [
    "box_filter_passes",
    "box_filter_u8",
    "box_tile_jobs",
    "float32_rounding_is_exact",
]

#: output columns per tile (at most): a tile's halo is the extra columns its later passes
#: need, so fewer tiles do less work, until the five stages' rings (530 bytes a column)
#: crowd the caches: one tile of 10000 columns was slower again (docs/performance.md, "The
#: fourth stop", measured on an AMD Zen 4; the fifth stop's probe on a Zen 5 found no width
#: up to 6144 better; the Xeon's probe went up to 3072 only)
TILE = 6144
MIN_TILE = 256  # narrower maps are shared between threads by row bands ...
MIN_BAND = 512  # ... of at least this many rows
#: tiles whose first stage emits at least this many columns run on the lane layout
#: (:mod:`selo_metrics._kernels.boxlanes`; 0: never), those narrower row-major: on a Zen 4,
#: four passes over 3000 rows on one thread took 0.96-1.01 times the row-major time at 1536
#: columns, 0.91-1.00 at 2048, 0.89-0.98 at 2560, 0.88-0.92 at 3000 (five runs of
#: ``benchmarks/probe_lane_layout.py --maps`` or its scratch form; docs/performance.md, "The
#: seventh stop")
LANE_MIN = 2048


@numba.njit(cache=CACHE, nogil=True)
def _span(lo, hi, k, n):
    # [min, max] + 1 of the reflected indices in the windows of outputs lo .. hi - 1
    a = n
    b = -1
    for e in range(lo - k // 2, hi + k - k // 2 - 1):
        r = reflect101(e, n)
        a = min(a, r)
        b = max(b, r)
    return a, b + 1


@numba.njit(cache=CACHE, nogil=True)
def _box_block(src, dst, k, passes, scale, single, maxima, block, lane_min, r0, r1, c0, c1):
    # all passes over the output block rows r0..r1-1, columns c0..c1-1: the geometry of each
    # stage, its work rows, then the row pipeline. geo[:, s + 1] is what stage s emits:
    # rows geo[0] .. geo[1] - 1, columns geo[2] .. geo[3] - 1; geo[:, 0] is what it reads.
    h, w = src.shape
    P = passes
    before = k // 2
    # a ring holds the rows a pair y, y + 1 reads (y - 1 - before .. y + 1 + after: k + 2)
    # and one more, which the previous stage may have emitted with its own pair
    R = k + 3
    geo = np.empty((4, P + 1), np.int64)
    geo[:, P] = r0, r1, c0, c1
    for s in range(P, 0, -1):
        geo[0, s - 1], geo[1, s - 1] = _span(geo[0, s], geo[1, s], k, h)
        geo[2, s - 1], geo[3, s - 1] = _span(geo[2, s], geo[3, s], k, w)
    co0, co1 = geo[2], geo[3]
    # ext row of stage s: positions e = 0 .. L-1 stand for columns lo + e (lo = co0[s+1] -
    # before), reflected where outside the map. Stage 0 reads them from the source row
    # (xmap: index into src[co0[0]:]); a later stage finds the previous stage's output
    # written at e = column - lo and copies the borders within the row (xmap: index in e16).
    wmax = co1[1] - co0[1]
    emax = wmax + k - 1
    for s in range(1, P):
        emax = max(emax, co1[s] - (co0[s + 1] - before))
    xmaps = np.empty((P, wmax + k - 1), np.uint32)
    mids = np.empty((P, 3), np.int64)
    for s in range(P):
        n = co1[s + 1] - co0[s + 1]
        L = n + k - 1
        lo = co0[s + 1] - before
        base = co0[0] if s == 0 else lo
        for e in range(L):
            xmaps[s, e] = reflect101(lo + e, w) - base
        m0 = min(max(0, -lo), L)
        mids[s, 0] = m0
        mids[s, 1] = max(m0, min(L, w - lo))
        mids[s, 2] = co0[s] - lo  # where the previous stage's row starts in an extended row
    # two extended rows (a pair's) and the prefix sums: whole registers are read and written
    # past emax; the work rows start on cache lines (_aligned)
    ext = _aligned(3 * (padded(emax) + 2 * PAD), np.uint16).reshape((3, -1))
    rings = _aligned(P * R * padded(wmax), np.uint16).reshape((P, R, -1))
    colsums = _aligned(P * padded(wmax), np.int32).reshape((P, -1))
    cur = np.empty((2, P), np.int64)
    acc = np.empty(padded(wmax), np.uint8)  # running block maxima of the last pass's rows
    work = (ext, rings, colsums, cur, acc)
    S = lane_segment(wmax, k, lane_min)
    if S:
        lwork = lane_buffers(S, k)
        fix = lane_fixups(co0[1], S, k, w)
        lane_pipeline(src, dst, k, scale, single, geo, xmaps, mids, work, lwork, fix, S,
                      maxima, block)
    else:
        pipeline(src, dst, k, scale, single, geo, xmaps, mids, work, maxima, block)


@numba.njit(cache=CACHE, nogil=True)
def _box_blocks(src, dst, k, passes, scale, single, maxima, block, lane_min, blocks, b0, b1):
    for b in range(b0, b1):
        r0, r1, c0, c1 = blocks[b, 0], blocks[b, 1], blocks[b, 2], blocks[b, 3]
        _box_block(src, dst, k, passes, scale, single, maxima, block, lane_min, r0, r1, c0,
                   c1)


def _plan(h: int, w: int, nthreads: int, align: int = 1) -> np.ndarray:
    """Blocks ``(r0, r1, c0, c1)``: column tiles of at most about TILE columns, as many as a
    multiple of the threads; row bands instead when the map is too narrow to share, or when
    it is one tile wide and at least as tall as wide. Inner cuts fall on multiples of
    ``align``."""
    nx = max(1, math.ceil(w / TILE))
    ny = 1
    if nthreads > 1:
        # a cut costs the same halo either way (the later passes' rows, or columns, on both
        # sides of it) times the length of the cut, so bands are no dearer on a square map;
        # tiles cost more per pixel, the narrower (each stage's row has fixed costs): at
        # 3000 x 3000 on 2 threads, two bands took 5-10 % less CPU than two tiles
        # (docs/performance.md, "The sixth stop")
        bands = h >= MIN_BAND * nthreads and (w < MIN_TILE * nthreads or (nx == 1 and h >= w))
        if bands:
            ny = nthreads
        else:
            nx = math.ceil(nx / nthreads) * nthreads
    nx, ny = min(nx, w), min(ny, h)
    rows = sorted({h * i // ny // align * align for i in range(ny)} | {h})
    cols = sorted({w * j // nx // align * align for j in range(nx)} | {w})
    blocks = [(*r, *c) for r in itertools.pairwise(rows) for c in itertools.pairwise(cols)]
    return np.array(blocks, dtype=np.int64)


def box_filter_u8(src, dst, k, scale, single, nthreads, passes=1, maxima=None, block=0):
    """``passes`` k x k mean-filter passes ``src -> dst`` (uint8, same shape, distinct arrays).

    ``k <= 257``; ``scale`` is ``1 / k**2``; ``single`` rounds in float32 (only where
    :func:`float32_rounding_is_exact`), else float64. With ``maxima`` (uint8, one entry per
    ``block x block`` block of the map, edge blocks clipped) the last pass also stores the
    maximum of each block of the result there. The tiles run on ``nthreads`` threads
    (:func:`selo_metrics._kernels.run_chunks`).
    """
    args = _tile_args(src, dst, k, passes, scale, single, nthreads, maxima, block)
    run_chunks(_box_blocks, args[-1].shape[0], *args, min_chunk=1, threads=nthreads)


def _tile_args(src, dst, k, passes, scale, single, nthreads, maxima, block) -> tuple:
    # the arguments of _box_blocks up to its block range, ending with the tiles' plan
    if maxima is None:
        maxima, block = np.zeros((0, 0), np.uint8), 0
    blocks = _plan(src.shape[0], src.shape[1], nthreads, max(block, 1))
    return (src, dst, k, passes, scale, single, maxima, block, LANE_MIN, blocks)


def _check_size(k: int) -> None:
    if k > 257:
        raise ValueError(f"box size {k} too large: window sums must fit 16 bits (k <= 257)")


def _copy(gray, dst, maxima, block, nthreads) -> None:
    # zero passes: the map itself, and its block maxima if asked for
    dst[...] = gray
    if maxima is not None:
        from .peaks import block_max

        maxima[...] = block_max(dst, block, nthreads)


def box_tile_jobs(gray, dst, k, passes, nthreads, maxima=None, block=32) -> list:
    """The tiles of :func:`box_filter_passes` ``gray -> dst`` as jobs of one thread each
    (callables of no arguments, for :class:`selo_metrics._kernels.Jobs`), cut for
    ``nthreads`` threads; the same result as :func:`box_filter_passes`.

    Examples
    --------
    >>> g = np.arange(64 * 80, dtype=np.uint8).reshape(64, 80)
    >>> out = np.empty_like(g)
    >>> for job in box_tile_jobs(g, out, 5, 2, 2):
    ...     job()
    >>> bool((out == box_filter_passes(g, 5, 2, 1)[0]).all())
    True
    """
    _check_size(k)
    if passes == 0:
        return [functools.partial(_copy, gray, dst, maxima, block, 1)]  # a job: one thread
    args = _tile_args(gray, dst, k, passes, 1.0 / (k * k), float32_rounding_is_exact(k),
                      nthreads, maxima, block)
    return [functools.partial(_box_blocks, *args, b, b + 1) for b in range(args[-1].shape[0])]


@functools.cache
def float32_rounding_is_exact(k: int) -> bool:
    """True when float32 ``rint(S * (1/k**2))`` equals float64's for every ``0 <= S <= 255 k**2``.

    Examples
    --------
    >>> float32_rounding_is_exact(50)
    True
    """
    s = np.arange(255 * k * k + 1)
    ref = np.rint(s * (1.0 / (k * k)))
    fast = np.rint(s.astype(np.float32) * np.float32(1.0 / (k * k)))
    return bool(np.array_equal(ref, fast))


def box_filter_passes(
    gray: np.ndarray,
    k: int,
    passes: int,
    nthreads: int,
    buffers: tuple[np.ndarray, np.ndarray] | None = None,
    maxima: np.ndarray | None = None,
    block: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``passes`` box-filter passes to ``gray`` (left untouched).

    ``buffers``: two uint8 arrays of ``gray``'s shape to work in (new ones by default).
    ``maxima``: if given, a uint8 array of ``ceil(H / block) x ceil(W / block)`` that receives
    the maximum of every ``block x block`` block of the result (edge blocks clipped).
    Returns ``(result, spare)``: the filtered map and the other buffer, free for reuse.
    """
    _check_size(k)
    a, b = buffers if buffers is not None else (np.empty_like(gray), np.empty_like(gray))
    if passes == 0:
        _copy(gray, a, maxima, block, nthreads)
        return a, b
    scale, single = 1.0 / (k * k), float32_rounding_is_exact(k)
    box_filter_u8(gray, a, k, scale, single, nthreads, passes, maxima, block)
    return a, b
