"""The box filter's two row kernels against variants of them, timed alone: what the fifth stop
of issue 15 tried, kept (row pairs) and dropped (docs/performance.md, "The fifth stop").

Usage::

    python benchmarks/probe_row_kernels.py scan  [--width 5200] [--rounds 3]
    python benchmarks/probe_row_kernels.py emit  [--width 5120] [--rounds 3] [--stages 1]
    python benchmarks/probe_row_kernels.py tiles [--size 10000] [--passes 4] [--rounds 3]

``scan``: the window sums (k = 50) of one row that stays in the caches, ns a value, one
thread's CPU (``time.thread_time``): the kernel in use (:func:`~selo_metrics._kernels.scan.
window_sums`: the prefix scan shifts whole 512-bit registers, five lane shifts, and the
running total advances by the chunk's own total broadcast: one addition in the carried
chain; since the fifth stop), ``stored`` (the kernel before it: the running total is the
last lane of the stored sums broadcast, an addition and a permutation in the chain) and
``lanes`` (as ``stored``, but the scan inside each 128-bit lane, byte shifts that do not
cross lanes, then the lanes' totals added across: fewer lane-crossing shuffles, two more
operations).

``emit``: a stage's output rows from a ring of ``k + 3`` rows of window sums (the running
column sums updated by the entering and leaving rows, rounded), ns a pixel and row, uint16
and uint8 output: ``single`` (one row per call, :func:`~selo_metrics._kernels.boxrows._emit`:
every row before the fifth stop; now a stage's first row, an odd last one and ``k > 128``),
``noshuffle`` (LLVM IR: the column sums kept as even and odd lanes, so that widening and
narrowing are shifts, not shuffles) and ``pairs`` (the kernel in use since the fifth stop,
:func:`~selo_metrics._kernels.boxrows._emit_pair`: two output rows per call, the column sums
read and written once for both). ``--stages 4`` keeps four rings, as the pipeline does.

``tiles``: :func:`~selo_metrics._kernels.box.box_filter_passes` of the benchmark's focused map
on one thread, ms, for tile widths (``box.TILE``) from 1000 to 6144 columns, by turns.

Every variant's results are compared with the first kernel's before anything is timed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from selo_metrics._kernels import box
from selo_metrics._kernels.boxrows import _emit, _emit_pair
from selo_metrics._kernels.scan import window_sums
from selo_metrics._kernels.vector import wide_vectors

K = 50
LANES = 32
I16, I32, F32 = ir.IntType(16), ir.IntType(32), ir.FloatType()
V16 = ir.VectorType(I16, LANES)
V32 = ir.VectorType(I32, 16)
VF = ir.VectorType(F32, 16)
MASK = ir.VectorType(I32, LANES)


def _shift(builder, v, sources):
    """Lane i of the result holds ``v[sources[i]]``, or 0 where ``sources[i] < 0``."""
    mask = [LANES + s if s >= 0 else 0 for s in sources]
    return builder.shuffle_vector(ir.Constant(V16, None), v, ir.Constant(MASK, mask))


def _make_scan(mode: str):
    # prefix sums modulo 2**16 as scan._scan, with the register scan of `mode` and the
    # running total of the kernel before the fifth stop (the stored sums' last lane)
    def codegen(context, builder, sig, args):
        a_val, p_val, n_val = args
        src = context.make_array(sig.args[0])(context, builder, a_val).data
        dst = context.make_array(sig.args[1])(context, builder, p_val).data
        builder.store(ir.Constant(I16, 0), dst)
        total = cgutils.alloca_once_value(builder, ir.Constant(V16, None))
        lanes = ir.Constant(n_val.type, LANES)
        chunks = builder.udiv(builder.add(n_val, ir.Constant(n_val.type, LANES - 1)), lanes)
        last = ir.Constant(MASK, [LANES - 1] * LANES)
        with cgutils.for_range(builder, chunks) as loop:
            c = builder.mul(loop.index, lanes)
            v = builder.load(builder.bitcast(builder.gep(src, [c]), V16.as_pointer()), align=2)
            if mode == "lanes":
                for s in (1, 2, 4):
                    v = builder.add(v, _shift(builder, v, [i - s if i % 8 >= s else -1
                                                            for i in range(LANES)]))
                t = _shift(builder, v, [i // 8 * 8 + 7 for i in range(LANES)])
                t1 = _shift(builder, t, [i - 8 for i in range(LANES)])
                u2 = _shift(builder, builder.add(t, t1), [i - 16 for i in range(LANES)])
                v = builder.add(v, builder.add(t1, u2))
            else:
                for s in (1, 2, 4, 8, 16):
                    v = builder.add(v, _shift(builder, v, [i - s for i in range(LANES)]))
            out = builder.add(v, builder.load(total))
            at = builder.gep(dst, [builder.add(c, ir.Constant(c.type, 1))])
            builder.store(out, builder.bitcast(at, V16.as_pointer()), align=2)
            builder.store(builder.shuffle_vector(out, out, last), total)
        return context.get_dummy_value()

    def scan(typingctx, a, p, n):
        return types.none(a, p, n), codegen

    kernel = intrinsic(scan)

    @numba.njit(nogil=True, _nrt=False)
    def sums(e, p, k, out):
        wide_vectors()
        n = out.shape[0]
        kernel(e, p, n + k - 1)
        hi = p[k : k + n]
        lo = p[0:n]
        for i in range(n):
            out[i] = hi[i] - lo[i]

    return sums


@intrinsic
def _emit_noshuffle(typingctx, a, b, c, out, chunks, scale):
    # c[x] += a[x] - b[x]; out[x] = rint(c[x] * scale) for 32 columns at a time, the column
    # sums of a chunk stored as its 16 even columns, then its 16 odd ones; float32 rounding
    # by the magic number 1.5 * 2**23 (exact for results below 2**22)
    def codegen(context, builder, sig, args):
        nch, sc = args[4:]
        ap, bp, cp, op = (context.make_array(t)(context, builder, v).data
                          for t, v in zip(sig.args[:4], args[:4], strict=True))
        u8 = sig.args[3].dtype == types.uint8
        s = builder.fptrunc(sc, F32)
        sv = builder.insert_element(ir.Constant(VF, None), s, ir.Constant(I32, 0))
        sv = builder.shuffle_vector(sv, sv, ir.Constant(V32, [0] * 16))
        magic = ir.Constant(VF, [ir.Constant(F32, 12582912.0)] * 16)
        sixteen = ir.Constant(V32, [ir.Constant(I32, 16)] * 16)
        with cgutils.for_range(builder, nch) as loop:
            j = builder.mul(loop.index, ir.Constant(nch.type, LANES))

            def load(p, j=j):
                return builder.load(builder.bitcast(builder.gep(p, [j]), V16.as_pointer()),
                                    align=2)

            d = builder.bitcast(builder.sub(load(ap), load(bp)), V32)
            parts = (builder.ashr(builder.shl(d, sixteen), sixteen), builder.ashr(d, sixteen))
            res = []
            for h, part in enumerate(parts):
                at = builder.gep(cp, [builder.add(j, ir.Constant(j.type, 16 * h))])
                ptr = builder.bitcast(at, V32.as_pointer())
                v = builder.add(builder.load(ptr, align=4), part)
                builder.store(v, ptr, align=4)
                f = builder.fadd(builder.fmul(builder.sitofp(v, VF), sv), magic)
                res.append(builder.bitcast(f, V32))
            if u8:
                w = builder.or_(res[0], builder.shl(res[1], ir.Constant(V32, [8] * 16)))
                w16 = ir.VectorType(I16, 16)
                ptr = builder.bitcast(builder.gep(op, [j]), w16.as_pointer())
                builder.store(builder.trunc(w, w16), ptr, align=1)
            else:
                low = builder.and_(res[0], ir.Constant(V32, [0xFFFF] * 16))
                w = builder.or_(low, builder.shl(res[1], sixteen))
                builder.store(w, builder.bitcast(builder.gep(op, [j]), V32.as_pointer()),
                              align=2)
        return context.get_dummy_value()

    return types.none(a, b, c, out, chunks, scale), codegen


@numba.njit(nogil=True, _nrt=False)
def _rows_single(rings, colsums, outs, scale, y0, y1):
    R = rings.shape[1]
    h = y1 + R
    for y in range(y0, y1):
        for s in range(rings.shape[0]):
            _emit(rings[s], colsums[s], y, False, K // 2, K - K // 2 - 1, h,
                  outs[s, y % 2], scale, True)


@numba.njit(nogil=True, _nrt=False)
def _rows_noshuffle(rings, colsums, outs, scale, y0, y1):
    wide_vectors()
    R = rings.shape[1]
    after = K - K // 2 - 1
    for y in range(y0, y1):
        for s in range(rings.shape[0]):
            out = outs[s, y % 2]
            _emit_noshuffle(rings[s, (y + after) % R], rings[s, (y - 1 - K // 2) % R],
                            colsums[s], out, out.shape[0] // LANES, scale)


@numba.njit(nogil=True, _nrt=False)
def _rows_pairs(rings, colsums, outs, scale, y0, y1):
    R = rings.shape[1]
    h = y1 + R
    for y in range(y0, y1, 2):
        for s in range(rings.shape[0]):
            _emit_pair(rings[s], colsums[s], y, K // 2, K - K // 2 - 1, h, outs[s, 0],
                       outs[s, 1], scale, True)


def _interleaved(c: np.ndarray) -> np.ndarray:
    # column x of every 32 at 16 * (x % 2) + (x % 32) // 2: even columns, then odd ones
    x = np.arange(c.shape[-1])
    out = np.empty_like(c)
    out[..., 32 * (x // 32) + 16 * (x % 2) + (x % 32) // 2] = c
    return out


def probe_scan(width: int, rounds: int) -> None:
    rng = np.random.default_rng(0)
    e = rng.integers(0, 256, width + K + 64, dtype=np.uint16)
    p = np.empty(width + K + 128, np.uint16)
    ref, out = np.empty(width, np.uint16), np.empty(width, np.uint16)
    window_sums(e, p, K, ref)
    kernels = {"in use": window_sums, **{m: _make_scan(m) for m in ("stored", "lanes")}}

    @numba.njit(nogil=True)
    def repeat(f, e, p, out, times):
        for _ in range(times):
            f(e, p, K, out)

    for name, f in kernels.items():
        out[:] = 0
        f(e, p, K, out)
        assert np.array_equal(out, ref), name
        repeat(f, e, p, out, 10)
    times = max(1, 10_000_000 // width)
    print(f"# window sums, k = {K}, a row of {width}, ns a value (one thread's CPU)")
    for _ in range(rounds):
        cells = []
        for name, f in kernels.items():
            t = time.thread_time()
            repeat(f, e, p, out, times)
            cells.append(f"{name} {(time.thread_time() - t) / times / width * 1e9:.4f}")
        print("  ".join(cells))


def probe_emit(width: int, rounds: int, stages: int) -> None:
    rng = np.random.default_rng(0)
    R = K + 3
    rings = rng.integers(0, 255 * K + 1, (stages, R, width), dtype=np.uint16)
    before, after = K // 2, K - K // 2 - 1
    # the column sums as they stand after row K - 1: its window's rows of the ring (so that
    # every sum stays between 0 and 255 k**2, as in the filter)
    window = [r % R for r in range(K - 1 - before, K + after)]
    col0 = rings[:, window].sum(axis=1, dtype=np.int32)
    scale = 1.0 / (K * K)
    ways = {"single": (_rows_single, False), "noshuffle": (_rows_noshuffle, True),
            "pairs": (_rows_pairs, False)}
    rows = max(2, 20_000_000 // (width * stages)) // 2 * 2
    for dtype in (np.uint16, np.uint8):
        ref = None
        for name, (f, inter) in ways.items():  # rows K and K + 1, compared
            outs = np.empty((stages, 2, width), dtype)
            f(rings, _interleaved(col0) if inter else col0.copy(), outs, scale, K, K + 2)
            if ref is None:
                ref = outs
            assert np.array_equal(outs, ref), f"{name}: other rows than {next(iter(ways))}"
        print(f"# emission, {np.dtype(dtype).name} output, rows of {width}, {stages} ring(s), "
              "ns a pixel and row (one thread's CPU)")
        for _ in range(rounds):
            cells = []
            for name, (f, inter) in ways.items():
                cols = _interleaved(col0) if inter else col0.copy()
                outs = np.empty((stages, 2, width), dtype)
                t = time.thread_time()
                f(rings, cols, outs, scale, K, K + rows)
                dt = time.thread_time() - t
                cells.append(f"{name} {dt / rows / stages / width * 1e9:.4f}")
            print("  ".join(cells))


def probe_tiles(size: int, passes: int, rounds: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import tempfile

    from bench_metrics import make_case

    with tempfile.TemporaryDirectory() as tmp:
        gray = np.load(make_case(size, Path(tmp))[0])
    buffers = (np.empty_like(gray), np.empty_like(gray))
    widths = [1000, 1250, 1700, 2000, 2500, 3400, 5000, 6144]
    kept = box.TILE
    results = {w: [] for w in widths}
    try:
        for w in widths:
            box.TILE = w
            box.box_filter_passes(gray, K, passes, 1, buffers)
        print(f"# box filter x{passes}, {size} x {size}, one thread, ms (best of 2 per round)")
        for _ in range(rounds):
            for w in widths:
                box.TILE = w
                best = np.inf
                for _ in range(2):
                    t = time.thread_time()
                    box.box_filter_passes(gray, K, passes, 1, buffers)
                    best = min(best, time.thread_time() - t)
                results[w].append(best * 1e3)
    finally:
        box.TILE = kept
    for w in widths:
        print(f"TILE {w:5d}: " + " ".join(f"{t:.1f}" for t in results[w]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["scan", "emit", "tiles"])
    p.add_argument("--width", type=int, default=None)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--stages", type=int, default=1)
    p.add_argument("--size", type=int, default=10000)
    p.add_argument("--passes", type=int, default=4)
    args = p.parse_args()
    if args.what == "scan":
        probe_scan(args.width or 5200, args.rounds)
    elif args.what == "emit":
        probe_emit(args.width or 5120, args.rounds, args.stages)
    else:
        probe_tiles(args.size, args.passes, args.rounds)


if __name__ == "__main__":
    main()
