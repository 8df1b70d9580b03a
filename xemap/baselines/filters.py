"""SeLo map stacking and filtering: box scores stacked on the cell grid the box edges cut,
min-max normalised, and filtered with OpenCV's exact median and fixed-point Gaussian (numba
kernels that read the cell grid directly; OpenCV itself is never imported).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _kernels
from .tiling import SeLoBaselineError, _check_boxes, _check_scores, _odd_int, _positive_int

__all__ = ["StackedMap", "gaussian_blur", "gaussian_kernel_q8", "median_blur", "stack_boxes"]


# --------------------------------------------------------------------------- stacking


class StackedMap:
    """Box scores stacked on the cell grid cut by the box edges.

    Attributes
    ----------
    row_edges, col_edges : numpy.ndarray
        Cell boundaries, from 0 to the height / width.
    mean : numpy.ndarray
        ``(n_row_cells, n_col_cells)`` float64 mean score of the boxes covering each cell
        (the official ``heat_map / heat_num``), 0 where none does.
    covered : numpy.ndarray
        ``(n_row_cells, n_col_cells)`` bool, whether any box covers the cell.
    """

    def __init__(self, row_edges, col_edges, mean, covered):
        self.row_edges = row_edges
        self.col_edges = col_edges
        self.mean = mean
        self.covered = covered

    @property
    def shape(self) -> tuple[int, int]:
        """The scene's ``(height, width)``."""
        return int(self.row_edges[-1]), int(self.col_edges[-1])

    def row_cell(self) -> np.ndarray:
        """The cell row of every pixel row, int64 ``(height,)``."""
        return _cell_of(self.row_edges)

    def col_cell(self) -> np.ndarray:
        """The cell column of every pixel column, int64 ``(width,)``."""
        return _cell_of(self.col_edges)

    def paint(self, values: np.ndarray | None = None) -> np.ndarray:
        """Expand per-cell ``values`` (default ``mean``) to the full ``(height, width)``."""
        values = self.mean if values is None else values
        return values[self.row_cell()][:, self.col_cell()]


def _cell_of(edges: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(edges.size - 1, dtype=np.int64), np.diff(edges))


def stack_boxes(height: int, width: int, boxes: np.ndarray, scores: np.ndarray) -> StackedMap:
    """Mean score of the boxes covering each pixel, on the cell grid of the box edges.

    Scores are added in box order from 0.0 and divided by the count, so every cell holds
    bit for bit what the official per-pixel code gives its pixels for boxes in that order.

    Examples
    --------
    >>> st = stack_boxes(3, 4, np.array([[0, 2, 0, 4], [1, 3, 2, 4]]), np.array([1.0, 3.0]))
    >>> st.paint().tolist()
    [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 2.0, 2.0], [0.0, 0.0, 3.0, 3.0]]
    """
    height = _positive_int("height", height)
    width = _positive_int("width", width)
    boxes = _check_boxes(boxes, height, width)
    scores = _check_scores(scores, boxes.shape[0], "box")
    row_edges = np.unique(np.concatenate([[0, height], boxes[:, 0], boxes[:, 1]]))
    col_edges = np.unique(np.concatenate([[0, width], boxes[:, 2], boxes[:, 3]]))
    row_idx = np.searchsorted(row_edges, boxes[:, :2])
    col_idx = np.searchsorted(col_edges, boxes[:, 2:])
    total, count = _kernels.accumulate_cells(
        row_idx, col_idx, scores, row_edges.size - 1, col_edges.size - 1
    )
    covered = count != 0.0
    mean = total
    mean[covered] = total[covered] / count[covered]
    return StackedMap(row_edges, col_edges, mean, covered)


def _normalise(values: np.ndarray) -> np.ndarray:
    """Min-max then ``uint8(255 x)`` (truncation); a constant map gives zeros."""
    adaptive = values - np.min(values)
    top = np.max(adaptive)
    if top == 0:
        return np.zeros(values.shape, np.uint8)
    return np.uint8(255 * (adaptive / top))


# --------------------------------------------------------------------------- filters


def _threads(threads: int | None) -> int:
    if threads is None:
        return max(1, min(os.cpu_count() or 1, 16))
    return _positive_int("threads", threads)


