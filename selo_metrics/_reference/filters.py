"""Plain-numpy twins of the attention-stage kernels, written for clarity; used by the tests.

Each one follows the spec (shared/spec/METRICS.md section 4) literally: explicit border
index maps, whole-window sums and maxima, a breadth-first flood fill for labels.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "box_filter_ref",
    "label_ref",
    "max_filter_ref",
    "peak_components_ref",
    "reflect101_index",
    "reflect_index",
]


def reflect101_index(n: int, before: int, after: int) -> np.ndarray:
    """Source index of every extended position ``-before .. n + after - 1`` (``dcb|abcd|cba``)."""
    out = []
    for i in range(-before, n + after):
        if n == 1:
            out.append(0)
            continue
        period = 2 * n - 2
        j = i % period
        out.append(j if j < n else period - j)
    return np.array(out, dtype=np.int64)


def reflect_index(n: int, before: int, after: int) -> np.ndarray:
    """Source index of every extended position (``dcba|abcd|dcba``, scipy ``'reflect'``)."""
    i = np.arange(-before, n + after) % (2 * n)
    return np.where(i < n, i, 2 * n - 1 - i)


def box_filter_ref(g: np.ndarray, k: int) -> np.ndarray:
    """One k x k mean-filter pass: ``rint(window_sum * (1.0 / k**2))`` as uint8."""
    h, w = g.shape
    before, after = k // 2, k - k // 2 - 1
    ext = g[np.ix_(reflect101_index(h, before, after), reflect101_index(w, before, after))]
    sums = sliding_window_view(ext.astype(np.int64), (k, k)).sum(axis=(2, 3))
    return np.rint(sums * (1.0 / (k * k))).astype(np.uint8)


def max_filter_ref(g: np.ndarray, m: int) -> np.ndarray:
    """The m x m running maximum with scipy ``'reflect'`` borders."""
    h, w = g.shape
    before, after = m // 2, m - m // 2 - 1
    ext = g[np.ix_(reflect_index(h, before, after), reflect_index(w, before, after))]
    rows = sliding_window_view(ext, m, axis=0).max(axis=-1)
    return sliding_window_view(rows, m, axis=1).max(axis=-1)


def label_ref(binary: np.ndarray) -> list[list[tuple[int, int]]]:
    """8-connected components of the nonzero pixels, numbered in raster order of first pixel."""
    h, w = binary.shape
    seen = np.zeros((h, w), bool)
    comps = []
    for y0, x0 in zip(*np.nonzero(binary), strict=True):
        if seen[y0, x0]:
            continue
        seen[y0, x0] = True
        queue = deque([(int(y0), int(x0))])
        pixels = []
        while queue:
            y, x = queue.popleft()
            pixels.append((y, x))
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < h and 0 <= xx < w and binary[yy, xx] and not seen[yy, xx]:
                        seen[yy, xx] = True
                        queue.append((yy, xx))
        comps.append(pixels)
    return comps


def peak_components_ref(
    gray: np.ndarray, *, box_size: int = 50, box_passes: int = 5, max_window: int = 1000
) -> list[tuple[int, int, int]]:
    """``(count, sum_row, sum_col)`` of every peak component, in label order."""
    g = gray
    for _ in range(box_passes):
        g = box_filter_ref(g, box_size)
    peaks = (g == max_filter_ref(g, max_window)) & (g > 0)
    out = []
    for pixels in label_ref(peaks):
        arr = np.array(pixels, dtype=np.int64)
        out.append((len(pixels), int(arr[:, 0].sum()), int(arr[:, 1].sum())))
    return out
