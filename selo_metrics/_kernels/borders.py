"""Numba helpers: border index maps and extended rows, shared by the filter kernels."""

from __future__ import annotations

import numba

from . import CACHE

__all__ = ["extend_row", "reflect", "reflect101"]


@numba.njit(cache=CACHE, inline="always")
def reflect101(i: int, n: int) -> int:
    """Index ``i`` reflected into ``[0, n)`` without repeating the edge (``dcb|abcd|cba``)."""
    if n == 1:
        return 0
    while i < 0 or i >= n:
        if i < 0:
            i = -i
        else:
            i = 2 * n - 2 - i
    return i


@numba.njit(cache=CACHE, inline="always")
def reflect(i: int, n: int) -> int:
    """Index ``i`` reflected into ``[0, n)`` repeating the edge (``dcba|abcd|dcba``)."""
    p = 2 * n
    i %= p
    if i < 0:
        i += p
    if i >= n:
        i = p - 1 - i
    return i


@numba.njit(cache=CACHE, nogil=True, inline="always")
def extend_row(row, xmap, before, out):
    """``out[e] = row[xmap[e]]``: the row with its reflected borders (``before`` on the left).

    The middle is a plain copy (vectorised); only the borders go through the index map.
    """
    w = row.shape[0]
    n = out.shape[0]
    for e in range(before):
        out[e] = row[xmap[e]]
    mid = out[before:before + w]
    for x in range(w):
        mid[x] = row[x]
    for e in range(before + w, n):
        out[e] = row[xmap[e]]
