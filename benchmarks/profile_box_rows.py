"""One box-filter pass taken apart: its row kernels timed alone, in ns per pixel.

Usage::

    python benchmarks/profile_box_rows.py [--cols 3072] [--size 10000] [--repeat 7]

A pass of the box filter (``selo_metrics._kernels.boxrows.pipeline``) does, for every row of
a tile and every stage: the horizontal window sums of the extended row
(``scan.window_sums``: the prefix scan in registers and one subtraction a column), and the
emission of an output row (``boxrows._emit``: the running 32-bit column sums, one row in and
one out, and the rounding). Both are timed here alone on rows of ``--cols`` columns (a
tile's width) with ``k = 50``, the emission reading its rows from a ring of ``k + 2`` rows
as the pipeline does; then the whole filter (5 passes, one thread) on the benchmarks'
``--size`` squared map (``bench_metrics.make_case``, as ``profile_stages.py``), per pixel
and pass, in two result buffers allocated once and reused (as ``evaluate`` reuses its own,
so the figure holds no allocation). What the two kernels leave of the pass is the rest: the
rows' borders, the widening of the source row, the block maxima, the loop that schedules the
rows, and the tiles' halo (the overlap that neighbouring tiles both compute). CPU time of one
thread, best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

K = 50


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cols", type=int, default=3072)
    p.add_argument("--size", type=int, default=10000)
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args(argv)
    os.environ["SELO_NUM_THREADS"] = "1"

    from selo_metrics._kernels.box import box_filter_passes
    from selo_metrics._kernels.boxrows import _emit, padded
    from selo_metrics._kernels.scan import window_sums

    @numba.njit(nogil=True)
    def sums(e, prefix, out, reps):
        for _ in range(reps):
            window_sums(e, prefix, K, out)

    @numba.njit(nogil=True)
    def emits(ring, colsum, out, reps):
        for r in range(reps):  # rows y = 100.., as far from the map's borders as the pipeline's
            _emit(ring, colsum, 100 + r, False, K // 2, K - K // 2 - 1, 10**6, out,
                  1.0 / (K * K), True)

    def best(fn, *a):
        fn(*a[:-1], 2)
        t = float("inf")
        for _ in range(args.repeat):
            c0 = time.thread_time()
            fn(*a)
            t = min(t, time.thread_time() - c0)
        return t

    n = args.cols
    rng = np.random.default_rng(0)
    reps = max(1, 30_000_000 // n)
    e = rng.integers(0, 256, padded(n + K - 1) + 64).astype(np.uint16)
    prefix = np.empty(e.shape[0] + 1, np.uint16)
    out = np.empty(n, np.uint16)
    t_sums = best(sums, e, prefix, out, reps) / reps / n * 1e9
    ring = rng.integers(0, 256 * K, (K + 2, padded(n))).astype(np.uint16)
    colsum = np.full(padded(n), 250 * 1250, np.int32)
    t_emit = best(emits, ring, colsum, out, reps) / reps / n * 1e9

    s = args.size
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_metrics import make_case  # the map profile_stages.py and bench_metrics.py use

    with tempfile.TemporaryDirectory() as tmp:
        gray = np.load(make_case(s, Path(tmp))[0])
    buffers = (np.empty_like(gray), np.empty_like(gray))  # reused, as `evaluate` reuses its own
    box_filter_passes(gray, K, 5, 1, buffers)
    t_pass = float("inf")
    for _ in range(args.repeat):
        c0 = time.thread_time()
        box_filter_passes(gray, K, 5, 1, buffers)
        t_pass = min(t_pass, time.thread_time() - c0)
    t_pass = t_pass / 5 / (s * s) * 1e9
    load = os.getloadavg()[0]
    print(f"# one box pass (k = {K}), one thread, CPU, best of {args.repeat}; load average "
          f"{load:.2f}")
    print(f"window sums, {n} columns          {t_sums:7.3f} ns a pixel")
    print(f"emission (column sums, rounding)  {t_emit:7.3f} ns a pixel")
    print(f"the whole pass, {s} x {s}      {t_pass:7.3f} ns a pixel and pass")
    print(f"rest (borders, widening, maxima, scheduling, halo) {t_pass - t_sums - t_emit:7.3f} "
          "ns a pixel")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
