"""The box filter x5 of two revisions of this repository, timed in alternating processes
(or, with ``--what``, the Rsu sums or the whole evaluation).

Usage::

    python benchmarks/ab_box_filter.py --old c1f7555 [--new HEAD] [--pairs 5] [--size 10000]
                                       [--maxima] [--what box|sums|peaks|evaluate]
                                       [--threads 1] [--lane-min N]

A kernel change of a few percent is below this shared machine's noise between two runs
minutes apart, so the two versions run by turns: each revision is exported (``git
archive``) to a temporary directory with its own numba cache, compiled once, and then
``--pairs`` times each one runs in a fresh process, one thread, and prints the best of
``--repeat`` calls of ``box_filter_passes(gray, 50, 5, 1, buffers)`` in CPU time of the
thread (two map-sized buffers reused from call to call, as ``evaluate`` reuses its own), with
a CRC of the result: the two revisions must give the same bytes. The map is the benchmark's
focused synthetic map (``selo_metrics.data.synthetic_map``) of ``--size`` squared pixels.
With ``--maxima`` the last pass also folds its rows into the 32 x 32 block maxima, as
``evaluate`` ran the filter before its last pass was left to the peak search's blocks.
``--what sums`` times ``masked_sums`` (the Rsu sums, exact in numpy's order) of the map and
its GT box's mask, counted in the GT's rows as ``evaluate`` does; ``--what peaks`` the block
peak search (``block_peak_runs``) of the map after four passes and the lazy last pass, as
``evaluate`` runs it; ``--what evaluate`` the whole ``selo_metrics.evaluate`` of the map and
its GT box. The "CRC" is then that of the sums' or the metrics' ``repr``, or of the peak
runs' bytes, which must be the same for both revisions. With ``--threads`` above 1 the
kernels run on that many threads and the time is the wall time of the call (beside it, in
brackets, the CPU time of all the process's threads): the measure of a change to how the
work is shared between threads. ``--lane-min N`` sets ``box.LANE_MIN`` in a revision that has
it (the tiles of at least N columns run on the lane layout; 0: none does), to time the
row-major path of a revision against one from before the layout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, os, sys, time, zlib
os.environ["SELO_NUM_THREADS"] = sys.argv[5]
from selo_metrics._kernels import box
from selo_metrics._kernels.box import box_filter_passes
from selo_metrics.data import synthetic_map
if os.environ.get("SELO_AB_LANE_MIN") and hasattr(box, "LANE_MIN"):
    box.LANE_MIN = int(os.environ["SELO_AB_LANE_MIN"])
n, repeat, fold, what = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
threads = int(sys.argv[5])
gt = [[n * 0.3, n * 0.3], [n * 0.5, n * 0.3], [n * 0.5, n * 0.5], [n * 0.3, n * 0.5]]
gray = synthetic_map((n, n), [gt], kind="focused", seed=3)
import numpy as np
buffers = (np.empty_like(gray), np.empty_like(gray))  # reused, as evaluate reuses its own
maxima = np.empty((-(-n // 32), -(-n // 32)), np.uint8) if fold else None
if what == "box":
    call = lambda: box_filter_passes(gray, 50, 5, threads, buffers, maxima, 32)[0].tobytes()
elif what == "sums":
    from selo_metrics._kernels.sums import masked_sums
    from selo_metrics.raster import gt_mask_rows
    rows = gt_mask_rows([np.array(gt)], buffers[0])
    call = lambda: repr(masked_sums(gray, buffers[0], rows)).encode()
elif what == "peaks":
    from selo_metrics._kernels.box import float32_rounding_is_exact
    from selo_metrics._kernels.lastpass import lazy_last_pass
    from selo_metrics._kernels.peaks import block_peak_runs
    T = np.empty((-(-n // 32), -(-n // 32)), np.uint8)
    g4 = box_filter_passes(gray, 50, 4, 1, buffers, T, 32)[0]
    V = lazy_last_pass(g4, T, 50, float32_rounding_is_exact(50), 1000, 32)
    call = lambda: b"".join(a.tobytes() for a in block_peak_runs(g4, 1000, 1, 32, V))
else:
    import selo_metrics
    def call():
        r = selo_metrics.evaluate(gray, [gt])
        return repr((r.rsu, r.ras, r.rda, r.rmi, r.attention_centers)).encode()
out = call()
# one thread: the thread's CPU time; more: the wall time (the CPU time of all threads beside)
clock = time.thread_time if threads == 1 else time.perf_counter
best = cpu = float("inf")
for _ in range(repeat):
    t, c = clock(), time.process_time()
    out = call()
    best, cpu = min(best, clock() - t), min(cpu, time.process_time() - c)
print(json.dumps({"ms": best * 1e3, "cpu_ms": cpu * 1e3, "crc": zlib.crc32(out)}))
"""


