"""Where the lazy last pass spends its time: the two steps of ``lastpass._greedy``.

Usage::

    python benchmarks/probe_greedy.py [--size 10000] [--rounds 3] [--bounds]

On the benchmark's focused synthetic map after four box passes (their 32 x 32 block maxima
folded in, as ``evaluate`` runs them), one thread:

* ``_greedy`` itself, best of ``--rounds``, and the blocks it resolves (their last-pass
  maximum computed);
* its first step replayed from Python, level by level as ``_greedy`` runs it (every block
  that may still be a candidate, by decreasing bound): the blocks and the time in
  ``_resolve``; then its second step's counts (the single blocks resolved, the window
  maxima taken over ``free`` and the blocks they read), which Python's loop would time
  poorly;
* the first step's blocks resolved again, after 300 MB were written (the map's rows out of
  the caches) and right after (in them): compute-bound when the two match;
* with ``--bounds``, both steps' blocks from tighter starting bounds: the overlap-weighted
  bounds of :func:`overlap_bounds`, and the exact maxima of the last pass (an oracle: no
  bound can do better), against the 3 x 3 blocks' maxima in use.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def overlap_bounds(T: np.ndarray, U: np.ndarray, k: int, B: int) -> np.ndarray:
    """Upper bounds of the last pass's block maxima from the blocks around, each weighted by
    how much of a pixel's window it covers: ``rint(S / k**2)`` with ``S`` at most the sum,
    over the 3 x 3 blocks, of the window's pixels in a block times that block's maximum in
    ``T``; the largest over the block's pixels, which is reached where a window edge meets a
    block edge (the overlaps are piecewise linear in the pixel's place). Blocks on the map's
    edges, where windows reflect, and where ``k // 2 > B``, keep ``U``."""
    before, after = k // 2, k - k // 2 - 1
    if max(before, after) > B:
        return U.copy()
    places = sorted({0, B - 1} | {q for q in range(B) if (q - before) % B == 0
                                   or (q + after + 1) % B == 0})

    def overlaps(q: int) -> np.ndarray:  # window rows in the block above, this one, below
        up, down = max(0, before - q), max(0, q + after - (B - 1))
        return np.array([up, k - up - down, down], np.float64)

    nby, nbx = T.shape
    pad = np.pad(T.astype(np.float64), 1, mode="edge")
    best = np.zeros(T.shape)
    for qy in places:
        for qx in places:
            oy, ox = overlaps(qy), overlaps(qx)
            s = sum(oy[i] * ox[j] * pad[i : i + nby, j : j + nbx]
                    for i in range(3) for j in range(3))
            best = np.maximum(best, s)
    out = np.minimum(np.ceil(best / (k * k)), U).astype(np.uint8)
    for edge in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):
        out[edge] = U[edge]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--bounds", action="store_true",
                   help="also count the blocks resolved from tighter bounds")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_metrics import load_average, make_case

    from selo_metrics._kernels import lastpass as L
    from selo_metrics._kernels.box import box_filter_passes

    n, B, k, m = args.size, 32, 50, 1000
    with tempfile.TemporaryDirectory() as tmp:
        gray = np.load(make_case(n, Path(tmp), "focused")[0])
    T = np.empty((-(-n // B), -(-n // B)), np.uint8)
    g = box_filter_passes(gray, k, 4, 1, maxima=T, block=B)[0].copy()
    nby, nbx = T.shape
    scale = 1.0 / (k * k)

    def fresh():  # as lazy_last_pass starts _greedy
        V, lb, rr, cc, work = L._setup(g, T, k, m, B)
        return V, lb, rr, cc, work, np.zeros(1, np.int64)

    V0 = fresh()[0]

    print(f"# {n} x {n} focused, {T.size} blocks, one thread; load average {load_average()}")
    best = math.inf
    for _ in range(args.rounds):
        V, lb, rr, cc, work, used = fresh()
        t = time.perf_counter()
        L._greedy(g, V, lb, rr, cc, int(L.LIMIT * V.size), used, B, k, scale, True, *work)
        best = min(best, time.perf_counter() - t)
    print(f"_greedy: {best * 1e3:.1f} ms (best of {args.rounds}), {used[0]} blocks resolved")

    def replay(start: np.ndarray | None = None) -> tuple:
        """Both steps from Python, from the bounds ``start`` (default: those in use)."""
        V, lb, rr, cc, work, used = fresh()
        if start is not None:
            V[...] = start
        free = V.copy()
        blocks, runs = np.empty(V.size, np.int64), np.empty((V.size, 3), np.int64)
        rargs = (runs, V, free, lb, L._inverse(rr[0], rr[1], nby),
                 L._inverse(cc[0], cc[1], nbx), used, 10**12, B, k, scale, True, *work)
        L._resolve(g, blocks, 0, *rargs)  # no block: the call from Python loaded once, untimed
        order, starts = L._levels(V)
        levels, spent = [], 0.0
        for j in range(256):
            ids = [i for i in order[starts[j]:starts[j + 1]] if V.flat[i] >= lb.flat[i]]
            if ids:
                levels.append(np.array(ids, np.int64))
                t = time.perf_counter()
                L._resolve(g, levels[-1], len(ids), *rargs)
                spent += time.perf_counter() - t
        single = windows = area = 0
        for i in order:
            by, bx = divmod(int(i), nbx)
            while V[by, bx] > 0 and V[by, bx] >= lb[by, bx]:
                y0, y1, x0, x1 = rr[0, by], rr[1, by], cc[0, bx], cc[1, bx]
                top = L._window_max(free, y0, y1, x0, x1)
                windows += 1
                area += (y1 - y0 + 1) * (x1 - x0 + 1)
                if top <= V[by, bx]:
                    break
                blocks[0] = L._first_at(free, top, y0, y1, x0, x1)
                L._resolve(g, blocks, 1, *rargs)
                single += 1
        return levels, spent, single, windows, area, rargs

    levels, spent, single, windows, area, rargs = replay()
    first = sum(len(a) for a in levels)
    print(f"step 1: {first} blocks in {len(levels)} levels, {spent * 1e3:.1f} ms in _resolve "
          f"({spent / max(first, 1) * 1e6:.2f} us a block)")
    print(f"step 2: {single} blocks resolved one by one; {windows} window maxima over {area} "
          f"blocks of free")

    flush = np.zeros(300_000_000, np.uint8)
    for _ in range(args.rounds):
        flush += 1
        row = []
        for label in ("cold", "hot"):
            t = time.perf_counter()
            for ids in levels:
                L._resolve(g, ids, len(ids), *rargs)
            row.append(f"{label} {(time.perf_counter() - t) * 1e3:.1f} ms")
        print(f"step 1's blocks again: {', '.join(row)}")
    if args.bounds:
        exact = np.empty_like(T)
        box_filter_passes(gray, k, 5, 1, maxima=exact, block=B)
        weighted = overlap_bounds(T, V0, k, B)
        if (weighted < exact).any():
            raise SystemExit("the overlap-weighted bound is below a block's maximum")
        for name, start in (("in use (3 x 3 maxima)", V0), ("overlap-weighted", weighted),
                            ("exact (an oracle)", exact)):
            lv, _, one, _, _, _ = replay(start)
            gap = (start.astype(np.int64) - exact).mean()
            print(f"bounds {name}: {gap:.2f} above the maxima on average; step 1 resolves "
                  f"{sum(len(a) for a in lv)} blocks, step 2 {one}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
