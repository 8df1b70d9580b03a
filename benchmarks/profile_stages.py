"""Where selo_metrics spends its time: each stage of one evaluation, timed alone.

Usage::

    python benchmarks/profile_stages.py --size 10000 [--threads 2] [--repeat 5]

Prints the best of ``--repeat`` runs of every stage on the benchmark's synthetic map
(AIR-SLT scene 21's polygons scaled to the size), after a warm-up call; the stages work in
the same reusable buffers as ``evaluate``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", type=int, default=10000)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    if args.threads:
        os.environ["SELO_NUM_THREADS"] = str(args.threads)

    import json

    import numpy as np

    import selo_metrics
    from selo_metrics import metrics as m
    from selo_metrics._kernels import num_threads
    from selo_metrics._kernels.box import box_filter_passes
    from selo_metrics._kernels.labels import component_moments, extract_runs
    from selo_metrics._kernels.maxfilter import peak_flags, vertical_max
    from selo_metrics._kernels.sums import masked_sums
    from selo_metrics._workspace import map_buffers
    from selo_metrics.raster import gt_mask

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_metrics import make_case

    with tempfile.TemporaryDirectory() as tmp:
        map_path, poly_path = make_case(args.size, Path(tmp))
        gray = np.load(map_path)
        polys = json.loads(poly_path.read_text())
    nt = num_threads()
    selo_metrics.evaluate(gray, polys)
    best: dict[str, float] = {}

    def timed(name, func, *a, **kw):
        t0 = time.perf_counter()
        out = func(*a, **kw)
        best[name] = min(best.get(name, float("inf")), time.perf_counter() - t0)
        return out

    for _ in range(args.repeat):
        _, _map, pl, _ = timed("validate input, GT regions", m._prepare, gray, polys, "slm",
                             None, {})
        mask = timed("GT mask (raster)", gt_mask, pl, gray.shape,
                     out=map_buffers(gray.shape)[0])
        timed("Rsu sums", masked_sums, gray, mask)
        del mask
        smooth, spare = timed("box filter x5", box_filter_passes, gray, 50, 5, nt,
                              map_buffers(gray.shape))
        timed("running max, vertical", vertical_max, smooth, spare, 1000, nt)
        runs = np.empty(gray.shape[0], np.int64)
        timed("running max, horizontal + peaks", peak_flags, smooth, spare, 1000, runs, nt)
        rows = timed("peak runs", extract_runs, spare, runs, nt)
        timed("labels + centroids", component_moments, *rows)
        del smooth, spare
        timed("evaluate (all of it)", selo_metrics.evaluate, gray, polys)
    print(f"# {args.size} x {args.size}, {nt} thread(s), best of {args.repeat}")
    for name, sec in best.items():
        print(f"{name:34s} {sec * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