def _run_rows(fn, height: int, threads: int, *args) -> None:
    """Run ``fn(*args, y0, y1)`` over row chunks, on ``threads`` threads (numba, nogil)."""
    n = min(threads, max(1, height // 64))
    bounds = np.linspace(0, height, 4 * n + 1 if n > 1 else 2).astype(np.int64)
    chunks = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
    if n == 1:
        for y0, y1 in chunks:
            fn(*args, y0, y1)
        return
    with ThreadPoolExecutor(n) as pool:
        for f in [pool.submit(fn, *args, y0, y1) for y0, y1 in chunks]:
            f.result()


def _compress(image: np.ndarray) -> StackedMap:
    """The cell grid of an image: cuts where consecutive rows / columns differ."""
    h, w = image.shape
    rows = np.flatnonzero(np.any(image[1:] != image[:-1], axis=1)) + 1
    cols = np.flatnonzero(np.any(image[:, 1:] != image[:, :-1], axis=0)) + 1
    row_edges = np.concatenate([[0], rows, [h]]).astype(np.int64)
    col_edges = np.concatenate([[0], cols, [w]]).astype(np.int64)
    values = image[row_edges[:-1]][:, col_edges[:-1]]
    return StackedMap(row_edges, col_edges, values, np.ones(values.shape, bool))


def _check_image(image) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 2 or arr.dtype != np.uint8 or arr.size == 0:
        raise SeLoBaselineError(
            f"image must be a non-empty 2-D uint8 array, got {arr.dtype} of shape {arr.shape}"
        )
    return arr


def median_blur(image: np.ndarray, ksize: int, *, threads: int | None = None) -> np.ndarray:
    """Exact ``ksize x ksize`` median of a uint8 image, replicated borders (``cv2.medianBlur``).

    The histogram method on the image's cell grid (runs of identical rows and columns
    merged): per pixel, work proportional to the number of distinct row runs in the window,
    so constant per pixel on the piecewise-constant SeLo maps and ``O(ksize)`` at worst.

    Examples
    --------
    >>> img = np.zeros((5, 5), np.uint8); img[2, 2] = 9; img[:, 4] = 7
    >>> median_blur(img, 3)[:, 3:].tolist()
    [[0, 7], [0, 7], [0, 7], [0, 7], [0, 7]]
    """
    image = _check_image(image)
    ksize = _odd_int("ksize", ksize)
    grid = _compress(image)
    return _median_cells(grid, grid.mean, ksize, _threads(threads))


def gaussian_blur(image: np.ndarray, ksize: int, *, threads: int | None = None) -> np.ndarray:
    """``cv2.GaussianBlur(image, (ksize, ksize), 0)`` on uint8, bit for bit, without OpenCV.

    The kernel is :func:`gaussian_kernel_q8`; borders reflect-101; a 1-pixel-high (wide)
    image is not blurred vertically (horizontally), as in OpenCV.

    Examples
    --------
    >>> img = np.zeros((1, 9), np.uint8); img[0, 4] = 255
    >>> gaussian_blur(img, 3).tolist()
    [[0, 0, 0, 64, 128, 64, 0, 0, 0]]
    """
    image = _check_image(image)
    ksize = _odd_int("ksize", ksize)
    grid = _compress(image)
    return _gaussian_cells(grid, grid.mean, ksize, _threads(threads))


def _median_cells(stacked: StackedMap, values: np.ndarray, ksize: int, threads: int) -> np.ndarray:
    height, width = stacked.shape
    out = np.empty((height, width), np.uint8)
    _run_rows(
        _kernels.median_rows,
        height,
        threads,
        np.ascontiguousarray(values),
        stacked.row_cell(),
        stacked.col_edges,
        ksize // 2,
        out,
    )
    return out


def gaussian_kernel_q8(ksize: int) -> np.ndarray:
    """OpenCV's fixed-point (Q8, sum 256) Gaussian kernel for ``ksize`` and ``sigma=0``.

    The kernel ``cv2.GaussianBlur`` uses on uint8 images: OpenCV's Gaussian
    (``sigma = 0.15 ksize + 0.35``, 38.6 for 255) rounded to multiples of 1/256 by error
    diffusion, the centre taking the remainder; binomial tables for ``ksize <= 9``.

    Examples
    --------
    >>> k = gaussian_kernel_q8(255)
    >>> int(k.sum()), k.size, k[127].item()
    (256, 255, 2)
    """
    n = _odd_int("ksize", ksize)
    small = {
        1: [256],
        3: [64, 128, 64],
        5: [16, 64, 96, 64, 16],
        7: [8, 28, 56, 72, 56, 28, 8],
        9: [4, 13, 30, 51, 60, 51, 30, 13, 4],
    }
    if n in small:
        return np.array(small[n], np.int64)
    sigma = n * 0.15 + 0.35
    scale2x = -0.125 / (sigma * sigma)
    half = (n - 1) // 2
    values = [math.exp(float((2 * i + 1 - n) ** 2) * scale2x) for i in range(half)]
    total = 0.0
    for v in values:
        total += v
    mul1 = 1.0 / (total * 2 + 1.0)
    out = np.zeros(n, np.int64)
    err = 0.0
    acc = 0
    for i, v in enumerate(values):
        adj = v * mul1 * 256 + err
        q = round(adj)  # half to even, as cvRound
        err = adj - q
        out[i] = out[n - 1 - i] = q
        acc += q
    out[half] = 256 - 2 * acc
    return out


def _gaussian_cells(
    stacked: StackedMap, values: np.ndarray, ksize: int, threads: int
) -> np.ndarray:
    height, width = stacked.shape
    kx = gaussian_kernel_q8(ksize if width > 1 else 1)
    ky = gaussian_kernel_q8(ksize if height > 1 else 1)
    values = np.ascontiguousarray(values, dtype=np.int64)
    wx, lo_x, hi_x = _kernels.reflect_weights(kx, stacked.col_cell(), values.shape[1])
    wy, lo_y, hi_y = _kernels.reflect_weights(ky, stacked.row_cell(), values.shape[0])
    horiz = _kernels.horizontal_cells(values, wx, lo_x, hi_x)
    out = np.empty((height, width), np.uint8)
    _run_rows(_kernels.gaussian_rows, height, threads, horiz, wy, lo_y, hi_y, out)
    return out
