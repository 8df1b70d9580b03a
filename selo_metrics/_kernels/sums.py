"""Numba kernels: the Rsu sums over the map and over the GT mask, one streaming pass."""

from __future__ import annotations

import numba
import numpy as np

from . import CACHE, run_chunks

__all__ = ["masked_sums_f64", "masked_sums_u8"]


@numba.njit(cache=CACHE, nogil=True)
def _sums_u8_rows(gray, mask, out, row0, row1):
    w = gray.shape[1]
    for y in range(row0, row1):
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
        out[y, 0] = a
        out[y, 1] = si
        out[y, 2] = sa


@numba.njit(cache=CACHE, nogil=True)
def _sums_f64_rows(prob, mask, area, s_in, s_all, row0, row1):
    w = prob.shape[1]
    for y in range(row0, row1):
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


def masked_sums_u8(gray: np.ndarray, mask: np.ndarray) -> tuple[int, int, int]:
    """Exact ``(area, sum(gray * mask), sum(gray))`` for uint8 ``gray`` and 0/1 ``mask``.

    Examples
    --------
    >>> masked_sums_u8(np.full((3, 4), 10, np.uint8), np.eye(3, 4, dtype=np.uint8))
    (3, 30, 120)
    """
    per_row = np.empty((gray.shape[0], 3), np.int64)
    run_chunks(_sums_u8_rows, gray.shape[0], gray, mask, per_row)
    area, s_in, s_all = per_row.sum(axis=0)
    return int(area), int(s_in), int(s_all)


def masked_sums_f64(prob: np.ndarray, mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """The exact area and per-row ``sum(prob * mask)`` and ``sum(prob)`` (float64).

    The caller adds the row sums with numpy's pairwise summation, so the totals are as
    accurate as the official ``np.sum`` over the whole map.
    """
    h = prob.shape[0]
    area = np.empty(h, np.int64)
    s_in = np.empty(h, np.float64)
    s_all = np.empty(h, np.float64)
    run_chunks(_sums_f64_rows, h, prob, mask, area, s_in, s_all)
    return int(area.sum()), s_in, s_all
