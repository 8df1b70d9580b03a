"""The Rsu sums in numpy's pairwise order (bit for bit the official values) against the exact
integer sums they replaced, and against the whole evaluation.

Usage::

    python benchmarks/bench_rsu_sums.py                  # 3000 and 10000, best of 7
    python benchmarks/bench_rsu_sums.py --sizes 10000 --repeat 15

For each size: one synthetic map (AIR-SLT scene 21's polygons, scaled) and its GT mask;
``integer`` is the former kernel (per-row exact integer sums, divided by 255 once; 1-2 ulp
off the official Rsu on about 1 map in 4), ``pairwise`` is ``masked_sums`` (the official
``np.sum`` values), ``numpy`` is what the official code does (``gray / 255.0``, the product
with a float mask, two ``np.sum``), ``evaluate`` the whole ``selo_metrics.evaluate``. Wall
time and process CPU time, best of ``--repeat``, threads from ``SELO_NUM_THREADS``. The
extra time of the exact sums is ``pairwise - integer``, shown as a share of ``evaluate``.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

import selo_metrics
from selo_metrics._kernels import run_chunks
from selo_metrics._kernels.sums import masked_sums
from selo_metrics.data import load_air_slt, scene_size, synthetic_map


@numba.njit(nogil=True)
def _integer_rows(gray, mask, out, row0, row1):  # the replaced kernel
    w = gray.shape[1]
    for y in range(row0, row1):
        a = 0
        si = 0
        sa = 0
        for x in range(w):
            gv = np.int64(gray[y, x])
            mv = np.int64(mask[y, x])
            a += mv
            si += gv * mv
            sa += gv
        out[y, 0] = a
        out[y, 1] = si
        out[y, 2] = sa


def integer_sums(gray, mask):
    per_row = np.empty((gray.shape[0], 3), np.int64)
    run_chunks(_integer_rows, gray.shape[0], gray, mask, per_row)
    area, s_in, s_all = per_row.sum(axis=0)
    return int(area), s_in / 255.0, s_all / 255.0


def numpy_sums(gray, mask):
    prob = gray / 255.0
    fmask = mask.astype(np.float64)
    return int(np.sum(fmask)), np.sum(np.multiply(prob, fmask)), np.sum(prob)


def best(fn, args, repeat):
    fn(*args)
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(*args)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[3000, 10000])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    anno = load_air_slt()
    item = next(a for a in anno if a["jpg_name"] == "21.jpg")
    print("| size | integer (old) | pairwise (exact) | official np.sum | evaluate | extra |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        scale = size / max(scene_size(anno, "21.jpg"))
        polys = [[[x * scale, y * scale] for x, y in poly] for poly in item["points"]]
        gray = synthetic_map((size, size), polys, kind="focused", seed=size)
        mask = selo_metrics.gt_mask(selo_metrics.as_polygons(polys), gray.shape)
        exact = masked_sums(gray, mask)
        assert exact == numpy_sums(gray, mask), "the pairwise sums are not numpy's"
        t = {
            "integer": best(integer_sums, (gray, mask), args.repeat),
            "pairwise": best(masked_sums, (gray, mask), args.repeat),
            "numpy": best(numpy_sums, (gray, mask), max(1, args.repeat // 3)),
            "evaluate": best(selo_metrics.evaluate, (gray, polys), args.repeat),
        }
        cells = [f"{w * 1e3:.1f} ms ({c * 1e3:.1f} cpu)" for w, c in t.values()]
        extra = (t["pairwise"][0] - t["integer"][0]) / t["evaluate"][0]
        print(f"| {size} | " + " | ".join(cells) + f" | {100 * extra:+.1f}% |")


if __name__ == "__main__":
    main()
