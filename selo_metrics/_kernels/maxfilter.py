"""Numba kernels: the m x m running maximum and the peak test, exact to scipy.

``scipy.ndimage.maximum_filter(g, size=m)`` (mode ``'reflect'``, ``dcba|abcd|dcba``, repeated
for maps smaller than the window) takes, at ``(y, x)``, the maximum over rows
``y - m//2 .. y + m - m//2 - 1`` and the same columns. The maximum is separable and exact,
so it runs as a vertical pass (van Herk / Gil-Werman on whole row vectors, which the
compiler vectorises, columns split across threads) and a horizontal pass fused with the peak
test ``g == max and g > 0`` (rows split across threads). A peak must equal its
vertical-window maximum, so each row first counts such candidates: a row with none is done;
a row with few checks each candidate's horizontal window directly; a dense row (flat or
saturated maps) takes log-step maxima along the row (a window of ``m`` is the maximum of two
overlapping windows of the largest power of two ``<= m``). The 0/1 peak flags then overwrite
the vertical maxima and the runs of peaks in every row are counted.
"""

from __future__ import annotations

import numba
import numpy as np

from . import CACHE, run_chunks
from .borders import extend_row, reflect

__all__ = ["peak_flags", "vertical_max"]


@numba.njit(cache=CACHE, nogil=True)
def _vertical_cols(src, dst, m, c0, c1):
    h = src.shape[0]
    before = m // 2
    wc = c1 - c0
    suffix = np.empty((m, wc), np.uint8)
    prefix = np.empty(wc, np.uint8)
    nblocks = (h - 1) // m + 1
    ext_len = h + m - 1
    for j in range(nblocks):
        e0 = j * m
        e1 = min(e0 + m, ext_len)
        # suffix maxima of block j (extended rows e0 .. e1-1), bottom-up
        last = src[reflect(e1 - 1 - before, h), c0:c1]
        s = suffix[e1 - 1 - e0]
        for x in range(wc):
            s[x] = last[x]
        for e in range(e1 - 2, e0 - 1, -1):
            r = src[reflect(e - before, h), c0:c1]
            s = suffix[e - e0]
            nxt = suffix[e - e0 + 1]
            for x in range(wc):
                s[x] = max(r[x], nxt[x])
        # outputs y = e0 .. : max(suffix[y], prefix of block j+1 up to y + m - 1)
        y_end = min(e0 + m, h)
        out = dst[e0, c0:c1]
        s = suffix[0]
        for x in range(wc):
            out[x] = s[x]
        for x in range(wc):
            prefix[x] = 0
        for y in range(e0 + 1, y_end):
            r = src[reflect(y + m - 1 - before, h), c0:c1]
            s = suffix[y - e0]
            out = dst[y, c0:c1]
            for x in range(wc):
                p = max(prefix[x], r[x])
                prefix[x] = p
                out[x] = max(s[x], p)


def vertical_max(src, dst, m, nthreads):
    """Running maximum over ``m`` rows (scipy ``'reflect'`` borders), ``src -> dst``."""
    run_chunks(_vertical_cols, src.shape[1], src, dst, m, min_chunk=256, threads=nthreads)


@numba.njit(cache=CACHE, nogil=True, inline="always")
def _max2(out, a, b):
    for i in range(out.shape[0]):
        out[i] = max(a[i], b[i])


@numba.njit(cache=CACHE, nogil=True)
def _window_max(a):
    best = a[0]
    for i in range(1, a.shape[0]):
        best = max(best, a[i])
    return best


@numba.njit(cache=CACHE, nogil=True)
def _peak_rows(g, vmax, m, runs, row0, row1):
    w = g.shape[1]
    before = m // 2
    ext_len = w + m - 1
    p = 1
    while p * 2 <= m:
        p *= 2
    buf_a = np.empty(ext_len, np.uint8)
    buf_b = np.empty(ext_len, np.uint8)
    rowmax = np.empty(w, np.uint8)
    xmap = np.empty(ext_len, np.int64)
    for e in range(ext_len):
        xmap[e] = reflect(e - before, w)
    cand = np.empty(w, np.int64)
    # a row with few candidates checks each candidate's window directly (cost ~ n m);
    # a dense row (flat or saturated maps) takes the log-step maxima (cost ~ log2(m) L)
    sparse_limit = max(1, (4 * ext_len) // max(m, 1))
    for y in range(row0, row1):
        v = vmax[y]
        gy = g[y]
        # candidates: g equals its vertical-window maximum (necessary for a peak), g > 0
        ncand = 0
        for x in range(w):
            ncand += (gy[x] == v[x]) & (gy[x] > 0)
        if ncand == 0:
            v[:] = 0
            runs[y] = 0
            continue
        # the extended row (reflect borders), kept for the windows near the borders
        extend_row(v, xmap, before, buf_a)
        if ncand <= sparse_limit:
            n = 0
            for x in range(w):
                if (gy[x] == v[x]) & (gy[x] > 0):
                    cand[n] = x
                    n += 1
            v[:] = 0
            nruns = 0
            last = -2
            for i in range(n):
                x = cand[i]
                if gy[x] == _window_max(buf_a[x:x + m]):
                    v[x] = 1
                    if x != last + 1:
                        nruns += 1
                    last = x
            runs[y] = nruns
            continue
        # log-step maxima, ping-pong between the buffers chosen by parity (swapping array
        # variables in the loop defeats vectorisation): level j holds max of 2**j samples
        s = 1
        level = 0
        while s < p:
            n = ext_len - 2 * s + 1
            if level % 2 == 0:
                _max2(buf_b[:n], buf_a[:n], buf_a[s:s + n])
            else:
                _max2(buf_a[:n], buf_b[:n], buf_b[s:s + n])
            s *= 2
            level += 1
        if level % 2 == 0:
            _max2(rowmax, buf_a[:w], buf_a[m - p:m - p + w])
        else:
            _max2(rowmax, buf_b[:w], buf_b[m - p:m - p + w])
        for x in range(w):
            val = gy[x]
            v[x] = 1 if (val > 0) & (val == rowmax[x]) else 0
        # runs = number of 0 -> 1 steps along the row
        nruns = np.int64(v[0])
        cur1 = v[1:]
        prev1 = v[:w - 1]
        for x in range(w - 1):
            nruns += np.int64(cur1[x] > prev1[x])
        runs[y] = nruns


def peak_flags(g, vmax, m, runs, nthreads):
    """Horizontal running maximum of ``vmax`` fused with the peak test against ``g``.

    Overwrites ``vmax`` with 1 where ``g == max(window) and g > 0`` and 0 elsewhere, and
    stores the number of runs of peak pixels of each row in ``runs`` (int64, length H).
    """
    run_chunks(_peak_rows, g.shape[0], g, vmax, m, runs, threads=nthreads)
