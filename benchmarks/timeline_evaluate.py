"""One evaluation's schedule on the kernel threads: when each job starts and ends.

Usage::

    python benchmarks/timeline_evaluate.py [--size 3000] [--threads 2] [--calls 30]

``evaluate`` runs its pieces as jobs of one queue (:mod:`selo_metrics.side_by_side`): the box
filter's tiles, the GT mask, the Rsu sums' nodes, the peak search, then the components. This
script wraps those functions (in the modules that call them, for this process only) so that
each call records its thread and its start and end, runs ``--calls`` evaluations of the
benchmark's synthetic map after three warm-up calls, and prints the fastest one's timeline in
ms from the call's start: what runs before the queue (the input's validation and the GT
regions, ``metrics._prepare``), how the two threads share the tiles, what each does after
them, and what follows the queue. The wrappers cost a few microseconds a job.

It then times ``metrics._prepare`` alone, hot (called again and again) and right after an
evaluation, when its Python code and data have to come back from memory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=3000)
    p.add_argument("--kind", default="focused", help="synthetic map kind")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--calls", type=int, default=30)
    args = p.parse_args(argv)
    os.environ["SELO_NUM_THREADS"] = str(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import numpy as np
    from bench_metrics import load_average, make_case

    import selo_metrics
    from selo_metrics import metrics
    from selo_metrics import side_by_side as sbs

    with tempfile.TemporaryDirectory() as tmp:
        map_path, poly_path = make_case(args.size, Path(tmp), args.kind)
        gray = np.load(map_path)
        polys = json.loads(Path(poly_path).read_text())

    log: list[tuple[str, int, float, float]] = []
    names: dict[int, int] = {}

    def wrap(name, f):
        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                th = names.setdefault(threading.get_ident(), len(names))
                log.append((name, th, t, time.perf_counter()))
        return timed

    class _Plan:  # the Rsu sums' plan, its nodes' runs timed
        def __init__(self, plan):
            self._plan = plan
            self.run = wrap("Rsu node", plan.run)

        def __getattr__(self, name):
            return getattr(self._plan, name)

    tile_jobs, plan = sbs.box_tile_jobs, sbs.sums_plan
    sbs.box_tile_jobs = lambda *a, **k: [wrap("box tile", j) for j in tile_jobs(*a, **k)]
    sbs.sums_plan = lambda *a, **k: _Plan(plan(*a, **k))
    sbs.gt_mask_rows = wrap("GT mask", sbs.gt_mask_rows)
    sbs.finish_peaks = wrap("peak search", sbs.finish_peaks)
    sbs.block_peak_runs = wrap("peak search", sbs.block_peak_runs)
    sbs.components = wrap("components", sbs.components)
    prepare = metrics._prepare
    metrics._prepare = wrap("validate, GT regions", prepare)
    metrics.rsu_sums_and_peaks = wrap("(the queue)", metrics.rsu_sums_and_peaks)

    for _ in range(3):
        selo_metrics.evaluate(gray, polys)
    best = (np.inf, 0.0, [])
    for _ in range(args.calls):
        log.clear()
        t0 = time.perf_counter()
        selo_metrics.evaluate(gray, polys)
        dt = time.perf_counter() - t0
        if dt < best[0]:
            best = (dt, t0, list(log))
    dt, t0, events = best
    print(f"# {args.size} x {args.size} {args.kind}, {args.threads} thread(s), the fastest of "
          f"{args.calls} calls: {dt * 1e3:.2f} ms; load average {load_average()}")
    print(f"{'piece':22s} thread  start -> end (ms)   took")
    for name, th, a, b in sorted(events, key=lambda e: e[2]):
        print(f"{name:22s} {th:6d}  {(a - t0) * 1e3:5.2f} -> {(b - t0) * 1e3:5.2f}   "
              f"{(b - a) * 1e3:.2f}")
    print(f"{'(returned)':22s} {'':6s}  {dt * 1e3:5.2f}")

    hot, cold = [], []
    for _ in range(args.calls):
        t = time.perf_counter()
        prepare(gray, polys, "slm", None, {})
        hot.append(time.perf_counter() - t)
    for _ in range(args.calls):
        selo_metrics.evaluate(gray, polys)
        t = time.perf_counter()
        prepare(gray, polys, "slm", None, {})
        cold.append(time.perf_counter() - t)
    print(f"metrics._prepare alone: hot {min(hot) * 1e3:.2f} ms (median "
          f"{np.median(hot) * 1e3:.2f}), right after an evaluation {min(cold) * 1e3:.2f} ms "
          f"(median {np.median(cold) * 1e3:.2f}); {args.calls} calls each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
