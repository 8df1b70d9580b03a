"""Side by side: ``selo_metrics.rrsis.iou`` vs the RMSIN / LAVT numpy loop on one large map.

Usage::

    python benchmarks/bench_rrsis.py                  # 10000 x 10000, uint8 / bool / float32
    python benchmarks/bench_rrsis.py --size 4000 --repeat 5 --kinds uint8

Both sides score the same prediction against the same bool GT, held in memory. Ours is
``iou(pred, gt)`` (one numba pass over the prediction in its own dtype, threads from
``SELO_NUM_THREADS`` / the CPUs this process may use); the reference is what the field's
``test.py`` does with a probability map: ``fg = pred / 255 > 0.5`` (or ``pred > 0.5``),
``I = np.sum(np.logical_and(fg, gt))``, ``U = np.sum(np.logical_or(fg, gt))``
(:func:`selo_metrics._reference.rrsis.counts_ref`). Times are the best of ``--repeat``
warm calls (one untimed call first compiles the kernel), wall-clock and, beside it, the CPU
time of all the process's threads (``time.process_time``), less sensitive to other load.
The target: a 10000 x 10000 map's IoU in under 50 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

TARGET_MS = {10000: 50.0}


def make_case(size: int, kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth-ish prediction of ``kind`` and a GT square, both ``size x size``."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((size, size), bool)
    gt[size // 4 : 3 * size // 4, size // 5 : 3 * size // 5] = True
    small = rng.integers(0, 256, (size // 100 + 1, size // 100 + 1), dtype=np.uint8)
    gray = np.kron(small, np.ones((100, 100), np.uint8))[:size, :size]
    gray = np.ascontiguousarray(gray)
    if kind == "uint8":
        return gray, gt
    if kind == "bool":
        return gray >= 128, gt
    return (gray / np.float32(255)).astype(np.float32), gt


def best_ms(fn, repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU (all threads of the process) milliseconds."""
    fn()
    wall = cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall * 1000.0, cpu * 1000.0


def main(argv: list[str] | None = None) -> int:
    from selo_metrics._kernels import num_threads
    from selo_metrics._reference.rrsis import counts_ref
    from selo_metrics.rrsis import intersection_union

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=10000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--kinds", default="uint8,bool,float32")
    args = p.parse_args(argv)
    print(
        f"{args.size} x {args.size}, best of {args.repeat} warm calls, "
        f"{num_threads()} kernel thread(s), load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'prediction':<10} {'ours ms':>8} {'(CPU ms)':>9} {'numpy loop ms':>14} "
        f"{'(CPU ms)':>9} {'speed-up':>9}  same"
    )
    for kind in args.kinds.split(","):
        pred, gt = make_case(args.size, kind)
        ours, ours_cpu = best_ms(lambda pred=pred, gt=gt: intersection_union(pred, gt), args.repeat)
        ref, ref_cpu = best_ms(
            lambda pred=pred, gt=gt: counts_ref(pred, gt), max(1, args.repeat // 2)
        )
        same = intersection_union(pred, gt) == counts_ref(pred, gt)
        print(
            f"{kind:<10} {ours:8.1f} {ours_cpu:9.1f} {ref:14.1f} {ref_cpu:9.1f} "
            f"{ref / ours:8.1f}x  {same}"
        )
        del pred, gt
    target = TARGET_MS.get(args.size)
    if target is not None:
        print(f"target: < {target:.0f} ms for a {args.size} x {args.size} map on 2 cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
