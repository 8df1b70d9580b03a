"""SeLo and SeLo v2 map generation: the official tiling geometry, exact and fast, no torch.

The geometry (which boxes are scored, how their scores are stacked, normalised and
filtered) is separated from the image-text model: a *scorer* is any callable
``score_boxes(boxes) -> scores`` taking an ``(N, 4)`` int array of ``(r0, r1, c0, c1)``
boxes (rows ``r0:r1``, columns ``c0:c1``) and returning ``N`` finite floats.

- :func:`selo_map` is SeLo v1 (``generate_selo.py`` of the official SemanticLocalizationMetrics
  code): two grids per scale, mean of the covering boxes, min-max, ``uint8(255 x)``,
  251 x 251 median.
- :func:`selo_v2_map` is SeLo v2 (``generate_selo_v2.py``): one 512 grid, the top 15 % of
  tiles, 18 anchor boxes around each, stacked, min-max, uint8, 255 x 255 Gaussian.

Both stack on the cell grid cut by the box edges (each cell gets exactly the additions its
pixels get in the official per-pixel code, in the same order), and filter with numba
kernels that read the cell grid directly: an exact histogram median (``cv2.medianBlur``
semantics) and OpenCV's bit-exact fixed-point Gaussian (``cv2.GaussianBlur`` on uint8).
OpenCV itself is never imported.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np

from . import _kernels

__all__ = [
    "BoxScorer",
    "SeLoBaselineError",
    "SeLoScaleWarning",
    "StackedMap",
    "gaussian_blur",
    "gaussian_kernel_q8",
    "median_blur",
    "selo_boxes",
    "selo_map",
    "selo_v2_boxes",
    "selo_v2_map",
    "selo_v2_tiles",
    "stack_boxes",
]


class SeLoBaselineError(ValueError):
    """Bad input to a SeLo generator (sizes, scales, boxes or scores)."""


class SeLoScaleWarning(UserWarning):
    """A scale larger than the scene was skipped."""


class BoxScorer(Protocol):
    """Any callable scoring ``(N, 4)`` int boxes ``(r0, r1, c0, c1)`` with ``N`` floats."""

    def __call__(self, boxes: np.ndarray) -> np.ndarray: ...  # pragma: no cover


# --------------------------------------------------------------------------- validation


def _positive_int(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise SeLoBaselineError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise SeLoBaselineError(f"{name} must be >= 1, got {value}")
    return int(value)


def _odd_int(name: str, value) -> int:
    value = _positive_int(name, value)
    if value % 2 == 0:
        raise SeLoBaselineError(f"{name} must be odd, got {value}")
    return value


def _check_scores(scores, n: int, what: str) -> np.ndarray:
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SeLoBaselineError(f"the scorer returned non-numeric {what} scores") from exc
    arr = arr.reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr
    if arr.shape != (n,):
        raise SeLoBaselineError(
            f"the scorer must return {n} {what} scores, got an array of shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise SeLoBaselineError(f"the scorer returned non-finite {what} scores (nan or inf)")
    return arr


def _check_boxes(boxes, height: int, width: int) -> np.ndarray:
    arr = np.asarray(boxes)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise SeLoBaselineError(f"boxes must have shape (N, 4), got {arr.shape}")
    if arr.shape[0] and not np.issubdtype(arr.dtype, np.integer):
        raise SeLoBaselineError(f"boxes must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    r0, r1, c0, c1 = arr.T
    bad = (r0 < 0) | (c0 < 0) | (r1 > height) | (c1 > width) | (r1 <= r0) | (c1 <= c0)
    if bad.any():
        raise SeLoBaselineError(
            f"box {arr[np.argmax(bad)].tolist()} is empty or outside the {height} x {width} scene"
        )
    return arr


# --------------------------------------------------------------------------- geometry


def selo_boxes(height: int, width: int, *, scales: Sequence[int] = (256, 512, 768)) -> np.ndarray:
    """The boxes SeLo v1 scores: two grids per scale, border tiles moved back inside.

    Per scale ``s`` one grid starts at 0 and one at ``s - int(s / 2)``, both of stride
    ``s``; a tile reaching the border (``end >= size``) is moved to end at it. Identical
    boxes count once (the first is kept), in the official loop order (scales, then grids,
    then columns, then rows).

    Parameters
    ----------
    height, width : int
        Scene size in pixels.
    scales : sequence of int, optional
        Tile sizes. A scale larger than the scene's height or width is skipped with a
        :class:`SeLoScaleWarning` (the official code would wrap to negative indices).

    Returns
    -------
    numpy.ndarray
        ``(N, 4)`` int64 boxes ``(r0, r1, c0, c1)``.

    Raises
    ------
    SeLoBaselineError
        If a size or scale is not a positive int, or no scale fits the scene.

    Examples
    --------
    >>> selo_boxes(4, 6, scales=(4,)).tolist()
    [[0, 4, 0, 4], [0, 4, 2, 6]]
    """
    height = _positive_int("height", height)
    width = _positive_int("width", width)
    if isinstance(scales, (int, np.integer)):
        scales = (scales,)
    scales = [_positive_int("scale", s) for s in scales]
    if not scales:
        raise SeLoBaselineError("scales is empty")
    used = []
    for s in scales:
        if s > height or s > width:
            warnings.warn(
                f"scale {s} is larger than the {height} x {width} scene; skipped",
                SeLoScaleWarning,
                stacklevel=2,
            )
        else:
            used.append(s)
    if not used:
        raise SeLoBaselineError(f"no scale of {tuple(scales)} fits the {height} x {width} scene")
    parts = []
    for s in used:
        for start in (0, s - int(0.5 * s)):
            rows = _grid_starts(start, height, s)
            cols = _grid_starts(start, width, s)
            # official order: outer loop over columns, inner over rows
            c0 = np.repeat(cols, rows.size)
            r0 = np.tile(rows, cols.size)
            parts.append(np.stack([r0, r0 + s, c0, c0 + s], axis=1))
    boxes = np.concatenate(parts)
    return _unique_in_order(boxes)


def _grid_starts(start: int, size: int, step: int) -> np.ndarray:
    """Starts of ``range(start, size, step)`` with the border rule (``end >= size``)."""
    starts = np.arange(start, size, step, dtype=np.int64)
    return np.where(starts + step >= size, size - step, starts)


def _unique_in_order(boxes: np.ndarray) -> np.ndarray:
    """Drop repeated rows, keeping the first occurrence and the order."""
    if boxes.shape[0] == 0:
        return boxes.reshape(0, 4).astype(np.int64)
    _, first = np.unique(boxes, axis=0, return_index=True)
    return boxes[np.sort(first)].astype(np.int64)


def selo_v2_tiles(height: int, width: int, *, tile: int = 512) -> np.ndarray:
    """The tiles SeLo v2 scores first: one grid from 0, stride ``tile``, row-major.

    Examples
    --------
    >>> selo_v2_tiles(6, 5, tile=4).tolist()
    [[0, 4, 0, 4], [0, 4, 1, 5], [2, 6, 0, 4], [2, 6, 1, 5]]
    """
    height = _positive_int("height", height)
    width = _positive_int("width", width)
    tile = _positive_int("tile", tile)
    if tile > height or tile > width:
        raise SeLoBaselineError(
            f"the SeLo v2 tile ({tile}) is larger than the {height} x {width} scene"
        )
    rows = _grid_starts(0, height, tile)
    cols = _grid_starts(0, width, tile)
    r0 = np.repeat(rows, cols.size)
    c0 = np.tile(cols, rows.size)
    return _unique_in_order(np.stack([r0, r0 + tile, c0, c0 + tile], axis=1))


def selo_v2_boxes(
    height: int,
    width: int,
    kept_tiles: np.ndarray,
    *,
    tile: int = 512,
    half_sizes: Sequence[int] = (64, 128),
) -> np.ndarray:
    """The anchor boxes SeLo v2 scores around its kept tiles, de-duplicated.

    Around 9 anchors of each tile (its 4 corners, the 4 quarter points and the centre, the
    latter placed at ``tile * k / 4`` from the tile's start) a box of half-size ``h`` for
    each ``h`` in ``half_sizes``: start ``max(anchor - h, 0)`` (truncated to int), end
    ``min(start + 2 h, size)``, as the official code clips them.

    Examples
    --------
    >>> b = selo_v2_boxes(8, 8, np.array([[0, 8, 0, 8]]), tile=8, half_sizes=(2,))
    >>> b.shape, b[:3].tolist()
    ((8, 4), [[0, 4, 0, 4], [0, 4, 6, 8], [6, 8, 0, 4]])
    """
    height = _positive_int("height", height)
    width = _positive_int("width", width)
    tile = _positive_int("tile", tile)
    sizes = [_positive_int("half size", s) for s in half_sizes]
    kept = _check_boxes(np.asarray(kept_tiles).reshape(-1, 4), height, width)
    if kept.shape[0] == 0 or not sizes:
        return np.zeros((0, 4), np.int64)
    h0 = kept[:, 0].astype(np.float64)
    w0 = kept[:, 2].astype(np.float64)
    q1, q2, q3 = tile * 1 / 4, tile * 1 / 2, tile * 3 / 4
    ah = np.stack(
        [h0, h0, kept[:, 1], kept[:, 1], h0 + q1, h0 + q1, h0 + q3, h0 + q3, h0 + q2], axis=1
    )
    aw = np.stack(
        [w0, kept[:, 3], w0, kept[:, 3], w0 + q1, w0 + q3, w0 + q1, w0 + q3, w0 + q2], axis=1
    )
    parts = []
    for size in sizes:
        r0 = np.where(ah - size > 0, ah - size, 0.0).astype(np.int64)  # int() of a positive
        c0 = np.where(aw - size > 0, aw - size, 0.0).astype(np.int64)
        r1 = np.minimum(r0 + 2 * size, height)
        c1 = np.minimum(c0 + 2 * size, width)
        parts.append(np.stack([r0, r1, c0, c1], axis=-1))
    # official order: tile, then anchor, then size
    boxes = np.stack(parts, axis=2).reshape(-1, 4)
    return _unique_in_order(boxes)


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


# --------------------------------------------------------------------------- generators


def _score(score_boxes: Callable, boxes: np.ndarray, what: str) -> np.ndarray:
    return _check_scores(score_boxes(boxes), boxes.shape[0], what)


def selo_map(
    height: int,
    width: int,
    score_boxes: BoxScorer,
    *,
    scales: Sequence[int] = (256, 512, 768),
    median: int = 251,
    threads: int | None = None,
    timings: dict | None = None,
) -> np.ndarray:
    """SeLo v1 map: multi-scale tiles scored, stacked by mean, normalised, median-filtered.

    Exactly the official ``generate_selo.py`` geometry: :func:`selo_boxes`, each pixel the
    mean score of the boxes covering it, min-max normalisation, ``uint8(255 x)`` (truncation),
    then a ``median x median`` median with replicated borders (``cv2.medianBlur``).

    Parameters
    ----------
    height, width : int
        Scene size in pixels.
    score_boxes : callable
        ``score_boxes(boxes) -> scores``, called once with all boxes.
    scales : sequence of int, optional
        Tile sizes (default 256, 512, 768); scales larger than the scene are skipped with a
        warning.
    median : int, optional
        Odd median window (default 251); 1 means no filtering.
    threads : int, optional
        Threads for the median (default: all cores).
    timings : dict, optional
        If given, filled with seconds per stage: ``cut`` (boxes), ``sim`` (the scorer),
        ``gnt`` (stacking and normalisation) and ``flt`` (the median), as in the SeLo
        paper's Table VI.

    Returns
    -------
    numpy.ndarray
        ``(height, width)`` uint8. Constant scores give an all-zero map (the official code
        divides 0 by 0 there).

    Raises
    ------
    SeLoBaselineError
        On bad sizes, scales, window, or scores (wrong shape, nan, inf).

    Examples
    --------
    >>> score = lambda b: (b[:, 0] + b[:, 2]).astype(float)  # brighter to the bottom right
    >>> m = selo_map(40, 60, score, scales=(16, 32), median=5)
    >>> m.shape, m.dtype.name, int(m[0, 0]), int(m[20, 30]), int(m[-1, -1])
    ((40, 60), 'uint8', 0, 104, 236)
    """
    median = _odd_int("median", median)
    threads = _threads(threads)
    t0 = time.perf_counter()
    boxes = selo_boxes(height, width, scales=scales)
    t1 = time.perf_counter()
    scores = _score(score_boxes, boxes, "box")
    t2 = time.perf_counter()
    stacked = stack_boxes(height, width, boxes, scores)
    values = _normalise(stacked.mean)
    t3 = time.perf_counter()
    if median == 1:
        out = stacked.paint(values)
    else:
        out = _median_cells(stacked, values, median, threads)
    t4 = time.perf_counter()
    if timings is not None:
        timings.update(cut=t1 - t0, sim=t2 - t1, gnt=t3 - t2, flt=t4 - t3)
    return out


def selo_v2_map(
    height: int,
    width: int,
    score_boxes: BoxScorer,
    *,
    top: float = 0.15,
    tile: int = 512,
    half_sizes: Sequence[int] = (64, 128),
    ksize: int = 255,
    threads: int | None = None,
    timings: dict | None = None,
) -> np.ndarray:
    """SeLo v2 map: top tiles refined by anchor boxes, stacked, normalised, Gaussian-blurred.

    Exactly the official ``generate_selo_v2.py`` geometry: :func:`selo_v2_tiles` scored
    (first call of ``score_boxes``); the top ``int(top * N) + 1`` by score kept (the last
    ones of ``numpy.argsort``); :func:`selo_v2_boxes` around them scored (second call);
    tiles and boxes stacked, each covered pixel divided by its count, uncovered pixels 0;
    min-max; ``uint8(255 x)``; OpenCV's uint8 Gaussian ``ksize x ksize`` with sigma 0
    (38.6 for 255) and reflect-101 borders, bit for bit.

    Parameters
    ----------
    height, width : int
        Scene size; must be at least ``tile`` both ways.
    score_boxes : callable
        ``score_boxes(boxes) -> scores``.
    top : float, optional
        Fraction of tiles kept (default 0.15), in [0, 1].
    tile, half_sizes, ksize : optional
        Tile size (512), anchor-box half sizes (64, 128), odd Gaussian window (255).
    threads : int, optional
        Threads for the blur (default: all cores).
    timings : dict, optional
        Filled with ``cut``, ``sim``, ``gnt``, ``flt`` seconds (see :func:`selo_map`).

    Returns
    -------
    numpy.ndarray
        ``(height, width)`` uint8. A map with no spread (all stacked values equal) gives
        zeros.

    Raises
    ------
    SeLoBaselineError
        On bad sizes, a scene smaller than the tile, bad ``top``, or bad scores.

    Examples
    --------
    >>> score = lambda b: 1 / (1 + np.hypot(b[:, 0] - 20.0, b[:, 2] - 20.0))  # best at (20, 20)
    >>> m = selo_v2_map(64, 64, score, tile=16, half_sizes=(2, 4), ksize=15)
    >>> m.shape, np.unravel_index(m.argmax(), m.shape), int(m[-1, -1])
    ((64, 64), (np.int64(23), np.int64(23)), 0)
    """
    if isinstance(top, (bool, np.bool_)) or not isinstance(top, (int, float, np.floating)):
        raise SeLoBaselineError(f"top must be a number, got {type(top).__name__}")
    if not 0.0 <= float(top) <= 1.0:
        raise SeLoBaselineError(f"top must be in [0, 1], got {top}")
    ksize = _odd_int("ksize", ksize)
    threads = _threads(threads)
    t0 = time.perf_counter()
    tiles = selo_v2_tiles(height, width, tile=tile)
    t1 = time.perf_counter()
    tile_scores = _score(score_boxes, tiles, "tile")
    t2 = time.perf_counter()
    order = np.argsort(tile_scores)
    keep = order[-(int(len(order) * top) + 1) :]
    boxes = selo_v2_boxes(height, width, tiles[keep], tile=tile, half_sizes=half_sizes)
    t3 = time.perf_counter()
    box_scores = _score(score_boxes, boxes, "box") if boxes.shape[0] else np.zeros(0)
    t4 = time.perf_counter()
    stacked = stack_boxes(
        height,
        width,
        np.concatenate([tiles[keep], boxes]),
        np.concatenate([tile_scores[keep], box_scores]),
    )
    values = _normalise(stacked.mean)
    t5 = time.perf_counter()
    out = _gaussian_cells(stacked, values, ksize, threads)
    t6 = time.perf_counter()
    if timings is not None:
        timings.update(
            cut=(t1 - t0) + (t3 - t2), sim=(t2 - t1) + (t4 - t3), gnt=t5 - t4, flt=t6 - t5
        )
    return out
