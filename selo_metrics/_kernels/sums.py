"""Numba kernels: the Rsu sums over the map and over the GT mask, one streaming pass."""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["masked_sums_f64", "masked_sums_u8"]


@numba.njit(cache=True, nogil=True, parallel=True)
def masked_sums_u8(gray, mask):
    """Exact ``(area, sum(gray * mask), sum(gray))`` (int64), uint8 ``gray``, 0/1 ``mask``."""
    h, w = gray.shape
    area = np.zeros(h, np.int64)
    s_in = np.zeros(h, np.int64)
    s_all = np.zeros(h, np.int64)
    for y in numba.prange(h):
        g = gray[y]
        m = mask[y]
        a = 0
        si = 0
        sa = 0
        for x in range(w):
            gv = np.int64(g[x])
            mv = np.int64(m[x])
            a += mv
            si += gv * mv
            sa += gv
        area[y] = a
        s_in[y] = si
        s_all[y] = sa
    return area.sum(), s_in.sum(), s_all.sum()


@numba.njit(cache=True, nogil=True, parallel=True)
def masked_sums_f64(prob, mask):
    """Per-row ``sum(prob * mask)`` and ``sum(prob)`` (float64) and the exact area.

    The caller adds the row sums with numpy's pairwise summation, so the totals are as
    accurate as the official ``np.sum`` over the whole map.
    """
    h, w = prob.shape
    area = np.zeros(h, np.int64)
    s_in = np.zeros(h, np.float64)
    s_all = np.zeros(h, np.float64)
    for y in numba.prange(h):
        p = prob[y]
        m = mask[y]
        a = 0
        si = 0.0
        sa = 0.0
        for x in range(w):
            a += np.int64(m[x])
            if m[x]:
                si += p[x]
            sa += p[x]
        area[y] = a
        s_in[y] = si
        s_all[y] = sa
    return area.sum(), s_in, s_all
