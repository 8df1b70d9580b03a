"""Where selo_metrics spends its time: each stage of one evaluation, timed alone.

Usage::

    python benchmarks/profile_stages.py --size 10000 [--threads 2] [--repeat 5]

Prints the best of ``--repeat`` runs of every stage on the benchmark's synthetic map
(AIR-SLT scene 21's polygons scaled to the size), after a warm-up call; the stages work in
the same reusable buffers as ``evaluate``, and in the same way: the box filter runs four
passes folding their rows into the block maxima, the fifth is computed only where the peak
search reads it (``attention.LAZY_LAST_PASS``; ``--full-last-pass`` runs all five in full,
the last folding the maxima, as before), and the search takes the maxima; the GT mask is
cleared and counted only in the GT's rows. The stages, each split across the threads, are
then summed ("one after the other") beside ``evaluate``, which runs them side by side on the
threads (:mod:`selo_metrics.side_by_side`). With ``--threads 1`` it also prints each stage's
CPU time (the calling thread's), which a shared machine disturbs less than wall time.
``--fallback`` also times the full running maximum that contrived or small maps take instead
of the block search, and the block maxima computed alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", type=int, default=10000)
    p.add_argument("--kind", default="focused", help="synthetic map kind")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--fallback", action="store_true", help="also time the full running maximum")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--full-last-pass", action="store_true",
                   help="all five box passes in full (evaluate too)")
    args = p.parse_args(argv)
    if args.threads:
        os.environ["SELO_NUM_THREADS"] = str(args.threads)

    import numpy as np

    import selo_metrics
    from selo_metrics import attention
    from selo_metrics import metrics as m
    from selo_metrics._kernels import num_threads, peaks
    from selo_metrics._kernels.box import box_filter_passes
    from selo_metrics._kernels.labels import component_moments, extract_runs
    from selo_metrics._kernels.lastpass import lazy_last_pass
    from selo_metrics._kernels.maxfilter import peak_flags, vertical_max
    from selo_metrics._kernels.sums import masked_sums
    from selo_metrics._workspace import map_buffers
    from selo_metrics.raster import gt_mask_rows

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_metrics import make_case

    with tempfile.TemporaryDirectory() as tmp:
        map_path, poly_path = make_case(args.size, Path(tmp), args.kind)
        gray = np.load(map_path)
        polys = json.loads(poly_path.read_text())
    nt = num_threads()
    attention.LAZY_LAST_PASS = not args.full_last_pass
    selo_metrics.evaluate(gray, polys)
    best: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def timed(name, func, *a, **kw):
        t0, c0 = time.perf_counter(), time.thread_time()
        out = func(*a, **kw)
        best[name] = min(best.get(name, float("inf")), time.perf_counter() - t0)
        cpu[name] = min(cpu.get(name, float("inf")), time.thread_time() - c0)
        return out

    for _ in range(args.repeat):
        _, _map, pl, _ = timed(
            "validate input, GT regions", m._prepare, gray, polys, "slm", None, {}
        )
        mask = map_buffers(gray.shape)[0]
        rows = timed("GT mask (its rows only)", gt_mask_rows, pl, mask)
        timed("Rsu sums (exact, numpy's order)", masked_sums, gray, mask, rows)
        del mask
        h, w = gray.shape
        maxima = np.empty((-(-h // peaks.BLOCK), -(-w // peaks.BLOCK)), np.uint8)
        lazy = attention.lazy_applies(gray.shape, 50, 5, 1000)
        smooth, spare = timed(
            "box filter x4 + block maxima" if lazy else "box filter x5 + block maxima",
            box_filter_passes,
            gray,
            50,
            5 - lazy,
            nt,
            map_buffers(gray.shape)[::-1],
            maxima,
            peaks.BLOCK,
        )
        bound = maxima
        if lazy:  # as evaluate: the last pass where the peak search reads it
            bound = timed("last pass, where the search reads", lazy_last_pass, smooth, maxima,
                          50, True, 1000, peaks.BLOCK)
            assert bound is not None, "the lazy last pass gave up on this map"
        runs = timed(
            "peaks (block search)", peaks.block_peak_runs, smooth, 1000, nt, peaks.BLOCK, bound
        )
        if args.fallback:
            timed("[alone] block maxima", peaks.block_max, smooth, peaks.BLOCK, nt)
        if args.fallback:
            timed("[fallback] running max, vertical", vertical_max, smooth, spare, 1000, nt)
            per_row = np.empty(gray.shape[0], np.int64)
            timed("[fallback] horizontal + peaks", peak_flags, smooth, spare, 1000, per_row, nt)
            timed("[fallback] peak runs", extract_runs, spare, per_row, nt)
        timed("labels + centroids", component_moments, *runs)
        del smooth, spare
        timed("evaluate (all of it, side by side)", selo_metrics.evaluate, gray, polys)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# {args.size} x {args.size} {args.kind}, {nt} thread(s), best of {args.repeat}, "
        f"load average {load:.2f}"
    )
    # the calling thread's CPU time is the whole stage's only with 1 thread
    extra = f" {'CPU (1 thread)':>15s}" if nt == 1 else ""
    print(f"{'stage':36s} {'wall':>8s}   {extra}")
    for name, sec in best.items():
        c = f" {cpu[name] * 1000:12.1f} ms" if nt == 1 else ""
        print(f"{name:36s} {sec * 1000:8.1f} ms{c}")
        if name == "labels + centroids":
            stages = sum(v for k, v in best.items() if not k.startswith(("[", "evaluate")))
            print(f"{'the stages one after the other':36s} {stages * 1000:8.1f} ms")
    if args.json:
        out = {"size": args.size, "threads": nt, "load": load}
        out["ms"] = {k: v * 1000 for k, v in best.items()}
        if nt == 1:
            out["cpu_ms"] = {k: v * 1000 for k, v in cpu.items()}
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
