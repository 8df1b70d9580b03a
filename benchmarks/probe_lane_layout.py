"""The lane layout's row kernels timed alone, against the row-major window sums they replace.

Usage::

    python benchmarks/probe_lane_layout.py [--widths 80 94 157 192] [--rounds 7] [--reps 3000]
    python benchmarks/probe_lane_layout.py --maps 1536 2048 2560 3000 [--rounds 12]

The box filter's stages took each row's horizontal window sums (k = 50) from its prefix sums,
scanned in SIMD registers (:func:`selo_metrics._kernels.scan.window_sums`: five lane shifts
per 32 values, a prefix scan being a chain along the row). On tiles of at least
``box.LANE_MIN`` columns they now run on the lane layout
(:mod:`selo_metrics._kernels.lanes`, :mod:`selo_metrics._kernels.boxlanes`): the row's 32
segments of ``S`` columns are the 32 lanes of a register, and a window sum is a running sum
down the positions. Its pieces, each checked against numpy before it is timed, on a row of
``32 S`` values (``--widths``: the values of ``S``; 94 is a 3000-column band's, 157 a
5000-column tile's):

* ``slide``: one stage's window sums (:func:`~selo_metrics._kernels.lanes.slide`);
* ``aprons``: a later stage's input around the previous stage's output, the ``k - 1``
  positions each lane takes from its neighbours (``boxlanes._stage_input``);
* ``in``: the first stage's input from the widened source row, its middle transposed
  (``boxlanes._source_input``); ``out``: the last stage's row back to bytes
  (:func:`~selo_metrics._kernels.lanes.from_lanes`);
* ``current``: :func:`~selo_metrics._kernels.scan.window_sums` on a row of ``32 S`` values.

All ns a value, one thread's CPU (``time.thread_time``), the best of ``--rounds`` loops of
``--reps`` calls made from compiled code (a call from Python costs more than a row). The
last column adds up what the four passes before the lazy last pass spend on their
horizontal sums each way: ``in + 4 slide + 3 aprons + out`` against ``4 current``.

``--maps``: where the layout starts to pay inside the pipeline (``box.LANE_MIN``): four box
passes on one thread over a 3000-row map of each width (smooth waves and noise, one tile),
row-major (``LANE_MIN`` 0) and on the lane layout (``LANE_MIN`` 1) by turns, ``--rounds``
times each; the median CPU ms of each and their ratio, after checking the two give the same
bytes.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from selo_metrics._kernels.boxlanes import _source_input, _stage_input, lane_buffers
from selo_metrics._kernels.lanes import NL, from_lanes, slide
from selo_metrics._kernels.scan import window_sums

K = 50


@numba.njit(nogil=True)
def _slide(e, out, n, k, reps):
    for _ in range(reps):
        slide(e, out, n, k)


@numba.njit(nogil=True)
def _aprons(e, S, before, after, fix, reps):
    for _ in range(reps):
        _stage_input(e, S, before, after, fix)


@numba.njit(nogil=True)
def _in(x, e, S, before, after, reps):
    for _ in range(reps):
        _source_input(x, e, S, before, after)


@numba.njit(nogil=True)
def _out(o, row, S, reps):
    for _ in range(reps):
        from_lanes(o, row, S)


@numba.njit(nogil=True)
def _current(e, p, k, out, reps):
    for _ in range(reps):
        window_sums(e, p, k, out)


def timed(f, args: tuple, rounds: int, reps: int, values: int) -> float:
    """ns a value: the best of ``rounds`` loops of ``reps`` calls."""
    f(*args, 1)
    best = np.inf
    for _ in range(rounds):
        t = time.thread_time()
        f(*args, reps)
        best = min(best, time.thread_time() - t)
    return best / reps / values * 1e9


def probe(S: int, rounds: int, reps: int, rng: np.random.Generator) -> dict[str, float]:
    """Check each piece against numpy on random rows of ``32 S`` values, then time it."""
    n, before, after = NL * S, K // 2, K - K // 2 - 1
    x, E, LT, row = lane_buffers(S, K)
    e = E[0]
    x[...] = rng.integers(0, 256, x.shape)
    _source_input(x, e, S, before, after)  # the source row, columns -before .. at x[0 ..]
    want = x[np.arange(S + K - 1)[:, None] + S * np.arange(NL)[None, :]]
    if not np.array_equal(e.reshape(-1, NL)[: S + K - 1], want):
        raise SystemExit("in: wrong places")
    sums = np.empty(n, np.uint16)
    slide(e, sums, S, K)
    c = np.vstack([np.zeros((1, NL), np.int64), np.cumsum(want, axis=0, dtype=np.int64)])
    if not np.array_equal(sums.reshape(S, NL), (c[K:] - c[:-K]) % 65536):
        raise SystemExit("slide: wrong sums")
    e.reshape(-1, NL)[before : before + S] = want[before : before + S]
    e.reshape(-1, NL)[:before] = 0
    e.reshape(-1, NL)[before + S :] = 0
    fix = np.empty((0, 2), np.int64)
    _stage_input(e, S, before, after, fix)
    got = e.reshape(-1, NL)[: S + K - 1]
    if not (np.array_equal(got[:, 1:-1], want[:, 1:-1])
            and np.array_equal(got[before:, 0], want[before:, 0])
            and np.array_equal(got[: before + S, -1], want[: before + S, -1])):
        raise SystemExit("aprons: wrong places")  # lane 0's lower / 31's upper: the fix-ups
    o = LT[0]
    o[...] = rng.integers(0, 256, o.shape)
    from_lanes(o, row, S)
    if not np.array_equal(row[:n].reshape(NL, S), o.reshape(-1, NL)[:S].T):
        raise SystemExit("out: wrong places")
    flat = rng.integers(0, 256, n + K + 3 * NL).astype(np.uint16)
    scratch = np.empty(n + K + 3 * NL, np.uint16)
    return {
        "slide": timed(_slide, (e, sums, S, K), rounds, reps, n),
        "aprons": timed(_aprons, (e, S, before, after, fix), rounds, reps, n),
        "in": timed(_in, (x, e, S, before, after), rounds, reps, n),
        "out": timed(_out, (o, row, S), rounds, reps, n),
        "current": timed(_current, (flat, scratch, K, sums), rounds, reps, n),
    }


def maps(widths: list[int], rounds: int) -> None:
    """The ``--maps`` mode: the whole filter, row-major against the lane layout, by turns."""
    from selo_metrics._kernels import box

    rng = np.random.default_rng(0)
    kept = box.LANE_MIN
    print(f"# four box passes (k = {K}), 3000 rows, one thread, CPU ms, median of {rounds}")
    try:
        for w in widths:
            yy, xx = np.mgrid[:3000, :w]
            g = (128 + 100 * np.sin(yy / 300) * np.cos(xx / 200)
                 + rng.integers(0, 20, (3000, w))).astype(np.uint8)
            bufs = (np.empty_like(g), np.empty_like(g))
            out = {}
            for lane_min in (0, 1):
                box.LANE_MIN = lane_min
                out[lane_min] = box.box_filter_passes(g, K, 4, 1, buffers=bufs)[0].copy()
            if not np.array_equal(out[0], out[1]):
                raise SystemExit(f"{w} columns: the two layouts differ")
            times: dict[int, list[float]] = {0: [], 1: []}
            for r in range(rounds):
                for lane_min in (0, 1) if r % 2 == 0 else (1, 0):
                    box.LANE_MIN = lane_min
                    t = time.thread_time()
                    box.box_filter_passes(g, K, 4, 1, buffers=bufs)
                    times[lane_min].append((time.thread_time() - t) * 1e3)
            row, lanes = np.median(times[0]), np.median(times[1])
            print(f"{w} columns: row-major {row:.2f} ms, lanes {lanes:.2f} ms "
                  f"({lanes / row:.3f})")
    finally:
        box.LANE_MIN = kept


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=int, nargs="+", default=[80, 94, 157, 192],
                   help="segment lengths S (a row of 32 S values)")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--reps", type=int, default=3000)
    p.add_argument("--maps", type=int, nargs="+", default=None,
                   help="map widths: the whole filter, row-major against lanes")
    args = p.parse_args(argv)
    if args.maps is not None:
        if min(args.maps) < 1 or args.rounds < 1:
            p.error("--maps widths and --rounds must be at least 1")
        maps(args.maps, args.rounds)
        return 0
    if min(args.widths) < K // 2 or args.rounds < 1 or args.reps < 1:
        p.error(f"--widths must be at least k // 2 = {K // 2}, --rounds and --reps at least 1")
    rng = np.random.default_rng(0)
    print(f"# window sums, k = {K}, ns a value (one thread's CPU, best of {args.rounds} x "
          f"{args.reps} calls)")
    for S in args.widths:
        t = probe(S, args.rounds, args.reps, rng)
        lanes = t["in"] + 4 * t["slide"] + 3 * t["aprons"] + t["out"]
        print(f"S = {S} ({NL * S} values): slide {t['slide']:.4f}, aprons {t['aprons']:.4f}, "
              f"in {t['in']:.4f}, out {t['out']:.4f}; current {t['current']:.4f}; four passes: "
              f"lanes {lanes:.3f} against {4 * t['current']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