def export(rev: str, into: Path) -> Path:
    """The package of revision ``rev`` in ``into`` (``git archive``), with a numba cache."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "selo_metrics"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "numba_cache").mkdir()
    return into


def run(tree: Path, size: int, repeat: int, maxima: bool = False, what: str = "box",
        threads: int = 1, lane_min: int | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), NUMBA_CACHE_DIR=str(tree / "numba_cache"))
    if lane_min is not None:
        env["SELO_AB_LANE_MIN"] = str(lane_min)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(size), str(repeat),
                           str(int(maxima)), what, str(threads)],
                          env=env, capture_output=True, text=True, cwd=tree)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--old", required=True, help="git revision of the baseline")
    p.add_argument("--new", default="HEAD", help="git revision to compare (default HEAD)")
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--size", type=int, default=10000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--maxima", action="store_true", help="fold the block maxima into the last pass")
    p.add_argument("--what", choices=["box", "sums", "peaks", "evaluate"], default="box",
                   help="what to time (default: the box filter x5)")
    p.add_argument("--threads", type=int, default=1,
                   help="kernel threads (default 1); with more, wall ms (CPU ms of all beside)")
    p.add_argument("--lane-min", type=int, default=None,
                   help="box.LANE_MIN in a revision that has it (0: the row-major path only)")
    args = p.parse_args(argv)
    if args.threads < 1 or args.pairs < 1 or args.repeat < 1 or args.size < 1:
        p.error("--threads, --pairs, --repeat and --size must be at least 1")
    if args.lane_min is not None and args.lane_min < 0:
        p.error("--lane-min must be at least 0")
    with tempfile.TemporaryDirectory() as tmp:
        trees = {name: export(rev, Path(tmp) / name)
                 for name, rev in (("old", args.old), ("new", args.new))}
        for tree in trees.values():  # compile (and cache) once, untimed
            run(tree, 256, 1, what=args.what)
        times: dict[str, list[float]] = {"old": [], "new": []}
        crcs = set()
        fold = ", block maxima folded in" if args.maxima else ""
        what = {"box": f"box filter x5{fold}", "sums": "Rsu sums (masked_sums)",
                "peaks": "block peak search (block_peak_runs)", "evaluate": "evaluate"}[args.what]
        clock = ("one thread, CPU ms" if args.threads == 1 else
                 f"{args.threads} threads, wall ms (CPU ms of all threads)")
        print(f"{what}, {args.size} x {args.size}, {clock} (best of {args.repeat}); load "
              f"average {os.getloadavg()[0]:.2f}")
        for i in range(args.pairs):
            row = []
            for name in ("old", "new"):
                r = run(trees[name], args.size, args.repeat, args.maxima, args.what,
                        args.threads, args.lane_min)
                times[name].append(r["ms"])
                crcs.add(r["crc"])
                cpu = f" ({r['cpu_ms']:.1f})" if args.threads > 1 else ""
                row.append(f"{name} {r['ms']:7.1f}{cpu}")
            print(f"pair {i + 1}: " + "   ".join(row)
                  + f"   new/old {times['new'][-1] / times['old'][-1]:.3f}")
        wins = sum(n < o for n, o in zip(times["new"], times["old"], strict=True))
        same = "identical" if len(crcs) == 1 else "DIFFER"
        print(f"old ({args.old}) {min(times['old']):.1f}-{max(times['old']):.1f} ms, new "
              f"({args.new}) {min(times['new']):.1f}-{max(times['new']):.1f} ms; new faster "
              f"in {wins} of {args.pairs} pairs; results {same}; load average "
              f"{os.getloadavg()[0]:.2f}")
        return 0 if len(crcs) == 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
