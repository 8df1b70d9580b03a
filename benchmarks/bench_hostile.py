"""Inputs that used to cost quadratic time or many times the map's memory, measured.

Usage::

    python benchmarks/bench_hostile.py vertices [--sizes 1000 10000 100000 300000]
    python benchmarks/bench_hostile.py float-map --side 15000 [--dtype float32]

``vertices``: one self-intersecting polygon of N random vertices over a 1000 x 1000 map
(every row crossed by about N / 3 edges), the GT mask filled in both conventions, and the
whole ``evaluate``; CPU seconds of the process per call (``time.process_time``: less
sensitive than wall time to other work on the machine; the fills run in one thread, the
attention stage of ``evaluate`` in several), after one warm-up call.

``float-map``: the peak resident memory of one process that builds a ``side x side`` float
map and scores it (``resource.getrusage``), against the map's own size. Run each side in a
fresh process (the peak only grows).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np


def _vertices(sizes: list[int]) -> None:
    import selo_metrics
    from selo_metrics.raster import gt_mask

    rng = np.random.default_rng(0)
    warm = [rng.uniform(0, 1000, (50, 2))]
    for conv in ("slm", "paper"):
        gt_mask(warm, (1000, 1000), convention=conv)
    g = np.zeros((1000, 1000), np.uint8)
    g[300:700, 300:700] = 200
    selo_metrics.evaluate(g, warm)
    print("vertices  slm fill  paper fill  evaluate (slm)   [CPU seconds]")
    for n in sizes:
        poly = [rng.uniform(0, 1000, (n, 2))]
        times = []
        for func, kwargs in (
            (gt_mask, {"shape": (1000, 1000)}),
            (gt_mask, {"shape": (1000, 1000), "convention": "paper"}),
            (selo_metrics.evaluate, {"prob_map": g}),
        ):
            t = time.process_time()
            try:
                func(polygons=poly, **kwargs)
            except selo_metrics.SeLoInputError:  # e.g. outlines covering the whole map
                pass
            times.append(time.process_time() - t)
        print(f"{n:>8}  {times[0]:7.3f} s  {times[1]:8.3f} s  {times[2]:8.3f} s", flush=True)


def _float_map(side: int, dtype: str) -> None:
    import selo_metrics

    prob = np.empty((side, side), dtype)
    for r0 in range(0, side, 1024):  # filled in blocks: no float64 temporary of the map
        block = np.random.default_rng(r0).random((min(1024, side - r0), side))
        prob[r0 : r0 + 1024] = block**4
    s = side / 10
    poly = [[(2 * s, 2 * s), (7 * s, 2.5 * s), (6 * s, 8 * s), (2.5 * s, 7 * s)]]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t = time.perf_counter()
    res = selo_metrics.evaluate(prob, poly)
    secs = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"{side} x {side} {dtype}: map {prob.nbytes / 2**30:.2f} GiB, peak RSS before "
        f"evaluate {before:.2f} GiB, after {peak:.2f} GiB ({secs:.1f} s, Rmi {res.rmi:.6f})"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    v = sub.add_parser("vertices")
    v.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000, 300000])
    f = sub.add_parser("float-map")
    f.add_argument("--side", type=int, default=15000)
    f.add_argument("--dtype", default="float32")
    args = p.parse_args(argv)
    if args.what == "vertices":
        _vertices(args.sizes)
    else:
        _float_map(args.side, args.dtype)
    return 0


if __name__ == "__main__":
    sys.exit(main())
