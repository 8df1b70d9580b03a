"""The box filter's last pass computed only where the peak search reads it, against the five
passes in full, on the maps of ``bench_runner.py``'s set.

Usage::

    python benchmarks/bench_last_pass.py                 # every 10th of the 300 maps
    python benchmarks/bench_last_pass.py --every 5 --repeat 5

For each map, one thread's CPU time (``time.thread_time``), best of ``--repeat``, the two
ways by turns:

* ``full``: five passes folding the block maxima, then the block peak search;
* ``lazy``: four passes folding theirs, :func:`selo_metrics._kernels.lastpass.lazy_last_pass`,
  then the search on its bounds (the full pass instead where it gives up, as
  :func:`selo_metrics.attention.finish_peaks` does);

and the peak runs of both, which must be identical. Then the whole ``selo_metrics.evaluate``
(one thread, a GT box on every map) with ``attention.LAZY_LAST_PASS`` on and off, by turns,
and its metrics and centres, which must be identical too. Prints the totals, the ratio, and
the share of blocks whose last-pass maximum was computed (``resolved``) and whose pixels
were (``read``). The maps are made by ``bench_runner.make_set`` if not there yet.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SELO_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_runner import make_set

import selo_metrics
from selo_metrics import attention
from selo_metrics._kernels.box import box_filter_passes
from selo_metrics._kernels.lastpass import lazy_last_pass
from selo_metrics._kernels.peaks import BLOCK, block_peak_runs
from selo_metrics.io import read_map


def full(g, bufs, T):
    box_filter_passes(g, 50, 5, 1, bufs, T, BLOCK)
    return block_peak_runs(bufs[0], 1000, 1, BLOCK, T)


def lazy(g, bufs, T, stats):
    box_filter_passes(g, 50, 4, 1, bufs, T, BLOCK)
    V = lazy_last_pass(bufs[0], T, 50, True, 1000, BLOCK, stats=stats)
    stats["gave up"] = V is None
    if V is None:
        box_filter_passes(bufs[0], 50, 1, 1, (bufs[1], bufs[0]), T, BLOCK)
        return block_peak_runs(bufs[1], 1000, 1, BLOCK, T)
    return block_peak_runs(bufs[0], 1000, 1, BLOCK, V)


def timed(f, *args):
    t0 = time.thread_time()
    out = f(*args)
    return time.thread_time() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path,
                    default=Path(tempfile.gettempdir()) / "selo-bench-xemapset")
    ap.add_argument("--every", type=int, default=10, help="take every n-th map")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    make_set(args.data, 1129, 300, 0)
    paths = sorted(glob.glob(str(args.data / "maps" / "*.jpg")))[:: args.every]
    tot = {"full": 0.0, "lazy": 0.0, "eval full": 0.0, "eval lazy": 0.0}
    blocks = resolved = read = gave_up = 0
    for path in paths:
        g = read_map(path)
        h, w = g.shape
        bufs = (np.empty_like(g), np.empty_like(g))
        T = np.empty((-(-h // BLOCK), -(-w // BLOCK)), np.uint8)
        best = {k: float("inf") for k in tot}
        box = [[w * 0.3, h * 0.3], [w * 0.5, h * 0.3], [w * 0.5, h * 0.5], [w * 0.3, h * 0.5]]
        for r in range(args.repeat):
            stats: dict = {}
            for way in (("full", "lazy") if r % 2 == 0 else ("lazy", "full")):
                t, runs = (timed(full, g, bufs, T) if way == "full"
                           else timed(lazy, g, bufs, T, stats))
                best[way] = min(best[way], t)
                if way == "full":
                    want = [a.tolist() for a in runs]
                else:
                    got = [a.tolist() for a in runs]
            assert got == want, f"{path}: the peaks differ"
            results = {}
            for on in ((True, False) if r % 2 == 0 else (False, True)):
                attention.LAZY_LAST_PASS = on
                t, res = timed(selo_metrics.evaluate, g, [box])
                key = "eval lazy" if on else "eval full"
                best[key] = min(best[key], t)
                results[on] = (res.rsu, res.ras, res.rda, res.rmi, res.attention_centers)
            attention.LAZY_LAST_PASS = True
            assert results[True] == results[False], f"{path}: the metrics differ"
        for k in tot:
            tot[k] += best[k]
        blocks += T.size
        resolved += stats.get("resolved", 0)
        read += stats.get("read", 0)
        gave_up += stats["gave up"]
    load = os.getloadavg()[0]
    print(f"{len(paths)} maps ({args.data}), best of {args.repeat}, one thread's CPU, "
          f"load average {load:.1f}; peaks and metrics identical both ways")
    print(f"box filter + peak search: full {tot['full']:.3f} s, lazy {tot['lazy']:.3f} s "
          f"(ratio {tot['lazy'] / tot['full']:.3f})")
    print(f"evaluate:                 full {tot['eval full']:.3f} s, lazy "
          f"{tot['eval lazy']:.3f} s (ratio {tot['eval lazy'] / tot['eval full']:.3f})")
    print(f"blocks: {blocks}, last-pass maximum computed in {resolved / blocks:.1%}, pixels "
          f"in {read / blocks:.1%}; gave up on {gave_up} map(s)")


if __name__ == "__main__":
    main()
