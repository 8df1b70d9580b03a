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
OpenCV itself is never imported. The geometry lives in :mod:`.tiling`, the stacking and
filters in :mod:`.filters`; this module runs the generators and re-exports both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from .filters import (
    StackedMap,
    _gaussian_cells,
    _median_cells,
    _normalise,
    _threads,
    gaussian_blur,
    gaussian_kernel_q8,
    median_blur,
    stack_boxes,
)
from .tiling import (
    SeLoBaselineError,
    SeLoScaleWarning,
    _check_scores,
    _odd_int,
    selo_boxes,
    selo_v2_boxes,
    selo_v2_tiles,
)

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


class BoxScorer(Protocol):
    """Any callable scoring ``(N, 4)`` int boxes ``(r0, r1, c0, c1)`` with ``N`` floats."""

    def __call__(self, boxes: np.ndarray) -> np.ndarray: ...  # pragma: no cover


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
