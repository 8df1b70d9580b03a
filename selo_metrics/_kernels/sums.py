"""The Rsu sums: GT area, ``sum(prob * mask)`` and ``sum(prob)``, bit for bit as the official
``np.sum`` calls compute them (numpy's pairwise order, :mod:`.pairwise`)."""

from __future__ import annotations

import numba
import numpy as np

from . import CACHE, num_threads, run_chunks
from .pairwise import BLOCK, layouts, pairwise_nodes, split

__all__ = ["masked_sums", "numpy_order_nodes"]

#: below this many values, one thread walks the whole tree
_PARALLEL_MIN = 1 << 18


@numba.njit(cache=CACHE, nogil=True)
def _mask_rows(mask, counts, row0, row1):
    w = mask.shape[1]
    for y in range(row0, row1):
        m = mask[y]
        c = 0
        for x in range(w):
            c += np.int64(m[x])
        counts[y] = c


def numpy_order_nodes(n: int, depth: int) -> list[tuple[int, int]]:
    """The subtrees ``(start, length)`` of numpy's pairwise tree of ``n`` values at ``depth``
    (leaves of at most 128 values are not split further), left to right.

    Examples
    --------
    >>> numpy_order_nodes(1000, 2)
    [(0, 248), (248, 248), (496, 248), (744, 256)]
    """
    nodes: list[tuple[int, int]] = []

    def walk(start: int, k: int, d: int) -> None:
        if d == 0 or k <= BLOCK:
            nodes.append((start, k))
            return
        half = split(k)
        walk(start, half, d - 1)
        walk(start + half, k - half, d - 1)

    walk(0, n, depth)
    return nodes


def _combine(n: int, depth: int, sums: list) -> tuple[float, float]:
    """Add the node sums up the same tree (Python floats are IEEE doubles, as numpy's)."""
    it = iter(sums)

    def walk(k: int, d: int) -> tuple[float, float]:
        if d == 0 or k <= BLOCK:
            a, b = next(it)
            return float(a), float(b)
        half = split(k)
        la, lb = walk(half, d - 1)
        ra, rb = walk(k - half, d - 1)
        return la + ra, lb + rb

    return walk(n, depth)


def masked_sums(values: np.ndarray, mask: np.ndarray) -> tuple[int, float, float]:
    """``(area, np.sum(prob * mask), np.sum(prob))``, the last two bit for bit as numpy.

    ``prob`` is ``values / 255.0`` for a uint8 map and ``values`` for a float64 map;
    ``mask`` is a uint8 0/1 array of the same 2-D shape (both C-contiguous). No float64 copy
    of the map is made.

    Examples
    --------
    >>> g = np.arange(12, dtype=np.uint8).reshape(3, 4)
    >>> m = np.eye(3, 4, dtype=np.uint8)
    >>> area, s_in, s_all = masked_sums(g, m)
    >>> area, bool(s_in == np.sum(g / 255.0 * m)), bool(s_all == np.sum(g / 255.0))
    (3, True, True)
    """
    h, w = mask.shape
    counts = np.empty(h, np.int64)
    run_chunks(_mask_rows, h, mask, counts)
    rows = np.flatnonzero(counts)
    lo, hi = (int(rows[0]) * w, (int(rows[-1]) + 1) * w) if rows.size else (0, 0)
    n = h * w
    threads = num_threads()
    depth = 0 if n < _PARALLEL_MIN or threads == 1 else max(1, (4 * threads - 1).bit_length())
    nodes = numpy_order_nodes(n, depth)
    starts = np.array([s for s, _ in nodes], np.int64)
    lengths = np.array([k for _, k in nodes], np.int64)
    out = np.empty((len(nodes), 2), np.float64)
    run_chunks(
        pairwise_nodes,
        len(nodes),
        values.reshape(-1),
        mask.reshape(-1),
        lo,
        hi,
        starts,
        lengths,
        layouts(lengths),
        out,
        min_chunk=1,
        threads=threads,
    )
    s_all, s_in = _combine(n, depth, out.tolist())
    return int(counts.sum()), s_in, s_all
