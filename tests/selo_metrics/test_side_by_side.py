"""One evaluation's halves side by side (``selo_metrics.side_by_side``), the job queue that
runs them, and the mask that is cleared only in the GT's rows: against numpy's sums of a
fully rasterized mask (``gt_mask``, itself checked against OpenCV) and the plain-numpy peak
twin, with every thread count and stale data left in the reused buffers."""

from __future__ import annotations

import functools
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selo_metrics._kernels import Jobs
from selo_metrics._kernels.sums import masked_sums, sums_plan
from selo_metrics._reference.filters import peak_components_ref
from selo_metrics._workspace import map_buffers
from selo_metrics.raster import MARGIN, gt_mask, gt_mask_rows
from selo_metrics.side_by_side import rsu_sums_and_peaks


def _numpy_sums(values, mask):
    prob = values / 255.0 if values.dtype == np.uint8 else values
    return int(mask.sum()), np.sum(np.multiply(prob, mask.astype(np.float64))), np.sum(prob)


@st.composite
def gt_cases(draw, max_side=300):
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    n = draw(st.integers(1, 3))
    coord = st.floats(-40.0, max_side + 40.0, allow_nan=False)
    polys = [np.array(draw(st.lists(st.tuples(coord, coord), min_size=3, max_size=7)))
             for _ in range(n)]
    return h, w, polys, draw(st.sampled_from(["slm", "paper"])), draw(st.integers(0, 2**32 - 1))


@settings(max_examples=150, deadline=None)
@given(case=gt_cases())
def test_the_gt_rows_mask_is_the_full_mask_where_the_sums_read_it(case):
    """Over a buffer full of stale values: the GT's rows equal ``gt_mask``, the full mask is 0
    outside them, the margins are 0, and the Rsu sums planned on those rows are numpy's."""
    h, w, polys, convention, seed = case
    rng = np.random.default_rng(seed)
    full = gt_mask(polys, (h, w), convention=convention)
    out = rng.integers(0, 256, (h, w)).astype(np.uint8)  # stale data everywhere
    r0, r1 = gt_mask_rows(polys, out, convention=convention)
    assert 0 <= r0 <= r1 <= h
    assert not full[:r0].any() and not full[r1:].any()
    assert np.array_equal(out[r0:r1], full[r0:r1])
    flat = out.reshape(-1)
    assert not flat[max(0, r0 * w - MARGIN): r0 * w].any()
    assert not flat[r1 * w: r1 * w + MARGIN].any()
    values = rng.integers(0, 256, (h, w)).astype(np.uint8)
    for threads in (1, 2, 3):
        plan = sums_plan(values, out, threads, rows=(r0, r1))
        plan.run(0, len(plan.starts))
        assert plan.result() == _numpy_sums(values, full)
    assert masked_sums(values, out, (r0, r1)) == _numpy_sums(values, full)


@functools.cache
def _gaussians(shape: tuple[int, int]) -> tuple[np.ndarray, list]:
    h, w = shape
    rng = np.random.default_rng(h * w)
    yy, xx = np.mgrid[0:h, 0:w]
    gray = np.zeros(shape, np.uint8)
    for _ in range(3):
        cy, cx, s = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(5, max(h, w) / 4)
        gray = np.maximum(gray, (255 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
                                 ).astype(np.uint8))
    return gray, peak_components_ref(gray)


@pytest.mark.parametrize("threads", [1, 2, 3, 4])
@pytest.mark.parametrize("shape", [(37, 41), (700, 90), (90, 1300), (1100, 1200), (260, 6600)])
def test_side_by_side_is_the_sequential_stages(shape, threads):
    """The Rsu sums are numpy's of the full mask, the peaks the numpy twin's, whatever the
    threads (up to 4 box tiles) and whatever the reused buffers hold from the last call."""
    h, w = shape
    gray, expected_peaks = _gaussians(shape)
    rng = np.random.default_rng(threads)
    for buf in map_buffers(shape):  # stale data from an earlier call
        buf[...] = rng.integers(0, 256, shape)
    polys = [np.array([[0.2 * w, 0.3 * h], [0.7 * w, 0.25 * h], [0.6 * w, 0.9 * h]]),
             np.array([[0.5 * w, 0.1 * h], [0.95 * w, 0.1 * h], [0.95 * w, 0.5 * h]])]
    for convention in ("slm", "paper"):
        for values in (gray, gray / 255.0):
            sums, comps = rsu_sums_and_peaks(gray, values, polys, gt_fill=convention,
                                             threads=threads)
            assert sums == _numpy_sums(values, gt_mask(polys, shape, convention=convention))
    got = list(zip(comps.count.tolist(), comps.sum_row.tolist(), comps.sum_col.tolist(),
                   strict=True))
    assert got == expected_peaks


def test_jobs_run_what_jobs_make_ready_and_first_jumps_the_queue():
    order: list[str] = []
    jobs = Jobs(1)

    def a():
        order.append("a")
        jobs.first(lambda: order.append("urgent"))
        return [lambda: order.append("from a")]

    jobs.add(a)
    jobs.add(lambda: order.append("b"))
    jobs.run()
    assert order == ["a", "urgent", "b", "from a"]


def test_jobs_use_the_threads_side_by_side():
    """Two jobs that each wait for the other to have started finish only on 2 threads."""
    started = [threading.Event(), threading.Event()]

    def job(i):
        def run():
            started[i].set()
            assert started[1 - i].wait(10), "the jobs did not run side by side"
        return run

    jobs = Jobs(2)
    jobs.add(job(0))
    jobs.add(job(1))
    jobs.run()


def test_a_failing_job_stops_the_queue_and_is_raised():
    ran: list[int] = []
    jobs = Jobs(2)

    def slow():
        time.sleep(0.05)
        ran.append(1)

    def boom():
        raise ValueError("bad sample")

    jobs.add(boom)
    jobs.add(slow)
    for _ in range(20):
        jobs.add(lambda: ran.append(2))
    with pytest.raises(ValueError, match="bad sample"):
        jobs.run()
    assert ran.count(2) < 20  # the queue was dropped, not run to the end


def test_a_degenerate_gt_stops_before_the_box_filter():
    """``check_area`` raises as soon as the area is known: on one thread no tile has run."""
    gray = np.full((600, 700), 90, np.uint8)
    smooth = map_buffers(gray.shape)[1]
    smooth[...] = 7

    def check(area):
        raise ValueError(f"area {area}")

    outside = [np.array([[800.0, 10.0], [900.0, 10.0], [900.0, 90.0]])]
    with pytest.raises(ValueError, match="area 0"):
        rsu_sums_and_peaks(gray, gray, outside, threads=1, check_area=check)
    assert (smooth == 7).all()
