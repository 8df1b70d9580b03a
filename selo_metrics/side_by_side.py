"""The two halves of one evaluation side by side on the kernel threads.

Rsu needs the GT mask and two sums over the map; Ras and Rda need the attention centres (five
box-filter passes, then the peak search). The halves share only the map, so they need not run
one after the other, each split across the threads: run that way, the serial parts (the
mask's scanline fill, the peak search) leave the other threads idle, about 24 ms of a 185 ms
evaluation of a 10000 x 10000 map on 2 threads (``docs/performance.md``). Here every piece
is a job of one queue (:class:`selo_metrics._kernels.Jobs`): the box filter's tiles, the
mask (then the Rsu sums' nodes; on one thread the mask comes first), and the peak search,
put first as soon as the last tile is done; a free thread takes the next job. The jobs are
the kernels the sequential path runs, on the same data, so the results are the same to the
bit (the Rsu nodes are added up in numpy's tree whatever thread summed them).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence

import numpy as np

from ._kernels import Jobs, num_threads
from ._kernels.box import box_tile_jobs
from ._kernels.peaks import BLOCK, block_peak_runs, usable
from ._kernels.sums import sums_plan
from ._workspace import map_buffers, spare_getter
from .attention import PeakComponents, components, finish_peaks, lazy_applies
from .raster import gt_mask_rows

__all__ = ["rsu_sums_and_peaks"]


def rsu_sums_and_peaks(
    gray: np.ndarray,
    values: np.ndarray,
    polygons: Sequence[np.ndarray],
    *,
    gt_fill: str = "slm",
    box_size: int = 50,
    box_passes: int = 5,
    max_window: int = 1000,
    threads: int | None = None,
    check_area: Callable[[int], None] | None = None,
) -> tuple[tuple[int, float, float], PeakComponents]:
    """The Rsu sums and the peak components of one map, computed side by side.

    Parameters
    ----------
    gray : numpy.ndarray
        2-D uint8 map (smoothed for the peaks).
    values : numpy.ndarray
        The map the Rsu sums add (``gray``: ``gray / 255.0``; or the caller's float map).
    polygons : sequence of numpy.ndarray
        The GT polygons, ``(M, 2)`` float64 arrays of ``(x, y)``.
    gt_fill : {"slm", "paper"}, optional
        How the GT is rasterized (:func:`selo_metrics.raster.gt_mask`).
    box_size, box_passes, max_window : int, optional
        As :func:`selo_metrics.attention.peak_components`.
    threads : int, optional
        Kernel threads (default :func:`selo_metrics._kernels.num_threads`).
    check_area : callable, optional
        Called with the GT's area as soon as it is known; what it raises stops the jobs
        still queued and is raised here (a degenerate GT costs no box filter).

    Returns
    -------
    tuple
        ``((area, sum(prob * mask), sum(prob)), components)``: the same as
        :func:`selo_metrics._kernels.sums.masked_sums` of the GT mask and
        :func:`selo_metrics.attention.peak_components`.

    Examples
    --------
    >>> g = np.zeros((300, 400), np.uint8)
    >>> g[100:140, 200:260] = 255
    >>> square = np.array([[190.0, 90.0], [270.0, 90.0], [270.0, 150.0], [190.0, 150.0]])
    >>> (area, s_in, s_all), comps = rsu_sums_and_peaks(g, g, [square], threads=2)
    >>> area, bool(s_in == s_all), len(comps)
    (4941, True, 1)
    """
    nthreads = threads or num_threads()
    h, w = gray.shape
    mask, smooth = map_buffers(gray.shape)
    blocks = usable(gray.shape, max_window)
    maxima = np.empty((-(-h // BLOCK), -(-w // BLOCK)), np.uint8) if blocks else None
    jobs = Jobs(nthreads)
    found: dict[str, object] = {}

    def rsu_mask() -> list:
        rows = gt_mask_rows(polygons, mask, convention=gt_fill)
        plan = sums_plan(values, mask, nthreads, rows=rows)
        if check_area is not None:
            check_area(plan.area)
        found["sums"] = plan
        return [functools.partial(plan.run, k, k + 1) for k in range(len(plan.starts))]

    # the last box pass only where the peak search reads it (most maps)
    lazy = lazy_applies(gray.shape, box_size, box_passes, max_window)
    spare = spare_getter(gray.shape) if lazy else None  # this thread's, for the full pass

    def peaks() -> None:
        if lazy:
            found["smooth"], found["runs"] = finish_peaks(
                gray, smooth, maxima, box_size=box_size, box_passes=box_passes,
                max_window=max_window, spare=spare)
        else:
            found["runs"] = block_peak_runs(smooth, max_window, 1, BLOCK, maxima)

    tiles = box_tile_jobs(gray, smooth, box_size, box_passes - lazy, nthreads, maxima, BLOCK)
    left = [len(tiles)]
    lock = threading.Lock()

    def tile(job) -> None:
        job()
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last and blocks:
            jobs.first(peaks)  # the last serial piece: before the Rsu nodes still queued

    for job in tiles:
        jobs.add(functools.partial(tile, job))
    # on one thread the GT mask comes first, so that a degenerate GT fails before any tile;
    # on more, the tiles do: the last tile, and the peak search after it, end sooner (at
    # 10000 x 10000 on 2 threads, 79-80 against 83-84 ms; docs/performance.md)
    (jobs.first if nthreads == 1 else jobs.add)(rsu_mask)
    jobs.run()
    # the fallback's running maximum goes to the mask's buffer: the Rsu sums are done with it
    comps = components(found.get("smooth", smooth), mask, max_window, nthreads,
                       found.get("runs"))
    return found["sums"].result(), comps
