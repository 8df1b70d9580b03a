"""Numba kernels: colour to gray as libpng and OpenCV compute it (see ``selo_metrics.io``).

The plain-numpy twins are the formulas in ``selo_metrics/io.py``'s docstring; the tests
compare both with OpenCV on every 24-bit colour.
"""

from __future__ import annotations

import numba
import numpy as np

from . import CACHE, run_chunks

__all__ = ["png_rgb_to_gray", "tiff_rgb_to_gray"]


@numba.njit(cache=CACHE, nogil=True)
def _png_rows(rgb, to_1, from_1, use_gamma, out, row0, row1):
    w = out.shape[1]
    for y in range(row0, row1):
        px = rgb[y]
        o = out[y]
        for x in range(w):
            r = np.int32(px[x, 0])
            g = np.int32(px[x, 1])
            b = np.int32(px[x, 2])
            if r == g and r == b:
                o[x] = r  # libpng passes gray pixels unchanged
            elif use_gamma:
                v = 9797 * np.int32(to_1[r]) + 19234 * np.int32(to_1[g]) + 3737 * np.int32(
                    to_1[b])
                o[x] = from_1[(v + 16384) >> 15]
            else:
                o[x] = (9797 * r + 19234 * g + 3737 * b) >> 15


@numba.njit(cache=CACHE, nogil=True)
def _tiff_rows(rgb, out, row0, row1):
    w = out.shape[1]
    for y in range(row0, row1):
        px = rgb[y]
        o = out[y]
        for x in range(w):
            v = 4899 * np.int32(px[x, 0]) + 9617 * np.int32(px[x, 1]) + 1868 * np.int32(px[x, 2])
            o[x] = (v + 8192) >> 14


def png_rgb_to_gray(rgb: np.ndarray, to_1: np.ndarray, from_1: np.ndarray,
                    use_gamma: bool) -> np.ndarray:
    """libpng's 8-bit ``png_do_rgb_to_gray`` with OpenCV's weights (0.299, 0.587)."""
    out = np.empty(rgb.shape[:2], np.uint8)
    run_chunks(_png_rows, out.shape[0], rgb, to_1, from_1, use_gamma, out)
    return out


def tiff_rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's ``cvtColor(RGB2GRAY)`` on uint8: 14-bit weights, rounding."""
    out = np.empty(rgb.shape[:2], np.uint8)
    run_chunks(_tiff_rows, out.shape[0], rgb, out)
    return out
