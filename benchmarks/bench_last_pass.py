"""The box filter's last pass computed only where the peak search reads it, against the five
passes in full, on the maps of ``bench_runner.py``'s set.

Usage::

    python benchmarks/bench_last_pass.py                 # every 10th of the 300 maps
    python benchmarks/bench_last_pass.py --every 5 --repeat 5
    python benchmarks/bench_last_pass.py --kernels       # one block's maximum, two kernels

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

``--kernels`` times instead the two ways of computing one block's last-pass maximum, on the
same random 32 x 32 blocks of a 1200 x 1200 noise map (in the cache): the register kernel
(:func:`selo_metrics._kernels.blockmax.block_pass_max`) and the block's pixels by
:func:`selo_metrics._kernels.boxrect.rect_pass`, then their maximum; the maxima must agree.
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


def kernels(n: int = 20000, rounds: int = 3) -> None:
    """µs a block, best of ``rounds``: the register kernel against rect_pass and a max."""
    import numba

    from selo_metrics._kernels.blockmax import block_pass_max, row_offsets
    from selo_metrics._kernels.boxrect import rect_buffers, rect_pass

    @numba.njit
    def by_pixels(src, ys, xs, tmp, bufs, xmap, out):
        for i in range(ys.shape[0]):
            rect_pass(src, ys[i], ys[i] + 32, xs[i], xs[i] + 32, 50, 1 / 2500, True, tmp, bufs,
                      xmap)
            out[i] = tmp[:, :32].max()

    @numba.njit
    def in_registers(src, ys, xs, rows, acc, out):
        for i in range(ys.shape[0]):
            row_offsets(src, ys[i], ys[i] + 32, 50, rows)
            out[i] = block_pass_max(src, rows, 32, xs[i], 50, 1 / 2500, True, acc)

    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, (1200, 1200)).astype(np.uint8)
    ys = rng.integers(0, 1200 // 32, n) * 32
    xs = rng.integers(1, 1200 // 32 - 2, n) * 32  # windows inside the columns
    a, b = np.empty(n, np.uint8), np.empty(n, np.uint8)
    args_a = (src, ys, xs, np.empty((32, 1200), np.uint8), rect_buffers(1200, 50),
              np.empty(1250, np.int64), a)
    args_b = (src, ys, xs, np.empty(82, np.int64), np.empty(32, np.int32), b)
    best = {"rect_pass + max": float("inf"), "registers": float("inf")}
    for r in range(rounds + 1):
        for name, f, args in (("rect_pass + max", by_pixels, args_a),
                              ("registers", in_registers, args_b)):
            t = time.thread_time()
            f(*args)
            if r:  # round 0 compiles
                best[name] = min(best[name], time.thread_time() - t)
    assert (a == b).all(), "the maxima differ"
    print(f"{n} blocks 32 x 32, box 50, best of {rounds}, load average {os.getloadavg()[0]:.1f};"
          " maxima identical")
    for name, t in best.items():
        print(f"{name:>16}: {t / n * 1e6:.2f} µs a block")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path,
                    default=Path(tempfile.gettempdir()) / "selo-bench-xemapset")
    ap.add_argument("--every", type=int, default=10, help="take every n-th map")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kernels", action="store_true",
                    help="time one block's maximum, the two kernels, instead")
    args = ap.parse_args()
    if args.kernels:
        return kernels()
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
