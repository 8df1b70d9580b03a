"""Numba kernel: one box-filter pass over a rectangle of the output, with its borders.

:func:`selo_metrics._kernels.lastpass.lazy_last_pass` computes the last pass of the box
filter only in some blocks of the map; this is that pass over one rectangle (a run of blocks):
the pixels of the blocks the peak search reads, and the maxima of the blocks that the
register kernel of :mod:`selo_metrics._kernels.blockmax` does not take (other box sizes,
the map's left and right borders).
The fused pipeline of :mod:`selo_metrics._kernels.box` streams whole column tiles through all
the passes and is no use for a 32 x 32 block: its rings would be refilled for every block.

The order of the sums is the pipeline's transposed (columns first, then along the rows); both
are exact integer window sums, so the rounding ``rint(S / k**2)`` (float32 where
:func:`selo_metrics._kernels.box.float32_rounding_is_exact`, float64 otherwise) gives the
same bytes (tested against the plain-numpy twin of the spec).
"""

from __future__ import annotations

import numba
import numpy as np

from . import CACHE
from .borders import reflect101
from .vector import prefetch_read, wide_vectors

__all__ = ["pass_rect", "prefetch_rect", "rect_buffers", "rect_pass"]


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def rect_pass(src, y0, y1, x0, x1, k, scale, single, out, bufs, xmap):
    """One ``k x k`` pass over output rows ``y0 .. y1 - 1``, columns ``x0 .. x1 - 1`` of
    ``src`` into ``out[0:, 0:]``: running column sums over the source columns the windows
    touch, each output row's window sums as a running sum along the row, their rounding.
    ``bufs``: :func:`rect_buffers` of at least ``x1 - x0`` columns; ``xmap``: int64 scratch
    of ``x1 - x0 + k``. :func:`pass_rect` is the same with its own buffers."""
    wide_vectors()
    colsum, ext, sums = bufs
    h, w = src.shape
    before = k // 2
    after = k - before - 1
    n = x1 - x0
    L = n + k - 1
    e0 = x0 - before
    inside = e0 >= 0 and e0 + L <= w
    if inside:
        a, b = e0, e0 + L
    else:
        a, b = w, 0
        for e in range(L):
            c = reflect101(e0 + e, w)
            a, b = min(a, c), max(b, c + 1)
        for e in range(L):
            xmap[e] = reflect101(e0 + e, w) - a
    # column sums in 16 bits (at most 255 k, k <= 257): twice the lanes of 32 bits; the
    # running update wraps and unwraps exactly
    # whole 32-lane registers where the rows have room (no scalar remainder loops); the
    # lanes past b - a are never read for an output
    m = min((b - a + 31) // 32 * 32, w - a)
    cs = colsum[:m]
    for i in range(m):
        cs[i] = 0
    for e in range(y0 - before, y0 + after + 1):
        row = src[reflect101(e, h), a : a + m]
        for i in range(m):
            cs[i] += np.uint16(row[i])
    s32 = np.float32(scale)
    srow = sums[:n]
    for y in range(y0, y1):
        if y > y0:
            enter = src[reflect101(y + after, h), a : a + m]
            leave = src[reflect101(y - before - 1, h), a : a + m]
            for i in range(m):
                cs[i] += np.uint16(enter[i]) - np.uint16(leave[i])
        e_ = cs
        if not inside:
            e_ = ext[:L]
            for e in range(L):
                e_[e] = cs[xmap[e]]
        first = e_[:k]
        acc = np.int32(0)
        for i in range(k):
            acc += np.int32(first[i])
        srow[0] = acc
        hi = e_[k : k + n - 1]
        lo = e_[: n - 1]
        for j in range(n - 1):
            acc += np.int32(hi[j]) - np.int32(lo[j])
            srow[j + 1] = acc
        o = out[y - y0, :n]
        if single:
            for j in range(n):
                o[j] = np.uint8(np.int32(np.rint(np.float32(srow[j]) * s32)))
        else:
            for j in range(n):
                o[j] = np.uint8(np.int32(np.rint(np.float64(srow[j]) * scale)))


def rect_buffers(width: int, k: int) -> tuple[np.ndarray, ...]:
    """The work arrays of :func:`rect_pass` for outputs up to ``width`` columns wide."""
    return (np.empty(width + k + 32, np.uint16), np.empty(width + k, np.uint16),
            np.empty(width, np.int32))


def pass_rect(src: np.ndarray, y0: int, y1: int, x0: int, x1: int, k: int,
              single: bool) -> np.ndarray:
    """One ``k x k`` mean-filter pass of ``src`` (uint8), output rows ``y0 .. y1 - 1`` and
    columns ``x0 .. x1 - 1`` only: the same pixels as :func:`.box.box_filter_passes` with one
    pass (BORDER_REFLECT_101, ``rint(S / k**2)``; ``single``: in float32, only where
    :func:`.box.float32_rounding_is_exact`).

    Examples
    --------
    >>> from selo_metrics._kernels.box import box_filter_passes
    >>> g = (np.arange(60 * 70) * 37 % 251).astype(np.uint8).reshape(60, 70)
    >>> part = pass_rect(g, 3, 20, 50, 70, 9, True)
    >>> bool((part == box_filter_passes(g, 9, 1, 1)[0][3:20, 50:70]).all())
    True
    """
    out = np.empty((y1 - y0, x1 - x0), np.uint8)
    bufs = rect_buffers(x1 - x0, k)
    xmap = np.empty(x1 - x0 + k, np.int64)
    rect_pass(src, y0, y1, x0, x1, k, 1.0 / (k * k), single, out, bufs, xmap)
    return out


@numba.njit(cache=CACHE, nogil=True, _nrt=False)
def prefetch_rect(src, y0, y1, x0, x1, k):
    """Ask for the source lines of :func:`rect_pass`'s outputs at once (a hint): the rows
    lie a map's width apart, each on its own pages, and it reads them one after another."""
    h, w = src.shape
    before = k // 2
    a, b = max(0, x0 - before), min(w, x1 + k - before - 1)
    for e in range(y0 - before, y1 + k - before - 1):
        row = src[reflect101(e, h), a:b]
        for i in range(0, b - a + 63, 64):
            prefetch_read(row, min(i, b - a - 1))
