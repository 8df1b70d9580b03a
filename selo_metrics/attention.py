"""The attention-centre stage: box filter x passes, running maximum, peaks, centroids.

This is the expensive part of Ras and Rda. The official code runs it twice per map (once for
each metric) and also labels an unused ``gray > 150`` image each time; here it runs once
and :func:`selo_metrics.evaluate` shares it between Ras and Rda.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._kernels import num_threads
from ._kernels.box import box_filter_passes, box_filter_u8, float32_rounding_is_exact
from ._kernels.labels import component_moments, extract_runs
from ._kernels.lastpass import lazy_last_pass
from ._kernels.maxfilter import peak_flags, vertical_max
from ._kernels.peaks import BLOCK, block_peak_runs, usable
from ._workspace import map_buffers

__all__ = ["PeakComponents", "attention_centers", "centres_of", "peak_components"]

#: compute the last box pass only where the peak search reads it (:func:`finish_peaks`);
#: False runs every pass in full (for comparisons: the results are the same)
LAZY_LAST_PASS = True


@dataclass(frozen=True)
class PeakComponents:
    """The 8-connected components of the peak pixels, in raster order of their first pixel.

    Attributes
    ----------
    count : numpy.ndarray
        Pixels per component (int64).
    sum_row, sum_col : numpy.ndarray
        Sums of the row and column indices of each component's pixels (int64, exact).
    """

    count: np.ndarray
    sum_row: np.ndarray
    sum_col: np.ndarray

    def __len__(self) -> int:
        return int(self.count.shape[0])


def peak_components(
    gray: np.ndarray, *, box_size: int = 50, box_passes: int = 5, max_window: int = 1000
) -> PeakComponents:
    """Smooth ``gray`` and label the pixels that equal their windowed maximum.

    Parameters
    ----------
    gray : numpy.ndarray
        2-D uint8 map (left unchanged).
    box_size : int, optional
        Side of the mean filter (50 in the official code).
    box_passes : int, optional
        Number of mean-filter passes (5).
    max_window : int, optional
        Side of the running-maximum window (1000).

    Returns
    -------
    PeakComponents
        Components of the pixels with ``g == max(window) and g > 0`` after smoothing.

    Examples
    --------
    >>> g = np.zeros((300, 400), np.uint8)
    >>> g[100:140, 200:260] = 255
    >>> comps = peak_components(g)
    >>> len(comps), int(comps.sum_row[0] // comps.count[0]), int(comps.sum_col[0] // comps.count[0])
    (1, 122, 232)
    """
    nthreads = num_threads()
    h, w = gray.shape
    blocks = usable(gray.shape, max_window)  # the peaks from block maxima (most maps)
    maxima = np.empty((-(-h // BLOCK), -(-w // BLOCK)), np.uint8) if blocks else None
    lazy = lazy_applies(gray.shape, box_size, box_passes, max_window)
    smooth, spare = box_filter_passes(gray, box_size, box_passes - lazy, nthreads,
                                      map_buffers(gray.shape), maxima, BLOCK)
    if lazy:  # the last pass only where the peak search reads it
        done, runs = finish_peaks(gray, smooth, maxima, box_size=box_size,
                                  box_passes=box_passes, max_window=max_window, spare=spare)
        return components(done, smooth if done is spare else spare, max_window, nthreads, runs)
    runs = block_peak_runs(smooth, max_window, nthreads, BLOCK, maxima) if blocks else None
    return components(smooth, spare, max_window, nthreads, runs)


def lazy_applies(shape: tuple[int, int], box_size: int, box_passes: int,
                 max_window: int) -> bool:
    """Whether the last box pass is left to :func:`finish_peaks` (computed only where the
    peak search reads it): :data:`LAZY_LAST_PASS` is on, the block search applies, there are
    at least two passes, and the map is larger than the box on both sides."""
    return (LAZY_LAST_PASS and usable(shape, max_window, BLOCK) and box_passes >= 2
            and min(shape) > box_size)


def finish_peaks(gray: np.ndarray, smooth: np.ndarray, maxima: np.ndarray, *, box_size: int,
                 box_passes: int, max_window: int,
                 spare: np.ndarray | Callable[[], np.ndarray] | None = None
                 ) -> tuple[np.ndarray, tuple | None]:
    """The peak runs of ``gray`` when ``smooth`` holds all its box passes but the last
    (``maxima``: their ``BLOCK`` maxima; :func:`lazy_applies`), on one thread.

    The last pass is computed where the search reads it
    (:func:`selo_metrics._kernels.lastpass.lazy_last_pass`); where that would take too many
    blocks (``smooth`` is then left as it was) it runs in full, from ``smooth``, into
    ``spare``: an array, a function that gives one (the caller's kept buffer, made on
    demand), or None for a new array. Returns the smoothed map to take further (``smooth``,
    holding the last pass where the search read it, or the full one) and the runs (None for
    the contrived maps the block search gives up on: the map returned then holds every pass
    everywhere, for the full running maximum).
    """
    single = float32_rounding_is_exact(box_size)
    bound = lazy_last_pass(smooth, maxima, box_size, single, max_window, BLOCK)
    if bound is not None:
        runs = block_peak_runs(smooth, max_window, 1, BLOCK, bound)
        if runs is not None:
            return smooth, runs
        # the search gave up: every pass again, in full, from the map
        box_filter_passes(gray, box_size, box_passes, 1, (smooth, smooth), maxima, BLOCK)
        return smooth, None
    full = np.empty_like(smooth) if spare is None else spare() if callable(spare) else spare
    box_filter_u8(smooth, full, box_size, 1.0 / (box_size * box_size), single, 1, 1, maxima,
                  BLOCK)
    return full, block_peak_runs(full, max_window, 1, BLOCK, maxima)


def components(smooth: np.ndarray, spare: np.ndarray, max_window: int, nthreads: int,
               runs: tuple | None = None) -> PeakComponents:
    """The peak components of a smoothed map, from its peak runs if the block search found
    them (``runs``), else from the full running maximum, written into ``spare``."""
    if runs is None:  # small maps or windows, contrived maps: the full running maximum
        vertical_max(smooth, spare, max_window, nthreads)
        per_row = np.empty(smooth.shape[0], np.int64)
        peak_flags(smooth, spare, max_window, per_row, nthreads)
        runs = extract_runs(spare, per_row, nthreads)
    count, sum_row, sum_col = component_moments(*runs)
    return PeakComponents(count, sum_row, sum_col)


def attention_centers(
    gray: np.ndarray,
    prob: np.ndarray | None = None,
    *,
    box_size: int = 50,
    box_passes: int = 5,
    max_window: int = 1000,
    threshold: float = 0.5,
    integer: bool = True,
) -> list[tuple[float, float]]:
    """Attention centres ``(x, y)`` of a map, as the official SeLo code finds them.

    The centroid of every peak component (mean row, mean column) is truncated to int
    (``integer=True``, the ``"slm"`` convention) or kept as float (``"paper"``); a centre is
    kept when the ORIGINAL map at that pixel (rounded half to even when float) is at least
    ``threshold``. Centres are ordered by descending map value, ties in label order, like the
    official code.

    Parameters
    ----------
    gray : numpy.ndarray
        2-D uint8 map.
    prob : numpy.ndarray, optional
        The map as the caller gave it, in [0, 1], read for the threshold; default
        ``gray / 255``.
    box_size, box_passes, max_window : int, optional
        Smoothing and maximum-window parameters (official values by default).
    threshold : float, optional
        Minimum map value at a kept centre (0.5).
    integer : bool, optional
        Truncate centroids to int (``True``, official) or keep them as float.

    Returns
    -------
    list of tuple
        ``(x, y)`` per kept centre: column first.

    Examples
    --------
    >>> g = np.zeros((300, 400), np.uint8)
    >>> g[100:140, 200:260] = 255
    >>> attention_centers(g)
    [(232, 122)]
    """
    comps = peak_components(gray, box_size=box_size, box_passes=box_passes, max_window=max_window)
    return centres_of(comps, gray, prob, threshold=threshold, integer=integer)


def centres_of(
    comps: PeakComponents,
    gray: np.ndarray,
    prob: np.ndarray | None = None,
    *,
    threshold: float = 0.5,
    integer: bool = True,
) -> list[tuple[float, float]]:
    """The attention centres ``(x, y)`` of a map's peak components (:func:`attention_centers`
    without the smoothing and the peak search).

    Examples
    --------
    >>> g = np.zeros((300, 400), np.uint8)
    >>> g[100:140, 200:260] = 255
    >>> centres_of(peak_components(g), g)
    [(232, 122)]
    """
    h, w = gray.shape
    entries = []
    for c in range(len(comps)):
        n = int(comps.count[c])
        if integer:
            cy = int(comps.sum_row[c]) // n
            cx = int(comps.sum_col[c]) // n
            py, px = cy, cx
        else:
            cy = int(comps.sum_row[c]) / n
            cx = int(comps.sum_col[c]) / n
            py = min(int(np.rint(cy)), h - 1)
            px = min(int(np.rint(cx)), w - 1)
        value = float(gray[py, px]) / 255.0 if prob is None else float(prob[py, px])
        entries.append((cx, cy, value))
    entries.sort(key=lambda e: e[2], reverse=True)
    return [(e[0], e[1]) for e in entries if e[2] >= threshold]
